package executor_test

import (
	"strings"
	"testing"

	"github.com/assayproj/assay/pkg/executor"
	"github.com/assayproj/assay/pkg/report"
	"github.com/google/go-cmp/cmp"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The two layouts of a cosign signature: v2 (the classic tag, and the OCI
// 1.1 referrer) and the v3 Sigstore bundle.
const (
	cosignV2 = "application/vnd.dev.cosign.artifact.sig.v1+json"
	cosignV3 = "application/vnd.dev.sigstore.bundle.v0.3+json"
	eitherOf = cosignV2 + " or " + cosignV3
)

// TestARuleOfSeveralTypes: a rule with ArtifactTypes counts the artifacts
// of all its types together under its mode.
func TestARuleOfSeveralTypes(t *testing.T) {
	type attached struct {
		artifactType, created string
		verdict               report.Verdict // "" means verified
	}
	either := func(mode executor.Mode, required bool) executor.Rule {
		return executor.Rule{ArtifactTypes: []string{cosignV2, cosignV3}, Mode: mode, Required: required}
	}
	tests := map[string]struct {
		attached []attached
		rule     executor.Rule
		// notSignatures: the Verifier does not declare the types signatures.
		notSignatures                         bool
		success                               bool
		reason                                report.Reason
		found, verified, failed, inconclusive int
		message                               string // the rule's message; "" means not checked
	}{
		"any: a v3 bundle alone passes": {
			attached: []attached{{artifactType: cosignV3}},
			rule:     either(executor.ModeAny, true),
			success:  true, reason: report.ReasonVerified, found: 1, verified: 1,
			message: "1 of 1 " + cosignV3 + " verified (of " + eitherOf + ")",
		},
		"any: a v2 signature alone passes": {
			attached: []attached{{artifactType: cosignV2}},
			rule:     either(executor.ModeAny, true),
			success:  true, reason: report.ReasonVerified, found: 1, verified: 1,
			message: "1 of 1 " + cosignV2 + " verified (of " + eitherOf + ")",
		},
		"any: nothing attached fails a required rule with NO_SIGNATURE, naming both types": {
			rule:    either(executor.ModeAny, true),
			reason:  report.ReasonNoSignature,
			message: "no signature of type " + eitherOf + " is attached to the image",
		},
		"any: nothing attached of types that are not signatures is ARTIFACT_MISSING": {
			rule: either(executor.ModeAny, true), notSignatures: true,
			reason:  report.ReasonArtifactMissing,
			message: "no artifact of type " + eitherOf + " is attached to the image",
		},
		"any: a failed v2 signature beside a verified v3 bundle passes": {
			attached: []attached{{artifactType: cosignV2, verdict: report.Failed}, {artifactType: cosignV3}},
			rule:     either(executor.ModeAny, true),
			success:  true, reason: report.ReasonVerified, found: 2, verified: 1, failed: 1,
			message: "1 of 2 " + cosignV2 + " and " + cosignV3 + " verified (of " + eitherOf + ")",
		},
		"any: an inconclusive bundle alone fails with its reason": {
			attached: []attached{{artifactType: cosignV3, verdict: report.Inconclusive}},
			rule:     either(executor.ModeAny, true),
			reason:   report.ReasonPluginError, found: 1, inconclusive: 1,
		},
		"all: a failed v2 signature fails although the v3 bundle verifies": {
			attached: []attached{{artifactType: cosignV2, verdict: report.Failed}, {artifactType: cosignV3}},
			rule:     either(executor.ModeAll, true),
			reason:   report.ReasonSignatureUntrusted, found: 2, verified: 1, failed: 1,
		},
		"all: both layouts verified pass": {
			attached: []attached{{artifactType: cosignV2}, {artifactType: cosignV3}, {artifactType: cosignV3}},
			rule:     either(executor.ModeAll, true),
			success:  true, reason: report.ReasonVerified, found: 3, verified: 3,
		},
		"all: a type of which nothing is attached does not count against the rule": {
			attached: []attached{{artifactType: cosignV3}},
			rule:     either(executor.ModeAll, true),
			success:  true, reason: report.ReasonVerified, found: 1, verified: 1,
		},
		"newest: a newer verified v2 signature wins over an older failed bundle": {
			attached: []attached{
				{artifactType: cosignV3, created: "2026-11-01T00:00:00Z", verdict: report.Failed},
				{artifactType: cosignV2, created: "2026-11-20T00:00:00Z"},
			},
			rule:    either(executor.ModeNewest, true),
			success: true, reason: report.ReasonVerified, found: 2, verified: 1, failed: 1,
		},
		"newest: a newer failed bundle fails although an older v2 signature verifies": {
			attached: []attached{
				{artifactType: cosignV2, created: "2026-11-01T00:00:00Z"},
				{artifactType: cosignV3, created: "2026-11-20T00:00:00Z", verdict: report.Failed},
			},
			rule:   either(executor.ModeNewest, true),
			reason: report.ReasonSignatureUntrusted, found: 2, verified: 1, failed: 1,
		},
		"newest: nothing attached fails a required rule": {
			rule:   either(executor.ModeNewest, true),
			reason: report.ReasonNoSignature,
		},
		"optional: nothing attached passes (the Policy allows unsigned images)": {
			rule:    either(executor.ModeAny, false),
			success: true, reason: report.ReasonVerified,
			message: "no " + eitherOf + " found; not required",
		},
		"optional: an attached artifact must still verify": {
			attached: []attached{{artifactType: cosignV3, verdict: report.Failed}},
			rule:     either(executor.ModeAny, false),
			reason:   report.ReasonSignatureUntrusted, found: 1, failed: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := newFakeStore()
			img := st.pushImage(t, "v1")
			v := newFakeVerifier("cosign", cosignV2, cosignV3)
			if !tc.notSignatures {
				v.WithSignatureTypes(cosignV2, cosignV3)
			}
			var newest ocispec.Descriptor
			for i, a := range tc.attached {
				d := st.attachCreated(t, img, a.artifactType, string(rune('a'+i)), a.created)
				newest = d
				switch a.verdict {
				case report.Failed:
					v.WithVerdict(d.Digest, report.Failed, report.ReasonSignatureUntrusted)
				case report.Inconclusive:
					v.WithVerdict(d.Digest, report.Inconclusive, report.ReasonPluginError)
				}
			}
			pol := policy(tc.rule)
			pol.AllowUnsigned = !tc.rule.Required
			rep := verify(t, st, executor.Options{Verifiers: []executor.Verifier{v}, Policy: pol}, ref)
			if rep.IsSuccess != tc.success || rep.Reason != tc.reason {
				t.Fatalf("isSuccess %v reason %s (%s), want %v %s", rep.IsSuccess, rep.Reason, rep.Message, tc.success, tc.reason)
			}
			want := []report.RuleResult{{
				ArtifactTypes: []string{cosignV2, cosignV3}, Mode: string(tc.rule.Mode), Required: tc.rule.Required,
				Satisfied: tc.success, Found: tc.found, Verified: tc.verified, Failed: tc.failed, Inconclusive: tc.inconclusive,
				Reason: tc.reason,
			}}
			if diff := cmp.Diff(want, rep.Policy.Rules, ignoreText); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
			got := rep.Policy.Rules[0]
			if tc.message != "" && got.Message != tc.message {
				t.Errorf("rule message %q, want %q", got.Message, tc.message)
			}
			if tc.rule.Mode == executor.ModeNewest && tc.found > 0 {
				// The newest is the one attached last; the message names its type.
				if wantIn := newest.ArtifactType + " " + newest.Digest.String() + ", created 2026-11-20T00:00:00Z"; !strings.Contains(got.Message, wantIn) {
					t.Errorf("rule message %q does not name the newest artifact (%s)", got.Message, wantIn)
				}
			}
			if !tc.success && got.Remediation == "" {
				t.Errorf("an unsatisfied rule without remediation: %+v", got)
			}
		})
	}
}

// TestAllowUnsignedSaysSoWhenNothingIsVerified: a report admitted under
// AllowUnsigned with nothing verified says so; one that verified
// something does not.
func TestAllowUnsignedSaysSoWhenNothingIsVerified(t *testing.T) {
	st := newFakeStore()
	st.pushImage(t, "bare")
	scanned := st.pushImage(t, "scanned")
	st.attach(t, scanned, sarif, "scan")
	// An index whose platforms carry nothing, checked platform by platform.
	amd := platform(st.pushImage(t, "amd64"), "linux", "amd64")
	arm := platform(st.pushImage(t, "arm64"), "linux", "arm64")
	st.pushIndex(t, "bare-index", amd, arm)

	tests := map[string]struct {
		tag       string
		multiArch executor.MultiArch
		message   string
	}{
		"an image with nothing attached": {
			tag:     "bare",
			message: `policy "p" satisfied; ` + executor.AdmittedUnverified,
		},
		"an image whose optional report verified": {
			tag:     "scanned",
			message: `policy "p" satisfied: 1 of 1 ` + sarif + " verified",
		},
		"an index whose platforms carry nothing": {
			tag: "bare-index", multiArch: executor.MultiArchPlatforms,
			message: `policy "p" satisfied by every platform: 2 of 2 platforms pass; ` + executor.AdmittedUnverified,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			pol := &executor.Policy{Name: "p", Rules: []executor.Rule{{ArtifactType: sarif}}, AllowUnsigned: true, MultiArch: tc.multiArch}
			rep := verify(t, st, executor.Options{Verifiers: []executor.Verifier{newFakeVerifier("reports", sarif)}, Policy: pol}, repo+":"+tc.tag)
			if !rep.IsSuccess || rep.Message != tc.message {
				t.Errorf("isSuccess %v message %q, want success with %q", rep.IsSuccess, rep.Message, tc.message)
			}
			for _, p := range rep.Platforms {
				if !strings.Contains(p.Message, executor.AdmittedUnverified) {
					t.Errorf("platform %s: message %q does not say it was admitted with nothing verified", p.Platform, p.Message)
				}
			}
		})
	}
}
