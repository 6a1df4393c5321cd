package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
)

// CosignSignatureArtifactType is the artifact type Referrers gives a
// cosign signature found under cosign's classic tag "sha256-<hex>.sig"
// (such a manifest has no artifact type of its own).
const CosignSignatureArtifactType = "application/vnd.dev.cosign.artifact.sig.v1+json"

// manifestMediaTypes are the media types fetched from the manifests
// endpoint and capped by Options.MaxManifestBytes; any other media type is
// a blob. It is oras-go's default list, set explicitly on every
// repository so the two cannot drift apart.
var manifestMediaTypes = []string{
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	ocispec.MediaTypeImageManifest,
	ocispec.MediaTypeImageIndex,
	"application/vnd.oci.artifact.manifest.v1+json",
}

func isManifest(mediaType string) bool { return slices.Contains(manifestMediaTypes, mediaType) }

// Registry reads manifests, blobs and referrers from OCI registries with
// oras-go. It is a view of a Stack: its own credentials, per-registry
// settings and limits over the Stack's shared cache, connections,
// authentication tokens, per-host limit and knowledge of which
// registries support the referrers API. Create it with Stack.Registry,
// or with New for a Registry on a Stack of its own. It is safe for
// concurrent use.
//
// Its methods satisfy the executor's Store interface.
type Registry struct {
	stack *Stack
	// opts are the view's options with the Stack's settings filled in
	// (cache TTLs, clock), so that the methods read one struct.
	opts  Options
	creds *credentialSet
	hosts *hostPolicy
}

// New returns a Registry on a Stack of its own, built from the
// stack-wide fields of opts (CacheBytes, TagTTL, ReferrersTTL, Now,
// MaxConcurrentRequests, HTTPClient, UserAgent). It is for a process
// with one configuration, such as the CLI; a process whose configuration
// changes builds one Stack and a Registry per configuration from it.
// New validates opts, applies the documented defaults and loads the
// docker config files. It fails on negative limits, malformed Registries
// entries and docker config files that are missing or do not parse.
func New(opts Options) (*Registry, error) {
	st, err := NewStack(opts.stackOptions())
	if err != nil {
		return nil, err
	}
	return st.Registry(opts.viewOptions())
}

// maxRepositories bounds the oras-go repositories a Stack keeps.
const maxRepositories = 4096

// repository returns the oras-go repository shared by every call for a
// normalised name such as "docker.io/library/nginx" with the view's
// settings; it remembers whether its registry supports the referrers
// API, for every view of the Stack with the same settings.
func (r *Registry) repository(name string) (*remote.Repository, error) {
	host, path, ok := strings.Cut(name, "/")
	if !ok || host == "" || path == "" {
		return nil, fmt.Errorf("repository %q is not host/path: %w", name, errdef.ErrInvalidReference)
	}
	key := r.repoKey(name)
	s := r.stack
	s.mu.Lock()
	defer s.mu.Unlock()
	if repo, ok := s.repos[key]; ok {
		return repo, nil
	}
	ref := registry.Reference{Registry: host, Repository: path}
	if err := ref.ValidateRegistry(); err != nil {
		return nil, err
	}
	if err := ref.ValidateRepository(); err != nil {
		return nil, err
	}
	ref.Registry = networkHost(host)
	repo := &remote.Repository{
		Client:               s.client,
		Reference:            ref,
		PlainHTTP:            key.plainHTTP,
		ManifestMediaTypes:   manifestMediaTypes,
		MaxMetadataBytes:     key.maxManifestBytes,
		ReferrerListMaxPages: MaxReferrerPages,
		SkipReferrersGC:      true, // Assay never pushes; set for safety.
	}
	if len(s.repos) >= maxRepositories {
		// Forget one, so that the map stays bounded however many
		// repositories are named: it costs that repository one
		// detection of the referrers API when it is next used.
		for k := range s.repos {
			delete(s.repos, k)
			delete(s.listedBy, k)
			break
		}
	}
	s.repos[key] = repo
	return repo, nil
}

