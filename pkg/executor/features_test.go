package executor_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/assayproj/assay/pkg/executor"
	"github.com/assayproj/assay/pkg/report"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
)

// attachCreated pushes an artifact of artifactType with the given
// org.opencontainers.image.created annotation ("" for none).
func (s *fakeStore) attachCreated(t *testing.T, subject ocispec.Descriptor, artifactType, name, created string) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	blob, err := oras.PushBytes(ctx, s.mem, "application/octet-stream", []byte(artifactType+" "+name))
	if err != nil {
		t.Fatal(err)
	}
	ann := map[string]string{ocispec.AnnotationTitle: name}
	if created != "" {
		ann[ocispec.AnnotationCreated] = created
	}
	d, err := oras.PackManifest(ctx, s.mem, oras.PackManifestVersion1_1, artifactType, oras.PackManifestOptions{
		Subject: &subject, Layers: []ocispec.Descriptor{blob}, ManifestAnnotations: ann,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.tag(t, d, "")
	return d
}

// pushIndex pushes an image index of manifests (with their platforms)
// tagged tag, plus a BuildKit attestation manifest that must be ignored.
func (s *fakeStore) pushIndex(t *testing.T, tag string, manifests ...ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	att := s.pushImage(t, tag+"-attestation")
	att.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
	att.Annotations = map[string]string{"vnd.docker.reference.type": "attestation-manifest"}
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: append(manifests, att)}
	raw, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	d := content.NewDescriptorFromBytes(ocispec.MediaTypeImageIndex, raw)
	if err := s.mem.Push(context.Background(), d, strings.NewReader(string(raw))); err != nil {
		t.Fatal(err)
	}
	s.tag(t, d, tag)
	return d
}

func platform(d ocispec.Descriptor, os, arch string) ocispec.Descriptor {
	d.Platform = &ocispec.Platform{OS: os, Architecture: arch}
	return d
}

func TestMultiArchPolicies(t *testing.T) {
	st := newFakeStore()
	amd := platform(st.pushImage(t, "amd64"), "linux", "amd64")
	arm := platform(st.pushImage(t, "arm64"), "linux", "arm64")
	st.attach(t, amd, notary, "amd-sig")
	st.attach(t, arm, notary, "arm-sig")
	st.pushIndex(t, "all-signed", amd, arm)
	unsignedArm := platform(st.pushImage(t, "arm64-unsigned"), "linux", "arm64")
	oneUnsigned := st.pushIndex(t, "one-unsigned", amd, unsignedArm)
	st.attach(t, oneUnsigned, notary, "index-sig") // the index itself is signed

	tests := map[string]struct {
		mode      executor.MultiArch
		index     string
		success   bool
		reason    report.Reason
		coverage  string // "" means no coverage reported
		inMessage string
	}{
		"index mode checks the index's own artifacts: an unsigned index fails": {
			mode: "", index: "all-signed", reason: report.ReasonNoSignature,
		},
		"index mode passes a signed index whatever its platforms": {
			mode: executor.MultiArchIndex, index: "one-unsigned", success: true, reason: report.ReasonVerified,
		},
		"platforms mode passes when every platform is signed": {
			mode: executor.MultiArchPlatforms, index: "all-signed", success: true, reason: report.ReasonVerified,
			coverage: "2 of 2 platforms pass", inMessage: "every platform",
		},
		"platforms mode fails on one unsigned platform, naming it": {
			mode: executor.MultiArchPlatforms, index: "one-unsigned", reason: report.ReasonNoSignature,
			coverage: "1 of 2 platforms pass", inMessage: "linux/arm64 " + unsignedArm.Digest.String(),
		},
		"either mode passes on the signed index alone": {
			mode: executor.MultiArchEither, index: "one-unsigned", success: true, reason: report.ReasonVerified,
			coverage: "1 of 2 platforms pass", inMessage: "the index itself passes",
		},
		"either mode passes an unsigned index whose platforms are all signed": {
			mode: executor.MultiArchEither, index: "all-signed", success: true, reason: report.ReasonVerified,
			coverage: "2 of 2 platforms pass",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			pol := policy(executor.Rule{ArtifactType: notary, Required: true})
			pol.MultiArch = tc.mode
			rep := verify(t, st, executor.Options{Verifiers: []executor.Verifier{newFakeVerifier("notation", notary).WithSignatureTypes(notary)}, Policy: pol}, repo+":"+tc.index)
			if rep.IsSuccess != tc.success || rep.Reason != tc.reason {
				t.Fatalf("isSuccess %v reason %s (%s), want %v %s", rep.IsSuccess, rep.Reason, rep.Message, tc.success, tc.reason)
			}
			if tc.coverage == "" {
				if rep.Coverage != nil || rep.Platforms != nil {
					t.Fatalf("platforms checked in index mode: %+v", rep.Coverage)
				}
				return
			}
			if rep.Coverage == nil || rep.Coverage.Message != tc.coverage || rep.Coverage.Mode != string(tc.mode) || len(rep.Platforms) != 2 {
				t.Fatalf("coverage %+v, %d platforms; want %q over 2 platforms (the attestation manifest ignored)", rep.Coverage, len(rep.Platforms), tc.coverage)
			}
			if !strings.Contains(rep.Message, tc.inMessage) {
				t.Errorf("message %q does not contain %q", rep.Message, tc.inMessage)
			}
			for _, p := range rep.Platforms {
				if p.Platform != "linux/amd64" && p.Platform != "linux/arm64" {
					t.Errorf("platform %q", p.Platform)
				}
				if p.IsSuccess != (p.Digest != unsignedArm.Digest.String()) {
					t.Errorf("platform %s %s: isSuccess %v (%s)", p.Platform, p.Digest, p.IsSuccess, p.Message)
				}
			}
		})
	}
}

