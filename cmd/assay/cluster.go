package main

import (
	"context"
	"fmt"
	"os"

	"github.com/assayproj/assay/pkg/apis/v1alpha1"
	"github.com/assayproj/assay/pkg/controller"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// newManager makes the controllers' manager for --config-source cluster.
func (g *globals) newManager(log logr.Logger) (ctrl.Manager, error) {
	cfg := g.cfg.Serve
	var rc *rest.Config
	var err error
	if cfg.Kubeconfig != "" {
		rc, err = clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	} else {
		rc, err = ctrl.GetConfig()
	}
	if err != nil {
		return nil, usageError(fmt.Errorf("serve.config-source cluster: no Kubernetes configuration: %w", err))
	}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	ns := cfg.LeaderElectionNamespace
	if ns == "" {
		ns = os.Getenv("POD_NAMESPACE")
	}
	if ns == "" {
		ns = "assay-system"
	}
	mgr, err := ctrl.NewManager(rc, ctrl.Options{
		Scheme:                  scheme,
		Logger:                  log.WithName("controller"),
		Metrics:                 metricsserver.Options{BindAddress: "0"}, // Assay serves its own /metrics
		HealthProbeBindAddress:  "0",
		LeaderElection:          cfg.LeaderElect,
		LeaderElectionID:        "assay-status-writer",
		LeaderElectionNamespace: ns,
		// The process exits once the manager stops, so the Lease can be
		// given up at once: another replica takes over in a retry period
		// (2 s) instead of the Lease's duration (15 s).
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return nil, fmt.Errorf("controller manager: %w", err)
	}
	_ = mgr.AddHealthzCheck("ping", healthz.Ping)
	log.Info("watching the cluster's Store, Verifier and Policy objects", "leaderElection", cfg.LeaderElect, "namespace", ns)
	return mgr, nil
}

// startControllers runs the reconciler that puts the cluster's objects in
// effect in target. The manager's error, if it stops, goes to errc; the
// returned channel is closed once it has stopped (and given up the
// leader election Lease).
func startControllers(ctx context.Context, mgr ctrl.Manager, target controller.Target, log logr.Logger, errc chan<- error) (chan struct{}, error) {
	r := &controller.Reconciler{
		Client:  mgr.GetClient(),
		Target:  target,
		Elected: mgr.Elected(),
		Secrets: mgr.GetAPIReader(),
		Log:     log.WithName("configuration"),
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		errc <- mgr.Start(ctx)
	}()
	return done, nil
}
