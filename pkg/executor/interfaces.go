package executor

import (
	"context"
	"time"

	"github.com/assayproj/assay/pkg/report"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Store is the registry access the executor needs. Repositories are
// normalised "host/path" names ("docker.io/library/nginx").
//
// Errors should wrap oras-go's errdef.ErrNotFound and
// errdef.ErrSizeExceedsLimit where they apply, so the executor can name
// the outcome; context errors are passed through. An error that names
// its operation and target may say so with a method Cause() error
// returning the error without them (store.OpError does), so that a
// report does not name the reference twice.
type Store interface {
	// Resolve pins a tag or digest to a descriptor.
	Resolve(ctx context.Context, repository, reference string) (ocispec.Descriptor, error)
	// Referrers calls fn with pages of the referrers of subject. Only
	// subject's digest and artifact type are read: the executor lists
	// the referrers of a digest-pinned subject before it knows more.
	Referrers(ctx context.Context, repository string, subject ocispec.Descriptor, fn func(referrers []ocispec.Descriptor) error) error
	// Fetch returns the bytes of a manifest or blob, verified against desc.
	Fetch(ctx context.Context, repository string, desc ocispec.Descriptor) ([]byte, error)
}

// Fetcher reads content; verifiers receive one with every job.
type Fetcher interface {
	Fetch(ctx context.Context, repository string, desc ocispec.Descriptor) ([]byte, error)
}

// Job is one artifact to be checked by one verifier.
type Job struct {
	// Repository of the subject, normalised.
	Repository string
	// Subject is the image the artifact is attached to (for a nested
	// artifact, its parent artifact), with its media type and size. For
	// a subject pinned by digest they come from the subject field of the
	// artifact manifest (or of a sibling's, for an artifact without one,
	// such as cosign's classic signature), else from the registry.
	Subject ocispec.Descriptor
	// Artifact is the referrer to verify.
	Artifact ocispec.Descriptor
	// Fetcher reads the artifact's manifest and blobs through the host's
	// store (cache, limits, credentials).
	Fetcher Fetcher
}

// Verifier checks artifacts of some types.
//
// Verify returns a Result for every verdict it reaches, including
// failures. It returns an error only when it could not evaluate the
// artifact; the executor then records an inconclusive result.
type Verifier interface {
	// Name is the Verifier object's name.
	Name() string
	// Type is the plugin name.
	Type() string
	// Handles reports whether the verifier applies to artifactType.
	Handles(artifactType string) bool
	Verify(ctx context.Context, job Job) (report.Result, error)
}

// SignatureTyper is an optional capability of a Verifier: it names the
// artifact types its plugin declares to be signatures. The executor
// probes its Verifiers for it; an artifact type is a signature when any
// Verifier names it, and a Verifier without the capability names none.
// Signature types decide whether a missing required type is reported as
// NO_SIGNATURE or ARTIFACT_MISSING, and which referrers count as the
// signature of an artifact whose Verifier is in Options.RequireSignature.
type SignatureTyper interface {
	SignatureTypes() []string
}

// VerdictCache stores encoded reports by key, for the executor's verdict
// cache (see [Options.Verdicts]). Implementations must be safe for
// concurrent use. The executor treats an error from either method as a
// miss (for Get) or a lost write (for Set): a cache failure never fails a
// verification, it only costs one.
type VerdictCache interface {
	// Get returns the value stored under key and true, or false when
	// there is none or it expired.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	// Set stores value under key for ttl (ttl > 0).
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
}
