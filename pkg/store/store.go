package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/singleflight"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/retry"
)

// Defaults for Options.
const (
	DefaultMaxManifestBytes = 4 << 20
	DefaultMaxBlobBytes     = 32 << 20
	DefaultMaxReferrers     = 1024
	DefaultCacheBytes       = 64 << 20
	// DefaultMaxReferrerPages bounds the pages of one referrers listing, so
	// a registry answering empty pages with endless Link headers cannot
	// keep Assay busy.
	DefaultMaxReferrerPages = 64
)

// CosignSignatureArtifactType is the artifact type given to a cosign
// signature found under the classic "sha256-<hex>.sig" tag.
const CosignSignatureArtifactType = "application/vnd.dev.cosign.artifact.sig.v1+json"

// Sentinel errors. Each wraps the oras-go errdef error a consumer that
// knows only oras-go can classify.
var (
	// ErrTooManyReferrers: a subject has more referrers (or pages of
	// referrers) than Options.MaxReferrers allows.
	ErrTooManyReferrers = fmt.Errorf("too many referrers: %w", errdef.ErrSizeExceedsLimit)
	// ErrTooLarge: content is larger than its limit.
	ErrTooLarge = fmt.Errorf("content too large: %w", errdef.ErrSizeExceedsLimit)
	// ErrInvalidContent: a manifest is not valid JSON, or content does not
	// match its digest or size.
	ErrInvalidContent = errors.New("invalid content")
)

// RegistryOptions configure one registry host.
type RegistryOptions struct {
	// PlainHTTP talks plain HTTP to this registry. Only registries listed
	// with PlainHTTP true ever get plain HTTP.
	PlainHTTP bool
	// Username and Password are static basic credentials. Static
	// credentials take precedence over the docker config.
	Username string
	Password string
	// IdentityToken is an OAuth2 refresh token.
	IdentityToken string
	// AccessToken is an OAuth2 access token used as a bearer token.
	AccessToken string
}

func (o RegistryOptions) credential() (auth.Credential, bool) {
	c := auth.Credential{Username: o.Username, Password: o.Password, RefreshToken: o.IdentityToken, AccessToken: o.AccessToken}
	return c, c != auth.EmptyCredential
}

// Options configure a Registry. Zero values mean the documented defaults.
type Options struct {
	// Registries holds per-registry settings keyed by host[:port]
	// ("ghcr.io", "localhost:5000", "docker.io").
	Registries map[string]RegistryOptions
	// DockerConfigPaths are docker config.json files searched in order
	// for credentials (auths, credsStore and credHelpers). If empty, the
	// default docker config ($DOCKER_CONFIG or ~/.docker/config.json) is
	// used when it exists.
	DockerConfigPaths []string
	// MaxManifestBytes caps manifests and indexes. If <= 0,
	// DefaultMaxManifestBytes is used.
	MaxManifestBytes int64
	// MaxBlobBytes caps blobs. If <= 0, DefaultMaxBlobBytes is used.
	MaxBlobBytes int64
	// MaxReferrers caps the referrers listed for one subject. If <= 0,
	// DefaultMaxReferrers is used.
	MaxReferrers int
	// CacheBytes is the budget of the digest-keyed content cache. If 0,
	// DefaultCacheBytes is used; if < 0, nothing is cached.
	CacheBytes int64
	// HTTPClient sends the requests. If nil, oras-go's retrying client is
	// used: it retries 429, 408 and 5xx answers with exponential backoff,
	// honouring Retry-After.
	HTTPClient *http.Client
	// UserAgent is sent with every request. If empty, "assay".
	UserAgent string
}

// Registry reads from OCI registries with oras-go. It is safe for
// concurrent use.
type Registry struct {
	opts   Options
	client *auth.Client
	cache  *lru

	mu    sync.Mutex
	repos map[string]*remote.Repository

	resolves singleflight.Group
	fetches  singleflight.Group
}

