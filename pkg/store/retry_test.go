package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/store"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// answer is what a scripted registry sends instead of the registry's
// own answer.
type answer struct {
	status     int
	retryAfter string // the Retry-After header, if not empty
}

// scripted is a middleware for registrytest.NewOlaregBehind. Once armed,
// it answers the requests whose path contains match with answers in
// turn, then with then forever (if not nil); other requests, and all of
// them once the script is over, reach the registry. seen counts the
// armed requests that matched.
type scripted struct {
	match   string
	answers []answer
	then    *answer

	armed atomic.Bool
	seen  atomic.Int64
}

func (s *scripted) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.armed.Load() || !strings.Contains(r.URL.Path, s.match) {
			next.ServeHTTP(w, r)
			return
		}
		a := s.then
		if n := int(s.seen.Add(1)); n <= len(s.answers) {
			a = &s.answers[n-1]
		}
		if a == nil {
			next.ServeHTTP(w, r)
			return
		}
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		fmt.Fprintf(w, `{"errors":[{"code":"UNKNOWN","message":"scripted %d"}]}`, a.status)
	})
}

// start serves olareg behind s with an image tagged v1 in repository
// "retry/app", returns the server and the image, and arms s.
func (s *scripted) start(t *testing.T) (*registrytest.Server, ocispec.Descriptor) {
	t.Helper()
	srv := registrytest.NewOlaregBehind(t, s.wrap)
	image := registrytest.PushImage(t, srv.Repository(t, "retry/app"), "v1")
	s.armed.Store(true)
	return srv, image
}

func TestRetries(t *testing.T) {
	t.Parallel()
	inASecond := time.Now().Add(1500 * time.Millisecond).UTC().Format(http.TimeFormat)
	tests := map[string]struct {
		answers []answer
		then    *answer
		// want are the errors the call must wrap; none means success.
		want []error
		// status is the registry answer an error keeps for errors.As,
		// if not 0.
		status int
		// requests is how many manifest requests reach the registry.
		requests int64
	}{
		"a 429 with Retry-After 1 is retried once and succeeds": {
			answers: []answer{{status: http.StatusTooManyRequests, retryAfter: "1"}}, requests: 2,
		},
		"a 429 with a Retry-After date is retried once and succeeds": {
			answers: []answer{{status: http.StatusTooManyRequests, retryAfter: inASecond}}, requests: 2,
		},
		"a 503 is retried once and succeeds": {
			answers: []answer{{status: http.StatusServiceUnavailable}}, requests: 2,
		},
		"a 408, a 502 and a 504 are retried and then it succeeds": {
			answers:  []answer{{status: http.StatusRequestTimeout}, {status: http.StatusBadGateway}, {status: http.StatusGatewayTimeout}},
			requests: 4,
		},
		"500s forever are retried 4 times, then fail with the registry's answer": {
			then: &answer{status: http.StatusInternalServerError}, status: http.StatusInternalServerError, requests: 5,
		},
		"429s forever are retried 4 times, then fail with ErrThrottled and the registry's answer": {
			then: &answer{status: http.StatusTooManyRequests}, want: []error{store.ErrThrottled},
			status: http.StatusTooManyRequests, requests: 5,
		},
		"a 501 is not retried": {
			then: &answer{status: http.StatusNotImplemented}, status: http.StatusNotImplemented, requests: 1,
		},
		"a 404 is not retried": {
			then: &answer{status: http.StatusNotFound}, want: []error{errdef.ErrNotFound}, requests: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			script := &scripted{match: "/manifests/", answers: tc.answers, then: tc.then}
			srv, image := script.start(t)
			s, rec := newStore(t, store.Options{Registries: plain(srv.Host())})
			got, err := s.Resolve(context.Background(), srv.RepositoryName("retry/app"), "v1")
			if n := script.seen.Load(); n != tc.requests {
				t.Errorf("the registry got %d manifest requests, want %d", n, tc.requests)
			}
			if n := rec.count("/manifests/"); int64(n) != tc.requests {
				t.Errorf("the HTTPClient's transport sent %d manifest requests, want %d", n, tc.requests)
			}
			if tc.want == nil && tc.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if got.Digest != image.Digest {
					t.Fatalf("resolved %s, want %s", got.Digest, image.Digest)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("error %q does not wrap %q", err, w)
				}
			}
			var resp *errcode.ErrorResponse
			if tc.status != 0 && (!errors.As(err, &resp) || resp.StatusCode != tc.status) {
				t.Errorf("error %q does not keep the registry's %d answer", err, tc.status)
			}
		})
	}
}

func TestThrottlingPastTheDeadlineFailsAtOnce(t *testing.T) {
	t.Parallel()
	calls := map[string]func(ctx context.Context, s *store.Registry, repo string, image ocispec.Descriptor) error{
		"Resolve": func(ctx context.Context, s *store.Registry, repo string, image ocispec.Descriptor) error {
			_, err := s.Resolve(ctx, repo, "v1")
			return err
		},
		"Fetch": func(ctx context.Context, s *store.Registry, repo string, image ocispec.Descriptor) error {
			_, err := s.Fetch(ctx, repo, image)
			return err
		},
		"Referrers": func(ctx context.Context, s *store.Registry, repo string, image ocispec.Descriptor) error {
			image.ArtifactType = "application/x.test" // no cosign tag probe: one request
			return s.Referrers(ctx, repo, image, func([]ocispec.Descriptor) error { return nil })
		},
	}
	tests := map[string]struct {
		then answer
		// inMessage are parts of the message, which ErrThrottled
		// documents: the status and the wait asked for.
		inMessage []string
	}{
		"a 429 asking for 30 s": {
			then:      answer{status: http.StatusTooManyRequests, retryAfter: "30"},
			inMessage: []string{"429 Too Many Requests", "Retry-After 30s", "the deadline is in"},
		},
		"a 503 asking for 30 s": {
			then:      answer{status: http.StatusServiceUnavailable, retryAfter: "30"},
			inMessage: []string{"503 Service Unavailable", "Retry-After 30s"},
		},
		"a 429 asking to wait until a date 30 s ahead": {
			then:      answer{status: http.StatusTooManyRequests, retryAfter: time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)},
			inMessage: []string{"429 Too Many Requests", "Retry-After "}, // 29 s and some, or 30 s
		},
	}
	for name, tc := range tests {
		for op, call := range calls {
			t.Run(name+" fails "+op+" at once", func(t *testing.T) {
				t.Parallel()
				script := &scripted{then: &tc.then}
				srv, image := script.start(t)
				s, _ := newStore(t, store.Options{Registries: plain(srv.Host())})
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				err := call(ctx, s, srv.RepositoryName("retry/app"), image)
				t.Log(err)
				if ctx.Err() != nil {
					t.Fatalf("returned only when the context was done (%v): %v", ctx.Err(), err)
				}
				if !errors.Is(err, store.ErrThrottled) {
					t.Fatalf("error = %v, want ErrThrottled", err)
				}
				for _, part := range tc.inMessage {
					if !strings.Contains(err.Error(), part) {
						t.Errorf("error %q does not say %q", err, part)
					}
				}
				if n := script.seen.Load(); n != 1 {
					t.Errorf("the registry got %d requests, want 1 (no retry)", n)
				}
			})
		}
	}
}
