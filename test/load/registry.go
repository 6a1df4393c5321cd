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
// by class and by repository, numbers each request's sequential round
// trip within its repository, holds every request for a set latency
// before serving it, and, while a throttle rate is set, answers that
// share of them with 429 Too Many Requests and Retry-After: 1.
//
// Every image the harness pushes has a repository of its own, and each
// run verifies an image at most once, so a repository's requests are
// those of one verification.
type registry struct {
	mu        sync.Mutex
	kinds     map[string]string // digest → kind
	counts    map[string]int64  // class → requests
	total     int64
	seq       int64         // requests seen while throttling
	rate      float64       // share of requests to throttle; 0 for none
	throttled int64         // requests answered 429
	latency   time.Duration // how long each request is held; 0 for none
	// repos are the requests and round trips by repository since the
	// last reset.
	repos map[string]*repoRounds

	// Requests for the repository traced are recorded in trace.
	traced string
	trace  []event
}

// repoRounds counts the requests to one repository and their round
// trips, without timing them: a request's round is 1 + the highest round
// among the requests to the same repository that had completed when it
// started. Requests that overlap share a round; one that needed an
// earlier answer (a manifest named by a listing, a blob named by a
// manifest) comes after it. Held for a latency, parallel requests
// overlap for sure, so the count is exact; without one, a request can
// complete before its sibling starts and the count is then an upper
// bound.
type repoRounds struct {
	requests int
	rounds   int // the highest round started
	done     int // the highest round completed
}

// event is one registry request, for the timeline of one verification.
type event struct {
	class      string
	round      int
	start, end time.Time
}

func newRegistry() *registry {
	return &registry{kinds: map[string]string{}, counts: map[string]int64{}, repos: map[string]*repoRounds{}}
}

// wrap is the middleware for registrytest.StartOlaregBehind.
func (g *registry) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		g.mu.Lock()
		what, repo := g.whatLocked(r.URL.Path)
		class := r.Method + " " + what
		traced := g.traced != "" && repo == g.traced
		g.counts[class]++
		g.total++
		var rr *repoRounds
		round := 0
		if repo != "" {
			if rr = g.repos[repo]; rr == nil {
				rr = &repoRounds{}
				g.repos[repo] = rr
			}
			round = rr.done + 1
			rr.requests++
			rr.rounds = max(rr.rounds, round)
		}
		latency := g.latency
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
		if latency > 0 {
			t := time.NewTimer(latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
			}
		}
		if throttle {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"throttled by the load harness"}]}`, http.StatusTooManyRequests)
		} else {
			next.ServeHTTP(w, r)
		}
		end := time.Now()
		g.mu.Lock()
		if rr != nil {
			rr.done = max(rr.done, round)
		}
		if traced {
			g.trace = append(g.trace, event{class: class, round: round, start: start, end: end})
		}
		g.mu.Unlock()
	})
}

// setLatency holds every request for d from now on (0 for none).
func (g *registry) setLatency(d time.Duration) {
	g.mu.Lock()
	g.latency = d
	g.mu.Unlock()
}

// setKind records what a pushed digest is.
func (g *registry) setKind(digest, kind string) {
	g.mu.Lock()
	g.kinds[digest] = kind
	g.mu.Unlock()
}

// traceRepository starts recording the requests to repository repo (its
// path, without the host), dropping what was recorded before; "" stops.
func (g *registry) traceRepository(repo string) {
	g.mu.Lock()
	g.traced, g.trace = repo, nil
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
	// byRepo are the requests and round trips by repository.
	byRepo map[string]repoRounds
}

// reset starts a new count and returns the previous one.
func (g *registry) reset() counts {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := counts{total: g.total, throttled: g.throttled, byClass: g.counts, byRepo: make(map[string]repoRounds, len(g.repos))}
	for repo, rr := range g.repos {
		c.byRepo[repo] = *rr
	}
	g.counts, g.total, g.throttled, g.repos = map[string]int64{}, 0, 0, map[string]*repoRounds{}
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
// one the harness pushed, and returns the repository <name> ("" for the
// ping and other paths).
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#endpoints
func (g *registry) whatLocked(path string) (what, repo string) {
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
		ref, repo := rest[i+len(ep)+2:], rest[:i]
		kind := g.kinds[ref]
		if kind == "" {
			kind = "unknown"
		}
		switch {
		case ep == "manifests" && strings.HasSuffix(ref, ".sig"):
			return classCosignProbe, repo
		case ep == "manifests" && !strings.Contains(ref, ":"):
			return classResolve, repo
		case ep == "manifests":
			return "manifest of " + kind, repo
		case ep == "referrers":
			return "referrers of " + kind, repo
		default:
			return "blob of " + kind, repo
		}
	}
	return classOther, ""
}
