package main

import (
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Kinds of content the harness pushes, to name what a registry request
// was for.
const (
	kindImage     = "image"
	kindSignature = "signature"
	kindEnvelope  = "envelope"
)

// registry is the middleware in front of olareg: it counts every request
// by class and, while a throttle rate is set, answers that share of them
// with 429 Too Many Requests and Retry-After: 1.
type registry struct {
	mu        sync.Mutex
	kinds     map[string]string // digest → kind
	counts    map[string]int64  // class → requests
	total     int64
	seq       int64   // requests seen while throttling
	rate      float64 // share of requests to throttle; 0 for none
	throttled int64   // requests answered 429

	// owner maps the tags and digests of each pushed signed image (its
	// tag, digest, cosign tag, signature and envelope digests) to the
	// image's tag; requests for traced's are recorded in trace.
	owner  map[string]string
	traced string
	trace  []event
}

// event is one registry request, for the timeline of one verification.
type event struct {
	class      string
	start, end time.Time
}

func newRegistry() *registry {
	return &registry{kinds: map[string]string{}, counts: map[string]int64{}, owner: map[string]string{}}
}

// wrap is the middleware for registrytest.StartOlaregBehind.
func (g *registry) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		g.mu.Lock()
		what, ref := g.whatLocked(r.URL.Path)
		class := r.Method + " " + what
		traced := g.traced != "" && g.owner[ref] == g.traced
		g.counts[class]++
		g.total++
		throttle := false
		if g.rate > 0 {
			// Exactly rate of the requests, spread evenly: the n-th
			// request is throttled when ⌊n·rate⌋ steps up.
			g.seq++
			throttle = math.Floor(float64(g.seq)*g.rate) > math.Floor(float64(g.seq-1)*g.rate)
			if throttle {
				g.throttled++
			}
		}
		g.mu.Unlock()
		if throttle {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"throttled by the load harness"}]}`, http.StatusTooManyRequests)
		} else {
			next.ServeHTTP(w, r)
		}
		if traced {
			g.mu.Lock()
			g.trace = append(g.trace, event{class: class, start: start, end: time.Now()})
			g.mu.Unlock()
		}
	})
}

// setKind records what a pushed digest is.
func (g *registry) setKind(digest, kind string) {
	g.mu.Lock()
	g.kinds[digest] = kind
	g.mu.Unlock()
}

// setOwner records that ref (a tag or digest) belongs to the image
// tagged tag.
func (g *registry) setOwner(ref, tag string) {
	g.mu.Lock()
	g.owner[ref] = tag
	g.mu.Unlock()
}

// traceImage starts recording the requests for the image tagged tag,
// dropping what was recorded before.
func (g *registry) traceImage(tag string) {
	g.mu.Lock()
	g.traced, g.trace = tag, nil
	g.mu.Unlock()
}

// timeline returns the requests recorded for the traced image, in the
// order they started.
func (g *registry) timeline() []event {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := slices.Clone(g.trace)
	slices.SortFunc(out, func(a, b event) int { return a.start.Compare(b.start) })
	return out
}

// rounds counts the sequential round trips of a timeline: a request that
// starts after every earlier one has ended begins a new round.
func rounds(events []event) int {
	n := 0
	var last time.Time // the latest end so far
	for i, e := range events {
		if i == 0 || !e.start.Before(last) {
			n++
		}
		if e.end.After(last) {
			last = e.end
		}
	}
	return n
}

// throttle sets the share of requests answered 429 from now on (0 for
// none) and restarts its count.
func (g *registry) throttle(rate float64) {
	g.mu.Lock()
	g.rate, g.seq = rate, 0
	g.mu.Unlock()
}

// counts is what the registry saw since the last reset.
type counts struct {
	total, throttled int64
	byClass          map[string]int64
}

// reset starts a new count and returns the previous one.
func (g *registry) reset() counts {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := counts{total: g.total, throttled: g.throttled, byClass: g.counts}
	g.counts, g.total, g.throttled = map[string]int64{}, 0, 0
	return c
}

// classes returns the classes counted, most requests first.
func (c counts) classes() []string {
	out := make([]string, 0, len(c.byClass))
	for k := range c.byClass {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if c.byClass[out[i]] != c.byClass[out[j]] {
			return c.byClass[out[i]] > c.byClass[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

// Classes of registry requests (after the method).
const (
	classResolve     = "manifest by tag (resolve)"
	classCosignProbe = "manifest by cosign .sig tag (probe)"
	classPing        = "/v2/ (ping)"
	classOther       = "other"
)

// whatLocked names what a request asked for (distribution-spec
// endpoints: /v2/<name>/manifests/<reference>, /v2/<name>/referrers/<digest>,
// /v2/<name>/blobs/<digest>), with the kind of content when the digest is
// one the harness pushed, and returns the reference or digest.
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#endpoints
func (g *registry) whatLocked(path string) (what, ref string) {
	if path == "/v2/" || path == "/v2" {
		return classPing, ""
	}
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return classOther, ""
	}
	for _, ep := range []string{"manifests", "referrers", "blobs"} {
		i := strings.LastIndex(rest, "/"+ep+"/")
		if i < 0 {
			continue
		}
		ref := rest[i+len(ep)+2:]
		kind := g.kinds[ref]
		if kind == "" {
			kind = "unknown"
		}
		switch {
		case ep == "manifests" && strings.HasSuffix(ref, ".sig"):
			return classCosignProbe, ref
		case ep == "manifests" && !strings.Contains(ref, ":"):
			return classResolve, ref
		case ep == "manifests":
			return "manifest of " + kind, ref
		case ep == "referrers":
			return "referrers of " + kind, ref
		default:
			return "blob of " + kind, ref
		}
	}
	return classOther, ""
}
