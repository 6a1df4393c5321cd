package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/store"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
)

// hostile serves h on loopback until the test ends and returns its host.
func hostile(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// hanging serves a registry whose every request blocks until the test
// ends, whatever the client does, and returns its host.
func hanging(t *testing.T) string {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	t.Cleanup(srv.Close)
	// Cleanups run last registered first: the handlers return before
	// srv.Close waits for them.
	t.Cleanup(func() { close(release) })
	return strings.TrimPrefix(srv.URL, "http://")
}

// index encodes an image index listing descs.
func index(descs []ocispec.Descriptor) []byte {
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: descs}
	idx.SchemaVersion = 2
	b, err := json.Marshal(idx)
	if err != nil {
		panic(err)
	}
	return b
}

func isReferrersAPI(r *http.Request) bool { return strings.Contains(r.URL.Path, "/referrers/") }

var (
	huge       = strings.Repeat("x", 10<<10) // more than the tests' 4 KiB manifest limit
	hugeDigest = digest.FromString(huge)
	subject    = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("subject"), Size: 100}
)

func TestHostileRegistries(t *testing.T) {
	const limit = 4 << 10
	fetch := func(desc ocispec.Descriptor) func(context.Context, *store.Registry, string) error {
		return func(ctx context.Context, s *store.Registry, repo string) error {
			_, err := s.Fetch(ctx, repo, desc)
			return err
		}
	}
	resolve := func(ctx context.Context, s *store.Registry, repo string) error {
		_, err := s.Resolve(ctx, repo, "v1")
		return err
	}
	referrers := func(ctx context.Context, s *store.Registry, repo string) error {
		return s.Referrers(ctx, repo, subject, func([]ocispec.Descriptor) error { return nil })
	}
	notJSON := []byte("{garbage")
	tests := map[string]struct {
		handler http.HandlerFunc
		call    func(ctx context.Context, s *store.Registry, repo string) error
		want    []error
		// maxRequests bounds the requests sent, if > 0. Cases that must
		// send none have a handler that fails the test.
		maxRequests int
		opts        store.Options
	}{
		"a manifest whose descriptor is larger than the limit is refused before any request": {
			handler: func(w http.ResponseWriter, r *http.Request) { t.Errorf("unexpected request %s %s", r.Method, r.URL) },
			call:    fetch(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: hugeDigest, Size: 1 << 30}),
			want:    []error{store.ErrTooLarge, errdef.ErrSizeExceedsLimit},
		},
		"a blob whose descriptor is larger than the limit is refused before any request": {
			handler: func(w http.ResponseWriter, r *http.Request) { t.Errorf("unexpected request %s %s", r.Method, r.URL) },
			call:    fetch(ocispec.Descriptor{MediaType: "application/sarif+json", Digest: hugeDigest, Size: 1 << 40}),
			want:    []error{store.ErrTooLarge, errdef.ErrSizeExceedsLimit},
		},
		"a manifest body larger than its small descriptor is cut off": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
				fmt.Fprint(w, huge) // chunked: no Content-Length to check
			},
			call:        fetch(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("{}"), Size: 2}),
			want:        []error{store.ErrInvalidContent},
			maxRequests: 1,
		},
		"a manifest answer whose Content-Length contradicts its descriptor is rejected": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
				w.Header().Set("Content-Length", strconv.Itoa(len(huge)))
				fmt.Fprint(w, huge)
			},
			call:        fetch(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("{}"), Size: 2}),
			want:        []error{store.ErrInvalidContent},
			maxRequests: 1,
		},
		"a blob body larger than its descriptor is cut off": {
			handler: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, huge) },
			call:    fetch(ocispec.Descriptor{MediaType: "application/sarif+json", Digest: digest.FromString("{}"), Size: 2}),
			want:    []error{store.ErrInvalidContent},
		},
		"a blob that does not match its digest is rejected": {
			handler: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "evil") },
			call:    fetch(ocispec.Descriptor{MediaType: "application/sarif+json", Digest: digest.FromString("good"), Size: 4}),
			want:    []error{store.ErrInvalidContent},
		},
		"a manifest that is garbage JSON is rejected": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
				_, _ = w.Write(notJSON)
			},
			call: fetch(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(notJSON), Size: int64(len(notJSON))}),
			want: []error{store.ErrInvalidContent},
		},
		"a manifest that is missing is not found": {
			handler: func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
			call:    fetch(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("{}"), Size: 2}),
			want:    []error{errdef.ErrNotFound},
		},
		"a tag resolving to a manifest larger than the limit is refused": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
				w.Header().Set("Docker-Content-Digest", hugeDigest.String())
				w.Header().Set("Content-Length", "1073741824")
			},
			call: resolve,
			want: []error{store.ErrTooLarge, errdef.ErrSizeExceedsLimit},
		},
		"a referrers listing that is garbage JSON is rejected": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				if !isReferrersAPI(r) {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
				_, _ = w.Write(notJSON)
			},
			call: referrers,
			want: []error{store.ErrInvalidContent},
		},
		"a referrers listing that is JSON but not an index is rejected": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				if !isReferrersAPI(r) {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
				fmt.Fprint(w, `{"manifests":"none"}`)
			},
			call: referrers,
			want: []error{store.ErrInvalidContent},
		},
		"a referrers tag index that is garbage JSON is rejected": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				// No referrers API; the tag schema's index is garbage.
				if strings.HasSuffix(r.URL.Path, "/manifests/sha256-"+subject.Digest.Encoded()) {
					w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
					w.Header().Set("Content-Length", strconv.Itoa(len(notJSON)))
					_, _ = w.Write(notJSON)
					return
				}
				http.NotFound(w, r)
			},
			call: referrers,
			want: []error{store.ErrInvalidContent},
		},
		"a referrers page larger than the manifest limit is rejected": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				if !isReferrersAPI(r) {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
				fmt.Fprintf(w, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"annotations":{"x":%q}}`, huge)
			},
			call: referrers,
			want: []error{store.ErrInvalidContent},
		},
		"thousands of referrers across pages exceed the cap and stop the paging": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				if !isReferrersAPI(r) {
					http.NotFound(w, r)
					return
				}
				page, _ := strconv.Atoi(r.URL.Query().Get("page"))
				descs := make([]ocispec.Descriptor, 500)
				for i := range descs {
					descs[i] = ocispec.Descriptor{
						MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/x.test",
						Digest: digest.FromString(fmt.Sprint(page, i)), Size: 10,
					}
				}
				w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
				w.Header().Set("Link", fmt.Sprintf(`<%s?page=%d>; rel="next"`, r.URL.Path, page+1))
				_, _ = w.Write(index(descs))
			},
			call: referrers,
			want: []error{store.ErrTooManyReferrers, errdef.ErrSizeExceedsLimit},
			// 1200 allowed, 500 a page: the third page is the last one read,
			// plus the cosign tag probe.
			maxRequests: 4,
			opts:        store.Options{MaxReferrers: 1200, MaxManifestBytes: 1 << 20},
		},
		"endless empty pages of referrers are cut off": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				if !isReferrersAPI(r) {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
				w.Header().Set("Link", fmt.Sprintf(`<%s?page=x>; rel="next"`, r.URL.Path))
				_, _ = w.Write(index(nil))
			},
			call:        referrers,
			want:        []error{store.ErrTooManyReferrers, errdef.ErrSizeExceedsLimit},
			maxRequests: store.MaxReferrerPages + 1,
		},
		"referrers of a repository that does not exist are not found": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusNotFound)
				fmt.Fprint(w, `{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}`)
			},
			call: referrers,
			want: []error{errdef.ErrNotFound},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			host := hostile(t, tc.handler)
			opts := tc.opts
			opts.Registries = plain(host)
			if opts.MaxManifestBytes == 0 {
				opts.MaxManifestBytes = limit
			}
			s, rec := newStore(t, opts)
			repo := host + "/hostile/app"
			err := tc.call(context.Background(), s, repo)
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("error %q does not wrap %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), repo) {
				t.Errorf("error %q does not name the repository", err)
			}
			if tc.maxRequests > 0 {
				if n := rec.count(""); n > tc.maxRequests {
					t.Errorf("sent %d requests, want at most %d", n, tc.maxRequests)
				}
			}
		})
	}
}

func TestHangingRegistryReturnsWhenTheDeadlinePasses(t *testing.T) {
	tests := map[string]func(ctx context.Context, s *store.Registry, repo string) error{
		"Resolve gives up at the deadline": func(ctx context.Context, s *store.Registry, repo string) error {
			_, err := s.Resolve(ctx, repo, "v1")
			return err
		},
		"Referrers gives up at the deadline": func(ctx context.Context, s *store.Registry, repo string) error {
			return s.Referrers(ctx, repo, subject, func([]ocispec.Descriptor) error { return nil })
		},
		"Fetch gives up at the deadline": func(ctx context.Context, s *store.Registry, repo string) error {
			_, err := s.Fetch(ctx, repo, subject)
			return err
		},
	}
	for name, call := range tests {
		t.Run(name, func(t *testing.T) {
			host := hanging(t)
			s, _ := newStore(t, store.Options{Registries: plain(host)})
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			err := call(ctx, s, host+"/hanging/app")
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("error = %v, want context.DeadlineExceeded", err)
			}
		})
	}
}

func TestReferrersStopWhenFnFails(t *testing.T) {
	var pages atomic.Int64
	host := hostile(t, func(w http.ResponseWriter, r *http.Request) {
		if !isReferrersAPI(r) {
			http.NotFound(w, r)
			return
		}
		page := pages.Add(1)
		w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
		w.Header().Set("Link", fmt.Sprintf(`<%s?page=%d>; rel="next"`, r.URL.Path, page))
		_, _ = w.Write(index([]ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/x.test", Digest: digest.FromString(fmt.Sprint(page)), Size: 1}}))
	})
	s, _ := newStore(t, store.Options{Registries: plain(host)})
	errStop := errors.New("seen enough")
	calls := 0
	err := s.Referrers(context.Background(), host+"/paged/app", subject, func([]ocispec.Descriptor) error {
		calls++
		return errStop
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("error = %v, want the error fn returned", err)
	}
	if calls != 1 || pages.Load() != 1 {
		t.Fatalf("fn called %d times over %d pages, want once over one page", calls, pages.Load())
	}
}
