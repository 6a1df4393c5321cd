// Command load is Assay's load harness: it measures `assay serve` the way
// Gatekeeper uses it, on one machine, side by side in one run (design
// §7, docs/performance.md).
//
// It starts an olareg registry in-process behind a middleware that
// counts every registry request by class and by repository, and, with
// -registry-latency, holds each for that long. It pushes -images
// distinct images, each to a repository of its own and each signed with
// one Notary Project signature (and one unsigned image), writes a
// configuration trusting the signer and TLS material, and starts
// `assay serve` (built beforehand: -assay, -plugin-dir), printing its
// idle memory and that of each plugin process. It then drives the
// provider over HTTPS with mutual TLS from -concurrency workers, with
// digest keys (tag keys with -tags), with a bounded load that stops by
// itself:
//
//   - warm: the same signed image over and over (verdict cache hits),
//     after one priming request, for -duration or -requests requests;
//   - cold: each of the -images images exactly once, nothing cached;
//   - throttled: -throttle-images further images once each while the
//     registry answers -throttle-rate of its requests with 429 and
//     Retry-After: 1 (skipped when either is 0);
//   - with -uncached, the cold images once more through a second
//     assay serve with the verdict cache off, for the bytes per cached
//     verdict (the difference of the two live heaps).
//
// For each run it prints requests/s, client-side latency percentiles,
// the answers by outcome, registry requests per verification (by class
// for cold, beside the design's floor, with the sequential round trips
// counted per repository), and the memory and CPU time of the assay
// serve process and its plugins before and after; then a summary.
//
// It exits non-zero when an answer of the warm or cold runs is not
// isSuccess true, or the unsigned image is not refused with
// NO_SIGNATURE: a regression of correctness. It never fails on a time.
//
// Run it with `make load` (or `make bench`, after the Go benchmarks).
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/servetest"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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
	// registryLatency is how long the registry holds every request of
	// the runs before serving it (not while pushing).
	registryLatency time.Duration
	// tags sends tag references instead of digest references.
	tags bool
	// serveArgs are further flags for every assay serve started.
	serveArgs string
	// heapProfiles, if set, is a directory to write the heap profiles
	// of assay serve into, after each cold run.
	heapProfiles string
	// uncached runs the cold images again through a second assay serve
	// with the verdict cache off, for the bytes per cached verdict.
	uncached bool
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
	flag.DurationVar(&o.registryLatency, "registry-latency", 0, "hold every registry request of the runs this long before serving it (0: none)")
	flag.BoolVar(&o.tags, "tags", false, "send tag references (each cold verification then resolves its tag) instead of digest references")
	flag.StringVar(&o.serveArgs, "serve-args", "", "further flags for assay serve, separated by spaces, e.g. \"--cache-bytes 16777216\"")
	flag.StringVar(&o.heapProfiles, "heap-profiles", "", "directory to write assay serve's heap profile into after each cold run (cached.pb.gz, uncached.pb.gz), for go tool pprof")
	flag.BoolVar(&o.uncached, "uncached", true, "verify the cold images once more through a second assay serve with the verdict cache off, for the bytes per cached verdict")
	hang := flag.Int("hang", 0, "if > 0, only the hang run: this many concurrent one-key requests to an in-process provider (a discover-only configuration) for images of a registry that never answers, with a Provider timeout of -verify-timeout (0: 1s); it prints the answers by kind and the slowest answer, and fails when an answer is neither DEADLINE_EXCEEDED nor the saturation systemError")
	flag.Parse()
	if *hang > 0 {
		timeout := cmp.Or(o.verifyTimeout, time.Second)
		res, err := hangRun(context.Background(), *hang, timeout)
		if err != nil {
			fmt.Fprintln(os.Stderr, "load failed:", err)
			os.Exit(1)
		}
		fmt.Printf("hang: %d requests, Provider timeout %s: %d DEADLINE_EXCEEDED, %d saturated, %d other; slowest answer %s\n",
			*hang, timeout, res.deadline, res.saturated, len(res.other), res.slowest)
		if len(res.other) > 0 {
			fmt.Fprintln(os.Stderr, "load failed: an answer is neither DEADLINE_EXCEEDED nor saturation:", res.other[0])
			os.Exit(1)
		}
		return
	}
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		flag.Usage()
		os.Exit(2)
	}
	// A bound on the whole run, not a measurement: generous for a slow
	// machine and a large -images.
	perImage := 20*time.Millisecond + 4*o.registryLatency
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute+o.duration+time.Duration(2*o.images+o.throttleImages)*perImage)
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
	if o.verifyTimeout < 0 || o.registryLatency < 0 {
		errs = append(errs, errors.New("-verify-timeout and -registry-latency must not be negative"))
	}
	return errors.Join(errs...)
}

