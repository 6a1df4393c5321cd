package store

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// Defaults applied by New to zero-valued Options fields.
const (
	// DefaultMaxManifestBytes caps a manifest, an index, and one page of a
	// referrers listing: 4 MiB, as oras-go's MaxMetadataBytes and the
	// distribution spec's recommended manifest limit.
	DefaultMaxManifestBytes = 4 << 20
	// DefaultMaxBlobBytes caps a blob: 32 MiB.
	DefaultMaxBlobBytes = 32 << 20
	// DefaultMaxReferrers caps the referrers listed for one subject.
	DefaultMaxReferrers = 1024
	// DefaultCacheBytes is the budget of the content cache: 64 MiB.
	DefaultCacheBytes = 64 << 20
	// DefaultUserAgent is sent when Options.UserAgent is empty.
	DefaultUserAgent = "assay"
	// DefaultMaxConcurrentRequests is the number of requests in flight to
	// one registry host at once.
	DefaultMaxConcurrentRequests = 16
	// DefaultTagTTL is how long the digest a tag resolved to is reused.
	DefaultTagTTL = 10 * time.Second
	// DefaultReferrersTTL is how long a referrers listing is reused.
	DefaultReferrersTTL = 10 * time.Second
	// MaxReferrerPages bounds the pages of one referrers listing, so that
	// a registry answering empty pages with endless Link headers cannot
	// keep a request busy. Exceeding it fails with ErrTooManyReferrers.
	MaxReferrerPages = 64
)

// RegistryOptions configure one registry host. The zero value means HTTPS
// and credentials from the docker config, if any.
type RegistryOptions struct {
	// PlainHTTP talks plain HTTP, without TLS, to this registry. Only
	// registries listed with PlainHTTP true ever get plain HTTP; every
	// other registry is reached over HTTPS. Credentials configured for a
	// plain HTTP registry cross the network in the clear.
	PlainHTTP bool
	// TokenRealms lists the hosts (host or host:port) of Bearer token
	// realms on loopback, link-local, private, unspecified or
	// carrier-grade NAT addresses that this registry may send the store
	// to for tokens, with its credentials. A realm on the registry's own
	// host, or on another host with a public address (over HTTPS), needs
	// no entry; a realm on any other private host is refused with
	// ErrTokenRealm, so that a registry cannot have the store send
	// credentials to an internal service such as a metadata endpoint.
	TokenRealms []string
	// Username and Password are static credentials, used for basic
	// authentication and for the distribution token flow. A Password
	// requires a Username. Static credentials (any of Username,
	// IdentityToken, AccessToken) take precedence over the docker config
	// for this registry.
	Username string
	Password string
	// IdentityToken is an OAuth2 refresh token (the docker config's
	// "identitytoken"), exchanged for access tokens at the registry's
	// token realm.
	IdentityToken string
	// AccessToken is an OAuth2 access token sent as a bearer token as is.
	// It is not refreshed: when it expires, requests fail with
	// ErrUnauthorized.
	AccessToken string
}

func (o RegistryOptions) credential() (auth.Credential, bool) {
	c := auth.Credential{Username: o.Username, Password: o.Password, RefreshToken: o.IdentityToken, AccessToken: o.AccessToken}
	return c, c != auth.EmptyCredential
}

