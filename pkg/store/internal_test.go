package store

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// waitForWaiters yields until n callers wait for the call under key.
func waitForWaiters[T any](t *testing.T, f *flight[T], key string, n int) {
	t.Helper()
	for {
		f.mu.Lock()
		c, ok := f.calls[key]
		got := 0
		if ok {
			got = c.waiters
		}
		f.mu.Unlock()
		if got == n {
			return
		}
		if got > n {
			t.Fatalf("%d waiters, want %d", got, n)
		}
		runtime.Gosched()
	}
}

func TestFlight(t *testing.T) {
	t.Run("concurrent callers share one call", func(t *testing.T) {
		var f flight[int]
		var runs atomic.Int64
		release := make(chan struct{})
		const n = 8
		results := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				v, err := f.do(context.Background(), "k", func(context.Context) (int, error) {
					runs.Add(1)
					<-release
					return 42, nil
				})
				if err != nil {
					t.Error(err)
				}
				results[i] = v
			})
		}
		waitForWaiters(t, &f, "k", n)
		close(release)
		wg.Wait()
		if runs.Load() != 1 {
			t.Fatalf("fn ran %d times", runs.Load())
		}
		for i, v := range results {
			if v != 42 {
				t.Fatalf("caller %d got %d", i, v)
			}
		}
	})
	t.Run("a caller whose context ends leaves without failing the others", func(t *testing.T) {
		var f flight[int]
		release := make(chan struct{})
		var callCtx context.Context
		started := make(chan struct{})
		fn := func(ctx context.Context) (int, error) {
			callCtx = ctx
			close(started)
			<-release
			return 7, nil
		}
		patient := make(chan int)
		go func() {
			v, _ := f.do(context.Background(), "k", fn)
			patient <- v
		}()
		<-started
		impatient, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			_, err := f.do(impatient, "k", fn)
			done <- err
		}()
		waitForWaiters(t, &f, "k", 2)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("impatient caller: %v, want context.Canceled", err)
		}
		if callCtx.Err() != nil {
			t.Fatal("the shared call was cancelled while a caller still waits")
		}
		close(release)
		if v := <-patient; v != 7 {
			t.Fatalf("patient caller got %d", v)
		}
	})
	t.Run("the call is cancelled when every caller has left, and the next caller starts a new one", func(t *testing.T) {
		var f flight[int]
		var runs atomic.Int64
		cancelled := make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			_, err := f.do(ctx, "k", func(ctx context.Context) (int, error) {
				runs.Add(1)
				<-ctx.Done()
				close(cancelled)
				return 0, ctx.Err()
			})
			done <- err
		}()
		waitForWaiters(t, &f, "k", 1)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("caller: %v", err)
		}
		<-cancelled // the shared call saw its context end
		v, err := f.do(context.Background(), "k", func(context.Context) (int, error) { runs.Add(1); return 1, nil })
		if err != nil || v != 1 || runs.Load() != 2 {
			t.Fatalf("next call = %d, %v after %d runs", v, err, runs.Load())
		}
	})
	t.Run("the shared call keeps the first caller's values", func(t *testing.T) {
		type key struct{}
		var f flight[string]
		ctx := context.WithValue(context.Background(), key{}, "logger")
		v, err := f.do(ctx, "k", func(ctx context.Context) (string, error) { return ctx.Value(key{}).(string), nil })
		if err != nil || v != "logger" {
			t.Fatalf("got %q, %v", v, err)
		}
	})
}

func TestLRU(t *testing.T) {
	tests := map[string]struct {
		budget int64
		adds   []string // each value is its own key; size = len(key)*2
		get    string   // touched after the adds, before extra
		extra  string
		want   []string
		absent []string
	}{
		"entries within the budget stay": {
			budget: 100, adds: []string{"aa", "bb"}, want: []string{"aa", "bb"},
		},
		"the least recently used entry is evicted first": {
			budget: 12, adds: []string{"aa", "bb", "cc"}, get: "aa", extra: "dd",
			want: []string{"aa", "cc", "dd"}, absent: []string{"bb"},
		},
		"a value larger than the budget is not cached": {
			budget: 4, adds: []string{"toolarge"}, absent: []string{"toolarge"},
		},
		"a zero budget caches nothing": {
			budget: 0, adds: []string{"a"}, absent: []string{"a"},
		},
		"a negative budget caches nothing": {
			budget: -1, adds: []string{"a"}, absent: []string{"a"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newLRU(tc.budget)
			add := func(k string) { c.add(k, k, int64(len(k))) }
			for _, k := range tc.adds {
				add(k)
			}
			if tc.get != "" {
				c.get(tc.get)
			}
			if tc.extra != "" {
				add(tc.extra)
			}
			for _, k := range tc.want {
				if v, ok := c.get(k); !ok || v.(string) != k {
					t.Errorf("%q: got %v, %v", k, v, ok)
				}
			}
			for _, k := range tc.absent {
				if _, ok := c.get(k); ok {
					t.Errorf("%q is cached", k)
				}
			}
			if _, size := c.stats(); size > max(tc.budget, 0) {
				t.Errorf("size %d over the budget %d", size, tc.budget)
			}
		})
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
	waitForWaiters(t, &r.resolves, repo+"\x00v1", n)
	close(release)
	wg.Wait()
	if heads.Load() != 1 {
		t.Fatalf("%d concurrent resolves sent %d requests, want 1", n, heads.Load())
	}
}
