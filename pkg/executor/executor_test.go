package executor_test

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/executor"
	"github.com/assayproj/assay/pkg/report"
	"github.com/distribution/reference"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
)

const (
	notary = "application/vnd.cncf.notary.signature"
	sbom   = "application/spdx+json"
	sarif  = "application/sarif+json"

	cosignSig = "application/vnd.dev.cosign.artifact.sig.v1+json"

	repo = "localhost:5000/app"
	ref  = repo + ":v1"
)

var now = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

func policy(rules ...executor.Rule) *executor.Policy {
	return &executor.Policy{Name: "p", Rules: rules}
}

// optionalOnly is a Policy of optional rules, which therefore allows
// images with nothing attached.
func optionalOnly(rules ...executor.Rule) *executor.Policy {
	return &executor.Policy{Name: "p", Rules: rules, AllowUnsigned: true}
}

func newExecutor(t *testing.T, st executor.Store, opts executor.Options) *executor.Executor {
	t.Helper()
	opts.Store = st
	opts.Now = func() time.Time { return now.In(time.FixedZone("CET", 3600)) }
	e, err := executor.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// verify runs one verification that must pin its subject.
func verify(t *testing.T, st executor.Store, opts executor.Options, ref string) *report.Report {
	t.Helper()
	rep, err := newExecutor(t, st, opts).Verify(context.Background(), ref)
	if err != nil {
		t.Fatalf("Verify(%q): %v", ref, err)
	}
	checkWellFormed(t, rep, ref)
	return rep
}

// checkWellFormed asserts what holds for every report.
func checkWellFormed(t *testing.T, rep *report.Report, ref string) {
	t.Helper()
	if rep == nil {
		t.Fatal("no report")
	}
	if rep.MediaType != report.MediaType || rep.Reference != ref || !rep.Timestamp.Equal(now) || rep.Timestamp.Location() != time.UTC {
		t.Errorf("header = %q %q %v, want %q %q %v UTC", rep.MediaType, rep.Reference, rep.Timestamp, report.MediaType, ref, now)
	}
	if rep.Artifacts == nil {
		t.Error("artifacts is nil; it must encode as []")
	}
	if !rep.Reason.Valid() || rep.Message == "" {
		t.Errorf("reason %q message %q: want a documented reason and a message", rep.Reason, rep.Message)
	}
	if rep.IsSuccess != (rep.Reason == report.ReasonVerified) {
		t.Errorf("isSuccess=%v with reason %s", rep.IsSuccess, rep.Reason)
	}
	walk(rep.Artifacts, func(_ string, a report.Artifact) {
		for _, r := range a.Results {
			if !r.Reason.Valid() {
				t.Errorf("artifact %s: result reason %q is not documented", a.Digest, r.Reason)
			}
			if (r.Verdict == report.Verified) != (r.Reason == report.ReasonVerified) {
				t.Errorf("artifact %s: verdict %s with reason %s", a.Digest, r.Verdict, r.Reason)
			}
			if r.Verdict != report.Verified && r.Remediation == "" {
				t.Errorf("artifact %s: %s result without remediation", a.Digest, r.Verdict)
			}
		}
	})
}

// walk calls fn for every artifact in the tree with its slash-separated
// path of digests.
func walk(arts []report.Artifact, fn func(path string, a report.Artifact)) {
	var rec func(prefix string, arts []report.Artifact)
	rec = func(prefix string, arts []report.Artifact) {
		for _, a := range arts {
			p := path.Join(prefix, a.Digest)
			fn(p, a)
			rec(p, a.Artifacts)
		}
	}
	rec("", arts)
}

// find returns the artifact with digest d and its depth (1 for a referrer
// of the subject), or nil.
func find(arts []report.Artifact, d digest.Digest) (*report.Artifact, int) {
	for i := range arts {
		if arts[i].Digest == d.String() {
			return &arts[i], 1
		}
		if a, depth := find(arts[i].Artifacts, d); a != nil {
			return a, depth + 1
		}
	}
	return nil, 0
}

// resultOf returns verifier's result on artifact d.
func resultOf(t *testing.T, rep *report.Report, d digest.Digest, verifier string) report.Result {
	t.Helper()
	a, _ := find(rep.Artifacts, d)
	if a == nil {
		t.Fatalf("artifact %s is not in the report", d)
	}
	for _, r := range a.Results {
		if r.Verifier == verifier {
			return r
		}
	}
	t.Fatalf("artifact %s has no result from %q: %+v", d, verifier, a.Results)
	return report.Result{}
}

// ignoreText drops the human-readable parts of a rule result.
var ignoreText = cmpopts.IgnoreFields(report.RuleResult{}, "Message", "Remediation")

func TestPolicyOutcomes(t *testing.T) {
	tests := map[string]struct {
		// setup attaches artifacts to the subject and returns the verifiers.
		setup   func(t *testing.T, s *fakeStore, subject ocispec.Descriptor) []executor.Verifier
		policy  *executor.Policy
		success bool
		reason  report.Reason
		rules   []report.RuleResult // compared without Message and Remediation
	}{
		"a required notation signature that is present and verified passes": {
			setup: func(t *testing.T, s *fakeStore, subject ocispec.Descriptor) []executor.Verifier {
				s.attach(t, subject, notary, "sig")
				return []executor.Verifier{newFakeVerifier("notation", notary).WithSignatureTypes(notary)}
			},
			policy:  policy(executor.Rule{ArtifactType: notary, Required: true}),
			success: true, reason: report.ReasonVerified,
			rules: []report.RuleResult{{ArtifactType: notary, Mode: "any", Required: true, Satisfied: true, Found: 1, Verified: 1, Reason: report.ReasonVerified}},
		},
		"an unsigned image fails with NO_SIGNATURE": {
			setup: func(t *testing.T, s *fakeStore, subject ocispec.Descriptor) []executor.Verifier {
				return []executor.Verifier{newFakeVerifier("notation", notary).WithSignatureTypes(notary)}
			},
			policy: policy(executor.Rule{ArtifactType: notary, Required: true}),
			reason: report.ReasonNoSignature,
			rules:  []report.RuleResult{{ArtifactType: notary, Mode: "any", Required: true, Reason: report.ReasonNoSignature}},
		},
		"a missing type is a signature only when a Verifier declares it one": {
			setup: func(t *testing.T, s *fakeStore, subject ocispec.Descriptor) []executor.Verifier {
				return []executor.Verifier{newFakeVerifier("notation", notary)}
			},
			policy: policy(executor.Rule{ArtifactType: notary, Required: true}),
			reason: report.ReasonArtifactMissing,
			rules:  []report.RuleResult{{ArtifactType: notary, Mode: "any", Required: true, Reason: report.ReasonArtifactMissing}},
		},
		"a type one Verifier declares a signature is one for every Verifier": {
			setup: func(t *testing.T, s *fakeStore, subject ocispec.Descriptor) []executor.Verifier {
				return []executor.Verifier{newFakeVerifier("sboms", sbom), newFakeVerifier("notation", notary).WithSignatureTypes(notary)}
			},
			policy: policy(executor.Rule{ArtifactType: notary, Required: true}),
			reason: report.ReasonNoSignature,
			rules:  []report.RuleResult{{ArtifactType: notary, Mode: "any", Required: true, Reason: report.ReasonNoSignature}},
		},
		"a missing required type that is not a signature fails with ARTIFACT_MISSING": {
			setup: func(t *testing.T, s *fakeStore, subject ocispec.Descriptor) []executor.Verifier {
				s.attach(t, subject, notary, "sig")
				return []executor.Verifier{newFakeVerifier("notation", notary).WithSignatureTypes(notary), newFakeVerifier("sbom", sbom)}
			},
			policy: policy(executor.Rule{ArtifactType: notary, Required: true}, executor.Rule{ArtifactType: sbom, Required: true}),
			reason: report.ReasonArtifactMissing,
			rules: []report.RuleResult{
				{ArtifactType: notary, Mode: "any", Required: true, Satisfied: true, Found: 1, Verified: 1, Reason: report.ReasonVerified},
				{ArtifactType: sbom, Mode: "any", Required: true, Reason: report.ReasonArtifactMissing},
			},
		},
		"a failed signature fails with the verifier's reason": {
			setup: func(t *testing.T, s *fakeStore, subject ocispec.Descriptor) []executor.Verifier {
				sig := s.attach(t, subject, notary, "sig")
				return []executor.Verifier{newFakeVerifier("notation", notary).WithSignatureTypes(notary).WithVerdict(sig.Digest, report.Failed, report.ReasonSignatureUntrusted)}
			},
			policy: policy(executor.Rule{ArtifactType: notary, Required: true}),
			reason: report.ReasonSignatureUntrusted,
			rules:  []report.RuleResult{{ArtifactType: notary, Mode: "any", Required: true, Found: 1, Failed: 1, Reason: report.ReasonSignatureUntrusted}},
		},
		"mode any passes with one good and one bad signature": {
			setup: func(t *testing.T, s *fakeStore, subject ocispec.Descriptor) []executor.Verifier {
				s.attach(t, subject, notary, "good")
				bad := s.attach(t, subject, notary, "bad")
				return []executor.Verifier{newFakeVerifier("notation", notary).WithSignatureTypes(notary).WithVerdict(bad.Digest, report.Failed, report.ReasonSignatureInvalid)}
			},
			policy:  policy(executor.Rule{ArtifactType: notary, Required: true, Mode: executor.ModeAny}),
			success: true, reason: report.ReasonVerified,
			rules: []report.RuleResult{{ArtifactType: notary, Mode: "any", Required: true, Satisfied: true, Found: 2, Verified: 1, Failed: 1, Reason: report.ReasonVerified}},
		},
		"mode all fails with one good and one bad signature": {
			setup: func(t *testing.T, s *fakeStore, subject ocispec.Descriptor) []executor.Verifier {
				s.attach(t, subject, notary, "good")
				bad := s.attach(t, subject, notary, "bad")
				return []executor.Verifier{newFakeVerifier("notation", notary).WithSignatureTypes(notary).WithVerdict(bad.Digest, report.Failed, report.ReasonSignatureInvalid)}
			},
			policy: policy(executor.Rule{ArtifactType: notary, Required: true, Mode: executor.ModeAll}),
			reason: report.ReasonSignatureInvalid,
			rules:  []report.RuleResult{{ArtifactType: notary, Mode: "all", Required: true, Found: 2, Verified: 1, Failed: 1, Reason: report.ReasonSignatureInvalid}},
		},
		"mode all passes when every signature verifies": {
			setup: func(t *testing.T, s *fakeStore, subject ocispec.Descriptor) []executor.Verifier {
				s.attach(t, subject, notary, "one")
				s.attach(t, subject, notary, "two")
				return []executor.Verifier{newFakeVerifier("notation", notary).WithSignatureTypes(notary)}
			},
			policy:  policy(executor.Rule{ArtifactType: notary, Required: true, Mode: executor.ModeAll}),
			success: true, reason: report.ReasonVerified,
			rules: []report.RuleResult{{ArtifactType: notary, Mode: "all", Required: true, Satisfied: true, Found: 2, Verified: 2, Reason: report.ReasonVerified}},
		},
		"a type that is not required and absent does not fail": {
			setup: func(t *testing.T, s *fakeStore, subject ocispec.Descriptor) []executor.Verifier {
				s.attach(t, subject, notary, "sig")
				return []executor.Verifier{newFakeVerifier("notation", notary).WithSignatureTypes(notary), newFakeVerifier("sbom", sbom)}
			},
			policy:  policy(executor.Rule{ArtifactType: notary, Required: true}, executor.Rule{ArtifactType: sbom}),
			success: true, reason: report.ReasonVerified,
			rules: []report.RuleResult{
				{ArtifactType: notary, Mode: "any", Required: true, Satisfied: true, Found: 1, Verified: 1, Reason: report.ReasonVerified},
				{ArtifactType: sbom, Mode: "any", Satisfied: true, Reason: report.ReasonVerified},
			},
		},
		"a type that is not required but present must still verify": {
			setup: func(t *testing.T, s *fakeStore, subject ocispec.Descriptor) []executor.Verifier {
				doc := s.attach(t, subject, sbom, "sbom")
				return []executor.Verifier{newFakeVerifier("sbom", sbom).WithVerdict(doc.Digest, report.Failed, report.ReasonVerificationFailed)}
			},
			// An optional rule only: the Policy must say it admits images
			// with nothing attached.
			policy: &executor.Policy{Name: "p", Rules: []executor.Rule{{ArtifactType: sbom}}, AllowUnsigned: true},
			reason: report.ReasonVerificationFailed,
			rules:  []report.RuleResult{{ArtifactType: sbom, Mode: "any", Found: 1, Failed: 1, Reason: report.ReasonVerificationFailed}},
		},
		"no Policy is never success": {
			setup: func(t *testing.T, s *fakeStore, subject ocispec.Descriptor) []executor.Verifier {
				s.attach(t, subject, notary, "sig")
				return []executor.Verifier{newFakeVerifier("notation", notary).WithSignatureTypes(notary)}
			},
			reason: report.ReasonNoPolicy,
		},
		"an artifact verified by one verifier and failed by another is not verified": {
			setup: func(t *testing.T, s *fakeStore, subject ocispec.Descriptor) []executor.Verifier {
				sig := s.attach(t, subject, notary, "sig")
				return []executor.Verifier{
					newFakeVerifier("a", notary),
					newFakeVerifier("b", notary).WithVerdict(sig.Digest, report.Failed, report.ReasonIdentityMismatch),
				}
			},
			policy: policy(executor.Rule{ArtifactType: notary, Required: true}),
			reason: report.ReasonIdentityMismatch,
			rules:  []report.RuleResult{{ArtifactType: notary, Mode: "any", Required: true, Found: 1, Failed: 1, Reason: report.ReasonIdentityMismatch}},
		},
		"a required type that no Verifier handles fails with NO_VERIFIER": {
			setup: func(t *testing.T, s *fakeStore, subject ocispec.Descriptor) []executor.Verifier {
				s.attach(t, subject, sarif, "scan")
				return []executor.Verifier{newFakeVerifier("notation", notary).WithSignatureTypes(notary)}
			},
			policy: policy(executor.Rule{ArtifactType: sarif, Required: true}),
			reason: report.ReasonNoVerifier,
			rules:  []report.RuleResult{{ArtifactType: sarif, Mode: "any", Required: true, Found: 1, Inconclusive: 1, Reason: report.ReasonNoVerifier}},
		},
		"a signature of a nested artifact does not sign the subject": {
			setup: func(t *testing.T, s *fakeStore, subject ocispec.Descriptor) []executor.Verifier {
				doc := s.attach(t, subject, sbom, "sbom")
				s.attach(t, doc, notary, "sig of sbom")
				return []executor.Verifier{newFakeVerifier("notation", notary).WithSignatureTypes(notary), newFakeVerifier("sbom", sbom)}
			},
			policy: policy(executor.Rule{ArtifactType: notary, Required: true}),
			reason: report.ReasonNoSignature,
			rules:  []report.RuleResult{{ArtifactType: notary, Mode: "any", Required: true, Reason: report.ReasonNoSignature}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := newFakeStore()
			subject := s.pushImage(t, "v1")
			vs := tc.setup(t, s, subject)
			rep := verify(t, s, executor.Options{Verifiers: vs, Policy: tc.policy}, ref)
			if rep.IsSuccess != tc.success || rep.Reason != tc.reason {
				t.Fatalf("isSuccess=%v reason=%s (%s); want %v %s", rep.IsSuccess, rep.Reason, rep.Message, tc.success, tc.reason)
			}
			if rep.Subject != repo+"@"+subject.Digest.String() {
				t.Errorf("subject = %q", rep.Subject)
			}
			if tc.policy == nil {
				if rep.Policy != nil {
					t.Errorf("policy = %+v without a Policy", rep.Policy)
				}
				return
			}
			if rep.Policy == nil || rep.Policy.Name != tc.policy.Name {
				t.Fatalf("policy = %+v", rep.Policy)
			}
			if diff := cmp.Diff(tc.rules, rep.Policy.Rules, ignoreText); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
			for _, r := range rep.Policy.Rules {
				if r.Message == "" {
					t.Errorf("rule %s has no message", r.ArtifactType)
				}
				if !r.Satisfied && r.Remediation != r.Reason.Remediation() {
					t.Errorf("unsatisfied rule %s: remediation %q, want that of %s", r.ArtifactType, r.Remediation, r.Reason)
				}
			}
		})
	}
}

func TestArtifactsWithoutAVerifierAreReportedNotVerified(t *testing.T) {
	s := newFakeStore()
	subject := s.pushImage(t, "v1")
	sig := s.attach(t, subject, notary, "sig")
	scan := s.attach(t, subject, sarif, "scan")
	notation := newFakeVerifier("notation", notary).WithSignatureTypes(notary)
	rep := verify(t, s, executor.Options{
		Verifiers: []executor.Verifier{notation},
		Policy:    policy(executor.Rule{ArtifactType: notary, Required: true}),
	}, ref)
	if !rep.IsSuccess {
		t.Fatalf("a type outside the Policy without a Verifier failed the report: %s: %s", rep.Reason, rep.Message)
	}
	a, _ := find(rep.Artifacts, scan.Digest)
	if a == nil || a.ArtifactType != sarif {
		t.Fatalf("the unhandled artifact is missing from the report: %+v", rep.Artifacts)
	}
	want := []report.Result{{Verdict: report.Inconclusive, Reason: report.ReasonNoVerifier, Remediation: report.ReasonNoVerifier.Remediation()}}
	if diff := cmp.Diff(want, a.Results, cmpopts.IgnoreFields(report.Result{}, "Message")); diff != "" {
		t.Errorf("results of the unhandled artifact (-want +got):\n%s", diff)
	}
	if got := resultOf(t, rep, sig.Digest, "notation"); got.Verdict != report.Verified {
		t.Errorf("signature result = %+v", got)
	}
	for _, j := range notation.ran() {
		if j.Artifact.Digest == scan.Digest {
			t.Error("a verifier ran on a type it does not handle")
		}
	}
}

// TestVerifierResultsAreNormalised: the executor, not the verifier, owns
// a result's identity and its consistency. A reason that contradicts the
// verdict or is not in the closed set is replaced.
func TestVerifierResultsAreNormalised(t *testing.T) {
	tests := map[string]struct {
		verdict     report.Verdict
		reason      report.Reason
		wantVerdict report.Verdict
		wantReason  report.Reason
	}{
		"a verified result without a reason is VERIFIED": {
			verdict: report.Verified, wantVerdict: report.Verified, wantReason: report.ReasonVerified,
		},
		"a failed result keeps its documented reason": {
			verdict: report.Failed, reason: report.ReasonCertificateRevoked,
			wantVerdict: report.Failed, wantReason: report.ReasonCertificateRevoked,
		},
		"a failed result without a reason is VERIFICATION_FAILED": {
			verdict: report.Failed, wantVerdict: report.Failed, wantReason: report.ReasonVerificationFailed,
		},
		"a failed result with an unknown reason is VERIFICATION_FAILED": {
			verdict: report.Failed, reason: "NOT_A_CODE", wantVerdict: report.Failed, wantReason: report.ReasonVerificationFailed,
		},
		"a failed result claiming VERIFIED is VERIFICATION_FAILED": {
			verdict: report.Failed, reason: report.ReasonVerified, wantVerdict: report.Failed, wantReason: report.ReasonVerificationFailed,
		},
		"an inconclusive result keeps its documented reason": {
			verdict: report.Inconclusive, reason: report.ReasonConfigInvalid,
			wantVerdict: report.Inconclusive, wantReason: report.ReasonConfigInvalid,
		},
		"an inconclusive result without a reason is PLUGIN_ERROR": {
			verdict: report.Inconclusive, wantVerdict: report.Inconclusive, wantReason: report.ReasonPluginError,
		},
		"an inconclusive result claiming VERIFIED is PLUGIN_ERROR": {
			verdict: report.Inconclusive, reason: report.ReasonVerified, wantVerdict: report.Inconclusive, wantReason: report.ReasonPluginError,
		},
		"an unknown verdict is inconclusive": {
			verdict: "probably", reason: report.ReasonVerified, wantVerdict: report.Inconclusive, wantReason: report.ReasonPluginError,
		},
		"an empty verdict is inconclusive": {
			verdict: "", wantVerdict: report.Inconclusive, wantReason: report.ReasonPluginError,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := newFakeStore()
			subject := s.pushImage(t, "v1")
			sig := s.attach(t, subject, notary, "sig")
			v := newFakeVerifier("notation", notary).WithSignatureTypes(notary).WithVerdict(sig.Digest, tc.verdict, tc.reason)
			rep := verify(t, s, executor.Options{Verifiers: []executor.Verifier{v}, Policy: policy(executor.Rule{ArtifactType: notary, Required: true})}, ref)
			got := resultOf(t, rep, sig.Digest, "notation")
			if got.Verdict != tc.wantVerdict || got.Reason != tc.wantReason {
				t.Errorf("result %s %s, want %s %s", got.Verdict, got.Reason, tc.wantVerdict, tc.wantReason)
			}
			if got.Type != "fake" {
				t.Errorf("type = %q; the executor must report the verifier's own Type", got.Type)
			}
			if rep.IsSuccess != (tc.wantVerdict == report.Verified) || rep.Reason != tc.wantReason {
				t.Errorf("report isSuccess=%v reason=%s, want %s", rep.IsSuccess, rep.Reason, tc.wantReason)
			}
		})
	}
}

