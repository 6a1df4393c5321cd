// Command load is Assay's load harness: it measures `assay serve` the way
// Gatekeeper uses it, on one machine, side by side in one run (design
// §7, docs/performance.md).
//
// It starts an olareg registry in-process behind a middleware that
// counts every registry request by class, pushes -images distinct images
// each signed with one Notary Project signature (and one unsigned image),
// writes a configuration trusting the signer and TLS material, and starts
// `assay serve` (built beforehand: -assay, -plugin-dir). It then drives
// the provider over HTTPS with mutual TLS from -concurrency workers, with
// a bounded load that stops by itself:
//
//   - warm: the same signed image over and over (verdict cache hits),
//     after one priming request, for -duration or -requests requests;
//   - cold: each of the -images images exactly once, nothing cached;
//   - throttled: -throttle-images further images once each while the
//     registry answers -throttle-rate of its requests with 429 and
//     Retry-After: 1 (skipped when either is 0).
//
// For each run it prints requests/s, client-side latency percentiles,
// the answers by outcome, registry requests per verification (by class
// for cold, beside the design's floor), and the memory and CPU time of
// the assay serve process and its plugins before and after.
//
// It exits non-zero when an answer of the warm or cold run is not
// isSuccess true, or the unsigned image is not refused with
// NO_SIGNATURE: a regression of correctness. It never fails on a time.
//
// Run it with `make load` (or `make bench`, after the Go benchmarks).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/servetest"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/registry/remote"
)

// options are the harness's flags.
type options struct {
	assay, pluginDir string
	// images is the number of distinct signed images of the cold run.
	images int
	// concurrency is the number of workers, each with one request in
	// flight.
	concurrency int
	// keysPerRequest is the number of keys of each ProviderRequest.
	keysPerRequest int
	// duration bounds the warm run unless requests > 0 fixes its number
	// of requests instead.
	duration time.Duration
	requests int
	// throttleRate is the share of registry requests answered 429 in the
	// throttled run, over throttleImages images; 0 skips it.
	throttleRate   float64
	throttleImages int
	// verifyTimeout, if > 0, is passed as --verify-timeout.
	verifyTimeout time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.assay, "assay", "bin/assay", "path of the assay binary (`make build` writes it)")
	flag.StringVar(&o.pluginDir, "plugin-dir", "bin/plugins", "plugin directory with SHA256SUMS")
	flag.IntVar(&o.images, "images", 200, "distinct signed images, each verified once in the cold run")
	flag.IntVar(&o.concurrency, "concurrency", 16, "concurrent workers, each with one request in flight")
	flag.IntVar(&o.keysPerRequest, "keys-per-request", 1, "keys (images) in each ProviderRequest")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of the warm run")
	flag.IntVar(&o.requests, "requests", 0, "if > 0, the warm run sends this many requests instead of running for -duration")
	flag.Float64Var(&o.throttleRate, "throttle-rate", 0.1, "share of registry requests answered 429 with Retry-After: 1 in the throttled run (0 skips it)")
	flag.IntVar(&o.throttleImages, "throttle-images", 50, "distinct signed images verified once each in the throttled run (0 skips it)")
	flag.DurationVar(&o.verifyTimeout, "verify-timeout", 0, "--verify-timeout of assay serve (0: its default, 3s, Gatekeeper's)")
	flag.Parse()
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute+o.duration)
	defer cancel()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "load failed:", err)
		os.Exit(1)
	}
}

func (o options) validate() error {
	var errs []error
	if o.images < 1 || o.concurrency < 1 || o.keysPerRequest < 1 {
		errs = append(errs, errors.New("-images, -concurrency and -keys-per-request must be at least 1"))
	}
	if o.duration <= 0 && o.requests <= 0 {
		errs = append(errs, errors.New("the warm run needs a -duration or a number of -requests"))
	}
	if o.throttleRate < 0 || o.throttleRate >= 1 || o.throttleImages < 0 {
		errs = append(errs, errors.New("-throttle-rate must be in [0, 1) and -throttle-images not negative"))
	}
	if o.verifyTimeout < 0 {
		errs = append(errs, errors.New("-verify-timeout must not be negative"))
	}
	return errors.Join(errs...)
}

// harness is one run of the load harness.
type harness struct {
	o     options
	out   io.Writer
	reg   *registry
	repo  *remote.Repository
	name  string // the repository's name, host/path
	serve *servetest.Server
	// failures are the correctness problems found; any makes the
	// harness exit non-zero.
	failures []string
}