// repoKey is the key of the shared repository named name, a normalised
// "host/path", with the view's settings.
func (r *Registry) repoKey(name string) repoKey {
	host, _, _ := strings.Cut(name, "/")
	return repoKey{name: name, plainHTTP: r.opts.Registries[CanonicalHost(host)].PlainHTTP, maxManifestBytes: r.opts.MaxManifestBytes}
}

// Resolve pins reference, a tag or a digest, of repository to the
// descriptor of its manifest (the registry's answer to a HEAD request).
//
// A digest that resolved once is answered from the cache afterwards; a
// tag is answered from the cache for Options.TagTTL after the request
// that resolved it was sent, so a tag moved meanwhile is seen at most
// that late. Concurrent calls for the same repository and reference
// share one request; each caller still returns when its own ctx is done.
//
// Errors: a manifest larger than Options.MaxManifestBytes fails with
// ErrTooLarge; an unknown tag or digest wraps errdef.ErrNotFound; a
// malformed repository or reference wraps errdef.ErrInvalidReference; a
// refusal wraps ErrUnauthorized; throttling that outlasts the retries or
// the deadline wraps ErrThrottled; an expired ctx wraps ctx.Err().
func (r *Registry) Resolve(ctx context.Context, repository, reference string) (ocispec.Descriptor, error) {
	ctx = r.bind(ctx)
	what := repository + ":" + reference
	dgst, err := digest.Parse(reference)
	isDigest := err == nil
	if isDigest {
		what = repository + "@" + reference
	}
	repo, err := r.repository(repository)
	if err != nil {
		return ocispec.Descriptor{}, opError("resolve", what, err)
	}
	// A digest's descriptor never expires; a tag's does, after TagTTL.
	cacheKey, ttl := "resolve "+repository+"@"+reference, time.Duration(0)
	if !isDigest {
		cacheKey, ttl = "tag "+repository+":"+reference, r.opts.TagTTL
	}
	if isDigest || ttl > 0 {
		if v, ok := r.stack.cache.Get(cacheKey, r.opts.Now()); ok {
			return v.(ocispec.Descriptor), nil
		}
	}
	desc, err := r.stack.resolves.Do(ctx, flightKey(ctx, repository, reference), func(ctx context.Context) (ocispec.Descriptor, error) {
		asked := r.opts.Now()
		desc, err := repo.Resolve(ctx, reference)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		if desc.Size > r.opts.MaxManifestBytes {
			return ocispec.Descriptor{}, fmt.Errorf("the manifest has %d bytes, more than the limit of %d: %w", desc.Size, r.opts.MaxManifestBytes, ErrTooLarge)
		}
		switch {
		case isDigest && desc.Digest == dgst:
			r.stack.cache.Add(cacheKey, desc, descriptorBytes, time.Time{})
		case !isDigest && ttl > 0:
			r.stack.cache.Add(cacheKey, desc, descriptorBytes, asked.Add(ttl))
		}
		return desc, nil
	})
	if err != nil {
		return ocispec.Descriptor{}, opError("resolve", what, classify(withoutReference(err)))
	}
	return desc, nil
}

// withoutReference drops the reference oras-go writes in front of a bare
// not-found ("<reference>: not found"), which the OpError names already,
// so that a message quoting the cause names the reference once.
func withoutReference(err error) error {
	if errors.Unwrap(err) == errdef.ErrNotFound {
		return errdef.ErrNotFound
	}
	return err
}

// descriptorBytes is what a cached descriptor is accounted for.
const descriptorBytes = 256

