// Package registrytest starts real OCI registries on loopback and pushes
// content to them, for the tests of the store, the executor, the
// end-to-end tests and the demo. It is a public package because Go's
// internal rule would hide it from test/ and cmd/.
//
// # Registries
//
//   - olareg (github.com/olareg/olareg), in-process with in-memory
//     storage: it implements the OCI 1.1 referrers API. NewOlareg for a
//     test, NewOlaregBehind to put a middleware in front (BasicAuth,
//     BearerAuth, or a test's own throttling), StartOlareg and
//     StartOlaregBehind for a program.
//   - the distribution v3 registry binary as its own process
//     (StartDistribution, RunDistribution; StartDistributionBehind puts
//     a middleware in front through a reverse proxy): no referrers API,
//     so clients fall back to the referrers tag schema. The binary comes from
//     $ASSAY_DISTRIBUTION_BIN or <repository root>/.tools/bin/registry,
//     which `make tools` installs.
//
// Both speak plain HTTP on 127.0.0.1; Server.Repository returns an
// oras-go repository configured for that.
//
// # Content
//
// PushImage pushes a small random image and tags it; Attach pushes an
// artifact as a referrer of a subject; PushCosignSignatureTag pushes a
// signature under cosign's classic "sha256-<hex>.sig" tag. They work on
// any oras.Target. Pushed through a *remote.Repository to a registry
// without the referrers API, Attach also updates the referrers tag index
// (oras-go does this when the registry does not acknowledge the subject);
// attach the referrers of one subject through one repository value, or
// one after another, since that index is read, changed and written back.
package registrytest
