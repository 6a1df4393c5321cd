package notationtest

import (
	"context"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"

	"github.com/assayproj/assay/pkg/plugin"
)

// MustCA is NewCA that fails t on error.
func MustCA(t testing.TB, opts CAOptions) *CA {
	t.Helper()
	ca, err := NewCA(opts)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	return ca
}

// MustIssueCA is ca.IssueCA that fails t on error.
func MustIssueCA(t testing.TB, ca *CA, opts CAOptions) *CA {
	t.Helper()
	inter, err := ca.IssueCA(opts)
	if err != nil {
		t.Fatalf("IssueCA: %v", err)
	}
	return inter
}

// MustLeaf is ca.IssueLeaf that fails t on error.
func MustLeaf(t testing.TB, ca *CA, opts LeafOptions) *Leaf {
	t.Helper()
	leaf, err := ca.IssueLeaf(opts)
	if err != nil {
		t.Fatalf("IssueLeaf: %v", err)
	}
	return leaf
}

// MustTSA is NewTSA that fails t on error and closes the TSA on cleanup.
func MustTSA(t testing.TB, opts TSAOptions) *TSA {
	t.Helper()
	tsa, err := NewTSA(opts)
	if err != nil {
		t.Fatalf("NewTSA: %v", err)
	}
	t.Cleanup(tsa.Close)
	return tsa
}

// MustCRLServer is NewCRLServer that fails t on error and closes the server
// on cleanup.
func MustCRLServer(t testing.TB, issuer *CA, opts CRLServerOptions) *CRLServer {
	t.Helper()
	s, err := NewCRLServer(issuer, opts)
	if err != nil {
		t.Fatalf("NewCRLServer: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// MustOCSPServer is NewOCSPServer that fails t on error and closes the
// server on cleanup.
func MustOCSPServer(t testing.TB, issuer *CA) *OCSPServer {
	t.Helper()
	s, err := NewOCSPServer(issuer)
	if err != nil {
		t.Fatalf("NewOCSPServer: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// MustSign is Sign that fails t on error.
func MustSign(t testing.TB, leaf *Leaf, desc ocispec.Descriptor, opts SignOptions) *Signature {
	t.Helper()
	sig, err := Sign(context.Background(), leaf, desc, opts)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return sig
}

// MustPushSignature is PushSignature that fails t on error.
func MustPushSignature(t testing.TB, target oras.GraphTarget, subject ocispec.Descriptor, sig *Signature) ocispec.Descriptor {
	t.Helper()
	desc, err := PushSignature(context.Background(), target, subject, sig)
	if err != nil {
		t.Fatalf("PushSignature: %v", err)
	}
	return desc
}

// MustPushImage is PushImage that fails t on error.
func MustPushImage(t testing.TB, target oras.Target, name, tag string) ocispec.Descriptor {
	t.Helper()
	desc, err := PushImage(context.Background(), target, name, tag)
	if err != nil {
		t.Fatalf("PushImage: %v", err)
	}
	return desc
}

// MustVerifyRequest is VerifyRequest that fails t on error.
func MustVerifyRequest(t testing.TB, config []byte, repository string, subject ocispec.Descriptor, sig *Signature) *plugin.VerifyRequest {
	t.Helper()
	req, err := VerifyRequest(context.Background(), config, repository, subject, sig)
	if err != nil {
		t.Fatalf("VerifyRequest: %v", err)
	}
	return req
}

// MustJSON is p.JSON that fails t on error.
func MustJSON(t testing.TB, p Params) []byte {
	t.Helper()
	b, err := p.JSON()
	if err != nil {
		t.Fatalf("Params.JSON: %v", err)
	}
	return b
}
