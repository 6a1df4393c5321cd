package executor_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/executor"
	"github.com/assayproj/assay/pkg/report"
)

// mapCache is a VerdictCache in a map that records the TTLs it was given
// and can be made to fail.
type mapCache struct {
	mu   sync.Mutex
	data map[string][]byte
	ttls map[string]time.Duration
	fail error
}

var _ executor.VerdictCache = (*mapCache)(nil)

func newMapCache() *mapCache {
	return &mapCache{data: map[string][]byte{}, ttls: map[string]time.Duration{}}
}

func (c *mapCache) Get(_ context.Context, key string) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return nil, false, c.fail
	}
	v, ok := c.data[key]
	return v, ok, nil
}

func (c *mapCache) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return c.fail
	}
	c.data[key], c.ttls[key] = value, ttl
	return nil
}

func (c *mapCache) onlyTTL(t *testing.T) time.Duration {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ttls) != 1 {
		t.Fatalf("cache holds %d verdicts, want 1", len(c.ttls))
	}
	for _, ttl := range c.ttls {
		return ttl
	}
	return 0
}

func TestVerdictCache(t *testing.T) {
	signedPolicy := policy(executor.Rule{ArtifactType: notary, Required: true})
	tests := map[string]struct {
		verdict     report.Verdict
		reason      report.Reason
		err         error // the verifier's error (inconclusive)
		wantStored  bool
		wantTTL     time.Duration
		wantSuccess bool
	}{
		"a passing verdict is cached for the verdict TTL": {
			verdict: report.Verified, wantStored: true, wantTTL: 7 * time.Minute, wantSuccess: true,
		},
		"a failing verdict is cached for the failure TTL": {
			verdict: report.Failed, reason: report.ReasonSignatureUntrusted, wantStored: true, wantTTL: 11 * time.Second,
		},
		"a plugin error is transient and not cached": {
			err: errors.New("plugin crashed"),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := newFakeStore()
			img := st.pushImage(t, "v1")
			sig := st.attach(t, img, notary, "sig")
			v := newFakeVerifier("notation", notary)
			if tc.err != nil {
				v.WithError(tc.err)
			} else {
				v.WithVerdict(sig.Digest, tc.verdict, tc.reason)
			}
			cache := newMapCache()
			e := newExecutor(t, st, executor.Options{
				Verifiers: []executor.Verifier{v}, Policy: signedPolicy,
				Verdicts: cache, ConfigID: "cfg-a", VerdictTTL: 7 * time.Minute, FailureTTL: 11 * time.Second,
			})
			first, err := e.Verify(context.Background(), ref)
			if err != nil {
				t.Fatal(err)
			}
			second, err := e.Verify(context.Background(), repo+"@"+img.Digest.String())
			if err != nil {
				t.Fatal(err)
			}
			if first.IsSuccess != tc.wantSuccess || second.IsSuccess != tc.wantSuccess {
				t.Fatalf("isSuccess = %v then %v, want %v", first.IsSuccess, second.IsSuccess, tc.wantSuccess)
			}
			stats := e.CacheStats()
			jobs := len(v.ran())
			if tc.wantStored {
				if got := cache.onlyTTL(t); got != tc.wantTTL {
					t.Errorf("TTL = %s, want %s", got, tc.wantTTL)
				}
				if jobs != 1 || stats.Hits != 1 || stats.Stored != 1 {
					t.Errorf("verifier ran %d times, stats %+v; want one run, one store and one hit", jobs, stats)
				}
			} else {
				if len(cache.data) != 0 || jobs != 2 || stats.Uncacheable != 2 {
					t.Errorf("cache holds %d, verifier ran %d times, stats %+v; want nothing cached and two runs", len(cache.data), jobs, stats)
				}
			}
			// The cached verdict keeps each caller's own reference and warnings.
			if second.Reference != repo+"@"+img.Digest.String() || len(second.Warnings) != 0 {
				t.Errorf("second report: reference %q warnings %v, want the digest reference and no TAG_RESOLVED", second.Reference, second.Warnings)
			}
			if first.Reference != ref || len(first.Warnings) != 1 || first.Warnings[0].Reason != report.ReasonTagResolved {
				t.Errorf("first report: reference %q warnings %v, want the tag and TAG_RESOLVED", first.Reference, first.Warnings)
			}
			if first.Subject != second.Subject {
				t.Errorf("subjects differ: %q and %q", first.Subject, second.Subject)
			}
		})
	}
}

