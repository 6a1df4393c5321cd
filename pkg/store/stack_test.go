package store_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/store"
	"oras.land/oras-go/v2/errdef"
)

func TestRegistriesOnOneStackShareItsCacheAndConnections(t *testing.T) {
	ctx := context.Background()
	srv := registrytest.NewOlareg(t)
	push := srv.Repository(t, "stack/app")
	img := registrytest.PushImage(t, push, "v1")
	repo := srv.RepositoryName("stack/app")
	rec := &recorder{next: http.DefaultTransport}
	st, err := store.NewStack(store.StackOptions{HTTPClient: &http.Client{Transport: rec}})
	if err != nil {
		t.Fatal(err)
	}
	// Two configurations with different limits and the same registry.
	a, err := st.Registry(store.Options{Registries: plain(srv.Host())})
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.Registry(store.Options{Registries: plain(srv.Host()), MaxBlobBytes: 1 << 20, MaxReferrers: 8})
	if err != nil {
		t.Fatal(err)
	}
	if n := requests(rec, func() {
		if _, err := a.Fetch(ctx, repo, img); err != nil {
			t.Fatal(err)
		}
	}); n != 1 {
		t.Fatalf("the first fetch sent %d requests, want 1", n)
	}
	if n := requests(rec, func() {
		if _, err := b.Fetch(ctx, repo, img); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Resolve(ctx, repo, img.Digest.String()); err != nil {
			t.Fatal(err)
		}
	}); n != 1 {
		// The manifest is cached; resolving its digest is one HEAD the
		// first time, for any Registry of the Stack.
		t.Fatalf("the other Registry sent %d requests for content the Stack holds, want 1 (the digest's HEAD)", n)
	}
	if n := requests(rec, func() {
		if _, err := a.Resolve(ctx, repo, img.Digest.String()); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("a digest one Registry resolved was asked again by the other: %d requests", n)
	}
	if entries, bytes := st.CacheStats(); entries == 0 || bytes == 0 {
		t.Fatalf("the stack's cache holds %d entries, %d bytes", entries, bytes)
	}
}

func TestStackRegistryRefusesStackSettings(t *testing.T) {
	st, err := store.NewStack(store.StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]store.Options{
		"a cache budget":  {CacheBytes: 1},
		"a tag TTL":       {TagTTL: time.Second},
		"a clock":         {Now: time.Now},
		"an HTTP client":  {HTTPClient: http.DefaultClient},
		"a request limit": {MaxConcurrentRequests: 2},
		"a user agent":    {UserAgent: "x"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := st.Registry(o); err == nil || !strings.Contains(err.Error(), "setting of the Stack") {
				t.Fatalf("Registry(%+v) = %v, want an error naming the Stack's setting", o, err)
			}
		})
	}
	if _, err := store.NewStack(store.StackOptions{MaxConcurrentRequests: -1}); err == nil {
		t.Fatal("a negative request limit was accepted")
	}
	if _, err := st.Registry(store.Options{MaxBlobBytes: -1}); err == nil {
		t.Fatal("a negative blob limit was accepted")
	}
}

func TestPodCredentialViewsKeepTheParentsCredentialsForOtherHosts(t *testing.T) {
	srv := registrytest.NewOlaregBehind(t, registrytest.BasicAuth("user", "pass"))
	host := srv.Host()
	s, err := store.New(store.Options{Registries: map[string]store.RegistryOptions{host: {PlainHTTP: true, Username: "user", Password: "pass"}}})
	if err != nil {
		t.Fatal(err)
	}
	pod, err := s.WithDockerConfigs([][]byte{mustJSON(t, basicAuths("elsewhere.example", "other", "secret"))})
	if err != nil {
		t.Fatal(err)
	}
	// The Pod's configs do not name host, so the Store's credentials
	// apply; a 404 (not a 401) proves they were sent.
	_, err = pod.Resolve(context.Background(), host+"/auth/missing", "v1")
	if errors.Is(err, store.ErrUnauthorized) || err == nil {
		t.Fatalf("resolve through the Pod's view: %v, want not found with the Store's credentials", err)
	}
}

func TestErrorsNameTheirOperationAndTarget(t *testing.T) {
	srv := registrytest.NewOlareg(t)
	s, _ := newStore(t, store.Options{Registries: plain(srv.Host())})
	repo := srv.RepositoryName("missing/app")
	_, err := s.Resolve(context.Background(), repo, "v1")
	var op *store.OpError
	if !errors.As(err, &op) {
		t.Fatalf("resolve error %T %v is not an *OpError", err, err)
	}
	if op.Op != "resolve" || op.Target != repo+":v1" {
		t.Fatalf("OpError names %q %q, want resolve %s:v1", op.Op, op.Target, repo)
	}
	if err.Error() != "resolve "+repo+":v1: "+op.Cause().Error() {
		t.Fatalf("message %q, cause %q: want the operation and target, then the cause", err, op.Cause())
	}
	if !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("%v does not wrap errdef.ErrNotFound", err)
	}

	// A tag missing from a repository that exists: oras-go's error names
	// the reference, the cause does not, so the message names it once.
	registrytest.PushImage(t, srv.Repository(t, "present/app"), "v1")
	present := srv.RepositoryName("present/app")
	_, err = s.Resolve(context.Background(), present, "missing")
	if !errors.As(err, &op) || !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("resolve error %T %v: want an *OpError wrapping errdef.ErrNotFound", err, err)
	}
	if n := strings.Count(err.Error(), present+":missing"); n != 1 || strings.Contains(op.Cause().Error(), "present/app") {
		t.Fatalf("message %q names the reference %d times, cause %q: want once, in the target", err, n, op.Cause())
	}
}
