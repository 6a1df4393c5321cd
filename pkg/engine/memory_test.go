package engine_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/catalog"
	"github.com/assayproj/assay/pkg/engine"
	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/report"
	"github.com/assayproj/assay/pkg/servetest"
	"github.com/assayproj/assay/pkg/store"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// hostileSignatures is a registry front-end that attaches signatures
// with big layers to images of the real registry behind it: it answers
// the referrers listing of a subject it was told about, the signature
// manifests, and streams their layers (generated, never held in memory),
// counting the layer requests.
type hostileSignatures struct {
	mu        sync.Mutex
	referrers map[digest.Digest][]byte // subject → index
	manifests map[digest.Digest][]byte
	blobs     map[digest.Digest]patternBlob
	blobGets  atomic.Int64
}

func newHostileSignatures() *hostileSignatures {
	return &hostileSignatures{
		referrers: map[digest.Digest][]byte{},
		manifests: map[digest.Digest][]byte{},
		blobs:     map[digest.Digest]patternBlob{},
	}
}

// patternBlob is size bytes of a pattern of its own seed.
type patternBlob struct {
	seed int
	size int64
}

func (p patternBlob) reader() io.Reader {
	block := make([]byte, 64<<10)
	for i := range block {
		block[i] = byte(p.seed*131 + i*7 + i>>9)
	}
	copy(block, strconv.Itoa(p.seed))
	return io.LimitReader(&repeatReader{block: block}, p.size)
}

type repeatReader struct {
	block []byte
	off   int
}

func (r *repeatReader) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		c := copy(b[n:], r.block[r.off:])
		n += c
		r.off = (r.off + c) % len(r.block)
	}
	return n, nil
}

// attach makes n signatures of subject, each with layers layers of size
// bytes, and returns them.
func (h *hostileSignatures) attach(t *testing.T, subject ocispec.Descriptor, n, layers int, size int64) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	var index ocispec.Index
	index.SchemaVersion, index.MediaType = 2, ocispec.MediaTypeImageIndex
	for range n {
		m := ocispec.Manifest{
			MediaType:    ocispec.MediaTypeImageManifest,
			ArtifactType: servetest.NotationSignature,
			Config:       ocispec.DescriptorEmptyJSON,
			Subject:      &subject,
		}
		m.SchemaVersion = 2
		for range layers {
			p := patternBlob{seed: len(h.blobs), size: size}
			d := sha256.New()
			if _, err := io.Copy(d, p.reader()); err != nil {
				t.Fatal(err)
			}
			dg := digest.NewDigest(digest.SHA256, d)
			h.blobs[dg] = p
			m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: "application/jose+json", Digest: dg, Size: size})
		}
		raw, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		dg := digest.FromBytes(raw)
		h.manifests[dg] = raw
		index.Manifests = append(index.Manifests, ocispec.Descriptor{
			MediaType: ocispec.MediaTypeImageManifest, Digest: dg, Size: int64(len(raw)), ArtifactType: servetest.NotationSignature,
		})
	}
	raw, err := json.Marshal(index)
	if err != nil {
		t.Fatal(err)
	}
	h.referrers[subject.Digest] = raw
}

func (h *hostileSignatures) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(r.URL.Path, "/")
		if len(parts) < 3 {
			next.ServeHTTP(w, r)
			return
		}
		kind, dg := parts[len(parts)-2], digest.Digest(parts[len(parts)-1])
		h.mu.Lock()
		index, isSubject := h.referrers[dg]
		manifest, isManifest := h.manifests[dg]
		blob, isBlob := h.blobs[dg]
		h.mu.Unlock()
		switch {
		case kind == "referrers" && isSubject:
			w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
			_, _ = w.Write(index)
		case kind == "manifests" && isManifest:
			w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
			w.Header().Set("Docker-Content-Digest", dg.String())
			w.Header().Set("Content-Length", strconv.Itoa(len(manifest)))
			if r.Method != http.MethodHead {
				_, _ = w.Write(manifest)
			}
		case kind == "blobs" && isBlob:
			h.blobGets.Add(1)
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Docker-Content-Digest", dg.String())
			w.Header().Set("Content-Length", strconv.FormatInt(blob.size, 10))
			if r.Method != http.MethodHead {
				_, _ = io.Copy(w, blob.reader())
			}
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// heapPeak samples the heap's object bytes (live and not yet collected)
// until stop is called, which returns the highest sample above the first.
func heapPeak() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var peak uint64
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		return peak - min(peak, base)
	}
}

