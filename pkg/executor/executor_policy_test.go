package executor_test

import (
	"context"
	"errors"
	"fmt"
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
	"oras.land/oras-go/v2/errdef"
)

const (
	notary = "application/vnd.cncf.notary.signature"
	sbom   = "application/spdx+json"
	sarif  = "application/sarif+json"
)

// memStore is an executor.Store over an oras in-memory store, with hooks
// to inject failures.
type memStore struct {
	mem   *memory.Store
	descs map[digest.Digest]ocispec.Descriptor

	mu    sync.Mutex
	repos []string

	resolveErr   error
	referrersErr func(subject ocispec.Descriptor) error
}

var _ executor.Store = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{mem: memory.New(), descs: map[digest.Digest]ocispec.Descriptor{}}
}

func (m *memStore) Resolve(ctx context.Context, repo, ref string) (ocispec.Descriptor, error) {
	m.mu.Lock()
	m.repos = append(m.repos, repo)
	m.mu.Unlock()
	if m.resolveErr != nil {
		return ocispec.Descriptor{}, m.resolveErr
	}
	if d, err := digest.Parse(ref); err == nil {
		if desc, ok := m.descs[d]; ok {
			return desc, nil
		}
		return ocispec.Descriptor{}, fmt.Errorf("%s: %w", ref, errdef.ErrNotFound)
	}
	return m.mem.Resolve(ctx, ref)
}

func (m *memStore) Referrers(ctx context.Context, repo string, subject ocispec.Descriptor, fn func([]ocispec.Descriptor) error) error {
	if m.referrersErr != nil {
		if err := m.referrersErr(subject); err != nil {
			return err
		}
	}
	preds, err := m.mem.Predecessors(ctx, subject)
	if err != nil {
		return err
	}
	if len(preds) == 0 {
		return nil
	}
	return fn(preds)
}

func (m *memStore) Fetch(ctx context.Context, repo string, desc ocispec.Descriptor) ([]byte, error) {
	return content.FetchAll(ctx, m.mem, desc)
}