// TestOneBrokenVerifierNeverStopsTheOthers: an error, a panic or a hang
// makes that one job inconclusive; every other job of the subject still
// completes with its own verdict.
func TestOneBrokenVerifierNeverStopsTheOthers(t *testing.T) {
	tests := map[string]struct {
		broken func(scan digest.Digest) *fakeVerifier
		// deadline expires the request's context once the good jobs are
		// done and the broken one is waiting on it.
		deadline bool
		reason   report.Reason
	}{
		"a verifier returning an error is inconclusive with PLUGIN_ERROR": {
			broken: func(digest.Digest) *fakeVerifier {
				return newFakeVerifier("broken", sbom).WithError(errors.New("plugin exploded"))
			},
			reason: report.ReasonPluginError,
		},
		"a verifier failing on one artifact still answers for the others": {
			broken: func(scan digest.Digest) *fakeVerifier {
				return newFakeVerifier("broken", sbom, notary).WithErrorFor(scan, errors.New("cannot parse"))
			},
			reason: report.ReasonPluginError,
		},
		"a verifier that panics is inconclusive with PLUGIN_ERROR": {
			broken: func(digest.Digest) *fakeVerifier {
				return newFakeVerifier("broken", sbom).WithPanic("index out of range")
			},
			reason: report.ReasonPluginError,
		},
		"a verifier that panics with an error is inconclusive with PLUGIN_ERROR": {
			broken: func(digest.Digest) *fakeVerifier {
				return newFakeVerifier("broken", sbom).WithPanic(fmt.Errorf("wrapped: %w", context.DeadlineExceeded))
			},
			reason: report.ReasonPluginError,
		},
		"a verifier timing out on its own is inconclusive with DEADLINE_EXCEEDED": {
			broken: func(digest.Digest) *fakeVerifier {
				return newFakeVerifier("broken", sbom).WithError(fmt.Errorf("plugin call: %w", context.DeadlineExceeded))
			},
			reason: report.ReasonDeadlineExceeded,
		},
		"a verifier blocking past the request deadline is inconclusive with DEADLINE_EXCEEDED": {
			broken:   func(digest.Digest) *fakeVerifier { return newFakeVerifier("broken", sbom).WithBlock() },
			deadline: true,
			reason:   report.ReasonDeadlineExceeded,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := newFakeStore()
			subject := s.pushImage(t, "v1")
			sig1 := s.attach(t, subject, notary, "sig1")
			sig2 := s.attach(t, subject, notary, "sig2")
			untrusted := s.attach(t, subject, notary, "untrusted")
			scan := s.attach(t, subject, sbom, "sbom")

			var goodDone sync.WaitGroup
			goodDone.Add(4)
			good := newFakeVerifier("good", notary, sbom).
				WithVerdict(untrusted.Digest, report.Failed, report.ReasonSignatureUntrusted).
				WithAfter(func(executor.Job) { goodDone.Done() })
			broken := tc.broken(scan.Digest)

			ctx := newExpiringCtx()
			defer ctx.expire()
			if tc.deadline {
				go func() {
					goodDone.Wait()
					select {
					case <-broken.started:
					case <-t.Context().Done():
					}
					ctx.expire()
				}()
			}
			// Concurrency exceeds the job count, so every job starts before
			// the deadline can pass.
			e := newExecutor(t, s, executor.Options{
				Verifiers:   []executor.Verifier{good, broken},
				Policy:      policy(executor.Rule{ArtifactType: notary, Required: true}, executor.Rule{ArtifactType: sbom, Required: true}),
				Concurrency: 8,
			})
			rep, err := e.Verify(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			checkWellFormed(t, rep, ref)

			want := map[digest.Digest]report.Verdict{sig1.Digest: report.Verified, sig2.Digest: report.Verified, untrusted.Digest: report.Failed, scan.Digest: report.Verified}
			for d, v := range want {
				if got := resultOf(t, rep, d, "good"); got.Verdict != v {
					t.Errorf("good verifier on %s: %s (%s), want %s", d, got.Verdict, got.Message, v)
				}
			}
			if n := len(good.ran()); n != 4 {
				t.Errorf("the good verifier ran %d of 4 jobs", n)
			}
			got := resultOf(t, rep, scan.Digest, "broken")
			if got.Verdict != report.Inconclusive || got.Reason != tc.reason || got.Remediation != tc.reason.Remediation() || got.Message == "" {
				t.Errorf("broken verifier result = %+v, want inconclusive %s with remediation", got, tc.reason)
			}
			for _, d := range []digest.Digest{sig1.Digest, sig2.Digest} {
				if slices.Contains(broken.types, notary) {
					if got := resultOf(t, rep, d, "broken"); got.Verdict != report.Verified {
						t.Errorf("broken verifier on healthy %s: %+v", d, got)
					}
				}
			}
			if rep.IsSuccess || rep.Reason != tc.reason {
				t.Errorf("isSuccess=%v reason=%s, want a failure with %s", rep.IsSuccess, rep.Reason, tc.reason)
			}
			wantRules := []report.RuleResult{
				{ArtifactType: notary, Mode: "any", Required: true, Satisfied: true, Found: 3, Verified: 2, Failed: 1, Reason: report.ReasonVerified},
				{ArtifactType: sbom, Mode: "any", Required: true, Found: 1, Inconclusive: 1, Reason: tc.reason},
			}
			if diff := cmp.Diff(wantRules, rep.Policy.Rules, ignoreText); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJobsThatCannotStartBeforeTheDeadlineAreInconclusive(t *testing.T) {
	s := newFakeStore()
	subject := s.pushImage(t, "v1")
	first := s.attach(t, subject, notary, "first")
	second := s.attach(t, subject, notary, "second")
	ctx := newExpiringCtx()
	// With one slot, the second job waits for the first; the first lets the
	// deadline pass before it answers.
	v := newFakeVerifier("notation", notary).WithSignatureTypes(notary).WithBefore(func(context.Context, executor.Job) { ctx.expire() })
	e := newExecutor(t, s, executor.Options{Verifiers: []executor.Verifier{v}, Policy: policy(executor.Rule{ArtifactType: notary, Mode: executor.ModeAll, Required: true}), Concurrency: 1})
	rep, err := e.Verify(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	checkWellFormed(t, rep, ref)
	if len(v.ran()) != 1 {
		t.Fatalf("ran %d jobs, want only the one started before the deadline", len(v.ran()))
	}
	ran := v.ran()[0].Artifact.Digest
	other := first.Digest
	if ran == first.Digest {
		other = second.Digest
	}
	if got := resultOf(t, rep, ran, "notation"); got.Verdict != report.Verified {
		t.Errorf("the started job = %+v, want its own verdict", got)
	}
	if got := resultOf(t, rep, other, "notation"); got.Verdict != report.Inconclusive || got.Reason != report.ReasonDeadlineExceeded {
		t.Errorf("the job never started = %+v, want inconclusive DEADLINE_EXCEEDED", got)
	}
	if rep.IsSuccess || rep.Reason != report.ReasonDeadlineExceeded {
		t.Errorf("isSuccess=%v reason=%s", rep.IsSuccess, rep.Reason)
	}
}

func TestSubjectsThatCannotBePinned(t *testing.T) {
	tests := map[string]struct {
		ref      string
		resolve  func(ctx context.Context, repository, reference string) error
		sentinel error
		cause    error // also wrapped, when set
		reason   report.Reason
	}{
		"an upper-case repository is an invalid reference": {
			ref: "localhost:5000/App:v1", sentinel: executor.ErrInvalidReference, reason: report.ReasonInvalidReference,
		},
		"an empty reference is invalid": {
			ref: "", sentinel: executor.ErrInvalidReference, cause: reference.ErrReferenceInvalidFormat, reason: report.ReasonInvalidReference,
		},
		"a malformed digest is an invalid reference": {
			ref: repo + "@sha256:abc", sentinel: executor.ErrInvalidReference, reason: report.ReasonInvalidReference,
		},
		"a reference with a scheme is invalid": {
			ref: "https://" + ref, sentinel: executor.ErrInvalidReference, cause: reference.ErrReferenceInvalidFormat,
			reason: report.ReasonInvalidReference,
		},
		"a tag the registry does not have is SUBJECT_NOT_FOUND": {
			ref: repo + ":missing", sentinel: executor.ErrResolve, cause: errdef.ErrNotFound, reason: report.ReasonSubjectNotFound,
		},
		"a not-found error wrapped by the store is SUBJECT_NOT_FOUND": {
			ref: ref,
			resolve: func(context.Context, string, string) error {
				return fmt.Errorf("HEAD manifest: %w", errdef.ErrNotFound)
			},
			sentinel: executor.ErrResolve, cause: errdef.ErrNotFound, reason: report.ReasonSubjectNotFound,
		},
		"an unreachable registry is REGISTRY_ERROR": {
			ref:      ref,
			resolve:  func(context.Context, string, string) error { return errConnReset },
			sentinel: executor.ErrResolve, cause: errConnReset, reason: report.ReasonRegistryError,
		},
		"a registry slower than the deadline is DEADLINE_EXCEEDED": {
			ref: ref,
			resolve: func(context.Context, string, string) error {
				return fmt.Errorf("dial: %w", context.DeadlineExceeded)
			},
			sentinel: executor.ErrResolve, cause: context.DeadlineExceeded, reason: report.ReasonDeadlineExceeded,
		},
		"an oversized manifest is LIMIT_EXCEEDED": {
			ref: ref,
			resolve: func(context.Context, string, string) error {
				return fmt.Errorf("manifest of 9 MiB: %w", errdef.ErrSizeExceedsLimit)
			},
			sentinel: executor.ErrResolve, cause: errdef.ErrSizeExceedsLimit, reason: report.ReasonLimitExceeded,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := newFakeStore().WithResolve(tc.resolve)
			s.pushImage(t, "v1")
			rep, err := newExecutor(t, s, executor.Options{Policy: policy(executor.Rule{ArtifactType: notary, Required: true})}).Verify(context.Background(), tc.ref)
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("err = %v, want %v", err, tc.sentinel)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("err = %v does not wrap %v", err, tc.cause)
			}
			checkWellFormed(t, rep, tc.ref)
			if rep.IsSuccess || rep.Reason != tc.reason || rep.Subject != "" || len(rep.Artifacts) != 0 || rep.Policy != nil {
				t.Errorf("report = %+v, want a failure with %s and no subject", rep, tc.reason)
			}
			if tc.sentinel == executor.ErrInvalidReference && len(s.repositories()) != 0 {
				t.Errorf("the store was asked about %v for an invalid reference", s.repositories())
			}
			if l := s.listings(); len(l) != 0 {
				t.Errorf("referrers were listed for a subject that was never pinned: %v", l)
			}
			if tc.sentinel != executor.ErrResolve {
				return
			}
			// Verify's error, and Resolve's (the mutate endpoints'), carry
			// the report's reason and message: both classify alike.
			for op, err := range map[string]error{"Verify": err, "Resolve": resolveErr(t, s, tc.ref)} {
				var re *executor.ResolveError
				if !errors.As(err, &re) {
					t.Fatalf("%s: err = %T %v, want a *executor.ResolveError", op, err, err)
				}
				if re.Reason() != rep.Reason || re.Message() != rep.Message {
					t.Errorf("%s: ResolveError says %s %q, the report %s %q", op, re.Reason(), re.Message(), rep.Reason, rep.Message)
				}
				if !errors.Is(err, executor.ErrResolve) || (tc.cause != nil && !errors.Is(err, tc.cause)) {
					t.Errorf("%s: err = %v does not wrap ErrResolve and %v", op, err, tc.cause)
				}
			}
		})
	}
}

// resolveErr returns the error of Resolve(ref) on an executor over s.
func resolveErr(t *testing.T, s *fakeStore, ref string) error {
	t.Helper()
	_, err := newExecutor(t, s, executor.Options{Policy: policy(executor.Rule{ArtifactType: notary, Required: true})}).Resolve(context.Background(), ref)
	if err == nil {
		t.Fatalf("Resolve(%s) succeeded", ref)
	}
	return err
}

var errConnReset = errors.New("connection reset by peer")

func TestReferencesArePinnedAndNormalised(t *testing.T) {
	// Images are content-addressed: every store built by a subtest holds
	// the same two.
	s := newFakeStore()
	latest := s.pushImage(t, "latest")
	tagged := s.pushImage(t, "1.27")
	tests := map[string]struct {
		ref          string
		wantRepo     string
		wantResolved string // the reference the store was asked to resolve; "" for none
		wantDigest   digest.Digest
		warned       bool
	}{
		"a bare name is normalised to Docker Hub's library and latest": {
			ref: "nginx", wantRepo: "docker.io/library/nginx", wantResolved: "latest", wantDigest: latest.Digest, warned: true,
		},
		"a tag is pinned to a digest with a warning": {
			ref: "nginx:1.27", wantRepo: "docker.io/library/nginx", wantResolved: "1.27", wantDigest: tagged.Digest, warned: true,
		},
		"a user repository on Docker Hub keeps its namespace": {
			ref: "acme/app:1.27", wantRepo: "docker.io/acme/app", wantResolved: "1.27", wantDigest: tagged.Digest, warned: true,
		},
		"a registry with a port is kept": {
			ref: "localhost:5000/app:1.27", wantRepo: "localhost:5000/app", wantResolved: "1.27", wantDigest: tagged.Digest, warned: true,
		},
		"a digest needs no warning and no resolution: its referrers are listed at once": {
			ref: "docker.io/library/nginx@" + latest.Digest.String(), wantRepo: "docker.io/library/nginx",
			wantDigest: latest.Digest,
		},
		"a tag and a digest pin the digest without resolving either": {
			ref: "nginx:1.27@" + latest.Digest.String(), wantRepo: "docker.io/library/nginx",
			wantDigest: latest.Digest,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := newFakeStore()
			images := map[digest.Digest]ocispec.Descriptor{}
			for _, tag := range []string{"latest", "1.27"} {
				d := st.pushImage(t, tag)
				images[d.Digest] = d
			}
			st.attach(t, images[tc.wantDigest], notary, "sig")
			v := newFakeVerifier("notation", notary).WithSignatureTypes(notary)
			rep := verify(t, st, executor.Options{Verifiers: []executor.Verifier{v}, Policy: policy(executor.Rule{ArtifactType: notary, Required: true})}, tc.ref)
			if !rep.IsSuccess {
				t.Fatalf("%s: %s", rep.Reason, rep.Message)
			}
			if got := st.repositories(); !slices.Equal(got, []string{tc.wantRepo}) {
				t.Errorf("the store saw repositories %v, want only %s", got, tc.wantRepo)
			}
			var wantResolved []string
			if tc.wantResolved != "" {
				wantResolved = []string{tc.wantRepo + " " + tc.wantResolved}
			}
			if !slices.Equal(st.resolutions(), wantResolved) {
				t.Errorf("resolved %v, want %v", st.resolutions(), wantResolved)
			}
			if want := tc.wantRepo + "@" + tc.wantDigest.String(); rep.Subject != want {
				t.Errorf("subject = %q, want %q", rep.Subject, want)
			}
			for _, j := range v.ran() {
				if j.Repository != tc.wantRepo || j.Subject.Digest != tc.wantDigest {
					t.Errorf("job for %s in %s on subject %s", j.Artifact.Digest, j.Repository, j.Subject.Digest)
				}
				// Pinned by digest, the subject's descriptor comes from
				// the signature manifest's subject field.
				if want := images[tc.wantDigest]; j.Subject.MediaType != want.MediaType || j.Subject.Size != want.Size {
					t.Errorf("job for %s has subject %+v, want %+v", j.Artifact.Digest, j.Subject, want)
				}
			}
			var reasons []report.Reason
			for _, w := range rep.Warnings {
				reasons = append(reasons, w.Reason)
				if w.Message == "" {
					t.Error("a warning without a message")
				}
			}
			var want []report.Reason
			if tc.warned {
				want = []report.Reason{report.ReasonTagResolved}
			}
			if !slices.Equal(reasons, want) {
				t.Errorf("warnings %v, want %v", reasons, want)
			}
		})
	}
}

func TestDiscoveryFailuresFailTheReport(t *testing.T) {
	tests := map[string]struct {
		// fail returns the error for listing the referrers of subject;
		// image and scan are the subject and its SBOM.
		fail   func(subject, image, scan ocispec.Descriptor) error
		policy *executor.Policy
		reason report.Reason
		// partial: the subject's own referrers are listed before the failure.
		partial bool
		// signedSBOM adds a Verifier "sboms" that requires the SBOM's
		// signature, so that the SBOM's referrers are listed.
		signedSBOM bool
	}{
		"a registry error listing referrers is REGISTRY_ERROR": {
			fail:   func(ocispec.Descriptor, ocispec.Descriptor, ocispec.Descriptor) error { return errConnReset },
			policy: optionalOnly(executor.Rule{ArtifactType: notary}),
			reason: report.ReasonRegistryError,
		},
		"a listing over the registry's size limit is LIMIT_EXCEEDED": {
			fail: func(ocispec.Descriptor, ocispec.Descriptor, ocispec.Descriptor) error {
				return fmt.Errorf("referrers index of 5 MiB: %w", errdef.ErrSizeExceedsLimit)
			},
			policy: optionalOnly(executor.Rule{ArtifactType: notary}),
			reason: report.ReasonLimitExceeded,
		},
		"a listing past the deadline is DEADLINE_EXCEEDED": {
			fail: func(ocispec.Descriptor, ocispec.Descriptor, ocispec.Descriptor) error {
				return fmt.Errorf("GET referrers: %w", context.DeadlineExceeded)
			},
			policy: optionalOnly(executor.Rule{ArtifactType: notary}),
			reason: report.ReasonDeadlineExceeded,
		},
		"a failure listing a nested level fails a report whose Policy is otherwise met": {
			fail: func(subject, image, scan ocispec.Descriptor) error {
				if subject.Digest == scan.Digest {
					return errConnReset
				}
				return nil
			},
			policy:     policy(executor.Rule{ArtifactType: notary, Required: true}),
			reason:     report.ReasonRegistryError,
			partial:    true,
			signedSBOM: true,
		},
		"a discovery failure is reported even without a Policy": {
			fail:   func(ocispec.Descriptor, ocispec.Descriptor, ocispec.Descriptor) error { return errConnReset },
			reason: report.ReasonRegistryError,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := newFakeStore()
			image := s.pushImage(t, "v1")
			sig := s.attach(t, image, notary, "sig")
			scan := s.attach(t, image, sbom, "sbom")
			s.attach(t, scan, notary, "sig of sbom")
			s.WithReferrers(func(_ context.Context, subject ocispec.Descriptor) error { return tc.fail(subject, image, scan) })
			opts := executor.Options{
				Verifiers: []executor.Verifier{newFakeVerifier("notation", notary).WithSignatureTypes(notary)},
				Policy:    tc.policy,
			}
			if tc.signedSBOM {
				opts.Verifiers = append(opts.Verifiers, newFakeVerifier("sboms", sbom))
				opts.RequireSignature = map[string]bool{"sboms": true}
			}
			rep := verify(t, s, opts, ref)
			if rep.IsSuccess || rep.Reason != tc.reason {
				t.Fatalf("isSuccess=%v reason=%s (%s), want a failure with %s", rep.IsSuccess, rep.Reason, rep.Message, tc.reason)
			}
			if rep.Subject != repo+"@"+image.Digest.String() {
				t.Errorf("subject = %q; a pinned subject stays in the report", rep.Subject)
			}
			if (tc.policy == nil) != (rep.Policy == nil) {
				t.Errorf("policy = %+v", rep.Policy)
			}
			if tc.partial {
				// What was found before the failure is still reported.
				if got := resultOf(t, rep, sig.Digest, "notation"); got.Verdict != report.Verified {
					t.Errorf("the signature found before the failure: %+v", got)
				}
				if a, _ := find(rep.Artifacts, scan.Digest); a == nil {
					t.Errorf("the SBOM found before the failure is missing: %+v", rep.Artifacts)
				}
			}
		})
	}
}

// countArtifacts counts the artifacts in a report tree.
func countArtifacts(arts []report.Artifact) int {
	n := 0
	walk(arts, func(string, report.Artifact) { n++ })
	return n
}

// swallowingStore ignores the callback's request to stop and keeps
// delivering pages, as a careless Store implementation might.
type swallowingStore struct{ *fakeStore }

func (s swallowingStore) Referrers(ctx context.Context, repository string, subject ocispec.Descriptor, fn func([]ocispec.Descriptor) error) error {
	return s.fakeStore.Referrers(ctx, repository, subject, func(page []ocispec.Descriptor) error {
		_ = fn(page)
		return nil
	})
}

// repeatingStore delivers every page twice, as a registry paging an index
// that changes under it might.
type repeatingStore struct{ *fakeStore }

func (s repeatingStore) Referrers(ctx context.Context, repository string, subject ocispec.Descriptor, fn func([]ocispec.Descriptor) error) error {
	return s.fakeStore.Referrers(ctx, repository, subject, func(page []ocispec.Descriptor) error {
		if err := fn(page); err != nil {
			return err
		}
		return fn(page)
	})
}

var _ executor.Store = swallowingStore{}
var _ executor.Store = repeatingStore{}

func TestNodeLimit(t *testing.T) {
	tests := map[string]struct {
		top, nested int // referrers of the subject, and of each of those
		maxNodes    int
		pageSize    int
		store       func(*fakeStore) executor.Store
		exceeded    bool
	}{
		"more referrers than MaxNodes is LIMIT_EXCEEDED": {
			top: 5, maxNodes: 3, exceeded: true,
		},
		"exactly MaxNodes referrers is within the limit": {
			top: 3, maxNodes: 3,
		},
		"more referrers than MaxNodes over many pages is LIMIT_EXCEEDED": {
			top: 7, maxNodes: 3, pageSize: 1, exceeded: true,
		},
		"MaxNodes counts nested referrers too": {
			top: 2, nested: 2, maxNodes: 5, exceeded: true,
		},
		"nested referrers within MaxNodes pass": {
			top: 2, nested: 2, maxNodes: 6,
		},
		"a store that ignores the request to stop still cannot exceed MaxNodes": {
			top: 9, maxNodes: 3, pageSize: 2, exceeded: true,
			store: func(s *fakeStore) executor.Store { return swallowingStore{s} },
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := newFakeStore().WithPageSize(tc.pageSize)
			image := s.pushImage(t, "v1")
			for i := range tc.top {
				a := s.attach(t, image, notary, fmt.Sprint("sig ", i))
				for j := range tc.nested {
					s.attach(t, a, cosignSig, fmt.Sprint("countersig ", i, j))
				}
			}
			var st executor.Store = s
			if tc.store != nil {
				st = tc.store(s)
			}
			opts := executor.Options{
				Verifiers: []executor.Verifier{newFakeVerifier("notation", notary).WithSignatureTypes(notary), newFakeVerifier("cosign", cosignSig).WithSignatureTypes(cosignSig)},
				Policy:    policy(executor.Rule{ArtifactType: notary, Required: true, Mode: executor.ModeAll}),
				MaxNodes:  tc.maxNodes,
			}
			if tc.nested > 0 {
				// Countersignatures are listed only when the signatures'
				// Verifier requires them.
				opts.RequireSignature = map[string]bool{"notation": true}
			}
			rep := verify(t, st, opts, ref)
			if n := countArtifacts(rep.Artifacts); n > tc.maxNodes {
				t.Errorf("reported %d artifacts past the limit of %d", n, tc.maxNodes)
			}
			if tc.exceeded {
				if rep.IsSuccess || rep.Reason != report.ReasonLimitExceeded {
					t.Errorf("isSuccess=%v reason=%s (%s), want LIMIT_EXCEEDED", rep.IsSuccess, rep.Reason, rep.Message)
				}
				return
			}
			if !rep.IsSuccess {
				t.Errorf("%s: %s", rep.Reason, rep.Message)
			}
			if n := countArtifacts(rep.Artifacts); n != tc.top*(1+tc.nested) {
				t.Errorf("reported %d artifacts, want %d", n, tc.top*(1+tc.nested))
			}
		})
	}
}