// Referrers calls fn with pages of the descriptors of the manifests that
// refer to subject in repository, each with its artifact type.
//
// The listing uses the OCI 1.1 referrers API, or the referrers tag schema
// ("sha256-<hex>" tag holding an index) when the registry does not
// support the API; oras-go detects which on first use and the repository
// remembers it. For a subject without an artifact type (an image, as
// Resolve returns it), cosign's classic signature tag "sha256-<hex>.sig"
// is probed at the same time (unless Options.SkipCosignSignatureTag) and,
// if it exists, reported last with ArtifactType
// CosignSignatureArtifactType.
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#listing-referrers
//
// An entry whose artifact type is absent or the empty config's
// ("application/vnd.oci.empty.v1+json", which says nothing of the
// artifact) gets the type its manifest states, its artifactType or else
// its config's media type: the manifest is fetched (and cached, so a
// verifier reading it next costs nothing more) for such entries only.
//
// A failed probe of the cosign signature tag (other than not found)
// fails the call after every other referrer was passed to fn; its error
// has a MissedArtifactType method that returns
// CosignSignatureArtifactType, so that a caller whose outcome cannot
// depend on such a signature may carry on.
//
// A descriptor is reported once even if the registry lists it twice. An
// error returned by fn stops the listing and is returned as is.
//
// A listing for which Referrers returns nil is kept for
// Options.ReferrersTTL after it started: calls within it get the same
// descriptors, in the same order, as a single page (fn is not called when
// there are none), without a request. Listings that fail, exceed a limit
// or are stopped by fn are not kept.
//
// Errors: more than Options.MaxReferrers referrers (or MaxReferrerPages
// pages) fail with ErrTooManyReferrers after the pages within the limit
// were passed to fn; a listing that is not a valid image index, or a page
// larger than Options.MaxManifestBytes, fails with ErrInvalidContent; a
// missing repository wraps errdef.ErrNotFound (a subject without
// referrers is not an error); a refusal wraps ErrUnauthorized; throttling
// that outlasts the retries or the deadline wraps ErrThrottled; an
// expired ctx wraps ctx.Err().
func (r *Registry) Referrers(ctx context.Context, repository string, subject ocispec.Descriptor, fn func(referrers []ocispec.Descriptor) error) error {
	ctx = r.bind(ctx)
	what := repository + "@" + subject.Digest.String()
	repo, err := r.repository(repository)
	if err != nil {
		return opError("list referrers of", what, err)
	}
	if err := subject.Digest.Validate(); err != nil {
		return opError("list referrers of", what, fmt.Errorf("%w: %w", errdef.ErrInvalidDigest, err))
	}
	// The cosign probe depends on the subject's artifact type, so the
	// listings with and without it are kept apart.
	probeCosign := subject.ArtifactType == "" && !r.opts.SkipCosignSignatureTag
	cacheKey := "referrers " + what
	if probeCosign {
		cacheKey += " cosign"
	}
	ttl := r.opts.ReferrersTTL
	started := r.opts.Now()
	if ttl > 0 {
		if v, ok := r.stack.cache.Get(cacheKey, started); ok {
			all := v.([]ocispec.Descriptor)
			if len(all) > r.opts.MaxReferrers {
				// Listed for a view with a higher limit.
				return opError("list referrers of", what, fmt.Errorf("more than %d referrers: %w", r.opts.MaxReferrers, ErrTooManyReferrers))
			}
			if len(all) > 0 {
				return fn(cloneDescriptors(all))
			}
			return nil
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the cosign probe when the listing fails
	type probe struct {
		desc ocispec.Descriptor
		err  error
	}
	var cosign chan probe
	cosignTag := subject.Digest.Algorithm().String() + "-" + subject.Digest.Encoded() + ".sig"
	if probeCosign {
		cosign = make(chan probe, 1)
		go func() {
			d, err := repo.Resolve(ctx, cosignTag)
			cosign <- probe{d, err}
		}()
	}

	seen := map[digest.Digest]bool{}
	var all []ocispec.Descriptor // what fn was given, for the cache
	var fnErr, typeErr error
	err = repo.Referrers(ctx, subject, "", func(page []ocispec.Descriptor) error {
		fresh := make([]ocispec.Descriptor, 0, len(page))
		for _, d := range page {
			if !seen[d.Digest] {
				seen[d.Digest] = true
				fresh = append(fresh, d)
			}
		}
		if len(seen) > r.opts.MaxReferrers {
			return fmt.Errorf("more than %d referrers: %w", r.opts.MaxReferrers, ErrTooManyReferrers)
		}
		if len(fresh) == 0 {
			return nil
		}
		for i := range fresh {
			if err := r.ownArtifactType(ctx, repository, &fresh[i]); err != nil {
				typeErr = err
				return err
			}
		}
		if ttl > 0 {
			all = append(all, cloneDescriptors(fresh)...)
		}
		if err := fn(fresh); err != nil {
			fnErr = err
			return err
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if typeErr != nil {
		return opError("list referrers of", what, fmt.Errorf("read the artifact type of a listed referrer: %w", typeErr))
	}
	if err != nil {
		switch {
		case errors.Is(err, errdef.ErrTooManyPages):
			err = fmt.Errorf("%w: %w", ErrTooManyReferrers, err)
		case errors.Is(err, io.ErrUnexpectedEOF):
			// oras-go stops reading a page at MaxManifestBytes, so the
			// JSON decoder sees a truncated document.
			err = fmt.Errorf("%w: the listing is truncated or larger than the limit of %d bytes: %w", ErrInvalidContent, r.opts.MaxManifestBytes, err)
		case isJSONError(err):
			err = fmt.Errorf("%w: the listing is not a valid image index: %w", ErrInvalidContent, err)
		default:
			err = classify(err)
		}
		return opError("list referrers of", what, err)
	}
	r.stack.listed(r.repoKey(repository), repo)
	var last []ocispec.Descriptor // the cosign signature, if reported
	if cosign != nil {
		p := <-cosign
		switch {
		case errors.Is(p.err, errdef.ErrNotFound), p.err == nil && seen[p.desc.Digest]:
		case p.err != nil:
			return opError("list referrers of", what, &probeError{tag: cosignTag, artifactType: CosignSignatureArtifactType, err: classify(p.err)})
		case len(seen)+1 > r.opts.MaxReferrers:
			return opError("list referrers of", what, fmt.Errorf("more than %d referrers with the cosign signature tag: %w", r.opts.MaxReferrers, ErrTooManyReferrers))
		default:
			p.desc.ArtifactType = CosignSignatureArtifactType
			last = []ocispec.Descriptor{p.desc}
		}
	}
	if ttl > 0 {
		all = append(all, cloneDescriptors(last)...)
	}
	if last != nil {
		if err := fn(last); err != nil {
			return err
		}
	}
	if ttl > 0 {
		r.stack.cache.Add(cacheKey, all, listingBytes(all), started.Add(ttl))
	}
	return nil
}

// untyped reports whether a listing entry's artifact type says nothing
// of the artifact: absent, or the empty config's media type. cosign
// v2.6.5's --new-bundle-format writes such an entry for its bundle into
// the referrers tag schema index ("application/vnd.oci.empty.v1+json",
// its manifest's config media type), though the manifest itself has an
// artifactType.
func untyped(artifactType string) bool {
	return artifactType == "" || artifactType == ocispec.MediaTypeEmptyJSON
}

// ownArtifactType gives a listed manifest whose entry is untyped the
// artifact type the manifest states: its artifactType, else its
// config's media type (distribution-spec's rule for the referrers API).
// It fetches the manifest through Fetch, so the content is cached by
// digest and a verifier reading it next sends no request; an entry with
// a type costs nothing. A manifest that no longer exists keeps the
// listed type (a dangling entry of a tag schema index); any other error
// is returned.
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#listing-referrers
func (r *Registry) ownArtifactType(ctx context.Context, repository string, d *ocispec.Descriptor) error {
	if !untyped(d.ArtifactType) || !isManifest(d.MediaType) {
		return nil
	}
	b, err := r.Fetch(ctx, repository, ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size})
	switch {
	case errors.Is(err, errdef.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	var m struct {
		ArtifactType string `json:"artifactType"`
		Config       struct {
			MediaType string `json:"mediaType"`
		} `json:"config"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return opError("fetch", repository+"@"+d.Digest.String(), fmt.Errorf("%w: %w", ErrInvalidContent, err))
	}
	switch {
	case m.ArtifactType != "":
		d.ArtifactType = m.ArtifactType
	case m.Config.MediaType != "":
		d.ArtifactType = m.Config.MediaType
	}
	return nil
}

// cloneDescriptors deep-copies descs, so that neither fn nor the cache
// sees what the other changes.
func cloneDescriptors(descs []ocispec.Descriptor) []ocispec.Descriptor {
	out := make([]ocispec.Descriptor, len(descs))
	for i, d := range descs {
		d.URLs = slices.Clone(d.URLs)
		d.Annotations = maps.Clone(d.Annotations)
		d.Data = bytes.Clone(d.Data)
		if d.Platform != nil {
			p := *d.Platform
			p.OSFeatures = slices.Clone(p.OSFeatures)
			d.Platform = &p
		}
		out[i] = d
	}
	return out
}

// listingBytes is what a cached referrers listing is accounted for.
func listingBytes(descs []ocispec.Descriptor) int64 {
	n := int64(24) // the slice header
	for _, d := range descs {
		n += descriptorBytes + int64(len(d.ArtifactType)+len(d.Data))
		for k, v := range d.Annotations {
			n += int64(len(k) + len(v))
		}
		for _, u := range d.URLs {
			n += int64(len(u))
		}
	}
	return n
}

// cached is content in the cache.
type cached struct {
	data []byte
	json bool // data was checked to be valid JSON
}

// Fetch returns the content desc describes, a manifest or a blob, read
// from repository and verified against desc's digest and size. The
// returned slice is the caller's own.
//
// desc.MediaType decides the limit: manifests and indexes (OCI and
// Docker media types) are capped by Options.MaxManifestBytes and must be
// valid JSON, everything else is a blob capped by Options.MaxBlobBytes.
// Content is cached by digest; concurrent fetches of the same digest from
// the same repository share one request.
//
// Errors, all of the form "fetch <repository>@<digest>: ...": a desc.Size
// above the limit fails with ErrTooLarge before any request; an invalid
// digest wraps errdef.ErrInvalidDigest and a negative size
// content.ErrInvalidDescriptorSize; content that does not match desc, or
// a manifest that is not JSON, fails with ErrInvalidContent (reading
// stops one byte past desc.Size); missing content wraps
// errdef.ErrNotFound; a refusal wraps ErrUnauthorized; an expired ctx
// wraps ctx.Err().
func (r *Registry) Fetch(ctx context.Context, repository string, desc ocispec.Descriptor) ([]byte, error) {
	ctx = r.bind(ctx)
	what := repository + "@" + desc.Digest.String()
	manifest := isManifest(desc.MediaType)
	limit, kind := r.opts.MaxBlobBytes, "blob"
	if manifest {
		limit, kind = r.opts.MaxManifestBytes, "manifest"
	}
	if err := desc.Digest.Validate(); err != nil {
		return nil, opError("fetch", what, fmt.Errorf("%w: %w", errdef.ErrInvalidDigest, err))
	}
	if desc.Size < 0 {
		return nil, opError("fetch", what, fmt.Errorf("size %d: %w", desc.Size, content.ErrInvalidDescriptorSize))
	}
	if desc.Size > limit {
		return nil, opError("fetch", what, fmt.Errorf("the %s has %d bytes, more than the limit of %d: %w", kind, desc.Size, limit, ErrTooLarge))
	}
	repo, err := r.repository(repository)
	if err != nil {
		return nil, opError("fetch", what, err)
	}
	key := "content " + desc.Digest.String()
	if v, ok := r.stack.cache.Get(key, r.opts.Now()); ok {
		c := v.(cached)
		if int64(len(c.data)) != desc.Size {
			return nil, opError("fetch", what, fmt.Errorf("the descriptor says %d bytes, the content has %d: %w", desc.Size, len(c.data), ErrInvalidContent))
		}
		if manifest && !c.json && !json.Valid(c.data) {
			return nil, opError("fetch", what, fmt.Errorf("%w: the manifest is not valid JSON", ErrInvalidContent))
		}
		return bytes.Clone(c.data), nil
	}
	f, err := r.stack.fetches.Do(ctx, flightKey(ctx, repository, desc.Digest.String()), func(ctx context.Context) (*fetched, error) {
		b, err := r.fetch(ctx, repo, desc)
		if err != nil {
			return nil, err
		}
		if manifest && !json.Valid(b) {
			return nil, fmt.Errorf("%w: the manifest is not valid JSON", ErrInvalidContent)
		}
		f := &fetched{data: b}
		f.shared = r.stack.cache.Add(key, cached{data: b, json: manifest}, int64(len(b)), time.Time{})
		return f, nil
	})
	if err != nil {
		return nil, opError("fetch", what, err)
	}
	return f.take(), nil
}

// fetched is the content one shared fetch read, handed to each of its
// callers. The first caller takes the slice itself unless the cache
// keeps it (shared); every other gets a copy. A blob nobody caches is
// then held once, not twice.
type fetched struct {
	data   []byte
	shared bool
	taken  atomic.Bool
}

func (f *fetched) take() []byte {
	if !f.shared && f.taken.CompareAndSwap(false, true) {
		return f.data
	}
	return bytes.Clone(f.data)
}

// fetch reads desc from shared's repository through a repository value
// of its own, whose client records whether the registry answered 200 OK:
// oras-go then rejects an answer that contradicts desc (Content-Length,
// Content-Type or Docker-Content-Digest) with an error of no particular
// type, which fetch reports as ErrInvalidContent.
func (r *Registry) fetch(ctx context.Context, shared *remote.Repository, desc ocispec.Descriptor) ([]byte, error) {
	rec := &answerRecorder{client: r.stack.client}
	repo := &remote.Repository{
		Client:             rec,
		Reference:          shared.Reference,
		PlainHTTP:          shared.PlainHTTP,
		ManifestMediaTypes: manifestMediaTypes,
		MaxMetadataBytes:   r.opts.MaxManifestBytes,
	}
	rc, err := repo.Fetch(ctx, desc)
	if err != nil {
		if rec.ok.Load() && ctx.Err() == nil {
			return nil, fmt.Errorf("%w: the answer does not match the descriptor: %w", ErrInvalidContent, err)
		}
		return nil, classify(err)
	}
	defer rc.Close()
	b, err := content.ReadAll(rc, desc)
	switch {
	case errors.Is(err, content.ErrTrailingData):
		return nil, fmt.Errorf("%w: the content is longer than the descriptor's %d bytes: %w", ErrInvalidContent, desc.Size, err)
	case errors.Is(err, content.ErrMismatchedDigest):
		return nil, fmt.Errorf("%w: the content does not match its digest: %w", ErrInvalidContent, err)
	case err != nil:
		return nil, classify(err)
	}
	return b, nil
}

// answerRecorder is a remote.Client that records whether a request got a
// 200 OK answer.
type answerRecorder struct {
	client remote.Client
	ok     atomic.Bool
}

func (a *answerRecorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := a.client.Do(req)
	if err == nil && resp.StatusCode == http.StatusOK {
		a.ok.Store(true)
	}
	return resp, err
}