// image pushes an image tagged tag.
func (m *memStore) image(t *testing.T, tag string) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	cfg, err := oras.PushBytes(ctx, m.mem, ocispec.MediaTypeImageConfig, []byte(`{"os":"linux","tag":"`+tag+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := oras.PackManifest(ctx, m.mem, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{ConfigDescriptor: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.mem.Tag(ctx, d, tag); err != nil {
		t.Fatal(err)
	}
	m.descs[d.Digest] = d
	return d
}

// attach pushes an artifact of type at referring to subject; n makes it unique.
func (m *memStore) attach(t *testing.T, subject ocispec.Descriptor, at string, n int) ocispec.Descriptor {
	t.Helper()
	d, err := oras.PackManifest(context.Background(), m.mem, oras.PackManifestVersion1_1, at, oras.PackManifestOptions{
		Subject:             &subject,
		ManifestAnnotations: map[string]string{"n": fmt.Sprint(n), ocispec.AnnotationCreated: "2026-01-01T00:00:00Z"},
	})
	if err != nil {
		t.Fatal(err)
	}
	m.descs[d.Digest] = d
	return d
}

// stubVerifier answers per artifact digest.
type stubVerifier struct {
	name     string
	types    []string
	verdicts map[digest.Digest]report.Verdict // default verified
	reason   report.Reason                    // for failed verdicts
	err      error
	panics   bool
	block    bool

	inflight, maxInflight atomic.Int64
	calls                 atomic.Int64
}

var _ executor.Verifier = (*stubVerifier)(nil)

func (s *stubVerifier) Name() string { return s.name }
func (s *stubVerifier) Type() string { return "stub" }
func (s *stubVerifier) Handles(at string) bool {
	for _, t := range s.types {
		if t == at {
			return true
		}
	}
	return false
}

func (s *stubVerifier) Verify(ctx context.Context, job executor.Job) (report.Result, error) {
	s.calls.Add(1)
	n := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	for {
		m := s.maxInflight.Load()
		if n <= m || s.maxInflight.CompareAndSwap(m, n) {
			break
		}
	}
	if _, err := job.Fetcher.Fetch(ctx, job.Repository, job.Artifact); err != nil {
		return report.Result{}, err
	}
	if s.block {
		<-ctx.Done()
		return report.Result{}, ctx.Err()
	}
	time.Sleep(time.Millisecond) // let concurrent jobs overlap
	if s.panics {
		panic("stub verifier panics")
	}
	if s.err != nil {
		return report.Result{}, s.err
	}
	v, ok := s.verdicts[job.Artifact.Digest]
	if !ok {
		v = report.Verified
	}
	res := report.Result{Verdict: v, Message: "stub " + string(v)}
	if v == report.Failed {
		res.Reason = s.reason
	}
	return res, nil
}

func policy(rules ...executor.Rule) *executor.Policy {
	return &executor.Policy{Name: "p", Rules: rules}
}

func run(t *testing.T, st executor.Store, opts executor.Options, ref string) (*report.Report, error) {
	t.Helper()
	opts.Store = st
	opts.Now = func() time.Time { return time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC) }
	e, err := executor.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e.Verify(context.Background(), ref)
}

func TestPolicyOutcomes(t *testing.T) {
	tests := map[string]struct {
		// setup attaches artifacts to subject and returns the verifiers.
		setup   func(t *testing.T, m *memStore, subject ocispec.Descriptor) []executor.Verifier
		policy  *executor.Policy
		success bool
		reason  report.Reason
	}{
		"a required signature present and verified passes": {
			setup: func(t *testing.T, m *memStore, s ocispec.Descriptor) []executor.Verifier {
				m.attach(t, s, notary, 1)
				return []executor.Verifier{&stubVerifier{name: "n", types: []string{notary}}}
			},
			policy:  policy(executor.Rule{ArtifactType: notary, Required: true}),
			success: true, reason: report.ReasonVerified,
		},
		"an unsigned image fails with NO_SIGNATURE": {
			setup: func(t *testing.T, m *memStore, s ocispec.Descriptor) []executor.Verifier {
				return []executor.Verifier{&stubVerifier{name: "n", types: []string{notary}}}
			},
			policy: policy(executor.Rule{ArtifactType: notary, Required: true}),
			reason: report.ReasonNoSignature,
		},
		"a required SBOM that is missing fails with ARTIFACT_MISSING": {
			setup: func(t *testing.T, m *memStore, s ocispec.Descriptor) []executor.Verifier {
				return []executor.Verifier{&stubVerifier{name: "n", types: []string{sbom}}}
			},
			policy: policy(executor.Rule{ArtifactType: sbom, Required: true}),
			reason: report.ReasonArtifactMissing,
		},
		"a failed signature fails with the verifier's reason": {
			setup: func(t *testing.T, m *memStore, s ocispec.Descriptor) []executor.Verifier {
				a := m.attach(t, s, notary, 1)
				return []executor.Verifier{&stubVerifier{name: "n", types: []string{notary}, verdicts: map[digest.Digest]report.Verdict{a.Digest: report.Failed}, reason: report.ReasonSignatureUntrusted}}
			},
			policy: policy(executor.Rule{ArtifactType: notary, Required: true}),
			reason: report.ReasonSignatureUntrusted,
		},
		"mode any passes with one good and one bad signature": {
			setup: func(t *testing.T, m *memStore, s ocispec.Descriptor) []executor.Verifier {
				m.attach(t, s, notary, 1)
				bad := m.attach(t, s, notary, 2)
				return []executor.Verifier{&stubVerifier{name: "n", types: []string{notary}, verdicts: map[digest.Digest]report.Verdict{bad.Digest: report.Failed}, reason: report.ReasonSignatureInvalid}}
			},
			policy:  policy(executor.Rule{ArtifactType: notary, Required: true, Mode: executor.ModeAny}),
			success: true, reason: report.ReasonVerified,
		},
		"mode all fails with one good and one bad signature": {
			setup: func(t *testing.T, m *memStore, s ocispec.Descriptor) []executor.Verifier {
				m.attach(t, s, notary, 1)
				bad := m.attach(t, s, notary, 2)
				return []executor.Verifier{&stubVerifier{name: "n", types: []string{notary}, verdicts: map[digest.Digest]report.Verdict{bad.Digest: report.Failed}, reason: report.ReasonSignatureInvalid}}
			},
			policy: policy(executor.Rule{ArtifactType: notary, Required: true, Mode: executor.ModeAll}),
			reason: report.ReasonSignatureInvalid,
		},
		"a type that is not required and absent does not fail": {
			setup: func(t *testing.T, m *memStore, s ocispec.Descriptor) []executor.Verifier {
				m.attach(t, s, notary, 1)
				return []executor.Verifier{&stubVerifier{name: "n", types: []string{notary, sbom}}}
			},
			policy:  policy(executor.Rule{ArtifactType: notary, Required: true}, executor.Rule{ArtifactType: sbom}),
			success: true, reason: report.ReasonVerified,
		},
		"no Policy is never success": {
			setup: func(t *testing.T, m *memStore, s ocispec.Descriptor) []executor.Verifier {
				m.attach(t, s, notary, 1)
				return []executor.Verifier{&stubVerifier{name: "n", types: []string{notary}}}
			},
			reason: report.ReasonNoPolicy,
		},
		"an inconclusive verifier fails the rule with its reason": {
			setup: func(t *testing.T, m *memStore, s ocispec.Descriptor) []executor.Verifier {
				m.attach(t, s, notary, 1)
				return []executor.Verifier{&stubVerifier{name: "n", types: []string{notary}, err: errors.New("plugin said no")}}
			},
			policy: policy(executor.Rule{ArtifactType: notary, Required: true}),
			reason: report.ReasonPluginError,
		},
		"an artifact verified by one verifier and failed by another is not verified": {
			setup: func(t *testing.T, m *memStore, s ocispec.Descriptor) []executor.Verifier {
				a := m.attach(t, s, notary, 1)
				return []executor.Verifier{
					&stubVerifier{name: "a", types: []string{notary}},
					&stubVerifier{name: "b", types: []string{notary}, verdicts: map[digest.Digest]report.Verdict{a.Digest: report.Failed}, reason: report.ReasonIdentityMismatch},
				}
			},
			policy: policy(executor.Rule{ArtifactType: notary, Required: true}),
			reason: report.ReasonIdentityMismatch,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := newMemStore()
			s := m.image(t, "v1")
			vs := tc.setup(t, m, s)
			rep, err := run(t, m, executor.Options{Verifiers: vs, Policy: tc.policy}, "localhost:5000/app:v1")
			if err != nil {
				t.Fatal(err)
			}
			if rep.IsSuccess != tc.success || rep.Reason != tc.reason {
				t.Fatalf("isSuccess=%v reason=%s (%s); want %v %s", rep.IsSuccess, rep.Reason, rep.Message, tc.success, tc.reason)
			}
			if rep.Message == "" {
				t.Error("no message")
			}
			if tc.policy != nil && !rep.IsSuccess {
				bad := false
				for _, r := range rep.Policy.Rules {
					if !r.Satisfied {
						bad = true
						if r.Remediation == "" {
							t.Errorf("unsatisfied rule %s has no remediation", r.ArtifactType)
						}
					}
				}
				if !bad {
					t.Error("a failing report with every rule satisfied")
				}
			}
		})
	}
}

func TestReferencesArePinnedAndNormalised(t *testing.T) {
	m := newMemStore()
	d := m.image(t, "latest")
	rep, err := run(t, m, executor.Options{}, "nginx")
	if err != nil {
		t.Fatal(err)
	}
	if got := m.repos[0]; got != "docker.io/library/nginx" {
		t.Errorf("store asked for %q, want docker.io/library/nginx", got)
	}
	if rep.Subject != "docker.io/library/nginx@"+d.Digest.String() {
		t.Errorf("subject = %q", rep.Subject)
	}
	if len(rep.Warnings) != 1 || rep.Warnings[0].Reason != report.ReasonTagResolved {
		t.Errorf("warnings = %+v, want TAG_RESOLVED", rep.Warnings)
	}

	rep, err = run(t, m, executor.Options{}, "docker.io/library/nginx@"+d.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 0 {
		t.Errorf("a digest reference gave warnings: %+v", rep.Warnings)
	}
}

func TestSubjectsThatCannotBePinned(t *testing.T) {
	m := newMemStore()
	rep, err := run(t, m, executor.Options{}, "UPPER/case::bad")
	if !errors.Is(err, executor.ErrInvalidReference) || rep.Reason != report.ReasonInvalidReference || rep.IsSuccess {
		t.Fatalf("invalid reference: err=%v reason=%s", err, rep.Reason)
	}
	rep, err = run(t, m, executor.Options{}, "localhost:5000/app:missing")
	if !errors.Is(err, executor.ErrResolve) || !errors.Is(err, errdef.ErrNotFound) || rep.Reason != report.ReasonSubjectNotFound {
		t.Fatalf("missing tag: err=%v reason=%s", err, rep.Reason)
	}
	m.resolveErr = fmt.Errorf("dial: %w", context.DeadlineExceeded)
	rep, err = run(t, m, executor.Options{}, "localhost:5000/app:v1")
	if !errors.Is(err, executor.ErrResolve) || rep.Reason != report.ReasonDeadlineExceeded {
		t.Fatalf("slow registry: err=%v reason=%s", err, rep.Reason)
	}
}

func TestDiscoveryFailuresFailTheReport(t *testing.T) {
	tests := map[string]struct {
		err    error
		reason report.Reason
	}{
		"a registry error":                 {errors.New("connection reset"), report.ReasonRegistryError},
		"a limit exceeded by the registry": {fmt.Errorf("too many: %w", errdef.ErrSizeExceedsLimit), report.ReasonLimitExceeded},
		"a deadline":                       {fmt.Errorf("list: %w", context.DeadlineExceeded), report.ReasonDeadlineExceeded},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := newMemStore()
			s := m.image(t, "v1")
			m.attach(t, s, notary, 1)
			m.referrersErr = func(ocispec.Descriptor) error { return tc.err }
			rep, err := run(t, m, executor.Options{
				Verifiers: []executor.Verifier{&stubVerifier{name: "n", types: []string{notary}}},
				Policy:    policy(executor.Rule{ArtifactType: notary}),
			}, "localhost:5000/app:v1")
			if err != nil {
				t.Fatal(err)
			}
			if rep.IsSuccess || rep.Reason != tc.reason {
				t.Fatalf("isSuccess=%v reason=%s (%s), want %s", rep.IsSuccess, rep.Reason, rep.Message, tc.reason)
			}
		})
	}
}

