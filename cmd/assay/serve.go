package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/assayproj/assay/pkg/catalog"
	"github.com/assayproj/assay/pkg/executor"
	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/provider"
	"github.com/assayproj/assay/pkg/pullsecrets"
	"github.com/assayproj/assay/pkg/report"
	"github.com/assayproj/assay/pkg/store"
	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
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
	d := g.defaults
	f := cmd.Flags()
	f.String("listen", d.Serve.Listen, "HTTPS address of the provider endpoints")
	f.String("health-listen", d.Serve.HealthListen, "plain HTTP address of /healthz, /readyz and /metrics")
	f.String("tls-cert", "", "PEM file of the serving certificate (reloaded when it changes)")
	f.String("tls-key", "", "PEM file of the serving key (reloaded when it changes)")
	f.String("client-ca", "", "PEM file of the CA of Gatekeeper's client certificate (reloaded when it changes)")
	f.Bool("insecure-no-client-auth-unsafe", false, "UNSAFE: accept clients without a certificate")
	f.Duration("verify-timeout", d.Serve.VerifyTimeout, "the verify Provider's spec.timeout")
	f.Duration("mutate-timeout", d.Serve.MutateTimeout, "the mutate Provider's spec.timeout")
	f.Duration("margin", d.Serve.Margin, "time kept back from each timeout for the answer's way back")
	f.Int("key-concurrency", d.Serve.KeyConcurrency, "keys of one request verified at once")
	f.Int("max-in-flight", d.Serve.MaxInFlight, "keys verified at once across requests")
	f.Int64("max-body-bytes", d.Serve.MaxBodyBytes, "request body limit in bytes")
	f.String("config-source", d.Serve.ConfigSource, "where the Store, Verifier and Policy objects come from: file (--config) or cluster (custom resources)")
	f.String("kubeconfig", "", "kubeconfig for --config-source cluster (default: $KUBECONFIG or in-cluster)")
	f.Bool("leader-elect", false, "elect one replica to write the objects' status (every replica serves)")
	f.Bool("pod-pull-secrets", false, "use the imagePullSecrets of the Pod and of its ServiceAccount named by a key (needs --config-source cluster and read access to those Secrets)")
	f.Bool("pprof", false, "serve Go's profiles under /debug/pprof/ on --health-listen (unauthenticated: keep that port private)")
	f.Int64("verdict-cache-bytes", d.Cache.VerdictBytes, "in-memory verdict cache budget in bytes (0 disables it)")
	f.Duration("verdict-ttl", d.Cache.VerdictTTL, "how long a passing verdict is reused")
	f.Duration("failure-ttl", d.Cache.FailureTTL, "how long a failing verdict is reused")
	f.String("redis-address", "", "host:port of a Redis shared by replicas for verdicts (password from ASSAY_CACHE_REDIS_PASSWORD)")
	return cmd
}

// serveFlagKeys maps serve's flags to settings keys.
var serveFlagKeys = map[string]string{
	"listen":                         "serve.listen",
	"health-listen":                  "serve.health-listen",
	"tls-cert":                       "serve.tls-cert",
	"tls-key":                        "serve.tls-key",
	"client-ca":                      "serve.client-ca",
	"insecure-no-client-auth-unsafe": "serve.insecure-no-client-auth-unsafe",
	"verify-timeout":                 "serve.verify-timeout",
	"mutate-timeout":                 "serve.mutate-timeout",
	"margin":                         "serve.margin",
	"key-concurrency":                "serve.key-concurrency",
	"max-in-flight":                  "serve.max-in-flight",
	"max-body-bytes":                 "serve.max-body-bytes",
	"pprof":                          "serve.pprof",
	"config-source":                  "serve.config-source",
	"kubeconfig":                     "serve.kubeconfig",
	"leader-elect":                   "serve.leader-elect",
	"pod-pull-secrets":               "serve.pod-pull-secrets",
	"verdict-cache-bytes":            "cache.verdict-bytes",
	"verdict-ttl":                    "cache.verdict-ttl",
	"failure-ttl":                    "cache.failure-ttl",
	"redis-address":                  "cache.redis.address",
}

// server is a running `assay serve`.
type server struct {
	g        *globals
	log      logr.Logger
	host     *plugin.Host
	verdicts executor.VerdictCache
	ready    func(context.Context) error // extra readiness check (Redis)

	current atomic.Pointer[engine]
	// namespaces holds the engines of namespaces with objects of their
	// own (--config-source cluster); other namespaces use current.
	namespaces atomic.Pointer[map[string]*engine]
	mu         sync.Mutex // serialises reloads
	// retired sums the cache counters of engines replaced by reloads, so
	// the metrics stay cumulative.
	retired executor.CacheStats

	reloads *prometheus.CounterVec

	// managerDone is closed when the controllers' manager has stopped
	// (and given up the leader election Lease); nil without one.
	managerDone chan struct{}

	// pullSecrets reads the Pods' registry credentials
	// (--pod-pull-secrets); nil when off.
	pullSecrets *pullsecrets.Reader
}

