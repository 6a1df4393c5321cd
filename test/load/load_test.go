package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/servetest"
)

func TestPercentileIsTheNearestRank(t *testing.T) {
	var sorted []time.Duration
	for i := 1; i <= 100; i++ {
		sorted = append(sorted, time.Duration(i)*time.Millisecond)
	}
	tests := map[string]struct {
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		"p50 of 1..100 ms is 50 ms":       {sorted, 50, 50 * time.Millisecond},
		"p99 of 1..100 ms is 99 ms":       {sorted, 99, 99 * time.Millisecond},
		"p100 is the maximum":             {sorted, 100, 100 * time.Millisecond},
		"a tiny p is the minimum":         {sorted, 0.001, time.Millisecond},
		"p90 of one sample is it":         {sorted[:1], 90, time.Millisecond},
		"p50 of two samples is the first": {sorted[:2], 50, time.Millisecond},
		"no samples give zero":            {nil, 50, 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := percentile(tc.samples, tc.p); got != tc.want {
				t.Fatalf("percentile(%v) = %s, want %s", tc.p, got, tc.want)
			}
		})
	}
}

func TestRequestsAreClassifiedByEndpointAndContent(t *testing.T) {
	g := newRegistry()
	g.setKind("sha256:aa", kindImage)
	g.setKind("sha256:bb", kindSignature)
	g.setKind("sha256:cc", kindEnvelope)
	tests := map[string]struct{ method, path, want string }{
		"a tag is resolved":                 {"HEAD", "/v2/load/app/manifests/cold-0001", "HEAD " + classResolve},
		"cosign's tag is probed":            {"HEAD", "/v2/load/app/manifests/sha256-aa.sig", "HEAD " + classCosignProbe},
		"an image's referrers are listed":   {"GET", "/v2/load/app/referrers/sha256:aa", "GET referrers of image"},
		"a signature's referrers too":       {"GET", "/v2/load/app/referrers/sha256:bb", "GET referrers of signature"},
		"a signature manifest is fetched":   {"GET", "/v2/load/app/manifests/sha256:bb", "GET manifest of signature"},
		"an envelope blob is fetched":       {"GET", "/v2/load/app/blobs/sha256:cc", "GET blob of envelope"},
		"a digest not pushed is unknown":    {"GET", "/v2/load/app/blobs/sha256:dd", "GET blob of unknown"},
		"a nested repository name is fine":  {"GET", "/v2/a/blobs/b/blobs/sha256:cc", "GET blob of envelope"},
		"the API version check is the ping": {"GET", "/v2/", "GET " + classPing},
		"anything else is other":            {"GET", "/metrics", "GET " + classOther},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			what, _ := g.whatLocked(tc.path)
			if got := tc.method + " " + what; got != tc.want {
				t.Fatalf("%s %s is %q, want %q", tc.method, tc.path, got, tc.want)
			}
		})
	}
}

func TestRequestsAreAttributedToTheirRepository(t *testing.T) {
	g := newRegistry()
	tests := map[string]struct{ path, want string }{
		"a manifest":                    {"/v2/load/cold-0001/manifests/sha256:aa", "load/cold-0001"},
		"a listing":                     {"/v2/load/cold-0001/referrers/sha256:aa", "load/cold-0001"},
		"a blob of a nested name":       {"/v2/a/blobs/b/blobs/sha256:cc", "a/blobs/b"},
		"the ping belongs to none":      {"/v2/", ""},
		"anything else belongs to none": {"/metrics", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, repo := g.whatLocked(tc.path); repo != tc.want {
				t.Fatalf("%s is for repository %q, want %q", tc.path, repo, tc.want)
			}
		})
	}
}

func TestTheThrottleAnswersExactlyItsShareWith429(t *testing.T) {
	g := newRegistry()
	h := g.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	g.throttle(0.1)
	refused := 0
	for range 100 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/v2/load/app/blobs/sha256:aa", nil))
		if rec.Code == http.StatusTooManyRequests {
			refused++
			if ra := rec.Header().Get("Retry-After"); ra != "1" {
				t.Fatalf("Retry-After = %q, want 1", ra)
			}
		}
	}
	c := g.reset()
	if refused != 10 || c.throttled != 10 || c.total != 100 {
		t.Fatalf("%d refused, counted %d throttled of %d; want 10 of 100", refused, c.throttled, c.total)
	}
}

