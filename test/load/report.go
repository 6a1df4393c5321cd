package main

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"time"
)

// print writes the figures of one run.
func (h *harness) print(name, what string, r *result, c counts, before, after snapshot, byClass bool) {
	w := h.out
	secs := r.elapsed.Seconds()
	n := len(r.latencies)
	fmt.Fprintf(w, "\n== %s: %s, %d workers\n", name, what, h.o.concurrency)
	fmt.Fprintf(w, "  requests   %d in %s = %.1f requests/s, %d keys = %.1f verifications/s\n",
		n, r.elapsed.Round(time.Millisecond), float64(n)/secs, r.keys, float64(r.keys)/secs)
	fmt.Fprintf(w, "  latency    p50 %s  p90 %s  p99 %s  max %s  (client-side, per request)\n",
		ms(percentile(r.latencies, 50)), ms(percentile(r.latencies, 90)), ms(percentile(r.latencies, 99)), ms(percentile(r.latencies, 100)))
	fmt.Fprintf(w, "  answers    %s\n", outcomeSummary(r))
	for _, o := range sortedOutcomes(r) {
		if m, ok := r.examples[o]; ok {
			fmt.Fprintf(w, "             e.g. %s: %s\n", o, shorten(m, 400))
		}
	}
	per := 0.0
	if r.keys > 0 {
		per = float64(c.total) / float64(r.keys)
	}
	fmt.Fprintf(w, "  registry   %d request%s = %.2f per verification", c.total, plural(c.total), per)
	if c.throttled > 0 {
		fmt.Fprintf(w, "; %d (%.1f%%) answered 429 with Retry-After: 1", c.throttled, 100*float64(c.throttled)/float64(c.total))
	}
	fmt.Fprintln(w)
	if byClass {
		for _, class := range c.classes() {
			fmt.Fprintf(w, "             %-48s %6d  %5.2f per verification\n", class, c.byClass[class], float64(c.byClass[class])/float64(max(r.keys, 1)))
		}
	}
	var vc []string
	for _, name := range verdictCounters {
		if d := after.verdicts[name] - before.verdicts[name]; d != 0 {
			vc = append(vc, fmt.Sprintf("%s %.0f", name, d))
		}
	}
	if len(vc) > 0 {
		fmt.Fprintf(w, "  verdicts   cache %s\n", strings.Join(vc, ", "))
	}
	if before.err != nil || after.err != nil {
		fmt.Fprintf(w, "  memory     unavailable: %v\n", orErr(before.err, after.err))
		return
	}
	fmt.Fprintf(w, "  memory     assay serve RSS %s → %s, heap in use %s → %s; plugins (%d) RSS %s → %s\n",
		mib(before.serve.rss), mib(after.serve.rss), mib(int64(before.heapInuse)), mib(int64(after.heapInuse)),
		after.nplugins, mib(before.plugins.rss), mib(after.plugins.rss))
	if byClass && r.keys > 0 {
		fmt.Fprintf(w, "             heap in use changed by %s per verification (verdict cache, store caches, and garbage the GC has not yet collected: noisy)\n",
			kib((after.heapInuse-before.heapInuse)/float64(r.keys)))
	}
	serveCPU, pluginCPU := after.serve.cpu-before.serve.cpu, after.plugins.cpu-before.plugins.cpu
	fmt.Fprintf(w, "  cpu        assay serve %s + plugins %s = %s per verification; this process (load generator and registry) %s; %d cores\n",
		serveCPU, pluginCPU, ms((serveCPU+pluginCPU)/time.Duration(max(r.keys, 1))), (after.self - before.self).Round(time.Millisecond), runtime.NumCPU())
}

// floorStep is one registry request of a cold verification.
type floorStep struct {
	class string
	floor int
	what  string
}

// floorSteps are the registry requests of a cold verification of an
// image with one Notary Project signature. Design §7's floor is its
// critical path: list the referrers, fetch the signature manifest and
// then its blob: 3 requests in 3 sequential round trips. A key by
// digest needs no resolution (the subject's media type and size come
// from the signature manifest's subject field); a tag key (-tags) adds
// its HEAD in front, a 4th request and round trip. The referrers of the
// signature (nested referrers) are needed only when its Verifier has
// requireSignature, which the harness's does not; Assay then does not
// list them. cosign's classic ".sig" tag is not needed for a Notary
// Project signature.
func (h *harness) floorSteps() []floorStep {
	resolve := 0
	if h.o.tags {
		resolve = 1
	}
	return []floorStep{
		{"HEAD " + classResolve, resolve, "resolve the tag (HEAD manifest)"},
		{"GET referrers of " + kindImage, 1, "list the image's referrers (GET)"},
		{"GET manifest of " + kindSignature, 1, "fetch the signature manifest (GET)"},
		{"GET blob of " + kindEnvelope, 1, "fetch the signature envelope (GET blob)"},
		{"GET referrers of " + kindSignature, 0, "list the signature's referrers (GET, nested level)"},
		{"HEAD " + classCosignProbe, 0, "probe cosign's sha256-<hex>.sig tag (HEAD)"},
	}
}