var (
	_ provider.Verifier = (*server)(nil)
	_ provider.Resolver = (*server)(nil)
)

// Verify implements provider.Verifier with the current configuration: the
// key's namespace's own, when it has one (Namespaced objects in the
// cluster), else the cluster-wide one.
func (s *server) Verify(ctx context.Context, k provider.Key) (*report.Report, error) {
	ctx, unused := s.withPodCredentials(ctx, k)
	rep, err := s.engineFor(k.Namespace).exec.Verify(ctx, k.Reference)
	if rep != nil && !rep.IsSuccess && (rep.Reason == report.ReasonRegistryError || rep.Reason == report.ReasonSubjectNotFound) && len(unused) > 0 {
		// The registry refused or failed; say which of the Pod's
		// credentials were not there to try. The report may be shared
		// with other callers, so it is copied.
		r := *rep
		r.Message += "; pull credentials not used: " + strings.Join(unused, "; ")
		rep = &r
	}
	return rep, err
}

// Resolve implements provider.Resolver.
func (s *server) Resolve(ctx context.Context, k provider.Key) (string, error) {
	ctx, _ = s.withPodCredentials(ctx, k)
	return s.engineFor(k.Namespace).exec.Resolve(ctx, k.Reference)
}

// withPodCredentials returns ctx carrying the registry credentials of the
// Pod the key names (its imagePullSecrets and its ServiceAccount's) when
// --pod-pull-secrets is on, and what could not be used.
func (s *server) withPodCredentials(ctx context.Context, k provider.Key) (context.Context, []string) {
	if s.pullSecrets == nil || k.Namespace == "" || (k.ServiceAccount == "" && len(k.PullSecrets) == 0) {
		return ctx, nil
	}
	creds := s.pullSecrets.ForPod(ctx, k.Namespace, k.ServiceAccount, k.PullSecrets)
	if len(creds.Unused) > 0 {
		s.log.V(1).Info("pull credentials not used", "namespace", k.Namespace, "serviceAccount", k.ServiceAccount, "unused", creds.Unused)
	}
	cctx, err := store.WithDockerConfigs(ctx, creds.DockerConfigs)
	if err != nil {
		return ctx, append(creds.Unused, err.Error())
	}
	return cctx, creds.Unused
}

func (s *server) engineFor(namespace string) *engine {
	if namespace != "" {
		if m := s.namespaces.Load(); m != nil {
			if e, ok := (*m)[namespace]; ok {
				return e
			}
		}
	}
	return s.current.Load()
}

func (g *globals) serve(ctx context.Context) error {
	cfg := g.cfg
	s := &server{g: g, log: g.log.WithName("serve")}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assay_config_reloads_total",
		Help: "Reloads of the --config file by result (ok, failed).",
	}, []string{"result"})
	reg.MustRegister(s.reloads)
	metrics, err := provider.NewMetrics(reg)
	if err != nil {
		return err
	}
	s.registerCacheMetrics(reg)

	verdicts, ready, closeCache, err := newVerdictCache(cfg.Cache)
	if err != nil {
		return usageError(err)
	}
	defer closeCache()
	s.verdicts, s.ready = verdicts, ready

	s.host, err = plugin.NewHost(plugin.HostOptions{Dir: cfg.PluginDir, Logger: g.log})
	if err != nil {
		return usageError(fmt.Errorf("plugins: %w", err))
	}
	defer s.host.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 4)
	if cfg.Serve.ConfigSource == "cluster" {
		if err := s.watchCluster(ctx, errc); err != nil {
			return err
		}
	} else {
		if err := s.reload(ctx); err != nil {
			return err
		}
		go func() { errc <- s.watchConfig(ctx) }()
	}
	defer func() {
		if e := s.current.Load(); e != nil {
			e.Close()
		}
	}()

	h, err := provider.New(provider.Options{
		Verifier:       s,
		Resolver:       s,
		VerifyTimeout:  cfg.Serve.VerifyTimeout,
		MutateTimeout:  cfg.Serve.MutateTimeout,
		Margin:         cfg.Serve.Margin,
		KeyConcurrency: cfg.Serve.KeyConcurrency,
		MaxInFlight:    cfg.Serve.MaxInFlight,
		MaxBodyBytes:   cfg.Serve.MaxBodyBytes,
		Logger:         newSlog(cfg.Log, g.stderr),
		Metrics:        metrics,
	})
	if err != nil {
		return usageError(err)
	}

	tlsConfig, watchTLS, err := serverTLS(cfg.Serve.TLSCert, cfg.Serve.TLSKey, cfg.Serve.ClientCA, cfg.Serve.InsecureNoClientAuthUnsafe)
	if err != nil {
		return usageError(err)
	}
	if cfg.Serve.InsecureNoClientAuthUnsafe {
		s.log.Info("WARNING: client certificates are not required (--insecure-no-client-auth-unsafe): anyone who reaches the port can make Assay query registries")
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
		ErrorLog:          newStdLog(s.log.WithName("https")),
	}
	health := &http.Server{Handler: s.healthMux(reg), ReadHeaderTimeout: 5 * time.Second}
	go func() { errc <- https.ServeTLS(ln, "", "") }()
	go func() { errc <- health.Serve(healthLn) }()
	s.log.Info("serving", "provider", "https://"+ln.Addr().String(), "health", "http://"+healthLn.Addr().String(),
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
	if s.managerDone != nil {
		// Let the manager give up the Lease, so that another replica
		// leads at once.
		cancel()
		select {
		case <-s.managerDone:
		case <-shutdownCtx.Done():
		}
	}
	if runErr != nil && !errors.Is(runErr, http.ErrServerClosed) && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	s.log.Info("stopped")
	return nil
}

