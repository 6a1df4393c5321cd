package main

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/memory"

	"github.com/assayproj/assay/pkg/cosigntest"
	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/reason"
)

const testRepo = "localhost:5000/app"

// env is one test's subject image and the helpers to sign it.
type env struct {
	t        *testing.T
	subject  ocispec.Descriptor
	manifest []byte
}

func newEnv(t *testing.T) *env {
	t.Helper()
	d, raw := cosigntest.MustPushImage(t, memory.New(), "v1")
	return &env{t: t, subject: d, manifest: raw}
}

func (e *env) classic(p cosigntest.Params, layers ...*cosigntest.Layer) *plugin.VerifyRequest {
	e.t.Helper()
	return cosigntest.MustClassicRequest(e.t, cosigntest.MustJSON(e.t, p), testRepo, e.subject, layers...)
}

func (e *env) bundle(p cosigntest.Params, b *cosigntest.Bundle) *plugin.VerifyRequest {
	e.t.Helper()
	return cosigntest.MustBundleRequest(e.t, cosigntest.MustJSON(e.t, p), testRepo, e.subject, b)
}

func TestVerify(t *testing.T) {
	tests := map[string]struct {
		request func(t *testing.T) *plugin.VerifyRequest
		verdict plugin.Verdict
		reason  reason.Code
		details map[string]any
		check   func(t *testing.T, resp *plugin.VerifyResponse)
	}{
		"a classic signature by a trusted ECDSA key is verified": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, k := newEnv(t), cosigntest.MustKey(t, cosigntest.ECDSA)
				return e.classic(cosigntest.KeyParams(testRepo, k), cosigntest.MustSignClassic(t, k, e.subject, cosigntest.SignOptions{}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified,
			details: map[string]any{"key": "key0", "keyType": "ecdsa-P-256", "signatureFormat": "simplesigning", "trustPolicy": cosigntest.DefaultPolicyName, "tlogVerified": false},
		},
		"a classic signature by a trusted RSA key is verified": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, k := newEnv(t), cosigntest.MustKey(t, cosigntest.RSA)
				return e.classic(cosigntest.KeyParams(testRepo, k), cosigntest.MustSignClassic(t, k, e.subject, cosigntest.SignOptions{}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified, details: map[string]any{"keyType": "rsa-2048"},
		},
		"a classic signature by a trusted Ed25519 key is verified": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, k := newEnv(t), cosigntest.MustKey(t, cosigntest.Ed25519)
				return e.classic(cosigntest.KeyParams(testRepo, k), cosigntest.MustSignClassic(t, k, e.subject, cosigntest.SignOptions{}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified, details: map[string]any{"keyType": "ed25519"},
		},
		"the second of two trusted keys verifies and is named": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, k1, k2 := newEnv(t), cosigntest.MustKey(t, cosigntest.ECDSA), cosigntest.MustKey(t, cosigntest.ECDSA)
				return e.classic(cosigntest.KeyParams(testRepo, k1, k2), cosigntest.MustSignClassic(t, k2, e.subject, cosigntest.SignOptions{}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified, details: map[string]any{"key": "key1"},
		},
		"a signature by an untrusted key fails as untrusted": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, k, other := newEnv(t), cosigntest.MustKey(t, cosigntest.ECDSA), cosigntest.MustKey(t, cosigntest.ECDSA)
				return e.classic(cosigntest.KeyParams(testRepo, k), cosigntest.MustSignClassic(t, other, e.subject, cosigntest.SignOptions{}))
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureUntrusted,
		},
		"a signature for another image fails as invalid": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, other, k := newEnv(t), newEnv(t), cosigntest.MustKey(t, cosigntest.ECDSA)
				return e.classic(cosigntest.KeyParams(testRepo, k), cosigntest.MustSignClassic(t, k, other.subject, cosigntest.SignOptions{}))
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureInvalid,
			check: func(t *testing.T, resp *plugin.VerifyResponse) {
				if !strings.Contains(resp.Message, "not for the subject") {
					t.Errorf("message %q does not say the signature is for another image", resp.Message)
				}
			},
		},
		"a payload that is not simple-signing JSON fails as invalid": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, k := newEnv(t), cosigntest.MustKey(t, cosigntest.ECDSA)
				return e.classic(cosigntest.KeyParams(testRepo, k), cosigntest.MustSignClassic(t, k, e.subject, cosigntest.SignOptions{Payload: []byte("{not json")}))
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureInvalid,
		},
		"a keyless classic signature with a Rekor bundle is verified": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, s := newEnv(t), cosigntest.MustSigstore(t)
				return e.classic(s.MustKeylessParams(t, testRepo, "", ""), s.MustSignClassic(t, e.subject, cosigntest.KeylessOptions{}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified,
			details: map[string]any{"subject": cosigntest.DefaultIdentity, "issuer": cosigntest.DefaultIssuer, "tlogVerified": true, "timestampVerified": false},
			check: func(t *testing.T, resp *plugin.VerifyResponse) {
				if _, ok := resp.Details["integratedTime"].(string); !ok {
					t.Errorf("no integratedTime in %v", resp.Details)
				}
			},
		},
		"a keyless classic signature with a timestamp satisfies a timestamps threshold": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, s := newEnv(t), cosigntest.MustSigstore(t)
				p := s.MustKeylessParams(t, testRepo, "", "")
				p.TrustPolicies[0].Timestamps = 1
				return e.classic(p, s.MustSignClassic(t, e.subject, cosigntest.KeylessOptions{}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified, details: map[string]any{"timestampVerified": true},
		},
		"a keyless signature without a timestamp fails a timestamps threshold": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, s := newEnv(t), cosigntest.MustSigstore(t)
				p := s.MustKeylessParams(t, testRepo, "", "")
				p.TrustPolicies[0].Timestamps = 1
				return e.classic(p, s.MustSignClassic(t, e.subject, cosigntest.KeylessOptions{WithoutTimestamp: true}))
			},
			verdict: plugin.VerdictFailed, reason: reason.TimestampInvalid,
		},
		"a keyless signature without a Rekor bundle fails when the log is required": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, s := newEnv(t), cosigntest.MustSigstore(t)
				return e.classic(s.MustKeylessParams(t, testRepo, "", ""), s.MustSignClassic(t, e.subject, cosigntest.KeylessOptions{WithoutTlog: true}))
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureUntrusted,
		},
		"a keyless signature without a Rekor bundle is verified by its timestamp when the log is skipped": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, s := newEnv(t), cosigntest.MustSigstore(t)
				p := s.MustKeylessParams(t, testRepo, "", "")
				p.TrustPolicies[0].Tlog, p.TrustPolicies[0].Timestamps = "skip", 1
				return e.classic(p, s.MustSignClassic(t, e.subject, cosigntest.KeylessOptions{WithoutTlog: true}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified, details: map[string]any{"tlogVerified": false, "timestampVerified": true},
		},
		"a keyless signature by another identity fails as an identity mismatch": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, s := newEnv(t), cosigntest.MustSigstore(t)
				return e.classic(s.MustKeylessParams(t, testRepo, "", ""), s.MustSignClassic(t, e.subject, cosigntest.KeylessOptions{Identity: "mallory@assay.test"}))
			},
			verdict: plugin.VerdictFailed, reason: reason.IdentityMismatch, details: map[string]any{"subject": "mallory@assay.test"},
		},
		"a keyless signature from another issuer fails as an identity mismatch": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, s := newEnv(t), cosigntest.MustSigstore(t)
				return e.classic(s.MustKeylessParams(t, testRepo, "", ""), s.MustSignClassic(t, e.subject, cosigntest.KeylessOptions{Issuer: "https://evil.example"}))
			},
			verdict: plugin.VerdictFailed, reason: reason.IdentityMismatch,
		},
		"a regular expression identity matches": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, s := newEnv(t), cosigntest.MustSigstore(t)
				p := s.MustKeylessParams(t, testRepo, "", "")
				p.TrustPolicies[0].Keyless.Identities = []cosigntest.Identity{{IssuerRegExp: `^https://issuer\.assay\.test$`, SubjectRegExp: `^.*@assay\.test$`}}
				return e.classic(p, s.MustSignClassic(t, e.subject, cosigntest.KeylessOptions{Identity: "ci@assay.test"}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified, details: map[string]any{"subject": "ci@assay.test"},
		},
		"a keyless signature from another Sigstore fails as untrusted": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, s, other := newEnv(t), cosigntest.MustSigstore(t), cosigntest.MustSigstore(t)
				return e.classic(s.MustKeylessParams(t, testRepo, "", ""), other.MustSignClassic(t, e.subject, cosigntest.KeylessOptions{}))
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureUntrusted,
		},
		"a keyless signature from another Fulcio with the log skipped fails as untrusted": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, s, other := newEnv(t), cosigntest.MustSigstore(t), cosigntest.MustSigstore(t)
				p := s.MustKeylessParams(t, testRepo, "", "")
				p.TrustPolicies[0].Tlog, p.TrustPolicies[0].Timestamps = "skip", 1
				l := other.MustSignClassic(t, e.subject, cosigntest.KeylessOptions{})
				good := s.MustSignClassic(t, e.subject, cosigntest.KeylessOptions{})
				l.Timestamp = good.Timestamp // a trusted TSA, an untrusted CA
				return e.classic(p, l)
			},
			verdict: plugin.VerdictFailed, reason: reason.TimestampInvalid,
		},
		"a keyless signature whose certificate lacks an SCT fails when SCTs are required": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, s := newEnv(t), cosigntest.MustSigstore(t)
				p := s.MustKeylessParams(t, testRepo, "", "")
				p.TrustPolicies[0].SCT = "require"
				return e.classic(p, s.MustSignClassic(t, e.subject, cosigntest.KeylessOptions{}))
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureUntrusted,
		},
		"a tampered keyless payload fails as invalid": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, s := newEnv(t), cosigntest.MustSigstore(t)
				l := s.MustSignClassic(t, e.subject, cosigntest.KeylessOptions{})
				l.Payload = []byte(strings.Replace(string(l.Payload), `"optional":null`, `"optional":{"tampered":"yes"}`, 1))
				return e.classic(s.MustKeylessParams(t, testRepo, "", ""), l)
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureInvalid,
		},
		"a keyless signature checked against a key policy fails as untrusted": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, s, k := newEnv(t), cosigntest.MustSigstore(t), cosigntest.MustKey(t, cosigntest.ECDSA)
				return e.classic(cosigntest.KeyParams(testRepo, k), s.MustSignClassic(t, e.subject, cosigntest.KeylessOptions{}))
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureUntrusted,
		},
		"a key signature checked against a keyless policy fails as untrusted": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, s, k := newEnv(t), cosigntest.MustSigstore(t), cosigntest.MustKey(t, cosigntest.ECDSA)
				return e.classic(s.MustKeylessParams(t, testRepo, "", ""), cosigntest.MustSignClassic(t, k, e.subject, cosigntest.SignOptions{}))
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureUntrusted,
		},
		"one valid layer among bad ones verifies the manifest and every layer is listed": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, k, other := newEnv(t), cosigntest.MustKey(t, cosigntest.ECDSA), cosigntest.MustKey(t, cosigntest.ECDSA)
				return e.classic(cosigntest.KeyParams(testRepo, k),
					cosigntest.MustSignClassic(t, other, e.subject, cosigntest.SignOptions{}),
					cosigntest.MustSignClassic(t, k, e.subject, cosigntest.SignOptions{}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified,
			check: func(t *testing.T, resp *plugin.VerifyResponse) {
				list, ok := resp.Details["signatures"].([]any)
				if !ok || len(list) != 2 {
					t.Fatalf("signatures = %v, want two entries", resp.Details["signatures"])
				}
				if v := list[0].(map[string]any)["verdict"]; v != "failed" {
					t.Errorf("first signature verdict %v, want failed", v)
				}
				if v := list[1].(map[string]any)["verdict"]; v != "verified" {
					t.Errorf("second signature verdict %v, want verified", v)
				}
			},
		},
		"a signature annotation that is not base64 fails as invalid": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, k := newEnv(t), cosigntest.MustKey(t, cosigntest.ECDSA)
				req := e.classic(cosigntest.KeyParams(testRepo, k), cosigntest.MustSignClassic(t, k, e.subject, cosigntest.SignOptions{}))
				req.Blobs[0].Descriptor.Annotations[cosigntest.AnnotationSignature] = "!!!"
				return req
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureInvalid,
		},
		"a malformed Rekor bundle fails as invalid when the log is required": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, s := newEnv(t), cosigntest.MustSigstore(t)
				l := s.MustSignClassic(t, e.subject, cosigntest.KeylessOptions{})
				l.RekorBundle = []byte(`{"SignedEntryTimestamp":"AAAA","Payload":{"body":"` + base64.StdEncoding.EncodeToString([]byte("{}")) + `","integratedTime":1,"logIndex":0,"logID":"00"}}`)
				return e.classic(s.MustKeylessParams(t, testRepo, "", ""), l)
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureInvalid,
		},
		"a keyless v0.3 bundle with a DSSE statement is verified": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, s := newEnv(t), cosigntest.MustSigstore(t)
				return e.bundle(s.MustKeylessParams(t, testRepo, "", ""), s.MustSignBundle(t, e.subject, cosigntest.BundleOptions{Repository: testRepo}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified,
			details: map[string]any{"signatureFormat": "bundle", "bundleContent": "dsse-envelope", "predicateType": cosigntest.SignPredicateType, "subject": cosigntest.DefaultIdentity, "tlogVerified": true, "timestampVerified": false},
		},
		"a keyless v0.3 bundle with a message signature is verified": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, s := newEnv(t), cosigntest.MustSigstore(t)
				return e.bundle(s.MustKeylessParams(t, testRepo, "", ""), s.MustSignBundle(t, e.subject, cosigntest.BundleOptions{MessageSignature: true, Manifest: e.manifest}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified, details: map[string]any{"bundleContent": "message-signature"},
		},
		"a key-signed v0.3 bundle is verified": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, k := newEnv(t), cosigntest.MustKey(t, cosigntest.ECDSA)
				return e.bundle(cosigntest.KeyParams(testRepo, k), cosigntest.MustSignBundleWithKey(t, k, e.subject, cosigntest.BundleOptions{}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified, details: map[string]any{"key": "key0", "bundleContent": "dsse-envelope"},
		},
		"a key-signed v0.3 bundle by another key fails as untrusted": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, k, other := newEnv(t), cosigntest.MustKey(t, cosigntest.ECDSA), cosigntest.MustKey(t, cosigntest.ECDSA)
				return e.bundle(cosigntest.KeyParams(testRepo, k), cosigntest.MustSignBundleWithKey(t, other, e.subject, cosigntest.BundleOptions{}))
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureUntrusted,
		},
		"a bundle whose statement names another image fails as invalid": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, other, s := newEnv(t), newEnv(t), cosigntest.MustSigstore(t)
				return e.bundle(s.MustKeylessParams(t, testRepo, "", ""), s.MustSignBundle(t, e.subject, cosigntest.BundleOptions{Statement: cosigntest.Statement(testRepo, other.subject, "")}))
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureInvalid,
		},
		"a bundle holding an attestation of another predicate type is not a signature": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, s := newEnv(t), cosigntest.MustSigstore(t)
				return e.bundle(s.MustKeylessParams(t, testRepo, "", ""), s.MustSignBundle(t, e.subject, cosigntest.BundleOptions{PredicateType: "https://slsa.dev/provenance/v1"}))
			},
			verdict: plugin.VerdictFailed, reason: reason.VerificationFailed, details: map[string]any{"predicateType": "https://slsa.dev/provenance/v1"},
		},
		"a bundle by another identity fails as an identity mismatch": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, s := newEnv(t), cosigntest.MustSigstore(t)
				return e.bundle(s.MustKeylessParams(t, testRepo, "", ""), s.MustSignBundle(t, e.subject, cosigntest.BundleOptions{Identity: "mallory@assay.test"}))
			},
			verdict: plugin.VerdictFailed, reason: reason.IdentityMismatch,
		},
		"a layer that is not a bundle fails as invalid": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, s := newEnv(t), cosigntest.MustSigstore(t)
				return e.bundle(s.MustKeylessParams(t, testRepo, "", ""), &cosigntest.Bundle{JSON: []byte(`{"mediaType": "nope"}`), Content: "dsse-envelope"})
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureInvalid,
		},
		"a repository no scope covers is inconclusive with NO_TRUST_POLICY": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, k := newEnv(t), cosigntest.MustKey(t, cosigntest.ECDSA)
				return e.classic(cosigntest.KeyParams("localhost:5000/other", k), cosigntest.MustSignClassic(t, k, e.subject, cosigntest.SignOptions{}))
			},
			verdict: plugin.VerdictInconclusive, reason: reason.NoTrustPolicy, details: map[string]any{"repository": testRepo},
		},
		"the most specific scope wins": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, k, other := newEnv(t), cosigntest.MustKey(t, cosigntest.ECDSA), cosigntest.MustKey(t, cosigntest.ECDSA)
				p := cosigntest.KeyParams("*", other)
				wide := cosigntest.KeyParams("localhost:5000/*", other).TrustPolicies[0]
				wide.Name = "wide"
				exact := cosigntest.KeyParams(testRepo, k).TrustPolicies[0]
				exact.Name = "exact"
				p.TrustPolicies = append(p.TrustPolicies, wide, exact)
				return e.classic(p, cosigntest.MustSignClassic(t, k, e.subject, cosigntest.SignOptions{}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified, details: map[string]any{"trustPolicy": "exact"},
		},
		"invalid parameters are inconclusive with CONFIG_INVALID": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e, k := newEnv(t), cosigntest.MustKey(t, cosigntest.ECDSA)
				req := e.classic(cosigntest.KeyParams(testRepo, k), cosigntest.MustSignClassic(t, k, e.subject, cosigntest.SignOptions{}))
				req.Config = []byte(`{"trustPolicies": [{"name": "p", "scopes": ["*"], "keyz": []}]}`)
				return req
			},
			verdict: plugin.VerdictInconclusive, reason: reason.ConfigInvalid,
		},
	}
	v := NewVerifier(Options{})
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resp, err := v.Verify(context.Background(), tc.request(t))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if resp.Verdict != tc.verdict || resp.Reason != tc.reason {
				t.Fatalf("verdict %v reason %s (%s), want %v %s", resp.Verdict, resp.Reason, resp.Message, tc.verdict, tc.reason)
			}
			if resp.Message == "" {
				t.Error("no message")
			}
			if strings.Contains(resp.Message, "%!") {
				t.Errorf("message carries a formatting error: %s", resp.Message)
			}
			if resp.Verdict != plugin.VerdictVerified && resp.Remediation == "" {
				t.Error("a failure without remediation")
			}
			for k, want := range tc.details {
				if got := resp.Details[k]; got != want {
					t.Errorf("details[%q] = %v (%T), want %v; message: %s", k, got, got, want, resp.Message)
				}
			}
			if tc.check != nil {
				tc.check(t, resp)
			}
		})
	}
}

func TestMetadataNamesBothArtifactTypesAndNoNetwork(t *testing.T) {
	m, err := NewVerifier(Options{Version: "v1"}).Metadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != Name || m.Version != "v1" || len(m.ArtifactTypes) != 2 || len(m.Capabilities) != 0 {
		t.Fatalf("metadata = %+v", m)
	}
	if want := []string{"application/vnd.dev.cosign.artifact.sig.v1+json", "application/vnd.dev.sigstore.bundle.v0.3+json"}; !slices.Equal(m.SignatureTypes, want) {
		t.Errorf("signature types = %q, want the classic signature and the Sigstore bundle %q", m.SignatureTypes, want)
	}
}
