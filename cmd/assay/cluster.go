package main

import (
	"context"
	"fmt"
	"os"

	"github.com/assayproj/assay/pkg/apis/v1alpha1"
	"github.com/assayproj/assay/pkg/controller"
	"github.com/assayproj/assay/pkg/pullsecrets"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// watchCluster starts the controllers that turn the cluster's Store,
// Verifier and Policy objects into the configuration. The manager's
// error, if it stops, goes to errc.
func (s *server) watchCluster(ctx context.Context, errc chan<- error) error {
	cfg := s.g.cfg.Serve
	var rc *rest.Config
	var err error
	if cfg.Kubeconfig != "" {
		rc, err = clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	} else {
		rc, err = ctrl.GetConfig()
	}
	if err != nil {
		return usageError(fmt.Errorf("serve.config-source cluster: no Kubernetes configuration: %w", err))
	}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	if err := corev1.AddToScheme(scheme); err != nil {
		return err
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
		Logger:                  s.log.WithName("controller"),
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
		return fmt.Errorf("controller manager: %w", err)
	}
	_ = mgr.AddHealthzCheck("ping", healthz.Ping)
	r := &controller.Reconciler{
		Client: mgr.GetClient(),
		Apply: func(ctx context.Context, c controller.Configuration) error {
			if err := s.installConfiguration(ctx, c); err != nil {
				s.reloads.WithLabelValues("failed").Inc()
				return err
			}
			s.reloads.WithLabelValues("ok").Inc()
			return nil
		},
		CheckVerifier: func(ctx context.Context, v v1alpha1.Verifier) error {
			return checkVerifier(ctx, s.host, "cluster", v)
		},
		Elected: mgr.Elected(),
		Secrets: mgr.GetAPIReader(),
		Log:     s.log.WithName("configuration"),
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	if cfg.PodPullSecrets {
		s.pullSecrets = pullsecrets.New(mgr.GetAPIReader(), pullsecrets.Options{})
	}
	s.managerDone = make(chan struct{})
	go func() {
		defer close(s.managerDone)
		errc <- mgr.Start(ctx)
	}()
	s.log.Info("watching the cluster's Store, Verifier and Policy objects", "leaderElection", cfg.LeaderElect, "namespace", ns)
	return nil
}

// installConfiguration wires the cluster-wide engine and one per
// namespace with objects of its own, and swaps them all in; on any error
// nothing changes.
func (s *server) installConfiguration(ctx context.Context, c controller.Configuration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	def, err := s.newEngine(ctx, c.Cluster, []byte("cluster:"+c.ID))
	if err != nil {
		return err
	}
	namespaces := map[string]*engine{}
	for ns, objs := range c.Namespaces {
		e, err := s.newEngine(ctx, objs, []byte("namespace "+ns+":"+c.ID))
		if err != nil {
			def.Close()
			for _, e := range namespaces {
				e.Close()
			}
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
		namespaces[ns] = e
	}
	s.retire(s.current.Swap(def))
	if old := s.namespaces.Swap(&namespaces); old != nil {
		for _, e := range *old {
			s.retire(e)
		}
	}
	return nil
}
