package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/store"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// headerLog is a middleware that records the Authorization header of
// every request it passes on ("" for none).
type headerLog struct {
	mu   sync.Mutex
	auth []string
}

func (l *headerLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.auth = append(l.auth, r.Header.Get("Authorization"))
		l.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (l *headerLog) seen() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.auth...)
}

// redirectTo answers every request with a 307 to the same path and
// query at base ("http://host:port").
func redirectTo(base string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, base+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	})
}

// tlsFront serves h over HTTPS on loopback until the test ends and
// returns its host and a client that trusts it.
func tlsFront(t *testing.T, h http.Handler) (string, *http.Client) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "https://"), &http.Client{Transport: srv.Client().Transport}
}

// TestRedirectsToPlainHTTPAreRefused: an HTTPS registry that redirects
// to plain HTTP on a host the Store does not list fails with
// ErrRedirect, whose message names the redirect, and the plain HTTP
// listener is never asked; listed, the same redirect is followed.
func TestRedirectsToPlainHTTPAreRefused(t *testing.T) {
	var behind headerLog
	reg := registrytest.NewOlaregBehind(t, behind.wrap)
	registrytest.PushImage(t, reg.Repository(t, "app"), "v1")
	front, client := tlsFront(t, redirectTo("http://"+reg.Host()))
	pushed := len(behind.seen())

	s, _ := newStore(t, store.Options{HTTPClient: client})
	_, err := s.Resolve(context.Background(), front+"/app", "v1")
	if !errors.Is(err, store.ErrRedirect) {
		t.Fatalf("Resolve through an https→http redirect: %v, want ErrRedirect", err)
	}
	want := fmt.Sprintf("%s redirected HEAD /v2/app/manifests/v1 to http://%s/v2/app/manifests/v1; redirects go only to HTTPS or to a host the Store lists with plainHTTP", front, reg.Host())
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
	var fix interface{ Remediation() string }
	if !errors.As(err, &fix) || !strings.Contains(fix.Remediation(), `{host: "`+reg.Host()+`", plainHTTP: true}`) {
		t.Fatalf("error %v has no remediation naming plainHTTP for %s", err, reg.Host())
	}
	if n := len(behind.seen()) - pushed; n != 0 {
		t.Fatalf("the plain HTTP listener got %d requests, want none", n)
	}

	s, _ = newStore(t, store.Options{HTTPClient: client, Registries: plain(reg.Host())})
	if _, err := s.Resolve(context.Background(), front+"/app", "v1"); err != nil {
		t.Fatalf("Resolve through a redirect to a host listed with plainHTTP: %v", err)
	}
}