func run(ctx context.Context, o options, out io.Writer) error {
	h := &harness{o: o, out: out, reg: newRegistry()}
	srv, err := registrytest.StartOlaregBehind(h.reg.wrap)
	if err != nil {
		return err
	}
	defer srv.Close()
	h.name = srv.Host() + "/load/app"
	if h.repo, err = remote.NewRepository(h.name); err != nil {
		return err
	}
	h.repo.PlainHTTP = true

	ca, err := notationtest.NewCA(notationtest.CAOptions{})
	if err != nil {
		return err
	}
	leaf, err := ca.IssueLeaf(notationtest.LeafOptions{})
	if err != nil {
		return err
	}
	start := time.Now()
	warm, err := h.pushSigned(ctx, leaf, "warm", o.keysPerRequest)
	if err != nil {
		return err
	}
	cold, err := h.pushSigned(ctx, leaf, "cold", o.images)
	if err != nil {
		return err
	}
	if o.throttleRate == 0 {
		o.throttleImages = 0
	}
	throttled, err := h.pushSigned(ctx, leaf, "throttled", o.throttleImages)
	if err != nil {
		return err
	}
	unsigned, err := notationtest.PushImage(ctx, h.repo, "unsigned", "unsigned")
	if err != nil {
		return err
	}
	h.reg.setKind(unsigned.Digest.String(), kindImage)
	fmt.Fprintf(out, "== registry: olareg (in-process, OCI 1.1 referrers API) at %s behind a counting middleware\n", srv.Host())
	fmt.Fprintf(out, "== pushed %d signed images (one Notary Project JWS signature each) and 1 unsigned to %s in %s\n",
		len(warm)+len(cold)+len(throttled), h.name, time.Since(start).Round(time.Millisecond))

	dir, err := os.MkdirTemp("", "assay-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := h.startServe(ctx, dir, ca); err != nil {
		return err
	}
	defer h.serve.Stop()
	fmt.Fprintf(out, "== assay serve (pid %d) at %s, %d workers, %d key(s) per request, HTTP/1.1 keep-alive with mutual TLS 1.3\n",
		h.serve.Pid(), h.serve.URL, o.concurrency, o.keysPerRequest)

	// Correctness first: the warm images pass (this primes the verdict
	// cache) and the unsigned one is refused.
	h.check(ctx, "priming", warm, outcomeSuccess)
	h.check(ctx, "unsigned", []string{h.name + ":unsigned"}, "isSuccess=false NO_SIGNATURE")
	h.reg.reset()

	what := "the same signed image"
	if len(warm) > 1 {
		what = fmt.Sprintf("the same %d signed images", len(warm))
	}
	bound := "for " + o.duration.String()
	if o.requests > 0 {
		bound = fmt.Sprintf("%d requests", o.requests)
	}
	h.measure(ctx, "warm", fmt.Sprintf("%s over and over, %s (verdict cache hits)", what, bound),
		repeat(warm, o.requests, o.duration), true, false)
	h.reg.traceImage(strings.TrimPrefix(cold[len(cold)/2], h.name+":"))
	coldCounts := h.measure(ctx, "cold", fmt.Sprintf("each of %d distinct signed images once (nothing cached)", len(cold)),
		fixed(batches(cold, o.keysPerRequest)), true, true)
	h.floor(coldCounts, len(cold))
	h.printTimeline(cold[len(cold)/2])
	h.reg.traceImage("")
	if o.throttleRate > 0 && len(throttled) > 0 {
		h.reg.throttle(o.throttleRate)
		h.measure(ctx, "throttled", fmt.Sprintf("each of %d further signed images once while the registry answers %.0f%% of its requests with 429 and Retry-After: 1",
			len(throttled), 100*o.throttleRate), fixed(batches(throttled, o.keysPerRequest)), false, true)
		h.reg.throttle(0)
	}

	if len(h.failures) > 0 {
		fmt.Fprintf(out, "\n== FAIL: %d correctness problem(s):\n", len(h.failures))
		for _, f := range h.failures {
			fmt.Fprintln(out, "  - "+f)
		}
		fmt.Fprintf(out, "\nassay serve output (last lines):\n%s\n", tail(h.serve.Output(), 30))
		return errors.New("answers were not what they must be")
	}
	fmt.Fprintln(out, "\n== load passed: every signed image of the warm and cold runs verified, the unsigned one was refused")
	return nil
}

// pushSigned pushes n images tagged "<prefix>-<i>", signs each and
// returns their tag references.
func (h *harness) pushSigned(ctx context.Context, leaf *notationtest.Leaf, prefix string, n int) ([]string, error) {
	refs := make([]string, n)
	var g errgroup.Group
	g.SetLimit(4)
	for i := range n {
		tag := fmt.Sprintf("%s-%04d", prefix, i)
		refs[i] = h.name + ":" + tag
		g.Go(func() error {
			subject, err := notationtest.PushImage(ctx, h.repo, tag, tag)
			if err != nil {
				return err
			}
			sig, err := notationtest.Sign(ctx, leaf, subject, notationtest.SignOptions{})
			if err != nil {
				return err
			}
			manifest, err := notationtest.PushSignature(ctx, h.repo, subject, sig)
			if err != nil {
				return err
			}
			envelope := digest.FromBytes(sig.Envelope).String()
			h.reg.setKind(subject.Digest.String(), kindImage)
			h.reg.setKind(manifest.Digest.String(), kindSignature)
			h.reg.setKind(envelope, kindEnvelope)
			for _, ref := range []string{tag, subject.Digest.String(), registrytest.CosignSignatureTag(subject.Digest), manifest.Digest.String(), envelope} {
				h.reg.setOwner(ref, tag)
			}
			return nil
		})
	}
	return refs, g.Wait()
}