// harness is one run of the load harness.
type harness struct {
	o     options
	out   io.Writer
	reg   *registry
	host  string // the registry's host:port
	serve *servetest.Server
	// dir holds the configuration and TLS material of assay serve.
	dir      string
	ca       *notationtest.CA
	material *servetest.TLS
	// failures are the correctness problems found; any makes the
	// harness exit non-zero.
	failures []string
}

// image is one pushed image. Each has a repository of its own, so the
// registry requests of its verification are those to its repository.
type image struct {
	repo        string // the repository's path, e.g. load/cold-0001
	tag, digest string // its references, host/repo:tag and host/repo@digest
}

// key is the provider key for im: its digest reference, or its tag
// reference with -tags.
func (h *harness) key(im image) string {
	if h.o.tags {
		return im.tag
	}
	return im.digest
}

func (h *harness) keys(images []image) []string {
	out := make([]string, len(images))
	for i, im := range images {
		out[i] = h.key(im)
	}
	return out
}

func run(ctx context.Context, o options, out io.Writer) error {
	h := &harness{o: o, out: out, reg: newRegistry()}
	srv, err := registrytest.StartOlaregBehind(h.reg.wrap)
	if err != nil {
		return err
	}
	defer srv.Close()
	h.host = srv.Host()

	if h.ca, err = notationtest.NewCA(notationtest.CAOptions{}); err != nil {
		return err
	}
	leaf, err := h.ca.IssueLeaf(notationtest.LeafOptions{})
	if err != nil {
		return err
	}
	start := time.Now()
	var signing atomic.Int64 // nanoseconds spent signing, summed over workers
	warm, err := h.pushSigned(ctx, leaf, "warm", o.keysPerRequest, &signing)
	if err != nil {
		return err
	}
	cold, err := h.pushSigned(ctx, leaf, "cold", o.images, &signing)
	if err != nil {
		return err
	}
	if o.throttleRate == 0 {
		o.throttleImages = 0
	}
	throttled, err := h.pushSigned(ctx, leaf, "throttled", o.throttleImages, &signing)
	if err != nil {
		return err
	}
	unsigned, err := h.push(ctx, "unsigned")
	if err != nil {
		return err
	}
	h.reg.setKind(unsigned.desc.Digest.String(), kindImage)
	pushed := len(warm) + len(cold) + len(throttled)
	elapsed := time.Since(start)
	fmt.Fprintf(out, "== registry: olareg (in-process, OCI 1.1 referrers API) at %s behind a counting middleware\n", h.host)
	fmt.Fprintf(out, "== pushed %d signed images (one Notary Project JWS signature each, one repository each, load/<run>-<i>) and 1 unsigned in %s = %s per image, %d at a time; signing took %s per image\n",
		pushed, elapsed.Round(time.Millisecond), ms(elapsed/time.Duration(pushed+1)), pushWorkers(),
		ms(time.Duration(signing.Load())/time.Duration(max(pushed, 1))))

	if h.dir, err = os.MkdirTemp("", "assay-load-"); err != nil {
		return err
	}
	defer os.RemoveAll(h.dir)
	if h.material, err = servetest.NewTLS(h.dir); err != nil {
		return err
	}
	if h.serve, err = h.startServe(ctx, "assay.yaml"); err != nil {
		return err
	}
	defer h.serve.Stop()
	keyForm := "digest references"
	if o.tags {
		keyForm = "tag references"
	}
	fmt.Fprintf(out, "== assay serve (pid %d) at %s, %d workers, %d key(s) per request (%s), HTTP/1.1 keep-alive with mutual TLS 1.3\n",
		h.serve.Pid(), h.serve.URL, o.concurrency, o.keysPerRequest, keyForm)
	h.printIdle(ctx, "assay serve")

	if o.registryLatency > 0 {
		h.reg.setLatency(o.registryLatency)
		fmt.Fprintf(out, "== the registry now holds every request %s before serving it\n", o.registryLatency)
	}
	// Correctness first: the warm images pass (this primes the verdict
	// cache) and the unsigned one is refused.
	h.check(ctx, "priming", h.keys(warm), outcomeSuccess)
	h.check(ctx, "unsigned", []string{h.key(unsigned.image)}, "isSuccess=false NO_SIGNATURE")
	h.reg.reset()

	what := "the same signed image"
	if len(warm) > 1 {
		what = fmt.Sprintf("the same %d signed images", len(warm))
	}
	bound := "for " + o.duration.String()
	if o.requests > 0 {
		bound = fmt.Sprintf("%d requests", o.requests)
	}
	warmRun := h.measure(ctx, "warm", fmt.Sprintf("%s over and over, %s (verdict cache hits)", what, bound),
		repeat(h.keys(warm), o.requests, o.duration), true, false)
	traced := cold[len(cold)/2]
	h.reg.traceRepository(traced.repo)
	coldRun := h.measure(ctx, "cold", fmt.Sprintf("each of %d distinct signed images once (nothing cached)", len(cold)),
		fixed(batches(h.keys(cold), o.keysPerRequest)), true, true)
	h.floor(coldRun)
	h.printTimeline(h.key(traced))
	h.reg.traceRepository("")
	cachedHeap, cachedErr := liveHeap(ctx, h.serve)
	h.saveHeapProfile(ctx, h.serve, "cached.pb.gz")
	if o.throttleRate > 0 && len(throttled) > 0 {
		h.reg.throttle(o.throttleRate)
		h.measure(ctx, "throttled", fmt.Sprintf("each of %d further signed images once while the registry answers %.0f%% of its requests with 429 and Retry-After: 1",
			len(throttled), 100*o.throttleRate), fixed(batches(h.keys(throttled), o.keysPerRequest)), false, true)
		h.reg.throttle(0)
	}
	end := h.snapshot(ctx)
	h.printProcesses("end", "assay serve", end)

	s := summary{images: len(cold), warm: warmRun, cold: coldRun}
	if o.uncached {
		s.perVerdict, s.perVerdictHow = h.perVerdict(ctx, cold, coldRun, cachedHeap, cachedErr)
	}
	s.end = end
	h.printSummary(s)

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

// perVerdict starts a second assay serve with the verdict cache off,
// verifies the cold images there once, and returns the bytes per cached
// verdict: the difference between the live heaps (after a forced GC) of
// the two processes after their cold runs, divided by the verdicts the
// first one stored. Both hold the same content and listings in their
// store caches; only the verdicts differ.
func (h *harness) perVerdict(ctx context.Context, cold []image, coldRun runFigures, cached heap, cachedErr error) (float64, string) {
	if cachedErr != nil {
		return 0, "unavailable: " + cachedErr.Error()
	}
	uncached, err := h.startServe(ctx, "assay-uncached.yaml", "--verdict-cache-bytes", "0")
	if err != nil {
		return 0, "unavailable: " + err.Error()
	}
	defer uncached.Stop()
	fmt.Fprintf(h.out, "\n== a second assay serve (pid %d) with the verdict cache off (--verdict-cache-bytes 0), for the bytes per cached verdict\n", uncached.Pid())
	first := h.serve
	h.serve = uncached // measure and snapshot read h.serve
	h.measure(ctx, "cold, verdict cache off", fmt.Sprintf("each of the %d cold images once more", len(cold)),
		fixed(batches(h.keys(cold), h.o.keysPerRequest)), true, true)
	h.serve = first
	other, err := liveHeap(ctx, uncached)
	if err != nil {
		return 0, "unavailable: " + err.Error()
	}
	h.saveHeapProfile(ctx, uncached, "uncached.pb.gz")
	stored := coldRun.after.verdicts["stored"]
	if stored == 0 {
		return 0, "unavailable: no verdict was stored"
	}
	per := (cached.alloc - other.alloc) / stored
	how := fmt.Sprintf("live heap after a forced GC: %s with the verdict cache (%.0f verdicts stored) − %s without = %s",
		mib(int64(cached.alloc)), stored, mib(int64(other.alloc)), kib(cached.alloc-other.alloc))
	fmt.Fprintf(h.out, "  per verdict  %.0f B per cached verdict (%s)\n", per, how)
	return per, how
}

// saveHeapProfile writes srv's heap profile to file in -heap-profiles,
// if set, and says where; a failure is printed, not fatal.
func (h *harness) saveHeapProfile(ctx context.Context, srv *servetest.Server, file string) {
	if h.o.heapProfiles == "" {
		return
	}
	path := filepath.Join(h.o.heapProfiles, file)
	err := func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.HealthURL+"/debug/pprof/heap?gc=1", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("heap profile: %s", resp.Status)
		}
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, resp.Body); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}()
	if err != nil {
		fmt.Fprintf(h.out, "  heap profile %s: %v\n", path, err)
		return
	}
	fmt.Fprintf(h.out, "  heap profile written to %s (go tool pprof -sample_index=inuse_space %s %s)\n", path, h.o.assay, path)
}

