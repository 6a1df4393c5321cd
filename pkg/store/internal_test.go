package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/internal/flight"
	"github.com/assayproj/assay/pkg/registrytest"
	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// waitForWaiters yields until n callers wait for the call under key.
func waitForWaiters[T any](t *testing.T, f *flight.Group[T], key string, n int) {
	t.Helper()
	for {
		got := f.Waiters(key)
		if got == n {
			return
		}
		if got > n {
			t.Fatalf("%d waiters, want %d", got, n)
		}
		runtime.Gosched()
	}
}

func TestConcurrentResolvesShareOneRequest(t *testing.T) {
	var heads atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead || !strings.HasSuffix(r.URL.Path, "/manifests/v1") {
			http.NotFound(w, r)
			return
		}
		heads.Add(1)
		<-release
		w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
		w.Header().Set("Docker-Content-Digest", digest.FromString("m").String())
		w.Header().Set("Content-Length", "1")
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	r, err := New(Options{Registries: map[string]RegistryOptions{host: {PlainHTTP: true}}, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	repo := host + "/shared/app"
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if d, err := r.Resolve(context.Background(), repo, "v1"); err != nil || d.Digest != digest.FromString("m") {
				t.Errorf("resolve = %s, %v", d.Digest, err)
			}
		})
	}
	waitForWaiters(t, &r.stack.resolves, repo+"\x00v1", n)
	close(release)
	wg.Wait()
	if heads.Load() != 1 {
		t.Fatalf("%d concurrent resolves sent %d requests, want 1", n, heads.Load())
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := map[string]struct {
		header string
		want   time.Duration
		ok     bool
	}{
		"seconds":                       {header: "30", want: 30 * time.Second, ok: true},
		"zero seconds":                  {header: "0", want: 0, ok: true},
		"seconds with spaces":           {header: " 2 ", want: 2 * time.Second, ok: true},
		"an HTTP date ahead":            {header: "Fri, 02 Jan 2026 03:04:35 GMT", want: 30 * time.Second, ok: true},
		"an HTTP date in the past":      {header: "Fri, 02 Jan 2026 03:00:00 GMT", want: 0, ok: true},
		"an RFC 850 date":               {header: "Friday, 02-Jan-26 03:04:15 GMT", want: 10 * time.Second, ok: true},
		"absent":                        {header: ""},
		"negative seconds":              {header: "-1"},
		"fractional seconds":            {header: "1.5"},
		"garbage":                       {header: "soon"},
		"more seconds than a Duration":  {header: "99999999999999999", want: math.MaxInt64 / time.Second * time.Second, ok: true},
		"more seconds than an int64":    {header: "999999999999999999999"},
		"a date without a time zone":    {header: "2026-01-02T03:04:35"},
		"an ISO date is not HTTP's own": {header: "2026-01-02T03:04:35Z"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := parseRetryAfter(tc.header, now)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.header, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// transport is a fake http.RoundTripper answering from a list of
// outcomes, the last one repeated; it counts its requests.
type transport struct {
	outcomes []outcome
	mu       sync.Mutex
	sent     int
}

type outcome struct {
	status     int
	retryAfter string
	err        error
}

var _ http.RoundTripper = (*transport)(nil)

func (f *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	o := f.outcomes[min(f.sent, len(f.outcomes)-1)]
	f.sent++
	f.mu.Unlock()
	if o.err != nil {
		return nil, o.err
	}
	resp := &http.Response{StatusCode: o.status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("{}")), Request: r}
	if o.retryAfter != "" {
		resp.Header.Set("Retry-After", o.retryAfter)
	}
	return resp, nil
}

func (f *transport) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sent
}

func TestRetrier(t *testing.T) {
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	tests := map[string]struct {
		method   string
		body     io.Reader
		timeout  time.Duration // of the request's context, if > 0
		outcomes []outcome
		sent     int
		status   int   // of the response returned, if no error
		want     error // the error must wrap it
		message  string
	}{
		"a GET is retried after a connection reset": {
			outcomes: []outcome{{err: reset}, {status: 200}}, sent: 2, status: 200,
		},
		"a HEAD is retried after a 408": {
			method: http.MethodHead, outcomes: []outcome{{status: 408}, {status: 200}}, sent: 2, status: 200,
		},
		"an error that is not transient is not retried": {
			outcomes: []outcome{{err: errors.New("no route")}}, sent: 1,
		},
		"a POST is never retried": {
			method: http.MethodPost, outcomes: []outcome{{status: 503}, {status: 200}}, sent: 1, status: 503,
		},
		"a GET with a body is not retried": {
			body: strings.NewReader("x"), outcomes: []outcome{{status: 503}, {status: 200}}, sent: 1, status: 503,
		},
		"a 501 is not retried": {
			outcomes: []outcome{{status: 501}, {status: 200}}, sent: 1, status: 501,
		},
		"retries stop after 4": {
			outcomes: []outcome{{status: 500}}, sent: 5, status: 500,
		},
		"a 503 whose backoff passes the deadline fails at once with ErrThrottled": {
			timeout: 50 * time.Millisecond, outcomes: []outcome{{status: 503}}, sent: 1, want: ErrThrottled,
			message: "(503 Service Unavailable, no Retry-After, next try in",
		},
		"a 500 whose backoff passes the deadline returns the 500 at once": {
			timeout: 50 * time.Millisecond, outcomes: []outcome{{status: 500}}, sent: 1, status: 500,
		},
		"a Retry-After over a minute fails at once with ErrThrottled, even without a deadline": {
			outcomes: []outcome{{status: 429, retryAfter: "3600"}}, sent: 1, want: ErrThrottled,
			message: "(429 Too Many Requests, Retry-After 1h0m0s), longer than the store waits (1m0s)",
		},
		"a 429 whose Retry-After date has passed is retried after the backoff": {
			outcomes: []outcome{{status: 429, retryAfter: "Thu, 01 Jan 2026 00:00:00 GMT"}, {status: 200}}, sent: 2, status: 200,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			inner := &transport{outcomes: tc.outcomes}
			// Tests that retry wait 1 ms; the real backoff is longer than
			// the 50 ms deadlines.
			backoff := func(int, *http.Response) time.Duration { return time.Millisecond }
			if tc.timeout > 0 {
				backoff = retry.ExponentialBackoff(retryBase, 2, retryJitter)
			}
			rt := &retrier{next: inner, backoff: backoff}
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			req, err := http.NewRequestWithContext(ctx, method, "http://registry.test/v2/", tc.body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := rt.RoundTrip(req)
			if ctx.Err() != nil {
				t.Fatalf("returned when the context was done: %v", err)
			}
			if n := inner.count(); n != tc.sent {
				t.Errorf("sent %d requests, want %d", n, tc.sent)
			}
			switch {
			case tc.status != 0:
				if err != nil || resp.StatusCode != tc.status {
					t.Fatalf("got %v, %v; want a %d answer", resp, err, tc.status)
				}
				_ = resp.Body.Close()
			case err == nil:
				t.Fatalf("got a %d answer, want an error", resp.StatusCode)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("error %q does not wrap %q", err, tc.want)
			case tc.message != "" && !strings.Contains(err.Error(), tc.message):
				t.Fatalf("error %q does not say %q", err, tc.message)
			}
		})
	}
}

func TestLimiter(t *testing.T) {
	t.Run("a request waiting for a slot gives up when its context is done", func(t *testing.T) {
		l := &limiter{next: &transport{outcomes: []outcome{{status: 200}}}, max: 1, hosts: map[string]*slots{}}
		held, err := l.RoundTrip(httptest.NewRequest(http.MethodGet, "http://registry.test/v2/", nil))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req := httptest.NewRequest(http.MethodGet, "http://registry.test/v2/", nil).WithContext(ctx)
		if _, err := l.RoundTrip(req); !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v, want context.Canceled", err)
		}
		other := httptest.NewRequest(http.MethodGet, "http://elsewhere.test/v2/", nil).WithContext(ctx)
		if _, err := l.RoundTrip(other); err != nil {
			t.Fatalf("another host's slots are taken too: %v", err)
		}
		_ = held.Body.Close()
		if _, err := l.RoundTrip(httptest.NewRequest(http.MethodGet, "http://registry.test/v2/", nil)); err != nil {
			t.Fatalf("the slot was not released by Close: %v", err)
		}
	})
	t.Run("the slot of a body nobody closes is released when its context is done", func(t *testing.T) {
		l := &limiter{next: &transport{outcomes: []outcome{{status: 200}}}, max: 1, hosts: map[string]*slots{}}
		ctx, cancel := context.WithCancel(context.Background())
		if _, err := l.RoundTrip(httptest.NewRequest(http.MethodGet, "http://registry.test/v2/", nil).WithContext(ctx)); err != nil {
			t.Fatal(err)
		}
		cancel()
		wait, stop := context.WithTimeout(context.Background(), 10*time.Second)
		defer stop()
		if _, err := l.RoundTrip(httptest.NewRequest(http.MethodGet, "http://registry.test/v2/", nil).WithContext(wait)); err != nil {
			t.Fatalf("the slot stayed taken: %v", err)
		}
	})
}