// reload reads the --config file and swaps in a new engine. On failure
// the current engine stays.
func (s *server) reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := os.ReadFile(s.g.objects)
	if err != nil {
		s.reloads.WithLabelValues("failed").Inc()
		return usageError(fmt.Errorf("read config: %w", err))
	}
	objs, err := catalog.Decode(s.g.objects, data)
	if err == nil {
		err = objs.Validate(s.g.objects)
	}
	if err != nil {
		s.reloads.WithLabelValues("failed").Inc()
		return usageError(err)
	}
	if err := s.install(ctx, objs, data); err != nil {
		s.reloads.WithLabelValues("failed").Inc()
		return err
	}
	s.reloads.WithLabelValues("ok").Inc()
	s.log.Info("configuration loaded", "file", s.g.objects, "stores", len(objs.Stores), "verifiers", len(objs.Verifiers), "policies", len(objs.Policies))
	return nil
}

// install wires an engine for objs and swaps it in. source identifies
// the configuration (the file's bytes, or the objects' hash); with the
// plugins' checksums it keys the verdict cache. Call with s.mu held.
func (s *server) install(ctx context.Context, objs *catalog.Objects, source []byte) error {
	eng, err := s.newEngine(ctx, objs, source)
	if err != nil {
		return err
	}
	s.retire(s.current.Swap(eng))
	return nil
}

// newEngine wires an engine for objs; source (with the plugins'
// checksums) keys its verdicts.
func (s *server) newEngine(ctx context.Context, objs *catalog.Objects, source []byte) (*engine, error) {
	sums, _ := os.ReadFile(filepath.Join(s.g.cfg.PluginDir, plugin.SumsFile))
	id := sha256.New()
	id.Write(source)
	id.Write([]byte{0})
	id.Write(sums)
	return s.g.wireEngine(ctx, objs, true, engineOptions{
		host:       s.host,
		verdicts:   s.verdicts,
		configID:   hex.EncodeToString(id.Sum(nil))[:16],
		verdictTTL: s.g.cfg.Cache.VerdictTTL,
		failureTTL: s.g.cfg.Cache.FailureTTL,
	})
}

// retire adds an engine's cache counters to the retired ones and closes
// it. Call with s.mu held.
func (s *server) retire(old *engine) {
	if old == nil {
		return
	}
	st := old.exec.CacheStats()
	s.retired.Hits += st.Hits
	s.retired.Misses += st.Misses
	s.retired.Shared += st.Shared
	s.retired.Stored += st.Stored
	s.retired.Uncacheable += st.Uncacheable
	s.retired.Errors += st.Errors
	old.Close()
}

// watchConfig reloads the --config file when it changes. It watches the
// file's directory, so editors that replace the file and Kubernetes
// ConfigMap volumes (which swap a symlink) are both seen.
func (s *server) watchConfig(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch config: %w", err)
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(s.g.objects)); err != nil {
		return fmt.Errorf("watch config: %w", err)
	}
	var timer *time.Timer
	fire := make(chan struct{}, 1)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Has(fsnotify.Chmod) {
				continue
			}
			// Debounce: editors write in several steps.
			if timer != nil {
				timer.Stop()
			}
			timer = time.AfterFunc(100*time.Millisecond, func() {
				select {
				case fire <- struct{}{}:
				default:
				}
			})
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			s.log.Error(err, "watching the config file")
		case <-fire:
			if err := s.reload(ctx); err != nil {
				s.log.Error(err, "configuration not reloaded; the previous one stays active", "file", s.g.objects)
			}
		}
	}
}