// memoryRuntime is a runtime with a memory budget of budget bytes and no
// content cache, and the notation configuration for host with
// signature layers allowed up to typeLimit bytes.
func memoryRuntime(t *testing.T, budget, typeLimit int64, host string, repositories ...string) *engine.Engine {
	t.Helper()
	e, _ := memoryRuntimeOn(t, budget, typeLimit, host, repositories...)
	return e
}

// memoryRuntimeOn is memoryRuntime, also returning the Stack.
func memoryRuntimeOn(t *testing.T, budget, typeLimit int64, host string, repositories ...string) (*engine.Engine, *store.Stack) {
	t.Helper()
	stack, err := store.NewStack(store.StackOptions{MemoryBudget: budget, CacheBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := engine.New(engine.Options{Stack: stack, PluginDir: pluginDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	ca := notationtest.MustCA(t, notationtest.CAOptions{})
	params := notationtest.MustJSON(t, notationtest.NewParams(repositories[0], ca, nil))
	objs, err := catalog.Decode("test", []byte(servetest.NotationConfig([]string{host}, params, "")))
	if err != nil {
		t.Fatal(err)
	}
	if typeLimit > 0 {
		objs.Stores[0].Spec.Limits.MaxBytesPerArtifactType = map[string]int64{servetest.NotationSignature: typeLimit}
	}
	if err := objs.Validate("test"); err != nil {
		t.Fatal(err)
	}
	e, err := rt.Load(context.Background(), objs, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	return e, stack
}

// results are the results of every artifact of reps.
func results(reps ...*report.Report) []report.Result {
	var out []report.Result
	for _, rep := range reps {
		for _, a := range rep.Artifacts {
			out = append(out, a.Results...)
		}
	}
	return out
}

// Heap bound, above the heap before the verifications: the budget, plus
// the copy of each reserved byte made to encode it for the plugin and
// the transient copy of a fetch (the store reads into a buffer of its own
// and hands out a copy), plus a fixed overhead for everything else.
const memoryOverhead = 64 << 20

func heapBound(budget int64) uint64 { return uint64(3*budget + memoryOverhead) }

// TestMemoryBudgetBoundsTheHeap verifies 64 signatures of 30 MiB on one
// image, and 16 images with one such signature each at once, with a
// 64 MiB budget: every signature reaches the plugin, and the heap grows
// by no more than a bound on bytes set by the budget. Without the budget
// the same runs grow the heap by about 660 MiB and 1 GiB: the executor
// runs 8 jobs per image at once, and every image at once.
func TestMemoryBudgetBoundsTheHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 2.4 GB of signatures")
	}
	const budget, size = 64 << 20, 30 << 20
	front := newHostileSignatures()
	srv := registrytest.NewOlaregBehind(t, front.wrap)

	cases := []struct {
		name       string
		images     int
		signatures int
	}{
		{"64 signatures on one image", 1, 64},
		{"16 images with one signature each", 16, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var refs, repos []string
			for i := range tc.images {
				path := fmt.Sprintf("mem/%d/app%d", tc.images, i)
				subject := registrytest.PushImage(t, srv.Repository(t, path), "v1")
				front.attach(t, subject, tc.signatures, 1, size)
				repos = append(repos, srv.RepositoryName(path))
				refs = append(refs, srv.RepositoryName(path)+"@"+subject.Digest.String())
			}
			e := memoryRuntime(t, budget, size+1<<20, srv.Host(), repos...)
			front.blobGets.Store(0)

			// The collector is asked to keep the heap well within the
			// bound, so that what remains above it is live, not garbage.
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			limit := debug.SetMemoryLimit(int64(ms.Sys) + 2*budget)
			defer debug.SetMemoryLimit(limit)
			stop := heapPeak()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			reps := make([]*report.Report, len(refs))
			var wg sync.WaitGroup
			for i, ref := range refs {
				wg.Go(func() {
					rep, err := e.Verify(ctx, ref)
					if err != nil {
						t.Errorf("verify %s: %v", ref, err)
						return
					}
					reps[i] = rep
				})
			}
			wg.Wait()
			peak := stop()
			if t.Failed() {
				return
			}
			t.Logf("peak heap growth %.1f MiB (bound %.1f MiB) for %d signatures of %d MiB, %d layer requests",
				float64(peak)/(1<<20), float64(heapBound(budget))/(1<<20), tc.images*tc.signatures, size>>20, front.blobGets.Load())
			res := results(reps...)
			if len(res) != tc.images*tc.signatures {
				t.Fatalf("%d results, want one per signature (%d)", len(res), tc.images*tc.signatures)
			}
			for _, r := range res {
				// The layers are not envelopes: the plugin refuses them.
				// What matters is that each reached it.
				if r.Reason == report.ReasonDeadlineExceeded || r.Reason == report.ReasonLimitExceeded ||
					r.Reason == report.ReasonRegistryError || r.Reason == report.ReasonPluginError {
					t.Errorf("result %s: %s (want every signature handed to the plugin)", r.Reason, r.Message)
				}
			}
			if got := front.blobGets.Load(); got != int64(len(res)) {
				t.Errorf("%d layer requests, want %d", got, len(res))
			}
			if peak > heapBound(budget) {
				t.Errorf("peak heap growth %d bytes, more than %d (3 × the %d budget + %d)", peak, heapBound(budget), budget, memoryOverhead)
			}
		})
	}
}

// verifyOne verifies ref with e within timeout and returns its results.
func verifyOne(t *testing.T, e *engine.Engine, ref string, timeout time.Duration) []report.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rep, err := e.Verify(ctx, ref)
	if err != nil {
		t.Fatalf("verify %s: %v", ref, err)
	}
	return results(rep)
}

// A signature layer advertising 30 MiB is refused by its descriptor,
// under the default limit of the plugin's signature type, before any
// byte of it is asked for; and an artifact whose layers add up to more
// than one plugin request may carry is refused the same way, as a limit,
// not as a plugin failure.
func TestSizeLimitsRefuseByDescriptor(t *testing.T) {
	front := newHostileSignatures()
	srv := registrytest.NewOlaregBehind(t, front.wrap)
	for _, tc := range []struct {
		name      string
		layers    int
		size      int64
		typeLimit int64
		want      string
	}{
		{
			name: "30 MiB signature layer", layers: 1, size: 30 << 20,
			want: `of artifact type "application/vnd.cncf.notary.signature" has 31457280 bytes, more than the limit of 262144 for that type (the default for the signature type of plugin "notation"; raise it with spec.limits.maxBytesPerArtifactType of the Store)`,
		},
		{
			name: "16 layers of 32 MiB", layers: 16, size: 32 << 20, typeLimit: 32 << 20,
			want: "more than the 66060288 one plugin request may carry",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "limits/" + strings.ToLower(strings.ReplaceAll(tc.name, " ", "-"))
			subject := registrytest.PushImage(t, srv.Repository(t, path), "v1")
			front.attach(t, subject, 1, tc.layers, tc.size)
			repo := srv.RepositoryName(path)
			e := memoryRuntime(t, 64<<20, tc.typeLimit, srv.Host(), repo)
			front.blobGets.Store(0)
			res := verifyOne(t, e, repo+"@"+subject.Digest.String(), time.Minute)
			if len(res) != 1 {
				t.Fatalf("results %+v: want one", res)
			}
			if r := res[0]; r.Verdict != report.Inconclusive || r.Reason != report.ReasonLimitExceeded || !strings.Contains(r.Message, tc.want) {
				t.Errorf("result %s %s: %s\nwant inconclusive LIMIT_EXCEEDED saying %q", r.Verdict, r.Reason, r.Message, tc.want)
			}
			if n := front.blobGets.Load(); n != 0 {
				t.Errorf("%d layer requests, want none: the limit is checked on the descriptor", n)
			}
		})
	}
}