func TestARepeatedReferrerIsVerifiedOnce(t *testing.T) {
	s := newFakeStore()
	image := s.pushImage(t, "v1")
	sig := s.attach(t, image, notary, "sig")
	v := newFakeVerifier("notation", notary).WithSignatureTypes(notary)
	rep := verify(t, repeatingStore{s}, executor.Options{Verifiers: []executor.Verifier{v}, Policy: policy(executor.Rule{ArtifactType: notary, Mode: executor.ModeAll, Required: true})}, ref)
	if !rep.IsSuccess {
		t.Fatalf("%s: %s", rep.Reason, rep.Message)
	}
	if len(rep.Artifacts) != 1 || rep.Artifacts[0].Digest != sig.Digest.String() || len(v.ran()) != 1 {
		t.Errorf("artifacts %+v verified %d times, want the signature once", rep.Artifacts, len(v.ran()))
	}
	if rep.Policy.Rules[0].Found != 1 {
		t.Errorf("rule counted %d signatures, want 1", rep.Policy.Rules[0].Found)
	}
}

func TestNestedReferrers(t *testing.T) {
	// The image carries an SBOM, the SBOM a Notary Project signature, and
	// that signature a cosign countersignature. Verifier "sboms" handles
	// SBOMs, "notation" Notary Project signatures, "cosign" cosign
	// signatures. The referrers of an artifact are listed only below
	// MaxDepth and when a Verifier that handles its type requires its
	// signature: nothing else reads them.
	tests := map[string]struct {
		maxDepth int
		require  []string // the Verifiers in RequireSignature
		want     []string // the report tree as paths of artifact names
	}{
		"MaxDepth 1 lists the subject's referrers only": {
			maxDepth: 1,
			want:     []string{"sbom"},
		},
		"at the default depth of 2, nothing that needs the SBOM's referrers leaves them unlisted": {
			want: []string{"sbom"},
		},
		"a Verifier requiring the SBOM's signature puts it under the SBOM, and the default depth stops there": {
			require: []string{"sboms"},
			want:    []string{"sbom", "sbom/sig of sbom"},
		},
		"MaxDepth 3 does not list the signature's referrers when nothing requires its signature": {
			maxDepth: 3,
			require:  []string{"sboms"},
			want:     []string{"sbom", "sbom/sig of sbom"},
		},
		"MaxDepth 3 also lists the countersignature when the signature's Verifier requires one": {
			maxDepth: 3,
			require:  []string{"sboms", "notation"},
			want:     []string{"sbom", "sbom/sig of sbom", "sbom/sig of sbom/countersig"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := newFakeStore()
			image := s.pushImage(t, "v1")
			doc := s.attach(t, image, sbom, "sbom")
			sig := s.attach(t, doc, notary, "sig of sbom")
			counter := s.attach(t, sig, cosignSig, "countersig")
			names := map[string]string{doc.Digest.String(): "sbom", sig.Digest.String(): "sig of sbom", counter.Digest.String(): "countersig"}
			descs := map[digest.Digest]ocispec.Descriptor{image.Digest: image, doc.Digest: doc, sig.Digest: sig, counter.Digest: counter}
			parent := map[digest.Digest]digest.Digest{doc.Digest: image.Digest, sig.Digest: doc.Digest, counter.Digest: sig.Digest}

			verifiers := []*fakeVerifier{newFakeVerifier("sboms", sbom), newFakeVerifier("notation", notary).WithSignatureTypes(notary), newFakeVerifier("cosign", cosignSig).WithSignatureTypes(cosignSig)}
			opts := executor.Options{
				Policy:   policy(executor.Rule{ArtifactType: sbom, Required: true}),
				MaxDepth: tc.maxDepth,
			}
			for _, v := range verifiers {
				opts.Verifiers = append(opts.Verifiers, v)
			}
			depth := tc.maxDepth
			if depth == 0 {
				depth = executor.DefaultMaxDepth
			}
			if len(tc.require) > 0 {
				opts.RequireSignature = map[string]bool{}
				for _, name := range tc.require {
					opts.RequireSignature[name] = true
				}
			}
			rep := verify(t, s, opts, ref)
			if !rep.IsSuccess {
				t.Fatalf("%s: %s", rep.Reason, rep.Message)
			}
			var got []string
			walk(rep.Artifacts, func(p string, a report.Artifact) {
				var named []string
				for _, d := range strings.Split(p, "/") {
					named = append(named, names[d])
				}
				got = append(got, path.Join(named...))
				if len(a.Results) != 1 || a.Results[0].Verdict != report.Verified {
					t.Errorf("%s: results %+v", names[a.Digest], a.Results)
				}
				if desc := descs[digest.Digest(a.Digest)]; a.ArtifactType != desc.ArtifactType || a.MediaType != desc.MediaType {
					t.Errorf("%s: type %s media type %s, want %s %s", names[a.Digest], a.ArtifactType, a.MediaType, desc.ArtifactType, desc.MediaType)
				}
			})
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
			if a, depth := find(rep.Artifacts, sig.Digest); a != nil && depth != 2 {
				t.Errorf("the SBOM's signature is at depth %d, want 2", depth)
			}

			// The subject's referrers are always listed; an artifact's
			// only when its signature is required and it is above
			// MaxDepth: the deepest artifacts reported are never listed.
			chain := []ocispec.Descriptor{image, doc, sig, counter}
			listed := digests(chain[:1])
			for i, d := range chain[1:depth] {
				if !slices.Contains(tc.require, verifiers[i].name) {
					break
				}
				listed = append(listed, d.Digest)
			}
			if diff := cmp.Diff(listed, s.listings()); diff != "" {
				t.Errorf("listed the referrers of (-want +got):\n%s", diff)
			}

			// Every job names its parent as the subject, and every
			// reported artifact was verified once.
			ran := 0
			for _, v := range verifiers {
				for _, j := range v.ran() {
					ran++
					if j.Subject.Digest != parent[j.Artifact.Digest] || j.Repository != repo {
						t.Errorf("job for %s has subject %s in %s, want %s in %s", names[j.Artifact.Digest.String()], j.Subject.Digest, j.Repository, parent[j.Artifact.Digest], repo)
					}
					if j.Subject.MediaType != descs[j.Subject.Digest].MediaType || j.Subject.Size != descs[j.Subject.Digest].Size {
						t.Errorf("job for %s has a partial subject descriptor %+v", names[j.Artifact.Digest.String()], j.Subject)
					}
				}
			}
			if ran != len(tc.want) {
				t.Errorf("ran %d jobs, want one per reported artifact (%d)", ran, len(tc.want))
			}
		})
	}
}