func TestTheNewestArtifactDecidesInModeNewest(t *testing.T) {
	tests := map[string]struct {
		olderFails, newerFails bool
		success                bool
	}{
		"an older failing report does not count when the newest verifies": {olderFails: true, success: true},
		"a newer failing report fails although an older one verifies":     {newerFails: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := newFakeStore()
			img := st.pushImage(t, "v1")
			older := st.attachCreated(t, img, sarif, "older", "2026-11-01T00:00:00Z")
			newer := st.attachCreated(t, img, sarif, "newer", "2026-11-20T00:00:00Z")
			v := newFakeVerifier("reports", sarif)
			if tc.olderFails {
				v.WithVerdict(older.Digest, report.Failed, report.ReasonVerificationFailed)
			}
			if tc.newerFails {
				v.WithVerdict(newer.Digest, report.Failed, report.ReasonVerificationFailed)
			}
			rep := verify(t, st, executor.Options{Verifiers: []executor.Verifier{v},
				Policy: policy(executor.Rule{ArtifactType: sarif, Mode: executor.ModeNewest, Required: true})}, ref)
			rule := rep.Policy.Rules[0]
			if rep.IsSuccess != tc.success || rule.Satisfied != tc.success || rule.Found != 2 {
				t.Fatalf("isSuccess %v, rule %+v", rep.IsSuccess, rule)
			}
			if !strings.Contains(rule.Message, "the newest of 2 "+sarif+" ("+newer.Digest.String()+", created 2026-11-20T00:00:00Z)") {
				t.Errorf("rule message %q does not name the newest report", rule.Message)
			}
		})
	}
}

