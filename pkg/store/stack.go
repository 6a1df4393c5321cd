package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/assayproj/assay/pkg/internal/flight"
	"github.com/assayproj/assay/pkg/internal/lru"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
)

// StackOptions configure a Stack: what one process shares across every
// configuration it serves. The zero value is valid and takes the
// documented defaults; NewStack rejects negative limits.
type StackOptions struct {
	// CacheBytes is the budget of the in-memory, least-recently-used
	// cache shared by every Registry of the Stack: content by digest
	// (manifests and blobs) and the descriptors digests resolve to, which
	// are immutable and so kept until evicted, and the tag resolutions
	// and referrer listings kept for TagTTL and ReferrersTTL. If 0,
	// DefaultCacheBytes; if negative, nothing is cached.
	CacheBytes int64
	// MemoryBudget bounds the bytes of registry content held at once for
	// verification by every Registry of the Stack (see Budget): a
	// verifier reserves an artifact's manifest and layers, by their
	// descriptors, before it reads them and gives them back when its
	// plugin has answered. The content cache (CacheBytes) is counted
	// apart. If 0, DefaultMemoryBudget; negative is an error.
	MemoryBudget int64
	// TagTTL: see Options.TagTTL. If 0, DefaultTagTTL; negative: never kept.
	TagTTL time.Duration
	// ReferrersTTL: see Options.ReferrersTTL. If 0, DefaultReferrersTTL;
	// negative: never kept.
	ReferrersTTL time.Duration
	// MaxConcurrentRequests: see Options.MaxConcurrentRequests; the limit
	// is per registry host for the whole Stack, whatever the number of
	// Registries on it. If 0, DefaultMaxConcurrentRequests; negative is
	// an error.
	MaxConcurrentRequests int
	// HTTPClient: see Options.HTTPClient. If nil, a client of the
	// Stack's own.
	HTTPClient *http.Client
	// UserAgent is sent with every request. If empty, DefaultUserAgent.
	UserAgent string
	// Now returns the current time, for TTLs. If nil, time.Now.
	Now func() time.Time
}

// Stack is the registry machinery of a process, shared by every
// Registry built from it: one content cache by digest, one cache of tag
// resolutions and referrer listings, one authentication token cache per
// credential set, one limit on requests in flight per registry host, one
// connection pool, one set of shared in-flight calls, and oras-go's
// memory of which registries support the referrers API. A configuration
// change builds new Registries (credentials, per-registry settings,
// limits) on the same Stack, so none of this is lost: content addressed
// by digest never changes. It is safe for concurrent use.
type Stack struct {
	opts   StackOptions
	client *auth.Client
	tokens *tokenCache
	cache  *lru.Cache[any]
	memory *Budget

	mu    sync.Mutex
	repos map[repoKey]*remote.Repository
	// listedBy records, per repository, how its last completed referrers
	// listing was made (ReferrersSource); forgotten with the repository.
	listedBy map[repoKey]ReferrersSource

	resolves flight.Group[ocispec.Descriptor]
	fetches  flight.Group[*fetched]
}

// repoKey names a shared oras-go repository: the settings that change
// how it talks to the registry are part of the key.
type repoKey struct {
	name             string
	plainHTTP        bool
	maxManifestBytes int64
}

