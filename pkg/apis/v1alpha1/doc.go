// Package v1alpha1 holds the verification objects of Assay: Store,
// Verifier and Policy (group config.assay.dev, version v1alpha1).
//
// The same Go types are the CRDs in a cluster and the documents of a
// YAML file given to the CLI with --config; both paths decode through
// package catalog, so they cannot drift.
//
// +kubebuilder:object:generate=true
// +groupName=config.assay.dev
package v1alpha1
