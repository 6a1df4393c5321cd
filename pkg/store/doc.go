// Package store is Assay's registry access, built on oras-go v2. Its
// Registry pins a tag to a digest (Resolve), lists the referrers of a
// subject (Referrers) and fetches manifests and blobs by digest (Fetch).
// It satisfies the executor's Store interface without importing it.
//
// The host owns all registry I/O; plugins never reach a registry and
// receive the bytes fetched here, so every fetch shares one cache, one
// set of credentials, one retry policy and one limit on concurrent
// requests per registry.
//
// # Repositories
//
// Repositories are normalised names "host/path": "localhost:5000/app",
// "docker.io/library/nginx". Docker Hub keeps its "docker.io" name while
// requests go to registry-1.docker.io. Every registry is reached over
// HTTPS unless Options.Registries lists it with PlainHTTP.
//
// # Referrers
//
// Referrers uses the OCI 1.1 referrers API and falls back to the
// referrers tag schema on registries without it (oras-go detects which
// and each repository remembers the answer). It also reports cosign's
// classic signature tag "sha256-<hex>.sig" with the artifact type
// CosignSignatureArtifactType, so a verifier of such signatures needs
// nothing else from the store. A listed entry without an artifact type,
// or with the empty config's ("application/vnd.oci.empty.v1+json", as
// cosign v2's --new-bundle-format writes it into the tag schema index),
// gets the type its manifest states; only such entries cost a manifest
// fetch while listing, one a verifier then reads from the cache.
//
// # Limits
//
// Sizes are checked against the descriptor before any request and again
// while reading, which stops one byte past the descriptor's size; the
// content is then verified against its digest. Manifests, indexes and
// referrers pages are capped by Options.MaxManifestBytes, blobs by
// Options.MaxBlobBytes, listings by Options.MaxReferrers.
//
// # Caching
//
// Content addressed by digest is immutable, so Fetch caches it in memory
// (least recently used first out, Options.CacheBytes in total) and so is
// the descriptor a digest resolves to. Tags and referrer lists change, so
// they are kept briefly: a tag's descriptor for Options.TagTTL and a
// complete, successful referrers listing (with the cosign tag probe's
// result) for Options.ReferrersTTL, 10 s each by default, within the same
// budget. A tag moved or a signature pushed is therefore seen at most
// that late; failures are never kept. Concurrent Resolve or Fetch calls
// for the same thing share one request; each caller still returns when
// its own context is done, and the shared request stops once no caller
// waits.
//
// # Load
//
// An admission request has a few seconds, so the store never waits past
// a deadline it can see. At most Options.MaxConcurrentRequests requests
// (16 by default) are in flight to one registry host; the others wait
// for a slot until their context is done. GET and HEAD requests are
// retried on 408, 429, 5xx other than 501 and transient network errors,
// up to 4 times with exponential backoff from 100 ms, honouring a 429 or
// 503 answer's Retry-After; when the wait would pass the deadline of the
// context (for a shared request, the latest deadline of its callers),
// the store does not sleep: a 429 or 503 fails at once with ErrThrottled.
//
// # Errors
//
// Every error names the operation, repository and reference, and wraps a
// sentinel of this package (ErrTooLarge, ErrTooManyReferrers,
// ErrInvalidContent, ErrUnauthorized, ErrThrottled), an oras-go errdef error
// (ErrNotFound, ErrInvalidReference, ErrInvalidDigest), a context error,
// or a transport error, for errors.Is. ErrTooLarge and
// ErrTooManyReferrers wrap errdef.ErrSizeExceedsLimit, so a caller that
// knows only oras-go can classify them.
package store