func TestMoreArtifactsThanMaxNodesIsLimitExceeded(t *testing.T) {
	m := newMemStore()
	s := m.image(t, "v1")
	for i := range 5 {
		m.attach(t, s, notary, i)
	}
	rep, err := run(t, m, executor.Options{
		Verifiers: []executor.Verifier{&stubVerifier{name: "n", types: []string{notary}}},
		Policy:    policy(executor.Rule{ArtifactType: notary}),
		MaxNodes:  3,
	}, "localhost:5000/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if rep.IsSuccess || rep.Reason != report.ReasonLimitExceeded {
		t.Fatalf("isSuccess=%v reason=%s, want LIMIT_EXCEEDED", rep.IsSuccess, rep.Reason)
	}
	if len(rep.Artifacts) > 3 {
		t.Errorf("walked %d artifacts past the limit of 3", len(rep.Artifacts))
	}
}

func TestNestedArtifactsAndDepth(t *testing.T) {
	m := newMemStore()
	s := m.image(t, "v1")
	report1 := m.attach(t, s, sarif, 1)
	sig := m.attach(t, report1, notary, 2)
	m.attach(t, sig, sbom, 3) // depth 3: beyond the default depth of 2
	v := &stubVerifier{name: "n", types: []string{notary, sarif, sbom}}
	rep, err := run(t, m, executor.Options{Verifiers: []executor.Verifier{v}, Policy: policy(executor.Rule{ArtifactType: sarif, Required: true})}, "localhost:5000/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if !rep.IsSuccess {
		t.Fatalf("reason %s: %s", rep.Reason, rep.Message)
	}
	if len(rep.Artifacts) != 1 || rep.Artifacts[0].Digest != report1.Digest.String() {
		t.Fatalf("top level = %+v", rep.Artifacts)
	}
	nested := rep.Artifacts[0].Artifacts
	if len(nested) != 1 || nested[0].Digest != sig.Digest.String() || nested[0].ArtifactType != notary {
		t.Fatalf("nested = %+v", nested)
	}
	if len(nested[0].Artifacts) != 0 {
		t.Errorf("walked beyond MaxDepth: %+v", nested[0].Artifacts)
	}
	if len(nested[0].Results) != 1 || nested[0].Results[0].Verdict != report.Verified {
		t.Errorf("nested artifact not verified: %+v", nested[0].Results)
	}
	if v.calls.Load() != 2 {
		t.Errorf("verifier ran %d times, want 2", v.calls.Load())
	}
}