func TestVerdictCacheIsKeyedByConfiguration(t *testing.T) {
	st := newFakeStore()
	img := st.pushImage(t, "v1")
	st.attach(t, img, notary, "sig")
	cache := newMapCache()
	run := func(configID string, v *fakeVerifier) *report.Report {
		t.Helper()
		e := newExecutor(t, st, executor.Options{
			Verifiers: []executor.Verifier{v}, Policy: policy(executor.Rule{ArtifactType: notary, Required: true}),
			Verdicts: cache, ConfigID: configID,
		})
		rep, err := e.Verify(context.Background(), ref)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	trusting := newFakeVerifier("notation", notary)
	if rep := run("trusting", trusting); !rep.IsSuccess {
		t.Fatalf("first configuration: %s %s", rep.Reason, rep.Message)
	}
	refusing := newFakeVerifier("notation", notary)
	refusing.def = behaviour{verdict: report.Failed, reason: report.ReasonSignatureUntrusted}
	if rep := run("refusing", refusing); rep.IsSuccess {
		t.Fatal("a new configuration reused the verdict of the old one")
	}
	if len(refusing.ran()) != 1 {
		t.Fatalf("the new configuration's verifier ran %d times, want 1", len(refusing.ran()))
	}
	if rep := run("trusting", newFakeVerifier("notation", notary)); !rep.IsSuccess {
		t.Fatal("back to the first configuration: its verdict should still be cached and passing")
	}
}

func TestVerdictCacheFailuresCostOnlyAVerification(t *testing.T) {
	st := newFakeStore()
	img := st.pushImage(t, "v1")
	st.attach(t, img, notary, "sig")
	cache := newMapCache()
	cache.fail = errors.New("redis: connection refused")
	v := newFakeVerifier("notation", notary)
	e := newExecutor(t, st, executor.Options{
		Verifiers: []executor.Verifier{v}, Policy: policy(executor.Rule{ArtifactType: notary, Required: true}),
		Verdicts: cache, ConfigID: "c",
	})
	for range 2 {
		rep, err := e.Verify(context.Background(), ref)
		if err != nil || !rep.IsSuccess {
			t.Fatalf("Verify with a failing cache: %v, %s %s", err, rep.Reason, rep.Message)
		}
	}
	if s := e.CacheStats(); s.Errors != 4 || len(v.ran()) != 2 {
		t.Fatalf("stats %+v, verifier ran %d times; want 4 cache errors (2 reads, 2 writes) and 2 runs", s, len(v.ran()))
	}
}

func TestConcurrentVerificationsOfOneSubjectAreShared(t *testing.T) {
	st := newFakeStore()
	img := st.pushImage(t, "v1")
	st.attach(t, img, notary, "sig")
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	v := newFakeVerifier("notation", notary).WithBefore(func(ctx context.Context, _ executor.Job) {
		entered <- struct{}{}
		<-release
	})
	e := newExecutor(t, st, executor.Options{
		Verifiers: []executor.Verifier{v}, Policy: policy(executor.Rule{ArtifactType: notary, Required: true}),
	})
	const callers = 8
	reports := make([]*report.Report, callers)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the leader
		defer wg.Done()
		reports[0], _ = e.Verify(context.Background(), ref)
	}()
	<-entered
	for i := 1; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i], _ = e.Verify(context.Background(), ref)
		}()
	}
	// Wait until every follower has joined, then let the leader finish.
	for e.CacheStats().Shared < callers-1 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if n := len(v.ran()); n != 1 {
		t.Fatalf("the verifier ran %d times for %d concurrent callers, want 1", n, callers)
	}
	for i, r := range reports {
		if r == nil || !r.IsSuccess {
			t.Fatalf("caller %d: %+v", i, r)
		}
	}
}