func digests(ds []ocispec.Descriptor) []digest.Digest {
	out := make([]digest.Digest, len(ds))
	for i, d := range ds {
		out[i] = d.Digest
	}
	return out
}

func TestVerificationConcurrencyIsBounded(t *testing.T) {
	const jobs, limit = 20, 3
	s := newFakeStore()
	image := s.pushImage(t, "v1")
	for i := range jobs {
		s.attach(t, image, notary, fmt.Sprint("sig ", i))
	}
	g := newGate(jobs)
	v := newFakeVerifier("notation", notary).WithSignatureTypes(notary).WithBefore(func(ctx context.Context, _ executor.Job) { g.pass(ctx) })
	driven := make(chan struct{})
	go func() { defer close(driven); g.drive(t, jobs, limit) }()
	rep := verify(t, s, executor.Options{
		Verifiers:   []executor.Verifier{v},
		Policy:      policy(executor.Rule{ArtifactType: notary, Mode: executor.ModeAll, Required: true}),
		Concurrency: limit,
	}, ref)
	<-driven
	if !rep.IsSuccess {
		t.Fatalf("%s: %s", rep.Reason, rep.Message)
	}
	if got := v.maxInflight.Load(); got != limit {
		t.Errorf("at most %d jobs ran at once, want exactly the limit of %d", got, limit)
	}
	if got := len(v.ran()); got != jobs || g.extra.Load() != 0 {
		t.Errorf("ran %d jobs, want %d", got, jobs)
	}
}