func TestRequireSignatureOnAnArtifact(t *testing.T) {
	st := newFakeStore()
	img := st.pushImage(t, "v1")
	signedReport := st.attach(t, img, sarif, "signed")
	sig := st.attach(t, signedReport, notary, "report-sig")
	unsignedImg := st.pushImage(t, "v2")
	st.attach(t, unsignedImg, sarif, "unsigned")
	badImg := st.pushImage(t, "v3")
	badReport := st.attach(t, badImg, sarif, "badly signed")
	badSig := st.attach(t, badReport, notary, "bad-sig")
	st.attach(t, badReport, sbom, "an SBOM of the report is no signature")
	lostImg := st.pushImage(t, "v4")
	lostReport := st.attach(t, lostImg, sarif, "signature not checked")
	lostSig := st.attach(t, lostReport, notary, "lost-sig")

	notation := newFakeVerifier("notation", notary).WithSignatureTypes(notary).
		WithVerdict(badSig.Digest, report.Failed, report.ReasonSignatureUntrusted).
		WithVerdict(lostSig.Digest, report.Inconclusive, report.ReasonPluginUnavailable)
	opts := executor.Options{
		Verifiers:        []executor.Verifier{newFakeVerifier("reports", sarif), notation, newFakeVerifier("sboms", sbom)},
		Policy:           policy(executor.Rule{ArtifactType: sarif, Required: true}),
		RequireSignature: map[string]bool{"reports": true},
	}
	reportResult := func(rep *report.Report) report.Result {
		t.Helper()
		for _, a := range rep.Artifacts {
			if a.ArtifactType == sarif {
				return a.Results[0]
			}
		}
		t.Fatalf("no %s artifact in %+v", sarif, rep.Artifacts)
		return report.Result{}
	}

	rep := verify(t, st, opts, repo+":v1")
	if !rep.IsSuccess {
		t.Fatalf("signed report: %s %s", rep.Reason, rep.Message)
	}
	details, _ := reportResult(rep).Details["signature"].(map[string]any)
	if details["digest"] != sig.Digest.String() || details["verifier"] != "notation" || details["verdict"] != "verified" {
		t.Errorf("the signature that counted is not shown: %v", reportResult(rep).Details)
	}
	// No signature at all: NO_SIGNATURE.
	rep = verify(t, st, opts, repo+":v2")
	if r := reportResult(rep); rep.IsSuccess || r.Verdict != report.Failed || r.Reason != report.ReasonNoSignature || !strings.Contains(r.Message, `Verifier "reports" requires one`) {
		t.Errorf("unsigned report: isSuccess %v, result %s %s %q", rep.IsSuccess, r.Verdict, r.Reason, r.Message)
	}
	// A signature found and untrusted: its reason, up to the report's.
	rep = verify(t, st, opts, repo+":v3")
	r := reportResult(rep)
	if rep.IsSuccess || r.Verdict != report.Failed || r.Reason != report.ReasonSignatureUntrusted || rep.Reason != report.ReasonSignatureUntrusted {
		t.Errorf("badly signed report: isSuccess %v %s, result %s %s %q", rep.IsSuccess, rep.Reason, r.Verdict, r.Reason, r.Message)
	}
	for _, d := range []digest.Digest{badReport.Digest, badSig.Digest} {
		if !strings.Contains(r.Message, d.String()) || !strings.Contains(rep.Message, d.String()) {
			t.Errorf("badly signed report: messages %q / %q do not name %s", r.Message, rep.Message, d)
		}
	}
	if got, _ := r.Details["signature"].(map[string]any); got["digest"] != badSig.Digest.String() || got["reason"] != string(report.ReasonSignatureUntrusted) || got["verdict"] != "failed" {
		t.Errorf("badly signed report: details.signature %v", r.Details["signature"])
	}
	if r.Remediation == "" {
		t.Errorf("badly signed report: no remediation")
	}
	// A signature that could not be checked: inconclusive, not failed.
	rep = verify(t, st, opts, repo+":v4")
	if r := reportResult(rep); rep.IsSuccess || r.Verdict != report.Inconclusive || r.Reason != report.ReasonPluginUnavailable || !strings.Contains(r.Message, lostSig.Digest.String()) {
		t.Errorf("report with an unchecked signature: isSuccess %v, result %s %s %q", rep.IsSuccess, r.Verdict, r.Reason, r.Message)
	}

	if _, err := executor.New(executor.Options{Store: st, Verifiers: opts.Verifiers, RequireSignature: opts.RequireSignature, MaxDepth: 1}); err == nil {
		t.Error("RequireSignature with MaxDepth 1 was accepted")
	}
	if _, err := executor.New(executor.Options{Store: st, Verifiers: opts.Verifiers, RequireSignature: map[string]bool{"nobody": true}}); err == nil {
		t.Error("RequireSignature naming no verifier was accepted")
	}
}

// Only a referrer of a type some Verifier declares a signature signs an
// artifact: a verified referrer of another type does not.
func TestRequireSignatureCountsOnlyDeclaredSignatureTypes(t *testing.T) {
	st := newFakeStore()
	img := st.pushImage(t, "v1")
	doc := st.attach(t, img, sarif, "report")
	st.attach(t, doc, notary, "report-sig")
	for name, tc := range map[string]struct {
		notation *fakeVerifier
		want     report.Verdict
	}{
		"the plugin declares its type a signature": {newFakeVerifier("notation", notary).WithSignatureTypes(notary), report.Verified},
		"the plugin declares no signature type":    {newFakeVerifier("notation", notary), report.Failed},
	} {
		t.Run(name, func(t *testing.T) {
			rep := verify(t, st, executor.Options{
				Verifiers:        []executor.Verifier{newFakeVerifier("reports", sarif), tc.notation},
				Policy:           policy(executor.Rule{ArtifactType: sarif, Required: true}),
				RequireSignature: map[string]bool{"reports": true},
			}, repo+":v1")
			r := resultOf(t, rep, doc.Digest, "reports")
			if r.Verdict != tc.want {
				t.Fatalf("report result %s %s %q, want %s", r.Verdict, r.Reason, r.Message, tc.want)
			}
			if tc.want == report.Failed && r.Reason != report.ReasonNoSignature {
				t.Errorf("reason %s, want NO_SIGNATURE", r.Reason)
			}
		})
	}
}