// pushWorkers is the number of images pushed and signed at once.
func pushWorkers() int { return max(4, 2*runtime.NumCPU()) }

// pushed is an image and its descriptor.
type pushed struct {
	image
	desc ocispec.Descriptor
}

// push pushes an image to repository load/<name>, tagged name.
func (h *harness) push(ctx context.Context, name string) (pushed, error) {
	repo := "load/" + name
	target, err := remote.NewRepository(h.host + "/" + repo)
	if err != nil {
		return pushed{}, err
	}
	target.PlainHTTP = true
	desc, err := notationtest.PushImage(ctx, target, name, name)
	if err != nil {
		return pushed{}, err
	}
	ref := h.host + "/" + repo
	return pushed{image: image{repo: repo, tag: ref + ":" + name, digest: ref + "@" + desc.Digest.String()}, desc: desc}, nil
}

// pushSigned pushes n images, each to its own repository
// load/<prefix>-<i> with tag <prefix>-<i>, and signs each. It adds the
// time spent signing to signing.
func (h *harness) pushSigned(ctx context.Context, leaf *notationtest.Leaf, prefix string, n int, signing *atomic.Int64) ([]image, error) {
	images := make([]image, n)
	var g errgroup.Group
	g.SetLimit(pushWorkers())
	for i := range n {
		g.Go(func() error {
			p, err := h.push(ctx, fmt.Sprintf("%s-%04d", prefix, i))
			if err != nil {
				return err
			}
			t := time.Now()
			sig, err := notationtest.Sign(ctx, leaf, p.desc, notationtest.SignOptions{})
			if err != nil {
				return err
			}
			signing.Add(int64(time.Since(t)))
			target, err := remote.NewRepository(h.host + "/" + p.repo)
			if err != nil {
				return err
			}
			target.PlainHTTP = true
			manifest, err := notationtest.PushSignature(ctx, target, p.desc, sig)
			if err != nil {
				return err
			}
			h.reg.setKind(p.desc.Digest.String(), kindImage)
			h.reg.setKind(manifest.Digest.String(), kindSignature)
			h.reg.setKind(digest.FromBytes(sig.Envelope).String(), kindEnvelope)
			images[i] = p.image
			return nil
		})
	}
	return images, g.Wait()
}