func TestReferrerListingConcurrencyIsBounded(t *testing.T) {
	const artifacts, limit = 6, 2
	s := newFakeStore()
	image := s.pushImage(t, "v1")
	for i := range artifacts {
		a := s.attach(t, image, sbom, fmt.Sprint("sbom ", i))
		s.attach(t, a, notary, fmt.Sprint("sig ", i))
	}
	g := newGate(artifacts)
	s.WithReferrers(func(ctx context.Context, subject ocispec.Descriptor) error {
		if subject.Digest != image.Digest {
			g.pass(ctx)
		}
		return nil
	})
	driven := make(chan struct{})
	go func() { defer close(driven); g.drive(t, artifacts, limit) }()
	// The SBOMs' referrers are listed because their Verifier requires
	// their signatures.
	rep := verify(t, s, executor.Options{
		Concurrency:      limit,
		Verifiers:        []executor.Verifier{newFakeVerifier("sboms", sbom)},
		RequireSignature: map[string]bool{"sboms": true},
	}, ref)
	<-driven
	if got := g.maxInflight.Load(); got != limit {
		t.Errorf("at most %d listings ran at once, want exactly the limit of %d", got, limit)
	}
	if got := g.extra.Load(); got != 0 {
		t.Errorf("listed the referrers of %d artifacts beyond MaxDepth", got)
	}
	if n := countArtifacts(rep.Artifacts); n != 2*artifacts {
		t.Errorf("found %d artifacts, want %d", n, 2*artifacts)
	}
	if rep.Reason != report.ReasonNoPolicy {
		t.Errorf("reason %s, want NO_POLICY", rep.Reason)
	}
}