func TestConcurrentRequestsToARegistryAreLimited(t *testing.T) {
	const limit, callers = 2, 6
	var (
		mu       sync.Mutex
		inFlight int
		peak     int
		release  = make(chan struct{})
		armed    atomic.Bool
	)
	srv := registrytest.NewOlaregBehind(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !armed.Load() {
				next.ServeHTTP(w, r)
				return
			}
			mu.Lock()
			inFlight++
			peak = max(peak, inFlight)
			mu.Unlock()
			<-release
			next.ServeHTTP(w, r)
			mu.Lock()
			inFlight--
			mu.Unlock()
		})
	})
	push := srv.Repository(t, "limit/app")
	for i := range callers {
		registrytest.PushImage(t, push, fmt.Sprint("v", i))
	}
	armed.Store(true)
	r, err := New(Options{Registries: map[string]RegistryOptions{srv.Host(): {PlainHTTP: true}}, MaxConcurrentRequests: limit})
	if err != nil {
		t.Fatal(err)
	}
	l := r.stack.client.Client.Transport.(*realmRouter).next.(*answerCheck).next.(*retrier).next.(*limiter)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			if _, err := r.Resolve(context.Background(), srv.RepositoryName("limit/app"), fmt.Sprint("v", i)); err != nil {
				t.Error(err)
			}
		})
	}
	// Every caller has reached the limiter, and the registry holds the
	// ones that got a slot: the others can only be waiting for one.
	for {
		l.mu.Lock()
		s := l.hosts[srv.Host()]
		joined := s != nil && s.users == callers
		l.mu.Unlock()
		mu.Lock()
		n := inFlight
		mu.Unlock()
		if joined && n == limit {
			break
		}
		if n > limit {
			t.Fatalf("%d requests in flight, limit %d", n, limit)
		}
		runtime.Gosched()
	}
	// Let them through one at a time.
	for range callers {
		release <- struct{}{}
	}
	wg.Wait()
	if peak != limit {
		t.Fatalf("at most %d requests were in flight at once, want the limit %d", peak, limit)
	}
	if len(l.hosts) != 0 {
		t.Errorf("the slots of %d hosts are kept after use", len(l.hosts))
	}
}

