package main

import (
	"net/http"
	"net/http/httptest"
	"os"
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

func TestRoundsCountSequentialRoundTrips(t *testing.T) {
	at := func(start, end int) event {
		t0 := time.Unix(0, 0)
		return event{start: t0.Add(time.Duration(start)), end: t0.Add(time.Duration(end))}
	}
	// resolve; listing and probe side by side; nested listing; manifest; blob
	events := []event{at(0, 2), at(3, 9), at(3, 8), at(10, 12), at(13, 15), at(16, 17)}
	if n := rounds(events); n != 5 {
		t.Fatalf("rounds = %d, want 5", n)
	}
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