func TestNoPolicyNamesThePoliciesNotInEffect(t *testing.T) {
	s := newFakeStore()
	subject := s.pushImage(t, "v1")
	s.attach(t, subject, notary, "sig")
	left := []string{`Policy "signed": field spec.rules[0].artifactType: no Verifier handles "` + notary + `"`}
	for name, tc := range map[string]struct {
		left []string
		want string
	}{
		"none configured": {want: "no Policy is configured, so nothing defines success (1 artifact found)"},
		"one left out":    {left: left, want: "no Policy is in effect, so nothing defines success (1 artifact found); not in effect: " + left[0]},
	} {
		t.Run(name, func(t *testing.T) {
			rep := verify(t, s, executor.Options{Verifiers: []executor.Verifier{newFakeVerifier("notation", notary).WithSignatureTypes(notary)}, PoliciesNotInEffect: tc.left}, ref)
			if rep.IsSuccess || rep.Reason != report.ReasonNoPolicy || rep.Message != tc.want {
				t.Errorf("report %v %s %q, want a NO_POLICY failure %q", rep.IsSuccess, rep.Reason, rep.Message, tc.want)
			}
			if fix := strings.HasPrefix(rep.Remediation, "Fix the Policy named here"); fix != (tc.left != nil) {
				t.Errorf("remediation %q: want it to say to fix the Policy only when one is left out", rep.Remediation)
			}
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	s := newFakeStore()
	v := newFakeVerifier("n", notary)
	tests := map[string]executor.Options{
		"no store":                             {},
		"two verifiers with one name":          {Store: s, Verifiers: []executor.Verifier{v, newFakeVerifier("n", sbom)}},
		"a nil verifier":                       {Store: s, Verifiers: []executor.Verifier{nil}},
		"an unknown mode":                      {Store: s, Policy: policy(executor.Rule{ArtifactType: notary, Mode: "most", Required: true})},
		"two rules for one type":               {Store: s, Policy: policy(executor.Rule{ArtifactType: notary, Required: true}, executor.Rule{ArtifactType: notary, Mode: executor.ModeAll})},
		"a type in two rules, one of several":  {Store: s, Policy: policy(executor.Rule{ArtifactType: notary, Required: true}, executor.Rule{ArtifactTypes: []string{sbom, notary}})},
		"a type listed twice in a rule":        {Store: s, Policy: policy(executor.Rule{ArtifactTypes: []string{notary, notary}, Required: true})},
		"a rule with a type and types":         {Store: s, Policy: policy(executor.Rule{ArtifactType: notary, ArtifactTypes: []string{sbom}, Required: true})},
		"an empty type among several":          {Store: s, Policy: policy(executor.Rule{ArtifactTypes: []string{notary, ""}, Required: true})},
		"optional rules only":                  {Store: s, Policy: policy(executor.Rule{ArtifactType: notary}, executor.Rule{ArtifactTypes: []string{sbom, sarif}})},
		"AllowUnsigned beside a required rule": {Store: s, Policy: &executor.Policy{Name: "p", Rules: []executor.Rule{{ArtifactType: notary, Required: true}}, AllowUnsigned: true}},
		"a Policy without rules":               {Store: s, Policy: policy()},
		"a rule without a type":                {Store: s, Policy: policy(executor.Rule{Required: true})},
	}
	for name, o := range tests {
		t.Run(name, func(t *testing.T) {
			if e, err := executor.New(o); err == nil {
				t.Fatalf("accepted: %+v", e)
			}
		})
	}
}

func TestDiscoverListsWithoutVerifying(t *testing.T) {
	s := newFakeStore()
	image := s.pushImage(t, "v1")
	doc := s.attach(t, image, sbom, "sbom")
	sig := s.attach(t, doc, notary, "sig")
	v := newFakeVerifier("notation", notary, sbom)
	e := newExecutor(t, s, executor.Options{Verifiers: []executor.Verifier{v}, Policy: policy(executor.Rule{ArtifactType: sbom, Required: true})})
	rep, err := e.Discover(context.Background(), "localhost:5000/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if rep.IsSuccess || rep.Policy != nil || len(v.ran()) != 0 || rep.Message == "" {
		t.Fatalf("discover = %+v, verifier ran %d jobs", rep, len(v.ran()))
	}
	a, depth := find(rep.Artifacts, sig.Digest)
	// No verifier ran: every artifact has an empty list of results
	// (never null), as the message says.
	if a == nil || depth != 2 || a.Results == nil || len(a.Results) != 0 || len(rep.Artifacts) != 1 || rep.Artifacts[0].Digest != doc.Digest.String() {
		t.Errorf("tree = %+v", rep.Artifacts)
	}
	if want := "2 artifacts found, none verified (discovery runs no Verifier)"; rep.Message != want {
		t.Errorf("message %q, want %q", rep.Message, want)
	}
	if !rep.Timestamp.Equal(now) || len(rep.Warnings) != 1 {
		t.Errorf("timestamp %v warnings %+v", rep.Timestamp, rep.Warnings)
	}

	s.WithReferrers(func(context.Context, ocispec.Descriptor) error {
		return fmt.Errorf("list: %w", errdef.ErrSizeExceedsLimit)
	})
	rep, err = e.Discover(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if rep.IsSuccess || rep.Reason != report.ReasonLimitExceeded {
		t.Errorf("a failed discovery: isSuccess=%v reason=%s", rep.IsSuccess, rep.Reason)
	}

	_, err = e.Discover(context.Background(), repo+":missing")
	if !errors.Is(err, executor.ErrResolve) || !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("discover of a missing tag: %v", err)
	}
}

func TestConcurrentVerificationsShareAnExecutor(t *testing.T) {
	s := newFakeStore()
	image := s.pushImage(t, "v1")
	s.attach(t, image, notary, "sig")
	e := newExecutor(t, s, executor.Options{
		Verifiers: []executor.Verifier{newFakeVerifier("notation", notary).WithSignatureTypes(notary)},
		Policy:    policy(executor.Rule{ArtifactType: notary, Required: true}),
	})
	var wg sync.WaitGroup
	reps := make([]*report.Report, 8)
	for i := range reps {
		wg.Go(func() {
			rep, err := e.Verify(context.Background(), ref)
			if err != nil {
				t.Error(err)
			}
			reps[i] = rep
		})
	}
	wg.Wait()
	for i, rep := range reps {
		if rep == nil || !rep.IsSuccess {
			t.Errorf("verification %d: %+v", i, rep)
		}
	}
}

func TestVerifiersReadThroughTheStore(t *testing.T) {
	s := newFakeStore()
	image := s.pushImage(t, "v1")
	small := s.attach(t, image, notary, "small")
	huge := s.attach(t, image, notary, "huge")
	var mu sync.Mutex
	fetched := map[digest.Digest]bool{}
	s.WithFetch(func(_ context.Context, desc ocispec.Descriptor) error {
		mu.Lock()
		defer mu.Unlock()
		fetched[desc.Digest] = true
		if desc.Digest == huge.Digest {
			return fmt.Errorf("manifest of 9 MiB: %w", errdef.ErrSizeExceedsLimit)
		}
		return nil
	})
	rep := verify(t, s, executor.Options{
		Verifiers: []executor.Verifier{newFakeVerifier("notation", notary).WithSignatureTypes(notary)},
		Policy:    policy(executor.Rule{ArtifactType: notary, Mode: executor.ModeAll, Required: true}),
	}, "localhost:5000/app:v1")
	if !fetched[small.Digest] || !fetched[huge.Digest] {
		t.Errorf("fetched %v, want both signatures read through the store", fetched)
	}
	if got := resultOf(t, rep, small.Digest, "notation"); got.Verdict != report.Verified {
		t.Errorf("small signature: %+v", got)
	}
	// A verifier error that wraps a size limit names the limit.
	if got := resultOf(t, rep, huge.Digest, "notation"); got.Verdict != report.Inconclusive || got.Reason != report.ReasonLimitExceeded {
		t.Errorf("oversized signature: %+v, want inconclusive LIMIT_EXCEEDED", got)
	}
	if rep.IsSuccess || rep.Reason != report.ReasonLimitExceeded {
		t.Errorf("isSuccess=%v reason=%s", rep.IsSuccess, rep.Reason)
	}
}