func TestOneBrokenVerifierNeverStopsTheOthers(t *testing.T) {
	tests := map[string]struct {
		broken *stubVerifier
		ctx    func() (context.Context, context.CancelFunc)
		reason report.Reason
	}{
		"a verifier returning an error": {
			broken: &stubVerifier{name: "broken", types: []string{sbom}, err: errors.New("boom")},
			reason: report.ReasonPluginError,
		},
		"a verifier that panics": {
			broken: &stubVerifier{name: "broken", types: []string{sbom}, panics: true},
			reason: report.ReasonPluginError,
		},
		"a verifier that hangs past the deadline": {
			broken: &stubVerifier{name: "broken", types: []string{sbom}, block: true},
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 300*time.Millisecond)
			},
			reason: report.ReasonDeadlineExceeded,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := newMemStore()
			s := m.image(t, "v1")
			for i := range 3 {
				m.attach(t, s, notary, i)
			}
			m.attach(t, s, sbom, 9)
			good := &stubVerifier{name: "good", types: []string{notary}}
			e, err := executor.New(executor.Options{
				Store: m, Verifiers: []executor.Verifier{good, tc.broken},
				Policy: policy(executor.Rule{ArtifactType: notary, Required: true, Mode: executor.ModeAll}, executor.Rule{ArtifactType: sbom}),
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			rep, err := e.Verify(ctx, "localhost:5000/app:v1")
			if err != nil {
				t.Fatal(err)
			}
			var verified int
			for _, a := range rep.Artifacts {
				for _, r := range a.Results {
					switch r.Verifier {
					case "good":
						if r.Verdict == report.Verified {
							verified++
						}
					case "broken":
						if r.Verdict != report.Inconclusive || r.Reason != tc.reason || r.Remediation == "" {
							t.Errorf("broken verifier result = %+v, want inconclusive %s", r, tc.reason)
						}
					}
				}
			}
			if verified != 3 {
				t.Errorf("%d of 3 signatures verified next to the broken verifier", verified)
			}
			if rep.IsSuccess || rep.Reason != tc.reason {
				t.Errorf("isSuccess=%v reason=%s, want a failure with %s", rep.IsSuccess, rep.Reason, tc.reason)
			}
		})
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	m := newMemStore()
	s := m.image(t, "v1")
	for i := range 20 {
		m.attach(t, s, notary, i)
	}
	v := &stubVerifier{name: "n", types: []string{notary}}
	rep, err := run(t, m, executor.Options{Verifiers: []executor.Verifier{v}, Policy: policy(executor.Rule{ArtifactType: notary, Mode: executor.ModeAll}), Concurrency: 3}, "localhost:5000/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if !rep.IsSuccess {
		t.Fatalf("%s: %s", rep.Reason, rep.Message)
	}
	if got := v.maxInflight.Load(); got > 3 || got < 1 {
		t.Errorf("max jobs in flight = %d, want 1..3", got)
	}
	if v.calls.Load() != 20 {
		t.Errorf("calls = %d, want 20", v.calls.Load())
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	m := newMemStore()
	v := &stubVerifier{name: "n", types: []string{notary}}
	tests := map[string]executor.Options{
		"no store":               {},
		"two verifiers one name": {Store: m, Verifiers: []executor.Verifier{v, v}},
		"a nil verifier":         {Store: m, Verifiers: []executor.Verifier{nil}},
		"an unknown mode":        {Store: m, Policy: policy(executor.Rule{ArtifactType: notary, Mode: "most"})},
		"two rules for one type": {Store: m, Policy: policy(executor.Rule{ArtifactType: notary}, executor.Rule{ArtifactType: notary})},
	}
	for name, o := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := executor.New(o); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestDiscoverListsWithoutVerifying(t *testing.T) {
	m := newMemStore()
	s := m.image(t, "v1")
	m.attach(t, s, notary, 1)
	v := &stubVerifier{name: "n", types: []string{notary}}
	e, err := executor.New(executor.Options{Store: m, Verifiers: []executor.Verifier{v}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := e.Discover(context.Background(), "localhost:5000/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Artifacts) != 1 || rep.Artifacts[0].Results != nil || v.calls.Load() != 0 || rep.IsSuccess {
		t.Fatalf("discover = %+v, verifier calls %d", rep, v.calls.Load())
	}
}