// Options configure a Registry. The zero value is valid: every registry
// over HTTPS, credentials from the default docker config, and the
// documented defaults. New rejects negative limits and malformed entries.
type Options struct {
	// Registries holds per-registry settings keyed by host[:port] as it
	// appears in repository names ("ghcr.io", "localhost:5000",
	// "docker.io"). "docker.io", "index.docker.io" and
	// "registry-1.docker.io" name the same registry and may appear only
	// once. A registry not listed gets the zero RegistryOptions.
	Registries map[string]RegistryOptions
	// DockerConfigPaths are docker config.json files searched in order
	// for credentials ("auths", "credsStore" and "credHelpers"; helper
	// programs are looked up on PATH). Each file must exist and parse;
	// it is read once, by New. If empty (and DockerConfigs too), the default docker config
	// ($DOCKER_CONFIG/config.json, else ~/.docker/config.json) is used
	// when it exists. Static credentials in Registries take precedence.
	DockerConfigPaths []string
	// DockerConfigs are docker config JSON documents held in memory (the
	// ".dockerconfigjson" of Kubernetes pull Secrets): their "auths" are
	// searched, in order, before DockerConfigPaths. Each must parse.
	DockerConfigs [][]byte
	// MaxManifestBytes caps a manifest or index (by its descriptor, and
	// while reading it) and one page of a referrers listing. If 0,
	// DefaultMaxManifestBytes; negative is an error.
	MaxManifestBytes int64
	// MaxBlobBytes caps a blob, by its descriptor and while reading it.
	// If 0, DefaultMaxBlobBytes; negative is an error.
	MaxBlobBytes int64
	// MaxReferrers caps the referrers listed for one subject, counting
	// the cosign signature tag. If 0, DefaultMaxReferrers; negative is an
	// error.
	MaxReferrers int
	// CacheBytes is the budget of the in-memory, least-recently-used
	// cache, in bytes: content by digest (manifests and blobs) and the
	// descriptors digests resolve to, which are immutable and so kept
	// until evicted, and the tag resolutions and referrer listings kept
	// for TagTTL and ReferrersTTL. If 0, DefaultCacheBytes; if negative,
	// nothing is cached, whatever the TTLs say.
	CacheBytes int64
	// TagTTL is how long the descriptor a tag resolved to is reused by
	// Resolve, without asking the registry again: a tag moved in the
	// meantime is seen at most TagTTL late. Only successful resolutions
	// are kept; an unknown tag is asked again every time. If 0,
	// DefaultTagTTL (10 s); if negative, tags are resolved on every call.
	TagTTL time.Duration
	// ReferrersTTL is how long a complete, successful referrers listing
	// of a subject (with the result of the cosign signature tag probe) is
	// reused by Referrers, which replays it to fn as one page: a referrer
	// pushed or deleted in the meantime is seen at most ReferrersTTL
	// late. Listings that fail, exceed a limit or are stopped by fn are
	// not kept. If 0, DefaultReferrersTTL (10 s); if negative, every call
	// lists the referrers from the registry.
	ReferrersTTL time.Duration
	// SkipCosignSignatureTag stops Referrers from probing cosign's classic
	// signature tag "sha256-<hex>.sig" for images: one request fewer per
	// listing, for configurations in which no Verifier handles
	// CosignSignatureArtifactType. Default false (probe).
	SkipCosignSignatureTag bool
	// Now returns the current time, for the expiry of TagTTL and
	// ReferrersTTL entries. If nil, time.Now. Tests set a fake clock;
	// retries and deadlines always use the real clock.
	Now func() time.Time
	// MaxConcurrentRequests caps the requests in flight at once to one
	// registry host (as the request URL names it, so a token service or a
	// blob storage a registry redirects to counts on its own). A request
	// holds its slot until its response body is closed; a retry waits
	// for its backoff without a slot. A request beyond the cap waits for
	// a slot and gives up when its context is done, with an error
	// wrapping ctx.Err(). If 0, DefaultMaxConcurrentRequests; negative
	// is an error.
	MaxConcurrentRequests int
	// HTTPClient sends every request. If nil, a client of the store's
	// own is used. Its Transport (http.DefaultTransport if nil) is the
	// innermost layer: the store always wraps it in its own retries and
	// its MaxConcurrentRequests limit, so it sees every attempt and must
	// not retry itself (do not pass oras-go's retry.DefaultClient). Its
	// CheckRedirect, Jar and Timeout are kept.
	//
	// The store retries GET and HEAD requests, which carry no body, up to
	// 4 times on 408, 429, 5xx other than 501, and transient network
	// errors (dial timeouts, connection resets, unexpected EOF), waiting
	// 100 ms, 200 ms, 400 ms, 800 ms with 20% jitter, or the 429 or 503
	// answer's Retry-After (seconds or an HTTP date) when longer. When
	// the wait would pass the deadline of the request's context, it does
	// not sleep: a 429 or 503 fails at once with ErrThrottled, any other
	// answer is returned as the error. A Retry-After over a minute fails
	// with ErrThrottled too. Other methods are never retried.
	// https://www.rfc-editor.org/rfc/rfc9110#name-retry-after
	HTTPClient *http.Client
	// UserAgent is sent with every request. If empty, DefaultUserAgent.
	UserAgent string
}