// floorRounds is the floor's sequential round trips: referrers →
// manifest → blob, and the tag's HEAD before them with -tags.
func (h *harness) floorRounds() int {
	if h.o.tags {
		return 4
	}
	return 3
}

// roundStats summarizes the round trips per verification of a run.
type roundStats struct {
	verifications int
	mean          float64
	min, max      int
	byRounds      map[int]int // round trips → verifications
}

func (c counts) rounds() roundStats {
	s := roundStats{byRounds: map[int]int{}}
	sum := 0
	for _, rr := range c.byRepo {
		if s.verifications == 0 || rr.rounds < s.min {
			s.min = rr.rounds
		}
		s.max = max(s.max, rr.rounds)
		s.byRounds[rr.rounds]++
		sum += rr.rounds
		s.verifications++
	}
	s.mean = float64(sum) / float64(max(s.verifications, 1))
	return s
}

func (s roundStats) String() string {
	var parts []string
	for r := s.min; r <= s.max; r++ {
		if n := s.byRounds[r]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d round trips: %d", r, n))
		}
	}
	return fmt.Sprintf("mean %.2f (%s)", s.mean, strings.Join(parts, ", "))
}

// floor prints the design's floor for a cold verification beside what
// the cold run's counts show: requests, round trips and, with
// -registry-latency, the cold latency as a multiple of the floor's time.
func (h *harness) floor(f runFigures) {
	w, c := h.out, f.c
	v := float64(max(f.r.keys, 1))
	fmt.Fprintf(w, "\n== registry requests per cold verification: design floor vs measured\n")
	fmt.Fprintf(w, "  %-56s %5s  %8s\n", "request", "floor", "measured")
	seen := map[string]bool{}
	floor, measured := 0, 0.0
	for _, s := range h.floorSteps() {
		seen[s.class] = true
		m := float64(c.byClass[s.class]) / v
		measured += m
		floor += s.floor
		fmt.Fprintf(w, "  %-56s %5d  %8.2f\n", s.what, s.floor, m)
	}
	for _, class := range c.classes() {
		if !seen[class] {
			m := float64(c.byClass[class]) / v
			measured += m
			fmt.Fprintf(w, "  %-56s %5d  %8.2f\n", "other: "+class, 0, m)
		}
	}
	fmt.Fprintf(w, "  %-56s %5d  %8.2f\n", "total", floor, measured)
	fmt.Fprintf(w, "  (nested referrers are listed only for a Verifier with requireSignature; none here)\n")
	rs := c.rounds()
	fmt.Fprintf(w, "  %-56s %5d  %8.2f\n", "sequential round trips (counted per repository)", h.floorRounds(), rs.mean)
	fmt.Fprintf(w, "  round trips per verification: %s, over %d verifications\n", rs, rs.verifications)
	if rs.verifications != f.r.keys {
		fmt.Fprintf(w, "  (%d repositories were requested for %d keys: the attribution is not one repository per verification)\n", rs.verifications, f.r.keys)
	}
	if d := h.o.registryLatency; d > 0 {
		ft := time.Duration(h.floorRounds()) * d
		p50 := percentile(f.r.latencies, 50)
		fmt.Fprintf(w, "  floor time %d round trips × %s = %s; cold latency p50 %s = %.2f × floor, p90 %s = %.2f × floor",
			h.floorRounds(), d, ms(ft), ms(p50), float64(p50)/float64(ft), ms(percentile(f.r.latencies, 90)), float64(percentile(f.r.latencies, 90))/float64(ft))
		if h.o.keysPerRequest > 1 {
			fmt.Fprintf(w, " (per request of %d keys)", h.o.keysPerRequest)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "  (without -registry-latency a request can complete before a parallel sibling starts: the round trips are then an upper bound)\n")
	}
}

// printTimeline prints the registry requests of one cold verification.
func (h *harness) printTimeline(ref string) {
	events := h.reg.timeline()
	if len(events) == 0 {
		return
	}
	w := h.out
	t0 := events[0].start
	fmt.Fprintf(w, "\n== timeline of one cold verification (%s), ms after its first registry request\n", ref)
	rounds := 0
	for _, e := range events {
		fmt.Fprintf(w, "  %7.2f – %7.2f  round %d  %s\n", msf(e.start.Sub(t0)), msf(e.end.Sub(t0)), e.round, e.class)
		rounds = max(rounds, e.round)
	}
	fmt.Fprintf(w, "  %d requests in %d sequential round trips\n", len(events), rounds)
}