// cacheStats returns the verdict cache counters of every engine so far.
func (s *server) cacheStats() executor.CacheStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.retired
	engines := []*engine{s.current.Load()}
	if m := s.namespaces.Load(); m != nil {
		for _, e := range *m {
			engines = append(engines, e)
		}
	}
	for _, e := range engines {
		if e == nil {
			continue
		}
		c := e.exec.CacheStats()
		st.Hits += c.Hits
		st.Misses += c.Misses
		st.Shared += c.Shared
		st.Stored += c.Stored
		st.Uncacheable += c.Uncacheable
		st.Errors += c.Errors
	}
	return st
}

// registerCacheMetrics exports the verdict cache counters as
// assay_verdict_cache_<name>_total.
func (s *server) registerCacheMetrics(reg prometheus.Registerer) {
	for name, help := range map[string]string{
		"hits":        "Verifications answered from the verdict cache.",
		"misses":      "Verdict cache lookups that found nothing.",
		"shared":      "Verifications that joined an identical one already running.",
		"stored":      "Verdicts written to the cache.",
		"uncacheable": "Reports not cached because a transient reason appears in them.",
		"errors":      "Failed verdict cache reads and writes (each a miss or a lost write).",
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "assay_verdict_cache_" + name + "_total",
			Help: help,
		}, func() float64 {
			st := s.cacheStats()
			return float64(map[string]int64{"hits": st.Hits, "misses": st.Misses, "shared": st.Shared,
				"stored": st.Stored, "uncacheable": st.Uncacheable, "errors": st.Errors}[name])
		}))
	}
}

func (s *server) healthMux(reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.current.Load() == nil {
			http.Error(w, "no configuration loaded", http.StatusServiceUnavailable)
			return
		}
		if s.ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), time.Second)
			defer cancel()
			if err := s.ready(ctx); err != nil {
				http.Error(w, "verdict cache: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.Write([]byte("ok\n"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if s.g.cfg.Serve.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// serverTLS builds the TLS 1.3 configuration: the serving certificate
// from certwatcher, and the client CA pool re-read whenever the file's
// modification time or size changes (checked once per handshake).
func serverTLS(certFile, keyFile, caFile string, noClientAuth bool) (*tls.Config, func(context.Context) error, error) {
	cw, err := certwatcher.New(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("serve.tls-cert/serve.tls-key: %w", err)
	}
	base := &tls.Config{
		MinVersion:     tls.VersionTLS13,
		GetCertificate: cw.GetCertificate,
	}
	if noClientAuth {
		return base, cw.Start, nil
	}
	ca, err := newCAFile(caFile)
	if err != nil {
		return nil, nil, err
	}
	base.ClientAuth = tls.RequireAndVerifyClientCert
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		pool, err := ca.pool()
		if err != nil {
			return nil, err
		}
		c := base.Clone()
		c.GetConfigForClient = nil
		c.ClientCAs = pool
		return c, nil
	}
	return base, cw.Start, nil
}

// caFile is a PEM CA bundle re-read when it changes on disk.
type caFile struct {
	path string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	cur     *x509.CertPool
}

func newCAFile(path string) (*caFile, error) {
	c := &caFile{path: path}
	if _, err := c.pool(); err != nil {
		return nil, err
	}
	return c, nil
}

// pool returns the current pool, re-reading the file if it changed. A
// file that became unreadable or invalid keeps the last good pool.
func (c *caFile) pool() (*x509.CertPool, error) {
	fi, err := os.Stat(c.path)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if c.cur != nil {
			return c.cur, nil
		}
		return nil, fmt.Errorf("serve.client-ca: %w", err)
	}
	if c.cur != nil && fi.ModTime().Equal(c.modTime) && fi.Size() == c.size {
		return c.cur, nil
	}
	data, err := os.ReadFile(c.path)
	if err != nil {
		if c.cur != nil {
			return c.cur, nil
		}
		return nil, fmt.Errorf("serve.client-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		if c.cur != nil {
			return c.cur, nil
		}
		return nil, fmt.Errorf("serve.client-ca: %s holds no PEM certificate", c.path)
	}
	c.cur, c.modTime, c.size = pool, fi.ModTime(), fi.Size()
	return pool, nil
}
