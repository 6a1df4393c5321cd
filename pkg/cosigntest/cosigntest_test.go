package cosigntest_test

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"oras.land/oras-go/v2/content/memory"

	"github.com/assayproj/assay/pkg/cosigntest"
)

// The fixtures must be what sigstore-go itself accepts: these tests verify
// them with sigstore-go directly, against the exported trusted root.

func trustedRoot(t *testing.T, s *cosigntest.Sigstore) *root.TrustedRoot {
	t.Helper()
	tr, err := root.NewTrustedRootFromJSON(s.MustTrustedRootJSON(t))
	if err != nil {
		t.Fatalf("parse the exported trusted root: %v", err)
	}
	return tr
}

func TestKeylessBundlesVerifyWithSigstoreGo(t *testing.T) {
	s := cosigntest.MustSigstore(t)
	tr := trustedRoot(t, s)
	subject, manifest := cosigntest.MustPushImage(t, memory.New(), "v1")
	digest, err := hex.DecodeString(subject.Digest.Encoded())
	if err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string]cosigntest.BundleOptions{
		"a DSSE statement":    {Repository: "localhost/app"},
		"a message signature": {MessageSignature: true, Manifest: manifest},
	} {
		t.Run(name, func(t *testing.T) {
			b := s.MustSignBundle(t, subject, opts)
			var bun bundle.Bundle
			if err := bun.UnmarshalJSON(b.JSON); err != nil {
				t.Fatalf("bundle: %v", err)
			}
			v, err := verify.NewVerifier(tr, verify.WithTransparencyLog(1), verify.WithIntegratedTimestamps(1), verify.WithSignedTimestamps(1))
			if err != nil {
				t.Fatal(err)
			}
			id, err := verify.NewShortCertificateIdentity(cosigntest.DefaultIssuer, "", cosigntest.DefaultIdentity, "")
			if err != nil {
				t.Fatal(err)
			}
			res, err := v.Verify(&bun, verify.NewPolicy(verify.WithArtifactDigest("sha256", digest), verify.WithCertificateIdentity(id)))
			if err != nil {
				t.Fatalf("sigstore-go rejects the bundle: %v", err)
			}
			if len(res.VerifiedTimestamps) != 2 {
				t.Errorf("verified timestamps = %+v, want the log's and the TSA's", res.VerifiedTimestamps)
			}
		})
	}
}

func TestKeySignaturesVerifyWithSigstore(t *testing.T) {
	subject, _ := cosigntest.MustPushImage(t, memory.New(), "v1")
	for _, typ := range []cosigntest.KeyType{cosigntest.ECDSA, cosigntest.RSA, cosigntest.Ed25519} {
		t.Run(string(typ), func(t *testing.T) {
			k := cosigntest.MustKey(t, typ)
			l := cosigntest.MustSignClassic(t, k, subject, cosigntest.SignOptions{})
			v, err := signature.LoadVerifier(k.Public(), crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.VerifySignature(bytes.NewReader(l.Signature), bytes.NewReader(l.Payload)); err != nil {
				t.Fatalf("signature does not verify: %v", err)
			}
		})
	}
}
