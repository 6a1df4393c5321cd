// Package catalog reads, validates and holds the verification objects
// (Store, Verifier, Policy) that configure Assay.
//
// A YAML file given with --config and, in a cluster, the custom resources
// of the same kinds go through the same [Decode] and [Objects.Validate],
// so the two sources cannot drift. Errors name the file, the document,
// the object and the field.
package catalog
