package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/memory"

	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/reason"
)

const testRepo = "localhost:5000/app"

// env is one test's PKI and subject: a root CA, a leaf it issued, and an
// image manifest descriptor in repository testRepo.
type env struct {
	root    *notationtest.CA
	leaf    *notationtest.Leaf
	subject ocispec.Descriptor
}

func newEnv(t *testing.T, leafOpts notationtest.LeafOptions) *env {
	t.Helper()
	root := notationtest.MustCA(t, notationtest.CAOptions{})
	return &env{
		root:    root,
		leaf:    notationtest.MustLeaf(t, root, leafOpts),
		subject: notationtest.MustPushImage(t, memory.New(), t.Name(), ""),
	}
}

// params trusts the env's root for testRepo (plus tsa's root when given).
func (e *env) params(tsa *notationtest.TSA) notationtest.Params {
	return notationtest.NewParams(testRepo, e.root, tsa)
}

func (e *env) request(t *testing.T, p notationtest.Params, sig *notationtest.Signature) *plugin.VerifyRequest {
	t.Helper()
	return notationtest.MustVerifyRequest(t, notationtest.MustJSON(t, p), testRepo, e.subject, sig)
}

// expiredLeaf is valid from three hours ago until one hour ago.
func expiredLeaf() notationtest.LeafOptions {
	now := time.Now()
	return notationtest.LeafOptions{NotBefore: now.Add(-3 * time.Hour), NotAfter: now.Add(-time.Hour)}
}

// whileValid is an instant inside expiredLeaf's validity.
func whileValid() time.Time { return time.Now().Add(-2 * time.Hour) }