// startServe writes the configuration and TLS material into dir and
// starts assay serve with a client for the load.
func (h *harness) startServe(ctx context.Context, dir string, ca *notationtest.CA) error {
	params, err := notationtest.NewParams(h.name, ca, nil).JSON()
	if err != nil {
		return err
	}
	cfg := filepath.Join(dir, "assay.yaml")
	if err := os.WriteFile(cfg, []byte(servetest.NotationConfig([]string{strings.SplitN(h.name, "/", 2)[0]}, params, "")), 0o600); err != nil {
		return err
	}
	material, err := servetest.NewTLS(dir)
	if err != nil {
		return err
	}
	var args []string
	if h.o.verifyTimeout > 0 {
		args = append(args, "--verify-timeout", h.o.verifyTimeout.String())
	}
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	h.serve, err = servetest.Start(startCtx, servetest.Options{
		Assay: h.o.assay, PluginDir: h.o.pluginDir, Config: cfg, TLS: material, Args: args,
	})
	if err != nil {
		return err
	}
	// servetest's client keeps 2 idle connections (net/http's default);
	// keep one per worker so the runs measure Assay, not TLS handshakes.
	tlsConfig, err := material.ClientConfig()
	if err != nil {
		h.serve.Stop()
		return err
	}
	h.serve.Client = &http.Client{
		Transport: &http.Transport{TLSClientConfig: tlsConfig, MaxIdleConns: h.o.concurrency, MaxIdleConnsPerHost: h.o.concurrency},
		Timeout:   30 * time.Second,
	}
	return nil
}

// check sends keys in one request and records a failure unless every
// key's outcome is want.
func (h *harness) check(ctx context.Context, what string, keys []string, want string) {
	r := &result{outcomes: map[string]int{}, examples: map[string]string{}}
	resp, err := h.serve.Post(ctx, "/v1/verify", keys...)
	r.record(keys, resp, err)
	if r.outcomes[want] != len(keys) {
		h.failures = append(h.failures, fmt.Sprintf("%s: want %q for all %d keys, got %s", what, want, len(keys), outcomeSummary(r)))
	}
}

// snapshot is the memory and CPU time of assay serve and its plugins.
type snapshot struct {
	serve, plugins usage
	nplugins       int
	heapInuse      float64 // go_memstats_heap_inuse_bytes of assay serve
	// verdicts are the assay_verdict_cache_<name>_total counters.
	verdicts map[string]float64
	// self is the CPU time of this process: the load generator and the
	// registry.
	self time.Duration
	err  error
}

// verdictCounters are the verdict cache counters printed for each run.
var verdictCounters = []string{"hits", "misses", "shared", "stored", "uncacheable"}

func (h *harness) snapshot(ctx context.Context) snapshot {
	var s snapshot
	var err1, err2 error
	s.serve, err1 = procUsage(h.serve.Pid())
	s.plugins, s.nplugins = childUsage(h.serve.Pid())
	var v string
	if v, err2 = h.serve.Metric(ctx, "go_memstats_heap_inuse_bytes"); err2 == nil {
		_, err2 = fmt.Sscan(v, &s.heapInuse)
	}
	s.verdicts = map[string]float64{}
	for _, name := range verdictCounters {
		var v float64
		if m, err := h.serve.Metric(ctx, "assay_verdict_cache_"+name+"_total"); err == nil {
			if _, err := fmt.Sscan(m, &v); err == nil {
				s.verdicts[name] = v
			}
		}
	}
	var ru syscall.Rusage
	err3 := syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	s.err = errors.Join(err1, err2, err3)
	return s
}

// measure runs one load, prints its figures and returns the registry
// requests it caused. With mustSucceed, every key must come back
// isSuccess true. With byClass, the registry requests are listed by
// class.
func (h *harness) measure(ctx context.Context, name, what string, next next, mustSucceed, byClass bool) counts {
	before := h.snapshot(ctx)
	h.reg.reset()
	r := drive(ctx, h.serve, h.o.concurrency, next)
	c := h.reg.reset()
	after := h.snapshot(ctx)
	h.print(name, what, r, c, before, after, byClass)
	if mustSucceed {
		switch {
		case r.keys == 0:
			h.failures = append(h.failures, name+": no request was sent")
		case r.success() != r.keys:
			h.failures = append(h.failures, fmt.Sprintf("%s: %d of %d keys were not isSuccess true: %s", name, r.keys-r.success(), r.keys, outcomeSummary(r)))
		}
	}
	return c
}

// batches splits keys into requests of n keys (the last may have fewer).
func batches(keys []string, n int) [][]string {
	var out [][]string
	for len(keys) > 0 {
		k := min(n, len(keys))
		out = append(out, keys[:k])
		keys = keys[k:]
	}
	return out
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
