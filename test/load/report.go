package main

import (
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
// critical path: resolve, list the referrers, fetch the signature
// manifest and then its blob: 4 requests. The referrers of the
// signature (nested referrers) are needed only when its Verifier has
// requireSignature, which the harness's does not; Assay then does not
// list them. cosign's classic ".sig" tag, probed by the store beside
// every listing of an image, is not needed for a Notary Project
// signature.
var floorSteps = []floorStep{
	{"HEAD " + classResolve, 1, "resolve the tag (HEAD manifest)"},
	{"GET referrers of " + kindImage, 1, "list the image's referrers (GET)"},
	{"GET manifest of " + kindSignature, 1, "fetch the signature manifest (GET)"},
	{"GET blob of " + kindEnvelope, 1, "fetch the signature envelope (GET blob)"},
	{"GET referrers of " + kindSignature, 0, "list the signature's referrers (GET, nested level)"},
	{"HEAD " + classCosignProbe, 0, "probe cosign's sha256-<hex>.sig tag (HEAD, store)"},
}

// floor prints the design's floor for a cold verification beside what
// the cold run's counts show.
func (h *harness) floor(c counts, verifications int) {
	w := h.out
	v := float64(max(verifications, 1))
	fmt.Fprintf(w, "\n== registry requests per cold verification: design floor vs measured\n")
	fmt.Fprintf(w, "  %-56s %5s  %8s\n", "request", "floor", "measured")
	seen := map[string]bool{}
	floor, measured := 0, 0.0
	for _, s := range floorSteps {
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
	fmt.Fprintf(w, "  (nested referrers are listed only for a Verifier with requireSignature; none here, so the floor is %d)\n", floor)
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
	for _, e := range events {
		fmt.Fprintf(w, "  %7.2f – %7.2f  %s\n", msf(e.start.Sub(t0)), msf(e.end.Sub(t0)), e.class)
	}
	fmt.Fprintf(w, "  %d requests in %d sequential round trips\n", len(events), rounds(events))
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
