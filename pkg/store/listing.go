package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
)

// ReferrersSource is how Referrers listed the referrers of subjects in a
// repository: through the registry's referrers API, or from the
// referrers tag schema when the registry has no such API.
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#listing-referrers
type ReferrersSource string

const (
	// ReferrersNotListed: no listing in the repository has completed on
	// this Stack (or the Stack forgot the repository).
	ReferrersNotListed ReferrersSource = ""
	// ReferrersAPI: the registry answers the OCI 1.1 referrers API, and
	// only what it lists is reported; a referrers tag schema index in
	// the same repository is not read.
	ReferrersAPI ReferrersSource = "referrersAPI"
	// ReferrersTagSchema: the registry has no referrers API; referrers
	// are read from the index tagged "sha256-<hex>" after the subject.
	ReferrersTagSchema ReferrersSource = "referrersTagSchema"
)

// listed records how the listing just completed on repo was made. oras-go
// settles a repository's referrers capability on its first completed
// listing and never changes it after, so SetReferrersCapability(true)
// changes nothing here: it only answers whether the capability is true
// (nil) or false (ErrReferrersCapabilityAlreadySet).
func (s *Stack) listed(key repoKey, repo *remote.Repository) {
	src := ReferrersAPI
	if repo.SetReferrersCapability(true) != nil {
		src = ReferrersTagSchema
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.repos[key]; ok {
		s.listedBy[key] = src
	}
}

// ReferrersSource says how the last completed Referrers call (on any
// Registry of the Stack with the same settings) listed referrers in
// repository, a normalised "host/path" name. It sends no request: it
// reports what Referrers already did, and ReferrersNotListed when
// nothing was listed there yet.
func (r *Registry) ReferrersSource(repository string) ReferrersSource {
	s := r.stack
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listedBy[r.repoKey(repository)]
}

// ReferrersTagIndex reads the referrers tag schema index of subject in
// repository: the image index tagged "sha256-<hex>" after the subject's
// digest, which clients that cannot rely on the referrers API (notation
// by default, oras with the tag schema) push beside their referrers. It
// reads it whatever ReferrersSource says, so that a caller can compare
// it with what the referrers API lists; it costs a Resolve and a Fetch.
// It returns the index's descriptor and the manifests it lists.
//
// Errors: no such tag wraps errdef.ErrNotFound; a tag on something other
// than an image index, or an index that does not decode, fails with
// ErrInvalidContent; otherwise the errors of Resolve and Fetch.
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#referrers-tag-schema
func (r *Registry) ReferrersTagIndex(ctx context.Context, repository string, subject digest.Digest) (ocispec.Descriptor, []ocispec.Descriptor, error) {
	if err := subject.Validate(); err != nil {
		return ocispec.Descriptor{}, nil, opError("read the referrers tag index of", repository+"@"+subject.String(), fmt.Errorf("%w: %w", errdef.ErrInvalidDigest, err))
	}
	tag := ReferrersTag(subject)
	desc, err := r.Resolve(ctx, repository, tag)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	what := repository + ":" + tag
	if desc.MediaType != ocispec.MediaTypeImageIndex {
		return desc, nil, opError("read the referrers tag index", what, fmt.Errorf("%w: the tag is on a %s, not an image index", ErrInvalidContent, desc.MediaType))
	}
	b, err := r.Fetch(ctx, repository, desc)
	if err != nil {
		return desc, nil, err
	}
	var index ocispec.Index
	if err := json.Unmarshal(b, &index); err != nil {
		return desc, nil, opError("read the referrers tag index", what, fmt.Errorf("%w: %w", ErrInvalidContent, err))
	}
	return desc, index.Manifests, nil
}

// ReferrersTag is the referrers tag schema tag of a subject digest:
// "<algorithm>-<hex>", e.g. "sha256-0123…".
func ReferrersTag(subject digest.Digest) string {
	return subject.Algorithm().String() + "-" + subject.Encoded()
}