// NewStack validates opts and applies the defaults.
func NewStack(opts StackOptions) (*Stack, error) {
	if opts.MaxConcurrentRequests < 0 {
		return nil, fmt.Errorf("store: MaxConcurrentRequests must not be negative, got %d", opts.MaxConcurrentRequests)
	}
	if opts.MemoryBudget < 0 {
		return nil, fmt.Errorf("store: MemoryBudget must not be negative, got %d", opts.MemoryBudget)
	}
	if opts.CacheBytes == 0 {
		opts.CacheBytes = DefaultCacheBytes
	}
	if opts.MemoryBudget == 0 {
		opts.MemoryBudget = DefaultMemoryBudget
	}
	if opts.TagTTL == 0 {
		opts.TagTTL = DefaultTagTTL
	}
	if opts.ReferrersTTL == 0 {
		opts.ReferrersTTL = DefaultReferrersTTL
	}
	if opts.MaxConcurrentRequests == 0 {
		opts.MaxConcurrentRequests = DefaultMaxConcurrentRequests
	}
	if opts.UserAgent == "" {
		opts.UserAgent = DefaultUserAgent
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Stack{
		opts:   opts,
		tokens: newTokenCache(),
		cache:  lru.New[any](opts.CacheBytes),
		memory: newBudget(opts.MemoryBudget),
		repos:  map[repoKey]*remote.Repository{},

		listedBy: map[repoKey]ReferrersSource{},
	}
	s.client = &auth.Client{
		Client: newHTTPClient(opts.HTTPClient, opts.MaxConcurrentRequests),
		Cache:  s.tokens,
		// oras-go asks for a credential with the request's context only;
		// the Registry making the request puts its credential set there
		// (bind), so one client serves every Registry.
		Credential: func(ctx context.Context, hostport string) (auth.Credential, error) {
			if cs := credentialSetOf(ctx); cs != nil {
				return cs.lookup(ctx, hostport)
			}
			return auth.EmptyCredential, nil
		},
		ClientID: opts.UserAgent,
	}
	s.client.SetUserAgent(opts.UserAgent)
	return s, nil
}

// errStackField is returned by Stack.Registry for an Options field that
// belongs to the Stack.
var errStackField = errors.New("is a setting of the Stack, not of a Registry on it")

// Registry returns a view of the Stack with the credentials, registry
// settings and limits of opts. The stack-wide fields of Options
// (CacheBytes, TagTTL, ReferrersTTL, Now, MaxConcurrentRequests,
// HTTPClient, UserAgent) must be zero: they are the Stack's. It fails
// as New does on negative limits, malformed Registries entries and
// docker config files that are missing or do not parse.
func (s *Stack) Registry(opts Options) (*Registry, error) {
	var errs []error
	for name, set := range map[string]bool{
		"CacheBytes":            opts.CacheBytes != 0,
		"TagTTL":                opts.TagTTL != 0,
		"ReferrersTTL":          opts.ReferrersTTL != 0,
		"Now":                   opts.Now != nil,
		"MaxConcurrentRequests": opts.MaxConcurrentRequests != 0,
		"HTTPClient":            opts.HTTPClient != nil,
		"UserAgent":             opts.UserAgent != "",
	} {
		if set {
			errs = append(errs, fmt.Errorf("%s %w", name, errStackField))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	opts.CacheBytes, opts.TagTTL, opts.ReferrersTTL = s.opts.CacheBytes, s.opts.TagTTL, s.opts.ReferrersTTL
	opts.Now, opts.MaxConcurrentRequests, opts.UserAgent = s.opts.Now, s.opts.MaxConcurrentRequests, s.opts.UserAgent
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	docker, err := dockerCredentials(opts.DockerConfigs, opts.DockerConfigPaths)
	if err != nil {
		return nil, err // it names the file; the caller names the Store
	}
	return &Registry{stack: s, opts: opts, creds: newCredentialSet(opts, docker), hosts: newHostPolicy(opts.Registries)}, nil
}

// CacheStats returns the number of entries in the Stack's cache and the
// bytes they account for.
func (s *Stack) CacheStats() (entries int, bytes int64) { return s.cache.Stats() }

// Memory returns the Stack's memory budget, shared by every Registry on
// it (StackOptions.MemoryBudget).
func (s *Stack) Memory() *Budget { return s.memory }

// Memory returns the memory budget of the Stack r is a view of.
func (r *Registry) Memory() *Budget { return r.stack.memory }

// stackOptions are the stack-wide fields of o.
func (o Options) stackOptions() StackOptions {
	return StackOptions{
		CacheBytes:            o.CacheBytes,
		TagTTL:                o.TagTTL,
		ReferrersTTL:          o.ReferrersTTL,
		MaxConcurrentRequests: o.MaxConcurrentRequests,
		HTTPClient:            o.HTTPClient,
		UserAgent:             o.UserAgent,
		Now:                   o.Now,
	}
}

// viewOptions are o without its stack-wide fields.
func (o Options) viewOptions() Options {
	o.CacheBytes, o.TagTTL, o.ReferrersTTL, o.Now = 0, 0, 0, nil
	o.MaxConcurrentRequests, o.HTTPClient, o.UserAgent = 0, nil, ""
	return o
}

// credentialSet is the credentials of one Registry: the function that
// finds a host's credential, and an id that tells credential sets apart,
// so that authentication tokens and shared registry calls are kept per
// set. Registries with the same credentials have the same id and share
// tokens; the anonymous set has the id "".
type credentialSet struct {
	id     string
	lookup auth.CredentialFunc
}

// newCredentialSet returns the credentials of a Registry with opts: the
// static credential of a host's Options.Registries entry if it has one,
// else the docker config's.
func newCredentialSet(opts Options, docker credentials.Store) *credentialSet {
	static := map[string]auth.Credential{}
	h := sha256.New()
	hosts := make([]string, 0, len(opts.Registries))
	for host := range opts.Registries {
		hosts = append(hosts, host)
	}
	slices.Sort(hosts)
	for _, host := range hosts {
		if c, ok := opts.Registries[host].credential(); ok {
			static[networkHost(host)] = c
			fmt.Fprintf(h, "static %q %q %q %q %q\n", host, c.Username, c.Password, c.RefreshToken, c.AccessToken)
		}
	}
	if docker != nil {
		for _, p := range opts.DockerConfigPaths {
			fmt.Fprintf(h, "path %q\n", p)
		}
		for _, c := range opts.DockerConfigs {
			fmt.Fprintf(h, "config %d:", len(c))
			h.Write(c)
		}
		if len(opts.DockerConfigPaths) == 0 && len(opts.DockerConfigs) == 0 {
			h.Write([]byte("default docker config\n"))
		}
	}
	cs := &credentialSet{}
	if len(static) > 0 || docker != nil {
		cs.id = hex.EncodeToString(h.Sum(nil))
	}
	fromDocker := dockerLookup(docker)
	cs.lookup = func(ctx context.Context, hostport string) (auth.Credential, error) {
		if c, ok := static[hostport]; ok {
			return c, nil
		}
		return fromDocker(ctx, hostport)
	}
	return cs
}

type credentialSetKey struct{}

// bind returns ctx carrying r's credential set and host policy (plain
// HTTP redirects, token realms) for the Stack's shared oras-go client,
// which is handed nothing else. It never leaves the store: callers
// choose credentials and hosts by choosing the Registry.
func (r *Registry) bind(ctx context.Context) context.Context {
	if credentialSetOf(ctx) != r.creds {
		ctx = context.WithValue(ctx, credentialSetKey{}, r.creds)
	}
	if hostPolicyOf(ctx) != r.hosts {
		ctx = context.WithValue(ctx, hostPolicyKey{}, r.hosts)
	}
	return ctx
}

func credentialSetOf(ctx context.Context) *credentialSet {
	cs, _ := ctx.Value(credentialSetKey{}).(*credentialSet)
	return cs
}

// credentialsID is the id of the credential set ctx is bound to, "" for
// none or the anonymous one.
func credentialsID(ctx context.Context) string {
	if cs := credentialSetOf(ctx); cs != nil {
		return cs.id
	}
	return ""
}
