package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/assayproj/assay/pkg/cosigntest"
	"github.com/assayproj/assay/pkg/report"
)

// cosignConfig renders a Store for host, a Verifier "cosign" of both
// cosign artifact types with params, and a Policy requiring one
// artifact of artifactType.
func cosignConfig(t *testing.T, host string, params []byte, artifactType string) string {
	t.Helper()
	doc := fmt.Sprintf(`apiVersion: config.assay.dev/v1alpha1
kind: Store
metadata: {name: registries}
spec:
  registries:
    - {host: %q, plainHTTP: true}
---
apiVersion: config.assay.dev/v1alpha1
kind: Verifier
metadata: {name: cosign}
spec:
  plugin: cosign
  artifactTypes: [%s, %s]
  parameters: %s
---
apiVersion: config.assay.dev/v1alpha1
kind: Policy
metadata: {name: signed}
spec:
  rules:
    - {artifactType: %s, required: true, mode: any}
`, host, cosigntest.SignatureArtifactType, cosigntest.BundleArtifactType, params, artifactType)
	path := filepath.Join(t.TempDir(), "assay.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// cosignCase pushes an image and its signature to repo and returns the
// plugin parameters and the artifact type the policy requires.
type cosignCase struct {
	setup   func(t *testing.T, repo *remote.Repository, subject ocispec.Descriptor, manifest []byte) (params cosigntest.Params, artifactType string)
	want    outcome
	details map[string]any
}

func TestVerifyCosignSignaturesOnRealRegistries(t *testing.T) {
	sig, bun := cosigntest.SignatureArtifactType, cosigntest.BundleArtifactType
	cases := map[string]cosignCase{
		"a legacy .sig signature by a trusted key is verified": {
			setup: func(t *testing.T, r *remote.Repository, d ocispec.Descriptor, _ []byte) (cosigntest.Params, string) {
				k := cosigntest.MustKey(t, cosigntest.ECDSA)
				cosigntest.MustPushClassic(t, r, d, cosigntest.MustSignClassic(t, k, d, cosigntest.SignOptions{Repository: r.Reference.String()}))
				return cosigntest.KeyParams(r.Reference.String(), k), sig
			},
			want:    outcome{success: true, reason: report.ReasonVerified, verdict: report.Verified},
			details: map[string]any{"key": "key0", "signatureFormat": "simplesigning"},
		},
		"a legacy .sig signature by another key fails with SIGNATURE_UNTRUSTED": {
			setup: func(t *testing.T, r *remote.Repository, d ocispec.Descriptor, _ []byte) (cosigntest.Params, string) {
				k, other := cosigntest.MustKey(t, cosigntest.ECDSA), cosigntest.MustKey(t, cosigntest.ECDSA)
				cosigntest.MustPushClassic(t, r, d, cosigntest.MustSignClassic(t, other, d, cosigntest.SignOptions{}))
				return cosigntest.KeyParams(r.Reference.String(), k), sig
			},
			want: outcome{reason: report.ReasonSignatureUntrusted, verdict: report.Failed},
		},
		"a keyless .sig signature with a Rekor bundle from the local trusted root is verified": {
			setup: func(t *testing.T, r *remote.Repository, d ocispec.Descriptor, _ []byte) (cosigntest.Params, string) {
				s := cosigntest.MustSigstore(t)
				cosigntest.MustPushClassic(t, r, d, s.MustSignClassic(t, d, cosigntest.KeylessOptions{}))
				return s.MustKeylessParams(t, r.Reference.String(), "", ""), sig
			},
			want:    outcome{success: true, reason: report.ReasonVerified, verdict: report.Verified},
			details: map[string]any{"subject": cosigntest.DefaultIdentity, "issuer": cosigntest.DefaultIssuer, "tlogVerified": true},
		},
		"a keyless signature by another identity fails with IDENTITY_MISMATCH": {
			setup: func(t *testing.T, r *remote.Repository, d ocispec.Descriptor, _ []byte) (cosigntest.Params, string) {
				s := cosigntest.MustSigstore(t)
				cosigntest.MustPushClassic(t, r, d, s.MustSignClassic(t, d, cosigntest.KeylessOptions{Identity: "mallory@assay.test"}))
				return s.MustKeylessParams(t, r.Reference.String(), "", ""), sig
			},
			want: outcome{reason: report.ReasonIdentityMismatch, verdict: report.Failed},
		},
		"a tampered .sig payload fails with SIGNATURE_INVALID": {
			setup: func(t *testing.T, r *remote.Repository, d ocispec.Descriptor, _ []byte) (cosigntest.Params, string) {
				s := cosigntest.MustSigstore(t)
				l := s.MustSignClassic(t, d, cosigntest.KeylessOptions{})
				l.Payload = []byte(strings.Replace(string(l.Payload), `"optional":null`, `"optional":{"by":"mallory"}`, 1))
				cosigntest.MustPushClassic(t, r, d, l)
				return s.MustKeylessParams(t, r.Reference.String(), "", ""), sig
			},
			want: outcome{reason: report.ReasonSignatureInvalid, verdict: report.Failed},
		},
		"a keyless cosign v3 bundle referrer is verified": {
			setup: func(t *testing.T, r *remote.Repository, d ocispec.Descriptor, _ []byte) (cosigntest.Params, string) {
				s := cosigntest.MustSigstore(t)
				cosigntest.MustPushBundle(t, r, d, s.MustSignBundle(t, d, cosigntest.BundleOptions{Repository: r.Reference.String()}))
				return s.MustKeylessParams(t, r.Reference.String(), "", ""), bun
			},
			want:    outcome{success: true, reason: report.ReasonVerified, verdict: report.Verified},
			details: map[string]any{"signatureFormat": "bundle", "bundleContent": "dsse-envelope", "subject": cosigntest.DefaultIdentity},
		},
		"a key-signed cosign v3 bundle referrer is verified": {
			setup: func(t *testing.T, r *remote.Repository, d ocispec.Descriptor, _ []byte) (cosigntest.Params, string) {
				k := cosigntest.MustKey(t, cosigntest.ECDSA)
				cosigntest.MustPushBundle(t, r, d, cosigntest.MustSignBundleWithKey(t, k, d, cosigntest.BundleOptions{}))
				return cosigntest.KeyParams(r.Reference.String(), k), bun
			},
			want:    outcome{success: true, reason: report.ReasonVerified, verdict: report.Verified},
			details: map[string]any{"key": "key0", "signatureFormat": "bundle"},
		},
	}
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			i := 0
			for name, tc := range cases {
				i++
				repoName := fmt.Sprintf("cosign/case%d", i)
				t.Run(name, func(t *testing.T) {
					r := mustRepo(t, host+"/"+repoName)
					d, manifest := cosigntest.MustPushImage(t, r, "v1")
					params, artifactType := tc.setup(t, r, d, manifest)
					cfg := cosignConfig(t, host, cosigntest.MustJSON(t, params), artifactType)
					rep, res := verifyJSON(t, cfg, nil, r.Reference.String()+":v1")
					if rep.IsSuccess != tc.want.success || rep.Reason != tc.want.reason {
						t.Fatalf("isSuccess=%v reason=%s (%s); want isSuccess=%v reason=%s\nstderr:\n%s", rep.IsSuccess, rep.Reason, rep.Message, tc.want.success, tc.want.reason, res.stderr)
					}
					var found *report.Result
					for _, a := range rep.Artifacts {
						if a.ArtifactType != artifactType {
							continue
						}
						for i := range a.Results {
							found = &a.Results[i]
						}
					}
					if found == nil {
						t.Fatalf("no result for an artifact of type %s: %+v", artifactType, rep.Artifacts)
					}
					if found.Verdict != tc.want.verdict || found.Verifier != "cosign" || found.Type != "cosign" {
						t.Errorf("result = %+v", *found)
					}
					if found.Verdict != report.Verified && found.Remediation == "" {
						t.Error("a failure without remediation")
					}
					for k, want := range tc.details {
						if got := found.Details[k]; got != want {
							t.Errorf("details[%q] = %v, want %v (details %v)", k, got, want, found.Details)
						}
					}
				})
			}
		})
	}
}