// TestPlainHTTPRedirectsFollowTheViewsList: between plain HTTP hosts, a
// redirect is followed only to a host the Registry view lists with
// PlainHTTP; two views of one Stack with different lists decide apart.
func TestPlainHTTPRedirectsFollowTheViewsList(t *testing.T) {
	reg := registrytest.NewOlareg(t)
	registrytest.PushImage(t, reg.Repository(t, "app"), "v1")
	front := hostile(t, redirectTo("http://"+reg.Host()).ServeHTTP)

	st, err := store.NewStack(store.StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	onlyFront, err := st.Registry(store.Options{Registries: plain(front)})
	if err != nil {
		t.Fatal(err)
	}
	both, err := st.Registry(store.Options{Registries: map[string]store.RegistryOptions{front: {PlainHTTP: true}, reg.Host(): {PlainHTTP: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := onlyFront.Resolve(context.Background(), front+"/app", "v1"); !errors.Is(err, store.ErrRedirect) {
		t.Fatalf("Resolve through a redirect to an unlisted plain HTTP host: %v, want ErrRedirect", err)
	}
	if _, err := both.Resolve(context.Background(), front+"/app", "v1"); err != nil {
		t.Fatalf("Resolve through a redirect to a listed plain HTTP host: %v", err)
	}
}

// TestCredentialsNeverLeaveTheirOrigin: a registry that authenticates
// the store (basic or bearer) and then redirects to a listener on
// another port, host or scheme never has the store send that listener
// its credentials, though the redirect is followed.
func TestCredentialsNeverLeaveTheirOrigin(t *testing.T) {
	const user, pass, token = "alice", "s3cret", "the-token"
	auth := map[string]func(http.Handler) http.Handler{
		"basic":  registrytest.BasicAuth(user, pass),
		"bearer": registrytest.BearerAuth(registrytest.BearerAuthOptions{AccessToken: token, Username: user, Password: pass}),
	}
	for name, authenticate := range auth {
		t.Run(name, func(t *testing.T) {
			var other headerLog
			reg := registrytest.NewOlaregBehind(t, other.wrap)
			registrytest.PushImage(t, reg.Repository(t, "app"), "v1")
			_, port, _ := net.SplitHostPort(reg.Host())
			targets := map[string]string{
				"another port":            "http://" + reg.Host(),
				"another host":            "http://localhost:" + port,
				"another scheme and port": "http://" + reg.Host(),
			}
			for what, target := range targets {
				t.Run(what, func(t *testing.T) {
					u := strings.TrimPrefix(target, "http://")
					registries := map[string]store.RegistryOptions{u: {PlainHTTP: true}}
					var front string
					var client *http.Client
					if what == "another scheme and port" {
						front, client = tlsFront(t, authenticate(redirectTo(target)))
					} else {
						front = hostile(t, authenticate(redirectTo(target)).ServeHTTP)
						registries[front] = store.RegistryOptions{PlainHTTP: true}
					}
					ro := registries[front]
					ro.Username, ro.Password = user, pass
					registries[front] = ro
					s, _ := newStore(t, store.Options{HTTPClient: client, Registries: registries})
					before := len(other.seen())
					if _, err := s.Resolve(context.Background(), front+"/app", "v1"); err != nil {
						t.Fatalf("Resolve through an authenticated redirect: %v", err)
					}
					seen := other.seen()[before:]
					if len(seen) == 0 {
						t.Fatal("the redirect target got no request")
					}
					for _, a := range seen {
						if a != "" {
							t.Fatalf("the listener at %s got Authorization %q", target, a)
						}
					}
				})
			}
		})
	}
}

// TestRedirectLoopsAreBounded: a registry redirecting to itself fails
// with ErrRedirect after store.MaxRedirects hops.
func TestRedirectLoopsAreBounded(t *testing.T) {
	var hops headerLog
	var self string
	front, client := tlsFront(t, hops.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://"+self+r.URL.RequestURI(), http.StatusFound)
	})))
	self = front
	s, _ := newStore(t, store.Options{HTTPClient: client})
	_, err := s.Resolve(context.Background(), front+"/app", "v1")
	if !errors.Is(err, store.ErrRedirect) || !strings.Contains(err.Error(), fmt.Sprintf("more than %d redirects", store.MaxRedirects)) {
		t.Fatalf("Resolve through a redirect loop: %v, want ErrRedirect naming %d redirects", err, store.MaxRedirects)
	}
	// Each attempt is the first request and MaxRedirects redirects; the
	// store retries nothing that is not a transient failure.
	if n := len(hops.seen()); n != store.MaxRedirects+1 {
		t.Fatalf("the registry got %d requests, want %d", n, store.MaxRedirects+1)
	}
}

// tokenServerOn serves a token service on addr (host:0) that issues
// token for basic credentials user:pass, and returns its host:port and
// the log of the Authorization headers it saw.
func tokenServerOn(t *testing.T, addr, user, pass, token string) (string, *headerLog) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("cannot listen on %s (a loopback alias Linux routes to lo): %v", addr, err)
	}
	var log headerLog
	srv := httptest.NewUnstartedServer(log.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"token": token})
	})))
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), &log
}