func TestAFollowerGivesUpAtItsOwnDeadline(t *testing.T) {
	st := newFakeStore()
	img := st.pushImage(t, "v1")
	st.attach(t, img, notary, "sig")
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	v := newFakeVerifier("notation", notary).WithBefore(func(ctx context.Context, _ executor.Job) {
		entered <- struct{}{}
		<-release
	})
	e := newExecutor(t, st, executor.Options{
		Verifiers: []executor.Verifier{v}, Policy: policy(executor.Rule{ArtifactType: notary, Required: true}),
	})
	done := make(chan *report.Report)
	go func() {
		r, _ := e.Verify(context.Background(), ref)
		done <- r
	}()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err := e.Verify(ctx, repo+"@"+img.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	if rep.IsSuccess || rep.Reason != report.ReasonDeadlineExceeded {
		t.Fatalf("follower: %s %q, want DEADLINE_EXCEEDED", rep.Reason, rep.Message)
	}
	close(release)
	if leader := <-done; !leader.IsSuccess {
		t.Fatalf("leader: %s %s", leader.Reason, leader.Message)
	}
}

func TestResolvePinsWithoutVerifying(t *testing.T) {
	st := newFakeStore()
	img := st.pushImage(t, "v1")
	v := newFakeVerifier("notation", notary)
	e := newExecutor(t, st, executor.Options{Verifiers: []executor.Verifier{v}})
	got, err := e.Resolve(context.Background(), ref)
	if err != nil || got != img.Digest.String() {
		t.Fatalf("Resolve = %q, %v; want %s", got, err, img.Digest)
	}
	if _, err := e.Resolve(context.Background(), "app:two:colons"); !errors.Is(err, executor.ErrInvalidReference) {
		t.Fatalf("Resolve of an invalid reference: %v, want ErrInvalidReference", err)
	}
	if len(v.ran()) != 0 {
		t.Fatal("Resolve ran a verifier")
	}
}

func TestASharedVerificationOutlivesTheCallerThatStartedIt(t *testing.T) {
	st := newFakeStore()
	img := st.pushImage(t, "v1")
	st.attach(t, img, notary, "sig")
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	v := newFakeVerifier("notation", notary).WithBefore(func(ctx context.Context, _ executor.Job) {
		entered <- struct{}{}
		<-release
	})
	e := newExecutor(t, st, executor.Options{
		Verifiers: []executor.Verifier{v}, Policy: policy(executor.Rule{ArtifactType: notary, Required: true}),
	})
	first, cancel := context.WithCancel(context.Background())
	firstDone := make(chan *report.Report)
	go func() {
		r, _ := e.Verify(first, ref)
		firstDone <- r
	}()
	<-entered
	secondDone := make(chan *report.Report)
	go func() {
		r, _ := e.Verify(context.Background(), repo+"@"+img.Digest.String())
		secondDone <- r
	}()
	for e.CacheStats().Shared < 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if r := <-firstDone; r.IsSuccess || r.Reason != report.ReasonDeadlineExceeded {
		t.Fatalf("the caller that started the verification and left: %s %q, want DEADLINE_EXCEEDED", r.Reason, r.Message)
	}
	close(release)
	if r := <-secondDone; !r.IsSuccess {
		t.Fatalf("the caller still waiting: %s %q, want the verification's verdict", r.Reason, r.Message)
	}
	if n := len(v.ran()); n != 1 {
		t.Fatalf("the verifier ran %d times, want 1", n)
	}
}

func TestAVerifierIsToldTheLatestDeadlineOfTheCallersWaiting(t *testing.T) {
	st := newFakeStore()
	img := st.pushImage(t, "v1")
	st.attach(t, img, notary, "first")
	st.attach(t, img, notary, "second")
	base := time.Now()
	soon, later := base.Add(time.Hour), base.Add(2*time.Hour)
	var mu sync.Mutex
	var deadlines []time.Time
	joined := make(chan struct{})
	v := newFakeVerifier("notation", notary).WithBefore(func(ctx context.Context, _ executor.Job) {
		d, _ := ctx.Deadline()
		mu.Lock()
		deadlines = append(deadlines, d)
		n := len(deadlines)
		mu.Unlock()
		if n == 1 {
			<-joined // the second job starts once the later caller waits too
		}
	})
	// One slot: the jobs run one after the other.
	e := newExecutor(t, st, executor.Options{
		Verifiers: []executor.Verifier{v}, Policy: policy(executor.Rule{ArtifactType: notary, Mode: executor.ModeAll, Required: true}), Concurrency: 1,
	})
	var wg sync.WaitGroup
	for _, d := range []time.Time{soon, later} {
		ctx, cancel := context.WithDeadline(context.Background(), d)
		defer cancel()
		wg.Go(func() {
			if r, _ := e.Verify(ctx, ref); !r.IsSuccess {
				t.Errorf("%s %q", r.Reason, r.Message)
			}
		})
		if d.Equal(soon) {
			for len(v.ran()) == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	for e.CacheStats().Shared < 1 {
		time.Sleep(time.Millisecond)
	}
	close(joined)
	wg.Wait()
	if len(deadlines) != 2 || !deadlines[0].Equal(soon) || !deadlines[1].Equal(later) {
		t.Fatalf("the verifier was told the deadlines %v, want the first caller's %v, then the later caller's %v", deadlines, soon, later)
	}
}