func TestRoundsAreCountedPerRepositoryWithoutTiming(t *testing.T) {
	g := newRegistry()
	release := map[string]chan struct{}{}
	for _, p := range []string{"/v2/a/manifests/sha256:m1", "/v2/a/manifests/sha256:m2"} {
		release[p] = make(chan struct{})
	}
	h := g.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := release[r.URL.Path]; ok {
			<-c
		}
	}))
	get := func(path string) { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil)) }
	var wg sync.WaitGroup
	// a: the listing; two manifests side by side; a blob after both.
	get("/v2/a/referrers/sha256:s")
	wg.Go(func() { get("/v2/a/manifests/sha256:m1") })
	wg.Go(func() { get("/v2/a/manifests/sha256:m2") })
	// b, meanwhile, is its own verification: two requests one after the other.
	get("/v2/b/referrers/sha256:t")
	get("/v2/b/manifests/sha256:n")
	waitRequests(t, g, "a", 3)
	close(release["/v2/a/manifests/sha256:m1"])
	close(release["/v2/a/manifests/sha256:m2"])
	wg.Wait()
	get("/v2/a/blobs/sha256:e")
	get("/v2/") // the ping belongs to no verification
	c := g.reset()
	want := map[string]repoRounds{"a": {requests: 4, rounds: 3, done: 3}, "b": {requests: 2, rounds: 2, done: 2}}
	if len(c.byRepo) != len(want) || c.byRepo["a"] != want["a"] || c.byRepo["b"] != want["b"] {
		t.Fatalf("by repository %+v, want %+v", c.byRepo, want)
	}
	if rs := c.rounds(); rs.mean != 2.5 || rs.byRounds[3] != 1 || rs.byRounds[2] != 1 {
		t.Fatalf("rounds %+v, want a mean of 2.5 over one verification of 3 and one of 2", rs)
	}
}

// waitRequests waits until repo has seen n requests.
func waitRequests(t *testing.T, g *registry, repo string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		g.mu.Lock()
		rr := g.repos[repo]
		seen := rr != nil && rr.requests >= n
		g.mu.Unlock()
		if seen {
			return
		}
	}
	t.Fatalf("%s did not see %d requests", repo, n)
}

func TestTheLatencyHoldsEveryRequest(t *testing.T) {
	g := newRegistry()
	served := make(chan struct{})
	h := g.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { close(served) }))
	// A latency no test waits for: the request is held until its client
	// gives up, and only then reaches the registry.
	g.setLatency(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v2/a/blobs/sha256:aa", nil).WithContext(ctx))
	}()
	waitRequests(t, g, "a", 1)
	select {
	case <-served:
		t.Fatal("the request reached the registry before its latency passed")
	default:
	}
	cancel()
	<-done
}

func TestItemsAreCountedByOutcome(t *testing.T) {
	r := &result{outcomes: map[string]int{}, examples: map[string]string{}}
	resp := &servetest.Response{}
	resp.Response.Items = []servetest.Item{
		{Key: "a", Value: []byte(`{"isSuccess":true,"reason":"VERIFIED"}`)},
		{Key: "b", Value: []byte(`{"isSuccess":false,"reason":"NO_SIGNATURE","message":"none"}`)},
		{Key: "c", Error: "SUBJECT_NOT_FOUND: no such tag"},
	}
	r.record([]string{"a", "b", "c", "d"}, resp, nil)
	r.record([]string{"e"}, nil, os.ErrDeadlineExceeded)
	want := map[string]int{
		outcomeSuccess: 1, "isSuccess=false NO_SIGNATURE": 1, "item error SUBJECT_NOT_FOUND": 1,
		outcomeMissing: 1, outcomeTransport: 1,
	}
	if len(r.outcomes) != len(want) {
		t.Fatalf("outcomes = %v, want %v", r.outcomes, want)
	}
	for k, n := range want {
		if r.outcomes[k] != n {
			t.Fatalf("outcomes = %v, want %v", r.outcomes, want)
		}
	}
}

// TestEveryAnswerUnderAHangingRegistryIsADeadlineOrSaturation drives
// 2,000 concurrent requests with a 1 s Provider timeout against a
// registry that never answers: every answer is DEADLINE_EXCEEDED or the
// provider's saturation systemError. It asserts no time; the slowest
// answer is logged.
func TestEveryAnswerUnderAHangingRegistryIsADeadlineOrSaturation(t *testing.T) {
	res, err := hangRun(context.Background(), 2000, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d DEADLINE_EXCEEDED, %d saturated, slowest answer %s", res.deadline, res.saturated, res.slowest)
	if len(res.other) > 0 {
		t.Fatalf("%d answers are neither DEADLINE_EXCEEDED nor saturation, the first: %s", len(res.other), res.other[0])
	}
	if res.deadline+res.saturated != 2000 {
		t.Fatalf("%d answers for 2000 requests", res.deadline+res.saturated)
	}
}