func TestVerify(t *testing.T) {
	tests := map[string]struct {
		request func(t *testing.T) *plugin.VerifyRequest
		verdict plugin.Verdict
		reason  reason.Code
		details map[string]any
		check   func(t *testing.T, resp *plugin.VerifyResponse)
	}{
		"a JWS signature by a leaf under the trusted root is verified": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				return e.request(t, e.params(nil), notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified,
			details: map[string]any{
				"signatureMediaType": notationtest.MediaTypeJWS,
				"signingScheme":      "notary.x509",
				"trustPolicy":        notationtest.DefaultPolicyName,
				"verificationLevel":  "strict",
				"signerSubject":      "CN=Assay Test Signer,O=Assay Test,L=Seattle,ST=WA,C=US",
				"signerIssuer":       "CN=Assay Test Root CA,O=Assay Test",
				"certificateExpired": false,
			},
			check: func(t *testing.T, resp *plugin.VerifyResponse) {
				for _, key := range []string{"signingTime", "serialNumber", "signerNotAfter"} {
					if _, ok := resp.Details[key].(string); !ok {
						t.Errorf("details[%q] = %v, want a string", key, resp.Details[key])
					}
				}
				if _, ok := resp.Details["timestamp"]; ok {
					t.Errorf("details carry a timestamp without one in the signature")
				}
			},
		},
		"a COSE signature by a leaf under the trusted root is verified": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				return e.request(t, e.params(nil), notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{MediaType: notationtest.MediaTypeCOSE}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified,
			details: map[string]any{"signatureMediaType": notationtest.MediaTypeCOSE},
		},
		"a signature through an intermediate is verified when the root is trusted": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				inter := notationtest.MustIssueCA(t, e.root, notationtest.CAOptions{})
				leaf := notationtest.MustLeaf(t, inter, notationtest.LeafOptions{})
				return e.request(t, e.params(nil), notationtest.MustSign(t, leaf, e.subject, notationtest.SignOptions{}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified,
			details: map[string]any{"signerIssuer": "CN=Assay Test Intermediate CA,O=Assay Test"},
		},
		"a signature by an untrusted CA fails as untrusted": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				other := notationtest.MustCA(t, notationtest.CAOptions{})
				leaf := notationtest.MustLeaf(t, other, notationtest.LeafOptions{})
				return e.request(t, e.params(nil), notationtest.MustSign(t, leaf, e.subject, notationtest.SignOptions{}))
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureUntrusted,
		},
		"a trust store holding only the leaf certificate fails as untrusted": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				p := e.params(nil)
				p.TrustStores.CA[notationtest.DefaultStoreName] = notationtest.TrustStore{Certificates: []string{notationtest.PEM(e.leaf.Cert)}}
				return e.request(t, p, notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{}))
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureUntrusted,
		},
		"the same trust store holding the root as well as the leaf is still refused": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				p := e.params(nil)
				p.TrustStores.CA[notationtest.DefaultStoreName] = notationtest.TrustStore{Certificates: []string{notationtest.PEM(e.root.Cert, e.leaf.Cert)}}
				return e.request(t, p, notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{}))
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureUntrusted,
		},
		"an expired leaf without a timestamp fails as expired": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, expiredLeaf())
				return e.request(t, e.params(nil), notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{SigningTime: whileValid()}))
			},
			verdict: plugin.VerdictFailed, reason: reason.CertificateExpired,
			details: map[string]any{"certificateExpired": true},
		},
		"an expired leaf without a timestamp fails as expired under a policy with a tsa store too": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, expiredLeaf())
				tsa := notationtest.MustTSA(t, notationtest.TSAOptions{})
				return e.request(t, e.params(tsa), notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{SigningTime: whileValid()}))
			},
			verdict: plugin.VerdictFailed, reason: reason.CertificateExpired,
		},
		"an expired leaf with a trusted timestamp made while it was valid is verified": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, expiredLeaf())
				at := whileValid()
				tsa := notationtest.MustTSA(t, notationtest.TSAOptions{Now: func() time.Time { return at }})
				return e.request(t, e.params(tsa), notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{SigningTime: at, TSA: tsa}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified,
			details: map[string]any{"certificateExpired": true, "timestampVerified": true},
			check: func(t *testing.T, resp *plugin.VerifyResponse) {
				ts, ok := resp.Details["timestamp"].(string)
				if !ok {
					t.Fatalf("details[timestamp] = %v, want a time", resp.Details["timestamp"])
				}
				if _, err := time.Parse(time.RFC3339, ts); err != nil {
					t.Fatalf("details[timestamp] %q: %v", ts, err)
				}
				if !strings.Contains(resp.Message, "trusted timestamp") {
					t.Errorf("message %q does not mention the timestamp", resp.Message)
				}
			},
		},
		"an expired leaf whose timestamp comes from an untrusted TSA fails with an invalid timestamp": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, expiredLeaf())
				at := whileValid()
				tsa := notationtest.MustTSA(t, notationtest.TSAOptions{Now: func() time.Time { return at }})
				trusted := notationtest.MustTSA(t, notationtest.TSAOptions{})
				return e.request(t, e.params(trusted), notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{SigningTime: at, TSA: tsa}))
			},
			verdict: plugin.VerdictFailed, reason: reason.TimestampInvalid,
		},
		"an expired leaf with a timestamp is not saved by a policy without a tsa store": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, expiredLeaf())
				at := whileValid()
				tsa := notationtest.MustTSA(t, notationtest.TSAOptions{Now: func() time.Time { return at }})
				return e.request(t, e.params(nil), notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{SigningTime: at, TSA: tsa}))
			},
			verdict: plugin.VerdictFailed, reason: reason.CertificateExpired,
		},
		"a timestamp made after the leaf expired does not save it": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, expiredLeaf())
				tsa := notationtest.MustTSA(t, notationtest.TSAOptions{}) // stamps the current time
				return e.request(t, e.params(tsa), notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{SigningTime: whileValid(), TSA: tsa}))
			},
			verdict: plugin.VerdictFailed, reason: reason.CertificateExpired,
		},
		"a policy with a tsa store requires a timestamp even from a valid leaf": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				tsa := notationtest.MustTSA(t, notationtest.TSAOptions{})
				return e.request(t, e.params(tsa), notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{}))
			},
			verdict: plugin.VerdictFailed, reason: reason.TimestampInvalid,
		},
		"verifyTimestamp afterCertExpiry accepts a valid leaf without a timestamp": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				tsa := notationtest.MustTSA(t, notationtest.TSAOptions{})
				p := e.params(tsa)
				p.TrustPolicyDocument.TrustPolicies[0].SignatureVerification.VerifyTimestamp = trustpolicy.OptionAfterCertExpiry
				return e.request(t, p, notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified,
		},
		"a timestamped signature from a valid leaf is verified with its timestamp": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				tsa := notationtest.MustTSA(t, notationtest.TSAOptions{})
				return e.request(t, e.params(tsa), notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{TSA: tsa, MediaType: notationtest.MediaTypeCOSE}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified,
			details: map[string]any{"timestampVerified": true},
		},
		"a certificate revoked in the CRL fails as revoked": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				root := notationtest.MustCA(t, notationtest.CAOptions{})
				crl := notationtest.MustCRLServer(t, root, notationtest.CRLServerOptions{})
				e := &env{root: root, leaf: notationtest.MustLeaf(t, root, notationtest.LeafOptions{CRLURL: crl.URL()}), subject: notationtest.MustPushImage(t, memory.New(), t.Name(), "")}
				crl.Revoke(e.leaf.Cert.SerialNumber)
				return e.request(t, e.params(nil), notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{}))
			},
			verdict: plugin.VerdictFailed, reason: reason.CertificateRevoked,
			check: func(t *testing.T, resp *plugin.VerifyResponse) {
				if !strings.Contains(resp.Message, "CRL") {
					t.Errorf("message %q does not name the CRL", resp.Message)
				}
			},
		},
		"a certificate in the CRL's issuer's good books is verified": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				root := notationtest.MustCA(t, notationtest.CAOptions{})
				crl := notationtest.MustCRLServer(t, root, notationtest.CRLServerOptions{})
				e := &env{root: root, leaf: notationtest.MustLeaf(t, root, notationtest.LeafOptions{CRLURL: crl.URL()}), subject: notationtest.MustPushImage(t, memory.New(), t.Name(), "")}
				other := notationtest.MustLeaf(t, root, notationtest.LeafOptions{})
				crl.Revoke(other.Cert.SerialNumber)
				return e.request(t, e.params(nil), notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified,
		},
		"a certificate revoked by OCSP fails as revoked": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				root := notationtest.MustCA(t, notationtest.CAOptions{})
				responder := notationtest.MustOCSPServer(t, root)
				e := &env{root: root, leaf: notationtest.MustLeaf(t, root, notationtest.LeafOptions{OCSPURL: responder.URL()}), subject: notationtest.MustPushImage(t, memory.New(), t.Name(), "")}
				responder.Revoke(e.leaf.Cert.SerialNumber)
				return e.request(t, e.params(nil), notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{}))
			},
			verdict: plugin.VerdictFailed, reason: reason.CertificateRevoked,
		},
		"an unreachable CRL endpoint under enforced revocation is inconclusive": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				root := notationtest.MustCA(t, notationtest.CAOptions{})
				crl := notationtest.MustCRLServer(t, root, notationtest.CRLServerOptions{})
				crl.SetDown(true)
				e := &env{root: root, leaf: notationtest.MustLeaf(t, root, notationtest.LeafOptions{CRLURL: crl.URL()}), subject: notationtest.MustPushImage(t, memory.New(), t.Name(), "")}
				return e.request(t, e.params(nil), notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{}))
			},
			verdict: plugin.VerdictInconclusive, reason: reason.VerificationFailed,
			check: func(t *testing.T, resp *plugin.VerifyResponse) {
				if !strings.Contains(resp.Message, "could not be determined") {
					t.Errorf("message %q does not say the status is unknown", resp.Message)
				}
			},
		},
		"an unreachable CRL endpoint at level permissive is verified with a warning": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				root := notationtest.MustCA(t, notationtest.CAOptions{})
				crl := notationtest.MustCRLServer(t, root, notationtest.CRLServerOptions{})
				crl.SetDown(true)
				e := &env{root: root, leaf: notationtest.MustLeaf(t, root, notationtest.LeafOptions{CRLURL: crl.URL()}), subject: notationtest.MustPushImage(t, memory.New(), t.Name(), "")}
				p := e.params(nil)
				p.TrustPolicyDocument.TrustPolicies[0].SignatureVerification.VerificationLevel = trustpolicy.LevelPermissive.Name
				return e.request(t, p, notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified,
			check: wantWarnings(1),
		},
		"revocation skipped by an override does not contact the CRL endpoint": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				root := notationtest.MustCA(t, notationtest.CAOptions{})
				crl := notationtest.MustCRLServer(t, root, notationtest.CRLServerOptions{})
				e := &env{root: root, leaf: notationtest.MustLeaf(t, root, notationtest.LeafOptions{CRLURL: crl.URL()}), subject: notationtest.MustPushImage(t, memory.New(), t.Name(), "")}
				crl.Revoke(e.leaf.Cert.SerialNumber)
				p := e.params(nil)
				p.TrustPolicyDocument.TrustPolicies[0].SignatureVerification.Override = map[trustpolicy.ValidationType]trustpolicy.ValidationAction{trustpolicy.TypeRevocation: trustpolicy.ActionSkip}
				t.Cleanup(func() {
					if n := crl.Requests(); n != 0 {
						t.Errorf("CRL requests = %d, want 0", n)
					}
				})
				return e.request(t, p, notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified,
		},
		"tampered envelope bytes fail as an invalid signature": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				sig := notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{})
				sig.Envelope = tamper(t, sig.Envelope)
				return e.request(t, e.params(nil), sig)
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureInvalid,
		},
		"tampered COSE bytes fail as an invalid signature": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				sig := notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{MediaType: notationtest.MediaTypeCOSE})
				sig.Envelope[len(sig.Envelope)-5] ^= 0x01 // inside the signature
				return e.request(t, e.params(nil), sig)
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureInvalid,
		},
		"a signature for a different digest than the subject fails": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				other := notationtest.MustPushImage(t, memory.New(), "another image", "")
				return e.request(t, e.params(nil), notationtest.MustSign(t, e.leaf, other, notationtest.SignOptions{}))
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureInvalid,
			check: func(t *testing.T, resp *plugin.VerifyResponse) {
				if _, ok := resp.Details["signedDigest"].(string); !ok {
					t.Errorf("details lack signedDigest: %v", resp.Details)
				}
			},
		},
		"a trust policy whose scope does not cover the repository is inconclusive": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				p := e.params(nil)
				p.TrustPolicyDocument.TrustPolicies[0].RegistryScopes = []string{"registry.example/other"}
				return e.request(t, p, notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{}))
			},
			verdict: plugin.VerdictInconclusive, reason: reason.NoTrustPolicy,
			details: map[string]any{"repository": testRepo},
		},
		"a wildcard scope covers any repository": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				p := e.params(nil)
				p.TrustPolicyDocument.TrustPolicies[0].RegistryScopes = []string{"*"}
				return e.request(t, p, notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified,
		},
		"a trusted identity that is not the signer fails as an identity mismatch": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				p := e.params(nil)
				p.TrustPolicyDocument.TrustPolicies[0].TrustedIdentities = []string{"x509.subject: C=US, ST=WA, O=Someone Else"}
				return e.request(t, p, notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{}))
			},
			verdict: plugin.VerdictFailed, reason: reason.IdentityMismatch,
		},
		"a trusted identity naming the signer is verified": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				p := e.params(nil)
				p.TrustPolicyDocument.TrustPolicies[0].TrustedIdentities = []string{notationtest.SubjectIdentity(e.leaf.Cert)}
				return e.request(t, p, notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified,
		},
		"an untrusted CA at level audit is verified with a warning": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				other := notationtest.MustCA(t, notationtest.CAOptions{})
				p := e.params(nil)
				p.TrustPolicyDocument.TrustPolicies[0].SignatureVerification.VerificationLevel = trustpolicy.LevelAudit.Name
				return e.request(t, p, notationtest.MustSign(t, notationtest.MustLeaf(t, other, notationtest.LeafOptions{}), e.subject, notationtest.SignOptions{}))
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified,
			details: map[string]any{"verificationLevel": "audit"},
			check:   wantWarnings(1),
		},
		"level skip is verified with a warning and no check at all": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				p := e.params(nil)
				p.TrustPolicyDocument = notationtest.TrustPolicy(notationtest.PolicyOptions{RegistryScopes: []string{testRepo}, Level: trustpolicy.LevelSkip.Name})
				p.TrustStores = notationtest.TrustStores{}
				sig := notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{})
				sig.Envelope = []byte("not even an envelope")
				return e.request(t, p, sig)
			},
			verdict: plugin.VerdictVerified, reason: reason.Verified,
			check: wantWarnings(1),
		},
		"a signature past its expiry fails as expired": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				return e.request(t, e.params(nil), notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{SigningTime: time.Now().Add(-2 * time.Hour), Expiry: time.Hour}))
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureExpired,
			check: func(t *testing.T, resp *plugin.VerifyResponse) {
				if _, ok := resp.Details["signatureExpiry"].(string); !ok {
					t.Errorf("details lack signatureExpiry: %v", resp.Details)
				}
			},
		},
		"garbage JWS bytes fail as an invalid signature": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				sig := notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{})
				sig.Envelope = []byte("\x00\x01garbage{")
				return e.request(t, e.params(nil), sig)
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureInvalid,
		},
		"garbage COSE bytes fail as an invalid signature": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				sig := notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{MediaType: notationtest.MediaTypeCOSE})
				sig.Envelope = []byte{0xd2, 0x84, 0x40, 0xa0, 0xf6, 0x40}
				return e.request(t, e.params(nil), sig)
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureInvalid,
		},
		"an envelope of an unknown media type fails as an invalid signature": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				req := e.request(t, e.params(nil), notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{}))
				req.Blobs[0].Descriptor.MediaType = "application/octet-stream"
				return req
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureInvalid,
		},
		"envelope bytes that do not match their descriptor fail": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				req := e.request(t, e.params(nil), notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{}))
				req.Blobs[0].Data = append(bytes.Clone(req.Blobs[0].Data), ' ')
				return req
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureInvalid,
		},
		"a signature manifest with two layers fails": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				req := e.request(t, e.params(nil), notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{}))
				req.Blobs = append(req.Blobs, req.Blobs[0])
				return req
			},
			verdict: plugin.VerdictFailed, reason: reason.SignatureInvalid,
		},
		"invalid parameters are inconclusive and name the field": {
			request: func(t *testing.T) *plugin.VerifyRequest {
				e := newEnv(t, notationtest.LeafOptions{})
				req := e.request(t, e.params(nil), notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{}))
				req.Config = []byte(`{"trustPolicyDocument": {"version": "1.0", "trustPolicies": []}, "trustStore": {}}`)
				return req
			},
			verdict: plugin.VerdictInconclusive, reason: reason.ConfigInvalid,
			check: func(t *testing.T, resp *plugin.VerifyResponse) {
				if !strings.Contains(resp.Message, "trustStore") {
					t.Errorf("message %q does not name the field", resp.Message)
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req := tc.request(t)
			v := NewVerifier(Options{})
			resp, err := v.Verify(context.Background(), req)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			t.Logf("%s %s: %s [%s]", resp.Verdict, resp.Reason, resp.Message, resp.Remediation)
			if resp.Verdict != tc.verdict || resp.Reason != tc.reason {
				t.Fatalf("got %s/%s (%s), want %s/%s", resp.Verdict, resp.Reason, resp.Message, tc.verdict, tc.reason)
			}
			if resp.Message == "" {
				t.Error("empty message")
			}
			if resp.Verdict != plugin.VerdictVerified && resp.Remediation == "" {
				t.Error("no remediation for a verdict that is not verified")
			}
			for key, want := range tc.details {
				if got := resp.Details[key]; got != want {
					t.Errorf("details[%q] = %v, want %v", key, got, want)
				}
			}
			if tc.check != nil {
				tc.check(t, resp)
			}
		})
	}
}

