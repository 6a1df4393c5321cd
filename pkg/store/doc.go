// Package store is Assay's registry access, built on oras-go v2: it pins
// references to digests, lists referrers (OCI 1.1 referrers API with the
// referrers tag schema as fallback, plus cosign's classic signature tag),
// and fetches manifests and blobs by digest.
//
// The host owns all registry I/O: credentials (static per registry, docker
// config files and credential helpers), plain HTTP only for registries
// listed explicitly, hard size limits, a digest-keyed cache and retries
// with Retry-After for throttled registries. Plugins never reach a
// registry; they receive the bytes fetched here.
//
// Errors wrap oras-go's errdef values (ErrNotFound, ErrSizeExceedsLimit)
// and this package's sentinels, so callers classify them with errors.Is.
package store