func TestNewWrapsTheCallersHTTPClient(t *testing.T) {
	inner := &transport{outcomes: []outcome{{status: 200}}}
	jar := &cookieJar{}
	r, err := New(Options{HTTPClient: &http.Client{Transport: inner, Jar: jar, Timeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	c := r.stack.client.Client
	rr, ok := c.Transport.(*realmRouter)
	if !ok {
		t.Fatalf("transport %T, want the store's token realm routing", c.Transport)
	}
	ac, ok := rr.next.(*answerCheck)
	if !ok {
		t.Fatalf("beneath the realm routing: %T, want the store's Content-Type checks", rr.next)
	}
	rt, ok := ac.next.(*retrier)
	if !ok {
		t.Fatalf("beneath the Content-Type checks: %T, want the store's retries", ac.next)
	}
	if l, ok := rt.next.(*limiter); !ok || l.next != inner || l.max != DefaultMaxConcurrentRequests {
		t.Fatalf("beneath the retries: %#v, want the limit over the caller's transport", rt.next)
	}
	if c.Jar != jar || c.Timeout != time.Minute {
		t.Fatalf("the caller's Jar and Timeout are lost: %#v", c)
	}
}

type cookieJar struct{ http.CookieJar }

func TestCallsWithOtherRequestCredentialsAreNotShared(t *testing.T) {
	r, err := New(Options{DockerConfigPaths: []string{writeFile(t, "config.json", `{"auths":{}}`)}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := r.WithDockerConfigs([][]byte{[]byte(`{"auths":{"r.example":{"auth":"dTph"}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.WithDockerConfigs([][]byte{[]byte(`{"auths":{"r.example":{"auth":"dTpi"}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, v := range []*Registry{r, a, b} {
		keys[flightKey(v.bind(context.Background()), "r.example/app", "v1")] = true
	}
	if len(keys) != 3 {
		t.Fatalf("the Registry's credentials and two Pod credential sets gave %d distinct call keys, want 3", len(keys))
	}
	again, _ := r.WithDockerConfigs([][]byte{[]byte(`{"auths":{"r.example":{"auth":"dTph"}}}`)})
	if flightKey(again.bind(context.Background()), "r.example/app", "v1") != flightKey(a.bind(context.Background()), "r.example/app", "v1") {
		t.Error("the same credentials gave another call key: calls would not be shared")
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
