package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// MaxRedirects is the number of redirects one request may follow; the
// next one fails with ErrRedirect.
const MaxRedirects = 5

// ErrRedirect means the store refused to follow a registry's redirect:
// to plain HTTP on a host the Store does not list with PlainHTTP, or
// after MaxRedirects redirects. The message names the redirect:
//
//	registry.example redirected GET /v2/app/manifests/v1 to http://other:80/m; redirects go only to HTTPS or to a host the Store lists with plainHTTP
var ErrRedirect = errors.New("registry redirect refused")

// ErrTokenRealm means a registry's Bearer challenge names a token realm
// on a loopback, link-local, private, unspecified or carrier-grade NAT
// address of another host, which the Store does not list in the
// registry's TokenRealms. The error has a Remediation method that names
// the Store setting.
var ErrTokenRealm = errors.New("token realm on a private host refused")

// hostPolicy is what one Registry view allows beyond the defaults, by
// network host (as request URLs name it): plain HTTP, and token realms
// on private hosts per registry.
type hostPolicy struct {
	plainHTTP   map[string]bool
	tokenRealms map[string]map[string]bool // registry host → realm host[:port]
}

func newHostPolicy(registries map[string]RegistryOptions) *hostPolicy {
	p := &hostPolicy{plainHTTP: map[string]bool{}, tokenRealms: map[string]map[string]bool{}}
	for host, ro := range registries {
		h := networkHost(host)
		if ro.PlainHTTP {
			p.plainHTTP[h] = true
		}
		if len(ro.TokenRealms) > 0 {
			p.tokenRealms[h] = map[string]bool{}
			for _, realm := range ro.TokenRealms {
				p.tokenRealms[h][realm] = true
			}
		}
	}
	return p
}

// allowsPlainHTTP reports whether host may be reached in plain HTTP; a
// nil policy (a request made outside any Registry) allows none.
func (p *hostPolicy) allowsPlainHTTP(host string) bool { return p != nil && p.plainHTTP[host] }

// allowsRealm reports whether the registry at host may send its clients
// to the token realm at realmHost (host[:port] of the realm URL).
func (p *hostPolicy) allowsRealm(host, realmHost string) bool {
	if p == nil {
		return false
	}
	listed := p.tokenRealms[host]
	if listed[realmHost] {
		return true
	}
	if h, _, err := net.SplitHostPort(realmHost); err == nil {
		return listed[h]
	}
	return false
}

type hostPolicyKey struct{}

func hostPolicyOf(ctx context.Context) *hostPolicy {
	p, _ := ctx.Value(hostPolicyKey{}).(*hostPolicy)
	return p
}

// redirectError is ErrRedirect for one redirect.
type redirectError struct {
	from    *http.Request // the request that was redirected
	to      *url.URL
	tooMany bool
}

func (e *redirectError) Error() string {
	what := fmt.Sprintf("%s redirected %s %s to %s", e.from.URL.Host, e.from.Method, e.from.URL.Path, e.to.Redacted())
	if e.tooMany {
		return fmt.Sprintf("%s; more than %d redirects for one request are not followed", what, MaxRedirects)
	}
	return what + "; redirects go only to HTTPS or to a host the Store lists with plainHTTP"
}

func (e *redirectError) Unwrap() error { return ErrRedirect }

// Remediation says what makes the redirect acceptable.
func (e *redirectError) Remediation() string {
	if e.tooMany {
		return fmt.Sprintf("The registry %s redirects in a loop or through too many hosts: fix the registry or the proxy in front of it.", e.from.URL.Host)
	}
	return fmt.Sprintf("The registry %s sends clients to plain HTTP on %s: make it redirect to HTTPS, or, only if %s is on a network you trust, list it in the Store's spec.registries as {host: %q, plainHTTP: true}.", e.from.URL.Host, e.to.Host, e.to.Host, e.to.Host)
}