// A job that cannot get its bytes from the memory budget waits for them
// until its deadline and then says it waited for the budget, having read
// none of them. Here the test itself holds part of the budget, as another
// verification would, for the whole run (two jobs racing for it would
// depend on which deadline fires first).
func TestAJobWaitingForTheMemoryBudgetAnswersDeadlineExceeded(t *testing.T) {
	front := newHostileSignatures()
	srv := registrytest.NewOlaregBehind(t, front.wrap)
	subject := registrytest.PushImage(t, srv.Repository(t, "budget/app"), "v1")
	front.attach(t, subject, 1, 1, 30<<20)
	repo := srv.RepositoryName("budget/app")
	e, stack := memoryRuntimeOn(t, 40<<20, 31<<20, srv.Host(), repo)
	release, err := stack.Memory().Acquire(context.Background(), 20<<20, "another verification")
	if err != nil {
		t.Fatal(err)
	}
	defer release()

	res := verifyOne(t, e, repo+"@"+subject.Digest.String(), 2*time.Second)
	if len(res) != 1 {
		t.Fatalf("results %+v: want one", res)
	}
	r := res[0]
	if r.Verdict != report.Inconclusive || r.Reason != report.ReasonDeadlineExceeded ||
		!strings.Contains(r.Message, "MiB of the 40 MiB memory budget (memory-budget)") {
		t.Errorf("result %s %s: %s; want inconclusive DEADLINE_EXCEEDED naming the memory budget", r.Verdict, r.Reason, r.Message)
	}
	if n := front.blobGets.Load(); n != 0 {
		t.Errorf("%d layer requests, want none: the job without budget reads nothing", n)
	}
}