// New validates opts, applies defaults and prepares credentials.
func New(opts Options) (*Registry, error) {
	if opts.MaxManifestBytes <= 0 {
		opts.MaxManifestBytes = DefaultMaxManifestBytes
	}
	if opts.MaxBlobBytes <= 0 {
		opts.MaxBlobBytes = DefaultMaxBlobBytes
	}
	if opts.MaxReferrers <= 0 {
		opts.MaxReferrers = DefaultMaxReferrers
	}
	if opts.CacheBytes == 0 {
		opts.CacheBytes = DefaultCacheBytes
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "assay"
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = retry.DefaultClient
	}
	for host, ro := range opts.Registries {
		if host == "" || strings.Contains(host, "/") {
			return nil, fmt.Errorf("store: registry %q is not a host[:port]", host)
		}
		if ro.Password != "" && ro.Username == "" {
			return nil, fmt.Errorf("store: registry %q: password without username", host)
		}
	}
	creds, err := credentialStore(opts.DockerConfigPaths)
	if err != nil {
		return nil, err
	}
	static := map[string]auth.Credential{}
	for host, ro := range opts.Registries {
		if c, ok := ro.credential(); ok {
			static[networkHost(host)] = c
		}
	}
	client := &auth.Client{
		Client: opts.HTTPClient,
		Cache:  auth.NewCache(),
		Header: http.Header{"User-Agent": {opts.UserAgent}},
		Credential: func(ctx context.Context, hostport string) (auth.Credential, error) {
			if c, ok := static[hostport]; ok {
				return c, nil
			}
			if creds == nil {
				return auth.EmptyCredential, nil
			}
			return credentials.Credential(creds)(ctx, hostport)
		},
	}
	return &Registry{
		opts:   opts,
		client: client,
		cache:  newLRU(opts.CacheBytes),
		repos:  map[string]*remote.Repository{},
	}, nil
}

// credentialStore builds the docker config credential store: the given
// files in order, or the default docker config when none is given.
func credentialStore(paths []string) (credentials.Store, error) {
	opts := credentials.StoreOptions{}
	if len(paths) == 0 {
		s, err := credentials.NewStoreFromDocker(opts)
		if err != nil {
			// A missing or unreadable default config means anonymous access.
			return nil, nil
		}
		return s, nil
	}
	stores := make([]credentials.Store, 0, len(paths))
	for _, p := range paths {
		s, err := credentials.NewStore(p, opts)
		if err != nil {
			return nil, fmt.Errorf("store: docker config %s: %w", p, err)
		}
		stores = append(stores, s)
	}
	return credentials.NewStoreWithFallbacks(stores[0], stores[1:]...), nil
}

// networkHost maps a registry name to the host requests go to.
func networkHost(host string) string {
	if host == "docker.io" {
		return "registry-1.docker.io"
	}
	return host
}

// repository returns the shared oras repository for a normalised name
// such as "docker.io/library/nginx".
func (r *Registry) repository(name string) (*remote.Repository, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if repo, ok := r.repos[name]; ok {
		return repo, nil
	}
	host, path, ok := strings.Cut(name, "/")
	if !ok || path == "" {
		return nil, fmt.Errorf("repository %q: want host/path", name)
	}
	ref := registry.Reference{Registry: networkHost(host), Repository: path}
	if err := ref.ValidateRepository(); err != nil {
		return nil, fmt.Errorf("repository %q: %w", name, err)
	}
	if err := ref.ValidateRegistry(); err != nil {
		return nil, fmt.Errorf("repository %q: %w", name, err)
	}
	repo := &remote.Repository{
		Client:               r.client,
		Reference:            ref,
		PlainHTTP:            r.opts.Registries[host].PlainHTTP,
		MaxMetadataBytes:     r.opts.MaxManifestBytes,
		ReferrerListMaxPages: DefaultMaxReferrerPages,
		SkipReferrersGC:      true,
	}
	r.repos[name] = repo
	return repo, nil
}