// TestTokenRealmsOnPrivateHostsNeedTheStoresListing: a registry whose
// token realm is on another loopback host (127.0.0.2) fails with
// ErrTokenRealm, naming spec.registries[].tokenRealms, and the realm is
// not asked; with the realm's host listed, the store gets a token there
// and resolves the image.
func TestTokenRealmsOnPrivateHostsNeedTheStoresListing(t *testing.T) {
	const user, pass, token = "alice", "s3cret", "realm-token"
	realm, tokens := tokenServerOn(t, "127.0.0.2:0", user, pass, token)
	reg := registrytest.NewOlaregBehind(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "Bearer "+token {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="registrytest"`, realm))
			w.WriteHeader(http.StatusUnauthorized)
		})
	})
	push := reg.Repository(t, "app")
	push.Client = &auth.Client{Header: http.Header{"Authorization": {"Bearer " + token}}}
	registrytest.PushImage(t, push, "v1")

	creds := store.RegistryOptions{PlainHTTP: true, Username: user, Password: pass}
	s, _ := newStore(t, store.Options{Registries: map[string]store.RegistryOptions{reg.Host(): creds}})
	_, err := s.Resolve(context.Background(), reg.Host()+"/app", "v1")
	if !errors.Is(err, store.ErrTokenRealm) {
		t.Fatalf("Resolve with a token realm on 127.0.0.2: %v, want ErrTokenRealm", err)
	}
	var fix interface{ Remediation() string }
	if !errors.As(err, &fix) || !strings.Contains(fix.Remediation(), fmt.Sprintf("tokenRealms: [%q]", realm)) {
		t.Fatalf("error %v has no remediation naming tokenRealms: [%q]", err, realm)
	}
	if n := len(tokens.seen()); n != 0 {
		t.Fatalf("the refused realm got %d requests, want none", n)
	}

	creds.TokenRealms = []string{realm}
	s, _ = newStore(t, store.Options{Registries: map[string]store.RegistryOptions{reg.Host(): creds}})
	if _, err := s.Resolve(context.Background(), reg.Host()+"/app", "v1"); err != nil {
		t.Fatalf("Resolve with the realm listed: %v", err)
	}
	if seen := tokens.seen(); len(seen) != 1 || !strings.HasPrefix(seen[0], "Basic ") {
		t.Fatalf("the listed realm saw Authorization %q, want one basic-authenticated token request", seen)
	}
}

// TestTokensFromAListedRealmAreKeptPerCredentialSet: on one Stack, two
// Registry views with different credentials for a registry whose realm
// is on 127.0.0.2 each get their own token once and reuse it; neither
// is sent the other's.
func TestTokensFromAListedRealmAreKeptPerCredentialSet(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatalf("cannot listen on 127.0.0.2 (a loopback alias Linux routes to lo): %v", err)
	}
	var tokens headerLog
	realmSrv := httptest.NewUnstartedServer(tokens.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || p != "pw-"+u {
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"token": "tok-" + u})
	})))
	realmSrv.Listener = l
	realmSrv.Start()
	t.Cleanup(realmSrv.Close)
	realm := strings.TrimPrefix(realmSrv.URL, "http://")

	var bearers headerLog
	reg := registrytest.NewOlaregBehind(t, func(next http.Handler) http.Handler {
		return bearers.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer tok-") {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="registrytest"`, realm))
			w.WriteHeader(http.StatusUnauthorized)
		}))
	})
	push := reg.Repository(t, "app")
	push.Client = &auth.Client{Header: http.Header{"Authorization": {"Bearer tok-pusher"}}}
	registrytest.PushImage(t, push, "v1")

	st, err := store.NewStack(store.StackOptions{TagTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	view := func(user string) *store.Registry {
		r, err := st.Registry(store.Options{Registries: map[string]store.RegistryOptions{reg.Host(): {PlainHTTP: true, Username: user, Password: "pw-" + user, TokenRealms: []string{realm}}}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	alice, bob := view("alice"), view("bob")
	before := len(bearers.seen())
	for _, r := range []*store.Registry{alice, bob, alice, bob} {
		if _, err := r.Resolve(context.Background(), reg.Host()+"/app", "v1"); err != nil {
			t.Fatalf("Resolve: %v", err)
		}
	}
	if n := len(tokens.seen()); n != 2 {
		t.Fatalf("the realm got %d token requests, want 2 (one per credential set)", n)
	}
	used := map[string]int{}
	for _, a := range bearers.seen()[before:] {
		if a != "" {
			used[a]++
		}
	}
	if used["Bearer tok-alice"] != 2 || used["Bearer tok-bob"] != 2 || len(used) != 2 {
		t.Fatalf("bearer tokens sent: %v, want tok-alice and tok-bob twice each", used)
	}
}