// checkRedirect is the CheckRedirect of the Stack's client, beneath
// oras-go's (which drops Authorization once a redirect leaves the
// origin of the first request): it follows a redirect only to HTTPS, or
// to plain HTTP on a host the Registry making the request lists with
// PlainHTTP, and at most MaxRedirects times. Whatever oras-go does, it
// drops Authorization itself when the chain has left the first
// request's scheme, host or port, so that registry credentials never
// reach another origin. next, if not nil, is consulted last.
func checkRedirect(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		prev := via[len(via)-1]
		if len(via) > MaxRedirects {
			return &redirectError{from: prev, to: req.URL, tooMany: true}
		}
		switch req.URL.Scheme {
		case "https":
		case "http":
			if !hostPolicyOf(req.Context()).allowsPlainHTTP(req.URL.Host) {
				return &redirectError{from: prev, to: req.URL}
			}
		default:
			return &redirectError{from: prev, to: req.URL}
		}
		for _, r := range append(via[1:], req) {
			if origin(r.URL) != origin(via[0].URL) {
				req.Header.Del("Authorization")
				break
			}
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
}

// origin is u's scheme and host:port, with the scheme's default port.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[strings.ToLower(u.Scheme)]
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// tokenRealmError is ErrTokenRealm for one challenge.
type tokenRealmError struct {
	registry string // host[:port]
	realm    string
	addr     netip.Addr
}

func (e *tokenRealmError) Error() string {
	return fmt.Sprintf("registry %s names the token realm %s, on %s, a loopback, link-local, private, unspecified or carrier-grade NAT address: such realms are used only when the Store lists them", e.registry, e.realm, e.addr)
}

func (e *tokenRealmError) Unwrap() error { return ErrTokenRealm }

// Remediation names the Store setting that allows the realm.
func (e *tokenRealmError) Remediation() string {
	host := e.realm
	if u, err := url.Parse(e.realm); err == nil {
		host = u.Host
	}
	return fmt.Sprintf("If the token service %s belongs to the registry %s, list it in the Store's spec.registries entry for %q as tokenRealms: [%q].", host, e.registry, e.registry, host)
}

// realmRouter is the outermost http.RoundTripper of the Stack's client.
// oras-go refuses a Bearer realm on a private or loopback address of
// another host than the registry's, with no setting to allow one; it
// allows a realm on the registry's own host. For a registry whose view
// lists the realm's host in TokenRealms, realmRouter rewrites the
// challenge so that the realm names the registry's own host with a path
// that carries the Stack's nonce and the real realm, and sends a
// request for such a path to the real realm. The registry never sees
// that path and cannot forge it without the nonce; a realm not listed
// fails with ErrTokenRealm, naming the setting.
type realmRouter struct {
	next  http.RoundTripper
	nonce string
}

// realmPrefix starts the path of a rewritten realm.
const realmPrefix = "/.assay-token-realm/"

func newRealmRouter(next http.RoundTripper) *realmRouter {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return &realmRouter{next: next, nonce: hex.EncodeToString(b)}
}

func (t *realmRouter) RoundTrip(req *http.Request) (*http.Response, error) {
	if rest, ok := strings.CutPrefix(req.URL.Path, realmPrefix+t.nonce+"/"); ok {
		real, err := base64.RawURLEncoding.DecodeString(rest)
		u, perr := url.Parse(string(real))
		if err != nil || perr != nil || !hostPolicyOf(req.Context()).allowsRealm(req.URL.Host, u.Host) {
			return nil, fmt.Errorf("token request to %s: %w", req.URL.Host, ErrTokenRealm)
		}
		req = req.Clone(req.Context())
		u.RawQuery = req.URL.RawQuery
		req.URL, req.Host = u, ""
		return t.next.RoundTrip(req)
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	challenge := resp.Header.Get("Www-Authenticate")
	realm, start, end := challengeRealm(challenge)
	if realm == "" {
		return resp, nil
	}
	u, err := url.Parse(realm)
	if err != nil || u.Hostname() == "" || strings.EqualFold(u.Hostname(), req.URL.Hostname()) {
		return resp, nil // oras-go judges these
	}
	addr, internal := internalAddr(req.Context(), u.Hostname())
	if !internal {
		return resp, nil
	}
	if !hostPolicyOf(req.Context()).allowsRealm(req.URL.Host, u.Host) {
		discard(resp)
		return nil, &tokenRealmError{registry: req.URL.Host, realm: realm, addr: addr}
	}
	if u.Scheme != "https" && req.URL.Scheme == "https" {
		return resp, nil // a downgrade: oras-go refuses it
	}
	query := u.RawQuery
	u.RawQuery, u.Fragment = "", ""
	routed := url.URL{Scheme: req.URL.Scheme, Host: req.URL.Host, Path: realmPrefix + t.nonce + "/" + base64.RawURLEncoding.EncodeToString([]byte(u.String())), RawQuery: query}
	resp.Header.Set("Www-Authenticate", challenge[:start]+routed.String()+challenge[end:])
	return resp, nil
}

// challengeRealm finds the quoted realm parameter of a Bearer challenge
// and its bounds in challenge.
func challengeRealm(challenge string) (realm string, start, end int) {
	if !strings.HasPrefix(strings.ToLower(challenge), "bearer ") {
		return "", 0, 0
	}
	i := strings.Index(strings.ToLower(challenge), `realm="`)
	if i < 0 {
		return "", 0, 0
	}
	start = i + len(`realm="`)
	n := strings.IndexByte(challenge[start:], '"')
	if n < 0 {
		return "", 0, 0
	}
	return challenge[start : start+n], start, start + n
}

// internalAddr reports whether host is, or resolves to, a loopback,
// link-local, private, unspecified or carrier-grade NAT address, as
// oras-go's realm check judges it (a failed lookup is not internal).
func internalAddr(ctx context.Context, host string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a, isInternal(a)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, false
	}
	for _, a := range addrs {
		if isInternal(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func isInternal(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsPrivate() || a.IsUnspecified() || cgnat.Contains(a)
}

// answerCheck is an http.RoundTripper that refuses registry answers
// whose Content-Type says they are not what was asked for, which
// oras-go would otherwise take for something else: a referrers API
// answer that is not an image index would be taken for a registry
// without the API (and the subject for one without referrers), and a
// manifest answer of another type (an HTML login page) for a manifest
// of an unknown type. Both fail with ErrInvalidContent naming the
// registry and the type received. A type with parameters
// ("application/vnd.oci.image.index.v1+json; charset=utf-8") is passed
// on without them, as oras-go compares the bare type.
type answerCheck struct {
	next http.RoundTripper
}

func (t *answerCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode/100 != 2 {
		return resp, err
	}
	var want func(string) bool
	var what string
	switch {
	case strings.Contains(req.URL.Path, "/referrers/"):
		want, what = func(mt string) bool { return mt == "application/vnd.oci.image.index.v1+json" }, "its referrers API answer is not an image index"
	case strings.Contains(req.URL.Path, "/manifests/"):
		want, what = isManifest, "its manifest answer is not a manifest or index"
	default:
		return resp, nil
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		return resp, nil // oras-go judges it
	}
	mt, _, perr := mime.ParseMediaType(ct)
	if perr == nil && want(mt) {
		if mt != ct {
			resp.Header.Set("Content-Type", mt)
		}
		return resp, nil
	}
	discard(resp)
	return nil, fmt.Errorf("%w: registry %s answered %s %s with Content-Type %q: %s", ErrInvalidContent, req.URL.Host, req.Method, req.URL.Path, ct, what)
}
