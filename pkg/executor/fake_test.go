package executor_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/executor"
	"github.com/assayproj/assay/pkg/report"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
)

// fakeStore is an executor.Store over an oras-go in-memory store. Every
// manifest pushed through it is tagged with its own digest as well, so
// Resolve answers tags and digests alike. Hooks added with the WithX
// builders run before the real method and can fail it, delay it or block
// it; the store records what the executor asked for.
type fakeStore struct {
	mem      *memory.Store
	pageSize int

	resolveHook   func(ctx context.Context, repository, reference string) error
	referrersHook func(ctx context.Context, subject ocispec.Descriptor) error
	fetchHook     func(ctx context.Context, desc ocispec.Descriptor) error

	mu       sync.Mutex
	resolved []string        // "repository reference" per Resolve call
	listed   []digest.Digest // subject of every Referrers call
	repos    map[string]bool // every repository named in any call
}

var _ executor.Store = (*fakeStore)(nil)
var _ executor.Fetcher = (*fakeStore)(nil)

func newFakeStore() *fakeStore {
	return &fakeStore{mem: memory.New(), repos: map[string]bool{}}
}

// WithResolve runs fn before every Resolve; a non-nil error is returned.
func (s *fakeStore) WithResolve(fn func(ctx context.Context, repository, reference string) error) *fakeStore {
	s.resolveHook = fn
	return s
}

// WithReferrers runs fn before every Referrers call; a non-nil error is
// returned before any page is delivered.
func (s *fakeStore) WithReferrers(fn func(ctx context.Context, subject ocispec.Descriptor) error) *fakeStore {
	s.referrersHook = fn
	return s
}

// WithFetch runs fn before every Fetch; a non-nil error is returned.
func (s *fakeStore) WithFetch(fn func(ctx context.Context, desc ocispec.Descriptor) error) *fakeStore {
	s.fetchHook = fn
	return s
}

// WithPageSize delivers referrers in pages of n (default: one page).
func (s *fakeStore) WithPageSize(n int) *fakeStore {
	s.pageSize = n
	return s
}

func (s *fakeStore) record(repository string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[repository] = true
}

func (s *fakeStore) Resolve(ctx context.Context, repository, reference string) (ocispec.Descriptor, error) {
	s.record(repository)
	s.mu.Lock()
	s.resolved = append(s.resolved, repository+" "+reference)
	s.mu.Unlock()
	if s.resolveHook != nil {
		if err := s.resolveHook(ctx, repository, reference); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	return s.mem.Resolve(ctx, reference) // wraps errdef.ErrNotFound
}

func (s *fakeStore) Referrers(ctx context.Context, repository string, subject ocispec.Descriptor, fn func([]ocispec.Descriptor) error) error {
	s.record(repository)
	s.mu.Lock()
	s.listed = append(s.listed, subject.Digest)
	s.mu.Unlock()
	if s.referrersHook != nil {
		if err := s.referrersHook(ctx, subject); err != nil {
			return err
		}
	}
	// Like a registry, the fake needs only the subject's digest: the
	// executor lists the referrers of a digest-pinned key before it
	// knows the subject's media type and size. A digest the store does
	// not have has no referrers.
	full, err := s.mem.Resolve(ctx, subject.Digest.String())
	if err != nil {
		return nil
	}
	preds, err := s.mem.Predecessors(ctx, full)
	if err != nil {
		return err
	}
	// The memory store answers in map order; sort for stable trees.
	slices.SortFunc(preds, func(a, b ocispec.Descriptor) int { return strings.Compare(a.Digest.String(), b.Digest.String()) })
	size := s.pageSize
	if size <= 0 {
		size = len(preds)
	}
	for page := range slices.Chunk(preds, max(size, 1)) {
		if err := fn(page); err != nil {
			return err
		}
	}
	return nil
}

func (s *fakeStore) Fetch(ctx context.Context, repository string, desc ocispec.Descriptor) ([]byte, error) {
	s.record(repository)
	if s.fetchHook != nil {
		if err := s.fetchHook(ctx, desc); err != nil {
			return nil, err
		}
	}
	return content.FetchAll(ctx, s.mem, desc)
}

// resolutions returns "repository reference" for every Resolve call.
func (s *fakeStore) resolutions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.resolved)
}

// listings returns the subjects whose referrers were listed, in order.
func (s *fakeStore) listings() []digest.Digest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.listed)
}