// printIdle prints the memory of serve and of each plugin process after
// startup, before any load.
func (h *harness) printIdle(ctx context.Context, what string) {
	h.printProcesses("idle", what, h.snapshot(ctx))
}

// printProcesses prints the RSS of assay serve and of each of its
// plugin processes in s.
func (h *harness) printProcesses(when, what string, s snapshot) {
	w := h.out
	if s.err != nil {
		fmt.Fprintf(w, "== %s: memory unavailable: %v\n", when, s.err)
		return
	}
	fmt.Fprintf(w, "== %s: %s RSS %s, heap in use %s", when, what, mib(s.serve.rss), mib(int64(s.heapInuse)))
	for _, c := range s.children {
		fmt.Fprintf(w, "; plugin %s (pid %d) RSS %s", c.name, c.pid, mib(c.rss))
	}
	if len(s.children) == 0 {
		fmt.Fprint(w, "; no plugin process running")
	}
	fmt.Fprintf(w, "; serve + plugins %s\n", mib(s.serve.rss+s.plugins.rss))
}

// summary is the figures of a whole run, printed last.
type summary struct {
	images        int
	warm, cold    runFigures
	end           snapshot
	perVerdict    float64 // bytes per cached verdict; 0 if unmeasured
	perVerdictHow string
}

func (h *harness) printSummary(s summary) {
	w := h.out
	fmt.Fprintf(w, "\n== summary: -images %d, -concurrency %d, -registry-latency %s, %s keys", s.images, h.o.concurrency, h.o.registryLatency, map[bool]string{true: "tag", false: "digest"}[h.o.tags])
	if h.o.serveArgs != "" {
		fmt.Fprintf(w, ", assay serve %s", h.o.serveArgs)
	}
	fmt.Fprintln(w)
	c := s.cold
	rs := c.c.rounds()
	fmt.Fprintf(w, "  cold         %.1f verifications/s, p50 %s; %.2f registry requests and %.2f round trips per verification (floor %d and %d)",
		float64(c.r.keys)/c.r.elapsed.Seconds(), ms(percentile(c.r.latencies, 50)),
		float64(c.c.total)/float64(max(c.r.keys, 1)), rs.mean, h.floorTotal(), h.floorRounds())
	if d := h.o.registryLatency; d > 0 {
		fmt.Fprintf(w, "; p50 = %.2f × floor (%s)", float64(percentile(c.r.latencies, 50))/float64(time.Duration(h.floorRounds())*d), ms(time.Duration(h.floorRounds())*d))
	}
	fmt.Fprintln(w)
	if s.end.err == nil {
		fmt.Fprintf(w, "  memory end   assay serve RSS %s + plugins (%d) RSS %s = %s\n", mib(s.end.serve.rss), s.end.nplugins, mib(s.end.plugins.rss), mib(s.end.serve.rss+s.end.plugins.rss))
	}
	if s.perVerdict != 0 {
		fmt.Fprintf(w, "  per verdict  %.0f B per cached verdict (%s)\n", s.perVerdict, s.perVerdictHow)
	} else if s.perVerdictHow != "" {
		fmt.Fprintf(w, "  per verdict  %s\n", s.perVerdictHow)
	}
	if wm := s.warm; wm.r.keys > 0 && wm.before.err == nil && wm.after.err == nil {
		cpu := wm.after.serve.cpu - wm.before.serve.cpu
		fmt.Fprintf(w, "  warm cpu     assay serve %s per 10,000 cached answers (%s of CPU for %d answers)\n",
			(cpu * 10000 / time.Duration(wm.r.keys)).Round(time.Millisecond), cpu, wm.r.keys)
	}
}

// floorTotal is the floor's requests per cold verification.
func (h *harness) floorTotal() int {
	n := 0
	for _, s := range h.floorSteps() {
		n += s.floor
	}
	return n
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// outcomeSummary is "outcome count, …", successes first.
func outcomeSummary(r *result) string {
	var parts []string
	for _, o := range sortedOutcomes(r) {
		parts = append(parts, fmt.Sprintf("%s %d", o, r.outcomes[o]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func sortedOutcomes(r *result) []string {
	out := make([]string, 0, len(r.outcomes))
	for o := range r.outcomes {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i] == outcomeSuccess) != (out[j] == outcomeSuccess) {
			return out[i] == outcomeSuccess
		}
		if r.outcomes[out[i]] != r.outcomes[out[j]] {
			return r.outcomes[out[i]] > r.outcomes[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

// ms formats a duration in milliseconds with three significant digits.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	case v >= 10:
		return fmt.Sprintf("%.1fms", v)
	default:
		return fmt.Sprintf("%.2fms", v)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func kib(b float64) string { return fmt.Sprintf("%.1f KiB", b/(1<<10)) }

func shorten(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) <= n {
		return s
	}
	return s[:n/2] + " … " + s[len(s)-n/2:] // the cause is at the end
}

func orErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}