func wantWarnings(n int) func(t *testing.T, resp *plugin.VerifyResponse) {
	return func(t *testing.T, resp *plugin.VerifyResponse) {
		t.Helper()
		w, ok := resp.Details["warnings"].([]any)
		if !ok || len(w) != n {
			t.Fatalf("details[warnings] = %v, want %d warning(s)", resp.Details["warnings"], n)
		}
	}
}

// tamper rewrites the signed payload of a JWS envelope so that it names
// another digest, keeping the envelope well-formed: only the signature
// check can notice.
func tamper(t *testing.T, env []byte) []byte {
	t.Helper()
	var jwsEnv map[string]any
	if err := json.Unmarshal(env, &jwsEnv); err != nil {
		t.Fatalf("decode JWS: %v", err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(jwsEnv["payload"].(string))
	if err != nil {
		t.Fatalf("decode payload: %v", err)
	}
	i := bytes.Index(payload, []byte("sha256:"))
	if i < 0 {
		t.Fatalf("no digest in payload %s", payload)
	}
	payload[i+7] ^= 0x01 // '0'<->'1', 'a'<->'`' ...: another digest
	jwsEnv["payload"] = base64.RawURLEncoding.EncodeToString(payload)
	out, err := json.Marshal(jwsEnv)
	if err != nil {
		t.Fatalf("encode JWS: %v", err)
	}
	return out
}

// Requests that cannot be evaluated never reach Verify: Serve rejects
// them (plugin.VerifyRequest.Validate), and the requests these tests
// build are well formed.
func TestMalformedRequestsAreTheSDKs(t *testing.T) {
	e := newEnv(t, notationtest.LeafOptions{})
	good := e.request(t, e.params(nil), notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{}))
	if err := good.Validate(); err != nil {
		t.Fatalf("the test request is malformed: %v", err)
	}
	tests := map[string]func(r *plugin.VerifyRequest){
		"a request without a subject":    func(r *plugin.VerifyRequest) { r.Subject.Digest = "" },
		"a request without a repository": func(r *plugin.VerifyRequest) { r.Repository = "" },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			req := *good
			mutate(&req)
			if err := req.Validate(); !errors.Is(err, plugin.ErrInvalidRequest) {
				t.Fatalf("Validate() = %v, want plugin.ErrInvalidRequest", err)
			}
		})
	}
}