// startServe writes a configuration trusting the harness's CA for every
// repository into file (in h.dir) and starts assay serve with it, with
// --pprof (for the forced GC of liveHeap) and args, and with a client
// for the load.
func (h *harness) startServe(ctx context.Context, file string, args ...string) (*servetest.Server, error) {
	params, err := notationtest.NewParams("*", h.ca, nil).JSON()
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(h.dir, file)
	if err := os.WriteFile(cfg, []byte(servetest.NotationConfig([]string{h.host}, params, "")), 0o600); err != nil {
		return nil, err
	}
	args = append([]string{"--pprof"}, args...)
	if h.o.verifyTimeout > 0 {
		args = append(args, "--verify-timeout", h.o.verifyTimeout.String())
	}
	args = append(args, strings.Fields(h.o.serveArgs)...)
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	srv, err := servetest.Start(startCtx, servetest.Options{
		Assay: h.o.assay, PluginDir: h.o.pluginDir, Config: cfg, TLS: h.material, Args: args,
	})
	if err != nil {
		return nil, err
	}
	// servetest's client keeps 2 idle connections (net/http's default);
	// keep one per worker so the runs measure Assay, not TLS handshakes.
	tlsConfig, err := h.material.ClientConfig()
	if err != nil {
		srv.Stop()
		return nil, err
	}
	srv.Client = &http.Client{
		Transport: &http.Transport{TLSClientConfig: tlsConfig, MaxIdleConns: h.o.concurrency, MaxIdleConnsPerHost: h.o.concurrency},
		Timeout:   30 * time.Second,
	}
	return srv, nil
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
	children       []child // the plugin processes, by pid
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
	s.children = children(h.serve.Pid())
	for _, c := range s.children {
		s.plugins.rss += c.rss
		s.plugins.cpu += c.cpu
	}
	s.nplugins = len(s.children)
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

// runFigures are what one run measured.
type runFigures struct {
	r             *result
	c             counts
	before, after snapshot
}

// measure runs one load, prints its figures and returns them. With
// mustSucceed, every key must come back isSuccess true. With byClass,
// the registry requests are listed by class.
func (h *harness) measure(ctx context.Context, name, what string, next next, mustSucceed, byClass bool) runFigures {
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
	return runFigures{r: r, c: c, before: before, after: after}
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