func (s *fakeStore) repositories() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.repos))
	for r := range s.repos {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// pushImage pushes a small image manifest tagged tag.
func (s *fakeStore) pushImage(t testing.TB, tag string) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	cfg, err := oras.PushBytes(ctx, s.mem, ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","tag":"`+tag+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	layer, err := oras.PushBytes(ctx, s.mem, ocispec.MediaTypeImageLayer, []byte("layer of "+tag))
	if err != nil {
		t.Fatal(err)
	}
	d, err := oras.PackManifest(ctx, s.mem, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{
		ConfigDescriptor:    &cfg,
		Layers:              []ocispec.Descriptor{layer},
		ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "2026-01-01T00:00:00Z"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.tag(t, d, tag)
	return d
}

// attach pushes an artifact of artifactType whose subject is subject.
// name makes otherwise identical artifacts distinct.
func (s *fakeStore) attach(t testing.TB, subject ocispec.Descriptor, artifactType, name string) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	blob, err := oras.PushBytes(ctx, s.mem, "application/octet-stream", []byte(artifactType+" "+name))
	if err != nil {
		t.Fatal(err)
	}
	d, err := oras.PackManifest(ctx, s.mem, oras.PackManifestVersion1_1, artifactType, oras.PackManifestOptions{
		Subject: &subject,
		Layers:  []ocispec.Descriptor{blob},
		ManifestAnnotations: map[string]string{
			ocispec.AnnotationCreated: "2026-01-01T00:00:00Z",
			ocispec.AnnotationTitle:   name,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if d.ArtifactType != artifactType || d.Digest == "" {
		t.Fatalf("packed %+v, want an artifact of type %s", d, artifactType)
	}
	s.tag(t, d, "")
	return d
}

func (s *fakeStore) tag(t testing.TB, d ocispec.Descriptor, tag string) {
	t.Helper()
	for _, ref := range []string{tag, d.Digest.String()} {
		if ref == "" {
			continue
		}
		if err := s.mem.Tag(context.Background(), d, ref); err != nil {
			t.Fatal(err)
		}
	}
}

// behaviour is how a fakeVerifier answers for one artifact.
type behaviour struct {
	verdict report.Verdict
	reason  report.Reason
	message string
	err     error
	panics  any  // non-nil: panic with this value
	block   bool // wait for ctx to be done, then return its error
}

// fakeVerifier answers with a configurable behaviour per artifact digest
// (default: verified) and records the jobs it ran and how many ran at
// once.
type fakeVerifier struct {
	name     string
	types    []string
	sigTypes []string
	def      behaviour
	per      map[digest.Digest]behaviour
	before   func(ctx context.Context, job executor.Job)
	after    func(job executor.Job)

	started chan digest.Digest // receives a digest when a blocking job begins to wait

	mu   sync.Mutex
	jobs []executor.Job

	inflight, maxInflight atomic.Int64
}

var (
	_ executor.Verifier       = (*fakeVerifier)(nil)
	_ executor.SignatureTyper = (*fakeVerifier)(nil)
)

func newFakeVerifier(name string, types ...string) *fakeVerifier {
	return &fakeVerifier{
		name:    name,
		types:   types,
		def:     behaviour{verdict: report.Verified},
		per:     map[digest.Digest]behaviour{},
		started: make(chan digest.Digest, 64),
	}
}

// WithSignatureTypes declares types to be signatures, as a plugin's
// metadata does. Without it the fake declares none.
func (v *fakeVerifier) WithSignatureTypes(types ...string) *fakeVerifier {
	v.sigTypes = types
	return v
}

// WithVerdict sets the answer for artifact d.
func (v *fakeVerifier) WithVerdict(d digest.Digest, verdict report.Verdict, reason report.Reason) *fakeVerifier {
	v.per[d] = behaviour{verdict: verdict, reason: reason, message: fmt.Sprintf("fake %s: %s", verdict, reason)}
	return v
}

// WithError makes every job return err instead of a result.
func (v *fakeVerifier) WithError(err error) *fakeVerifier {
	v.def = behaviour{err: err}
	return v
}

// WithErrorFor makes the job on artifact d return err.
func (v *fakeVerifier) WithErrorFor(d digest.Digest, err error) *fakeVerifier {
	v.per[d] = behaviour{err: err}
	return v
}

// WithPanic makes every job panic with p.
func (v *fakeVerifier) WithPanic(p any) *fakeVerifier {
	v.def = behaviour{panics: p}
	return v
}

// WithBlock makes every job wait until its context is done.
func (v *fakeVerifier) WithBlock() *fakeVerifier {
	v.def = behaviour{block: true}
	return v
}

// WithBefore runs fn at the start of every job, before it answers.
func (v *fakeVerifier) WithBefore(fn func(ctx context.Context, job executor.Job)) *fakeVerifier {
	v.before = fn
	return v
}

// WithAfter runs fn when a job has decided its answer.
func (v *fakeVerifier) WithAfter(fn func(job executor.Job)) *fakeVerifier {
	v.after = fn
	return v
}

func (v *fakeVerifier) Name() string { return v.name }
func (v *fakeVerifier) Type() string { return "fake" }

func (v *fakeVerifier) SignatureTypes() []string { return v.sigTypes }
func (v *fakeVerifier) Handles(artifactType string) bool {
	return slices.Contains(v.types, artifactType)
}

func (v *fakeVerifier) Verify(ctx context.Context, job executor.Job) (report.Result, error) {
	n := v.inflight.Add(1)
	defer v.inflight.Add(-1)
	for m := v.maxInflight.Load(); n > m && !v.maxInflight.CompareAndSwap(m, n); m = v.maxInflight.Load() {
	}
	v.mu.Lock()
	v.jobs = append(v.jobs, job)
	v.mu.Unlock()
	if v.after != nil {
		defer v.after(job)
	}
	if v.before != nil {
		v.before(ctx, job)
	}

	// Read the artifact through the host's store, as a real verifier does.
	if _, err := job.Fetcher.Fetch(ctx, job.Repository, job.Artifact); err != nil {
		return report.Result{}, err
	}
	b, ok := v.per[job.Artifact.Digest]
	if !ok {
		b = v.def
	}
	switch {
	case b.panics != nil:
		panic(b.panics)
	case b.block:
		v.started <- job.Artifact.Digest
		<-ctx.Done()
		return report.Result{}, ctx.Err()
	case b.err != nil:
		return report.Result{}, b.err
	}
	// The executor owns Verifier and Type; a verifier's own are overwritten.
	return report.Result{Verifier: "spoofed", Type: "spoofed", Verdict: b.verdict, Reason: b.reason, Message: b.message}, nil
}

func (v *fakeVerifier) ran() []executor.Job {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.jobs)
}

// gate holds the callers that pass through it until the test releases
// them one at a time, so a test can fill a concurrency limit and see
// whether anyone else gets in, without sleeping.
type gate struct {
	total                 int64
	entered               chan struct{}
	release               chan struct{}
	callers, extra        atomic.Int64
	inflight, maxInflight atomic.Int64
}

func newGate(total int) *gate {
	return &gate{total: int64(total), entered: make(chan struct{}, total), release: make(chan struct{})}
}

// pass is called by the work under test. Callers beyond the expected
// total are counted in extra and pass straight through, so a test fails
// rather than hangs when more work arrives than it expects.
func (g *gate) pass(ctx context.Context) {
	if g.callers.Add(1) > g.total {
		g.extra.Add(1)
		return
	}
	n := g.inflight.Add(1)
	defer g.inflight.Add(-1)
	for m := g.maxInflight.Load(); n > m && !g.maxInflight.CompareAndSwap(m, n); m = g.maxInflight.Load() {
	}
	g.entered <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
	}
}

// drive lets total callers through a limit of limit: it waits until limit
// are inside, then swaps one out for one in until all have entered, then
// releases the rest. It fails the test if the callers stop arriving.
func (g *gate) drive(t *testing.T, total, limit int) {
	t.Helper()
	wait := func() {
		select {
		case <-g.entered:
		case <-t.Context().Done():
		}
	}
	for range min(total, limit) {
		wait()
	}
	release := func() {
		select {
		case g.release <- struct{}{}:
		case <-t.Context().Done():
		}
	}
	for range total - min(total, limit) {
		release()
		wait()
	}
	for range min(total, limit) {
		release()
	}
}

// expiringCtx is a context whose deadline passes when the test calls
// expire, never on its own, so deadline tests need no wall clock.
type expiringCtx struct {
	context.Context
	done chan struct{}
	once sync.Once
}

func newExpiringCtx() *expiringCtx {
	return &expiringCtx{Context: context.Background(), done: make(chan struct{})}
}

func (c *expiringCtx) expire() { c.once.Do(func() { close(c.done) }) }

func (c *expiringCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *expiringCtx) Done() <-chan struct{}       { return c.done }
func (c *expiringCtx) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}
