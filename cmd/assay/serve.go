package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/assayproj/assay/pkg/engine"
	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/provider"
	"github.com/assayproj/assay/pkg/pullsecrets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
)

func newServeCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the Gatekeeper external data provider over HTTPS",
		Long: `Serve answers OPA Gatekeeper's external data requests: POST /v1/verify
returns one verification report per image, POST /v1/mutate one
digest-pinned reference per image, and /ratify/gatekeeper/v1/verify and
/ratify/gatekeeper/v1/mutate answer in Ratify v1's shapes.

It serves TLS 1.3 only and requires a client certificate signed by
--client-ca (Gatekeeper's CA). The certificate, key and CA files are
reloaded when they change, and so is the --config file: a configuration
that does not load is logged and the previous one stays active.
/healthz, /readyz and /metrics are served on --health-listen without TLS.`,
		Example: `  assay serve --config assay.yaml --tls-cert tls.crt --tls-key tls.key --client-ca gatekeeper-ca.crt`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.cfg.ValidateServe(); err != nil {
				return usageError(fmt.Errorf("settings: %w", err))
			}
			if g.objects == "" && g.cfg.Serve.ConfigSource == "file" {
				return usageError(errors.New("--config: serve needs a file of Store, Verifier and Policy documents, or --config-source cluster"))
			}
			return g.serve(cmd.Context())
		},
	}
	addFlags(cmd.Flags(), true)
	return cmd
}

func (g *globals) serve(ctx context.Context) error {
	cfg := g.cfg
	log := g.log.WithName("serve")
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := provider.NewMetrics(reg)
	if err != nil {
		return err
	}
	verdicts, ready, closeCache, err := newVerdictCache(cfg.Cache)
	if err != nil {
		return usageError(err)
	}
	defer closeCache()
	stack, err := g.newStack()
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 4)
	var mgr ctrl.Manager
	ro := engine.Options{
		Stack:                    stack,
		PluginDir:                cfg.PluginDir,
		PluginIdleTimeout:        cfg.PluginIdleTimeout,
		PluginHealthCheckAfter:   cfg.PluginHealthCheckAfter,
		PluginHealthCheckTimeout: cfg.PluginHealthCheckTimeout,
		StopUnusedPlugins:        true,
		Concurrency:              cfg.Concurrency,
		Verdicts:                 verdicts,
		VerdictTTL:               cfg.Cache.VerdictTTL,
		FailureTTL:               cfg.Cache.FailureTTL,
		Logger:                   g.log.WithName("configuration"),
	}
	if cfg.Serve.ConfigSource == "cluster" {
		// Every Verifier of the cluster needs the plugins: say so now,
		// naming the setting, rather than in each Verifier's status.
		if fi, err := os.Stat(cfg.PluginDir); err != nil || !fi.IsDir() {
			return usageError(pluginDirError(fmt.Errorf("%w: %s", plugin.ErrNoDir, cfg.PluginDir), cfg.PluginDir))
		}
		if mgr, err = g.newManager(log); err != nil {
			return err
		}
		if cfg.Serve.PodPullSecrets {
			ro.PodCredentials = pullsecrets.New(mgr.GetAPIReader(), pullsecrets.Options{})
		}
	}
	rt, err := engine.New(ro)
	if err != nil {
		return usageError(err)
	}
	defer rt.Close()
	if err := rt.RegisterMetrics(reg); err != nil {
		return err
	}
	var managerDone chan struct{}
	if mgr != nil {
		if managerDone, err = startControllers(ctx, mgr, rt, log, errc); err != nil {
			return err
		}
	} else {
		if err := rt.LoadFile(ctx, g.objects); err != nil {
			return usageError(pluginDirError(err, cfg.PluginDir))
		}
		go func() { errc <- rt.WatchFile(ctx, g.objects) }()
	}

	h, err := provider.New(provider.Options{
		Verifier:       rt,
		Resolver:       rt,
		VerifyTimeout:  cfg.Serve.VerifyTimeout,
		MutateTimeout:  cfg.Serve.MutateTimeout,
		Margin:         cfg.Serve.Margin,
		KeyConcurrency: cfg.Serve.KeyConcurrency,
		MaxInFlight:    cfg.Serve.MaxInFlight,
		MaxRequests:    cfg.Serve.MaxRequests,
		MaxBodyBytes:   cfg.Serve.MaxBodyBytes,
		Logger:         newSlog(cfg.Log, g.stderr),
		Metrics:        metrics,
	})
	if err != nil {
		return usageError(err)
	}
	tlsConfig, watchTLS, err := provider.ServerTLS(provider.TLSOptions{
		CertFile: cfg.Serve.TLSCert, KeyFile: cfg.Serve.TLSKey, ClientCA: cfg.Serve.ClientCA,
		NoClientAuth: cfg.Serve.InsecureNoClientAuthUnsafe,
		Logger:       newSlog(cfg.Log, g.stderr).With("logger", "serve.tls"),
		Metrics:      metrics,
	})
	if err != nil {
		return usageError(err)
	}
	if cfg.Serve.InsecureNoClientAuthUnsafe {
		log.Info("WARNING: client certificates are not required (--insecure-no-client-auth-unsafe): anyone who reaches the port can make Assay query registries")
	}
	go func() { errc <- watchTLS(ctx) }()

	ln, err := net.Listen("tcp", cfg.Serve.Listen)
	if err != nil {
		return usageError(fmt.Errorf("serve.listen: %w", err))
	}
	healthLn, err := net.Listen("tcp", cfg.Serve.HealthListen)
	if err != nil {
		ln.Close()
		return usageError(fmt.Errorf("serve.health-listen: %w", err))
	}
	https := &http.Server{
		Handler:           h,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       cfg.Serve.VerifyTimeout + 5*time.Second,
		WriteTimeout:      cfg.Serve.VerifyTimeout + 5*time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          newStdLog(log.WithName("https")),
	}
	health := &http.Server{Handler: healthMux(reg, rt.Ready, ready, cfg.Serve.Pprof), ReadHeaderTimeout: 5 * time.Second}
	go func() { errc <- https.ServeTLS(ln, "", "") }()
	go func() { errc <- health.Serve(healthLn) }()
	log.Info("serving", "provider", "https://"+ln.Addr().String(), "health", "http://"+healthLn.Addr().String(),
		"verifyBudget", h.Budget(false).String(), "mutateBudget", h.Budget(true).String())

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	shutdownCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer stop()
	_ = https.Shutdown(shutdownCtx)
	_ = health.Shutdown(shutdownCtx)
	if managerDone != nil {
		// Let the manager give up the Lease, so that another replica
		// leads at once.
		cancel()
		select {
		case <-managerDone:
		case <-shutdownCtx.Done():
		}
	}
	if runErr != nil && !errors.Is(runErr, http.ErrServerClosed) && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	log.Info("stopped")
	return nil
}

// healthMux serves /healthz, /readyz (a configuration in effect under
// which an image can pass, see engine.Runtime.Ready, and the verdict
// cache answering), /metrics and, with pprof, Go's profiles.
func healthMux(reg *prometheus.Registry, configured func() error, cacheReady func(context.Context) error, withPprof bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := configured(); err != nil {
			http.Error(w, "configuration: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if cacheReady != nil {
			ctx, cancel := context.WithTimeout(r.Context(), time.Second)
			defer cancel()
			if err := cacheReady(ctx); err != nil {
				http.Error(w, "verdict cache: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.Write([]byte("ok\n"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}
