// Package controller turns the Store, Verifier and Policy custom
// resources of a cluster into the configuration Assay verifies with, and
// reports on each object whether it is in effect.
//
// # Patterns
//
// One reconciler serves the three kinds: every change to any of them
// enqueues the same key, and a reconcile reads all objects, validates
// them together with package catalog (the same validation as the
// --config file) and with the Verifiers' plugins, and hands the result to
// an Apply function. An object whose new version is invalid is replaced by
// its last good version, so one broken Verifier never takes the rest of
// the configuration down; its status says why, with condition Ready false.
// Deleting an object removes it at once.
//
// The reconciler runs on every replica, since each serves Gatekeeper; only
// the elected leader writes status.
package controller
