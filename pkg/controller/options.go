package controller

import "sigs.k8s.io/controller-runtime/pkg/controller"

// ctrlOptions are the controller's options: one worker (a reconcile reads
// everything), and leader election as given.
func ctrlOptions(needLeaderElection *bool) controller.Options {
	return controller.Options{MaxConcurrentReconciles: 1, NeedLeaderElection: needLeaderElection}
}