// withDefaults validates o and returns it with defaults applied and the
// Registries keyed by canonical host.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.MaxManifestBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxManifestBytes must not be negative, got %d", o.MaxManifestBytes))
	}
	if o.MaxBlobBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxBlobBytes must not be negative, got %d", o.MaxBlobBytes))
	}
	if o.MaxReferrers < 0 {
		errs = append(errs, fmt.Errorf("MaxReferrers must not be negative, got %d", o.MaxReferrers))
	}
	if o.MaxConcurrentRequests < 0 {
		errs = append(errs, fmt.Errorf("MaxConcurrentRequests must not be negative, got %d", o.MaxConcurrentRequests))
	}
	for i, p := range o.DockerConfigPaths {
		if p == "" {
			errs = append(errs, fmt.Errorf("DockerConfigPaths[%d] is empty", i))
		}
	}
	registries := make(map[string]RegistryOptions, len(o.Registries))
	for host, ro := range o.Registries {
		if err := (registry.Reference{Registry: host}).ValidateRegistry(); err != nil || host == "" {
			errs = append(errs, fmt.Errorf("registry %q is not a host[:port]", host))
			continue
		}
		if ro.Password != "" && ro.Username == "" {
			errs = append(errs, fmt.Errorf("registry %q: a password needs a username", host))
		}
		if ro.Username != "" && ro.Password == "" && ro.IdentityToken == "" {
			errs = append(errs, fmt.Errorf("registry %q: a username needs a password or an identity token", host))
		}
		for i, realm := range ro.TokenRealms {
			if err := (registry.Reference{Registry: realm}).ValidateRegistry(); err != nil || realm == "" || strings.Contains(realm, "/") {
				errs = append(errs, fmt.Errorf("registry %q: TokenRealms[%d] %q is not a host[:port]", host, i, realm))
			}
		}
		key := CanonicalHost(host)
		if _, dup := registries[key]; dup {
			errs = append(errs, fmt.Errorf("registry %q is listed twice (as %q and an alias)", key, host))
		}
		registries[key] = ro
	}
	if err := errors.Join(errs...); err != nil {
		return o, err
	}
	o.Registries = registries
	if o.MaxManifestBytes == 0 {
		o.MaxManifestBytes = DefaultMaxManifestBytes
	}
	if o.MaxBlobBytes == 0 {
		o.MaxBlobBytes = DefaultMaxBlobBytes
	}
	if o.MaxReferrers == 0 {
		o.MaxReferrers = DefaultMaxReferrers
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = DefaultCacheBytes
	}
	if o.TagTTL == 0 {
		o.TagTTL = DefaultTagTTL
	}
	if o.ReferrersTTL == 0 {
		o.ReferrersTTL = DefaultReferrersTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxConcurrentRequests == 0 {
		o.MaxConcurrentRequests = DefaultMaxConcurrentRequests
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	return o, nil
}

// CanonicalHost is the key of a registry in Options.Registries: Docker
// Hub's aliases ("index.docker.io", "registry-1.docker.io") all become
// "docker.io"; any other host is itself.
func CanonicalHost(host string) string {
	switch host {
	case "index.docker.io", "registry-1.docker.io":
		return "docker.io"
	}
	return host
}

// networkHost is the host requests for a registry go to: Docker Hub's
// repositories are named "docker.io/..." but served by
// registry-1.docker.io.
func networkHost(host string) string {
	if CanonicalHost(host) == "docker.io" {
		return "registry-1.docker.io"
	}
	return host
}