func TestMetadataDeclaresTheNetworkCapability(t *testing.T) {
	md, err := NewVerifier(Options{Version: "v1.2.3"}).Metadata(context.Background())
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	if md.Name != "notation" || md.Version != "v1.2.3" || !slices.Equal(md.ArtifactTypes, []string{notationtest.ArtifactType}) || !slices.Contains(md.Capabilities, plugin.CapabilityNetwork) ||
		!slices.Equal(md.SignatureTypes, []string{notationtest.ArtifactType}) {
		t.Fatalf("metadata = %+v", md)
	}
	if md, err := NewVerifier(Options{}).Metadata(context.Background()); err != nil || md.Version == "" {
		t.Fatalf("default version: %+v, %v", md, err)
	}
}

func TestMemoryCRLCacheSavesDownloads(t *testing.T) {
	tests := map[string]struct {
		cache string
		want  int
	}{
		"the memory cache downloads the CRL once": {cache: CRLCacheMemory, want: 1},
		"no cache downloads it every time":        {cache: CRLCacheNone, want: 3},
		"the file cache downloads it once":        {cache: CRLCacheFile, want: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			root := notationtest.MustCA(t, notationtest.CAOptions{})
			crl := notationtest.MustCRLServer(t, root, notationtest.CRLServerOptions{})
			e := &env{root: root, leaf: notationtest.MustLeaf(t, root, notationtest.LeafOptions{CRLURL: crl.URL()}), subject: notationtest.MustPushImage(t, memory.New(), t.Name(), "")}
			p := e.params(nil)
			p.Revocation = &notationtest.Revocation{CRLCache: tc.cache}
			if tc.cache == CRLCacheFile {
				p.Revocation.CRLCacheDir = t.TempDir()
			}
			req := e.request(t, p, notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{}))
			v := NewVerifier(Options{})
			for range 3 {
				resp, err := v.Verify(context.Background(), req)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if resp.Verdict != plugin.VerdictVerified {
					t.Fatalf("got %s/%s: %s", resp.Verdict, resp.Reason, resp.Message)
				}
			}
			if got := crl.Requests(); got != tc.want {
				t.Fatalf("CRL downloads = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestVerifyHonoursTheRequestDeadline(t *testing.T) {
	root := notationtest.MustCA(t, notationtest.CAOptions{})
	crl := notationtest.MustCRLServer(t, root, notationtest.CRLServerOptions{})
	e := &env{root: root, leaf: notationtest.MustLeaf(t, root, notationtest.LeafOptions{CRLURL: crl.URL()}), subject: notationtest.MustPushImage(t, memory.New(), t.Name(), "")}
	req := e.request(t, e.params(nil), notationtest.MustSign(t, e.leaf, e.subject, notationtest.SignOptions{}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	resp, err := NewVerifier(Options{}).Verify(ctx, req)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if resp.Verdict != plugin.VerdictInconclusive {
		t.Fatalf("got %s/%s (%s), want inconclusive", resp.Verdict, resp.Reason, resp.Message)
	}
}

func BenchmarkVerifyWarmConfig(b *testing.B) {
	root := notationtest.MustCA(b, notationtest.CAOptions{})
	leaf := notationtest.MustLeaf(b, root, notationtest.LeafOptions{})
	subject := notationtest.MustPushImage(b, memory.New(), "bench", "")
	sig := notationtest.MustSign(b, leaf, subject, notationtest.SignOptions{})
	req := notationtest.MustVerifyRequest(b, notationtest.MustJSON(b, notationtest.NewParams(testRepo, root, nil)), testRepo, subject, sig)
	v := NewVerifier(Options{})
	ctx := context.Background()
	if _, err := v.Verify(ctx, req); err != nil { // warm the config cache
		b.Fatalf("Verify: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := v.Verify(ctx, req)
		if err != nil {
			b.Fatalf("Verify: %v", err)
		}
		if resp.Verdict != plugin.VerdictVerified {
			b.Fatalf("got %s/%s: %s", resp.Verdict, resp.Reason, resp.Message)
		}
	}
}