// Resolve pins a tag or digest of repository to a descriptor. Concurrent
// calls for the same reference share one request (made with the context
// of the first caller). A manifest larger than
// MaxManifestBytes is refused with ErrTooLarge; an unknown reference
// wraps errdef.ErrNotFound.
func (r *Registry) Resolve(ctx context.Context, repository, reference string) (ocispec.Descriptor, error) {
	repo, err := r.repository(repository)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	key := repository + "\x00" + reference
	v, err, _ := r.resolves.Do(key, func() (any, error) {
		return repo.Resolve(ctx, reference)
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("resolve %s:%s: %w", repository, reference, err)
	}
	desc := v.(ocispec.Descriptor)
	if desc.Size > r.opts.MaxManifestBytes {
		return ocispec.Descriptor{}, fmt.Errorf("resolve %s:%s: manifest of %d bytes exceeds the limit of %d: %w", repository, reference, desc.Size, r.opts.MaxManifestBytes, ErrTooLarge)
	}
	return desc, nil
}

// Referrers calls fn with pages of the referrers of subject: through the
// OCI 1.1 referrers API, or the referrers tag schema when the registry
// lacks the API (oras-go detects which and remembers it per repository).
// For an image (a subject without an artifact type) the classic cosign
// signature tag "sha256-<hex>.sig" is probed too and reported with
// CosignSignatureArtifactType. More than MaxReferrers referrers fail with
// ErrTooManyReferrers; an error returned by fn stops the listing and is
// returned as is.
func (r *Registry) Referrers(ctx context.Context, repository string, subject ocispec.Descriptor, fn func(referrers []ocispec.Descriptor) error) error {
	repo, err := r.repository(repository)
	if err != nil {
		return err
	}
	type probe struct {
		desc ocispec.Descriptor
		err  error
	}
	var cosign chan probe
	if subject.ArtifactType == "" && subject.Digest.Algorithm() != "" {
		cosign = make(chan probe, 1)
		go func() {
			tag := fmt.Sprintf("%s-%s.sig", subject.Digest.Algorithm(), subject.Digest.Encoded())
			d, err := repo.Resolve(ctx, tag)
			cosign <- probe{d, err}
		}()
	}
	var fnErr error
	count := 0
	err = repo.Referrers(ctx, subject, "", func(page []ocispec.Descriptor) error {
		count += len(page)
		if count > r.opts.MaxReferrers {
			return fmt.Errorf("more than %d referrers: %w", r.opts.MaxReferrers, ErrTooManyReferrers)
		}
		if err := fn(page); err != nil {
			fnErr = err
			return err
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		switch {
		case errors.Is(err, errdef.ErrTooManyPages):
			err = fmt.Errorf("%w: %w", ErrTooManyReferrers, err)
		case errors.Is(err, io.ErrUnexpectedEOF):
			// oras-go truncates the answer at MaxManifestBytes, so JSON
			// decoding then stops short.
			err = fmt.Errorf("%w: the referrers answer is truncated or larger than the limit of %d bytes: %w", ErrInvalidContent, r.opts.MaxManifestBytes, err)
		case isJSONError(err):
			err = fmt.Errorf("%w: the referrers answer is not a valid image index: %w", ErrInvalidContent, err)
		}
		return fmt.Errorf("list referrers of %s@%s: %w", repository, subject.Digest, err)
	}
	if cosign != nil {
		p := <-cosign
		switch {
		case p.err == nil:
			p.desc.ArtifactType = CosignSignatureArtifactType
			if count+1 > r.opts.MaxReferrers {
				return fmt.Errorf("list referrers of %s@%s: more than %d referrers: %w", repository, subject.Digest, r.opts.MaxReferrers, ErrTooManyReferrers)
			}
			return fn([]ocispec.Descriptor{p.desc})
		case errors.Is(p.err, errdef.ErrNotFound):
		default:
			return fmt.Errorf("probe cosign signature tag of %s@%s: %w", repository, subject.Digest, p.err)
		}
	}
	return nil
}

// Fetch returns the content of desc from repository, verified against its
// digest and size. Content larger than its limit (MaxManifestBytes for
// manifests and indexes, MaxBlobBytes otherwise) is refused with
// ErrTooLarge before any request. Manifests that are not JSON, and content
// not matching the descriptor, fail with ErrInvalidContent. Results are
// cached by digest.
func (r *Registry) Fetch(ctx context.Context, repository string, desc ocispec.Descriptor) ([]byte, error) {
	limit := r.opts.MaxBlobBytes
	manifest := isManifest(desc.MediaType)
	if manifest {
		limit = r.opts.MaxManifestBytes
	}
	if desc.Size > limit {
		return nil, fmt.Errorf("fetch %s@%s: %d bytes exceed the limit of %d: %w", repository, desc.Digest, desc.Size, limit, ErrTooLarge)
	}
	if desc.Size < 0 {
		return nil, fmt.Errorf("fetch %s@%s: negative size %d: %w", repository, desc.Digest, desc.Size, ErrInvalidContent)
	}
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("fetch %s@%s: %w: %w", repository, desc.Digest, ErrInvalidContent, err)
	}
	if b, ok := r.cache.get(desc.Digest.String()); ok {
		return b, nil
	}
	repo, err := r.repository(repository)
	if err != nil {
		return nil, err
	}
	v, err, _ := r.fetches.Do(repository+"\x00"+desc.Digest.String(), func() (any, error) {
		rc, err := repo.Fetch(ctx, desc)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		b, err := content.ReadAll(rc, desc)
		if err != nil {
			if errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData) || errors.Is(err, errdef.ErrInvalidDigest) {
				return nil, fmt.Errorf("%w: %w", ErrInvalidContent, err)
			}
			return nil, err
		}
		if manifest && !json.Valid(b) {
			return nil, fmt.Errorf("%w: manifest is not valid JSON", ErrInvalidContent)
		}
		r.cache.add(desc.Digest.String(), b)
		return b, nil
	})
	if err != nil {
		return nil, fmt.Errorf("fetch %s@%s: %w", repository, desc.Digest, err)
	}
	return v.([]byte), nil
}

func isJSONError(err error) bool {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return errors.As(err, &syn) || errors.As(err, &typ)
}

// isManifest reports whether mediaType names a manifest or index.
func isManifest(mediaType string) bool {
	switch mediaType {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
		"application/vnd.docker.distribution.manifest.v2+json",
		"application/vnd.docker.distribution.manifest.list.v2+json",
		"application/vnd.oci.artifact.manifest.v1+json":
		return true
	}
	return false
}
