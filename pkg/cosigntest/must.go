package cosigntest

import (
	"context"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"

	"github.com/assayproj/assay/pkg/plugin"
)

// MustKey is NewKey that fails t on error.
func MustKey(t testing.TB, typ KeyType) *Key {
	t.Helper()
	k, err := NewKey(typ)
	if err != nil {
		t.Fatalf("NewKey: %v", err)
	}
	return k
}

// MustSigstore is NewSigstore that fails t on error.
func MustSigstore(t testing.TB) *Sigstore {
	t.Helper()
	s, err := NewSigstore()
	if err != nil {
		t.Fatalf("NewSigstore: %v", err)
	}
	return s
}

// MustSignClassic is SignClassic that fails t on error.
func MustSignClassic(t testing.TB, key *Key, subject ocispec.Descriptor, opts SignOptions) *Layer {
	t.Helper()
	l, err := SignClassic(key, subject, opts)
	if err != nil {
		t.Fatalf("SignClassic: %v", err)
	}
	return l
}

// MustSignClassic is s.SignClassic that fails t on error.
func (s *Sigstore) MustSignClassic(t testing.TB, subject ocispec.Descriptor, opts KeylessOptions) *Layer {
	t.Helper()
	l, err := s.SignClassic(subject, opts)
	if err != nil {
		t.Fatalf("Sigstore.SignClassic: %v", err)
	}
	return l
}

// MustSignBundle is s.SignBundle that fails t on error.
func (s *Sigstore) MustSignBundle(t testing.TB, subject ocispec.Descriptor, opts BundleOptions) *Bundle {
	t.Helper()
	b, err := s.SignBundle(subject, opts)
	if err != nil {
		t.Fatalf("Sigstore.SignBundle: %v", err)
	}
	return b
}

// MustSignBundleWithKey is SignBundleWithKey that fails t on error.
func MustSignBundleWithKey(t testing.TB, key *Key, subject ocispec.Descriptor, opts BundleOptions) *Bundle {
	t.Helper()
	b, err := SignBundleWithKey(key, subject, opts)
	if err != nil {
		t.Fatalf("SignBundleWithKey: %v", err)
	}
	return b
}

// MustKeylessParams is s.KeylessParams that fails t on error.
func (s *Sigstore) MustKeylessParams(t testing.TB, scope, identity, issuer string) Params {
	t.Helper()
	p, err := s.KeylessParams(scope, identity, issuer)
	if err != nil {
		t.Fatalf("Sigstore.KeylessParams: %v", err)
	}
	return p
}

// MustTrustedRootJSON is s.TrustedRootJSON that fails t on error.
func (s *Sigstore) MustTrustedRootJSON(t testing.TB) []byte {
	t.Helper()
	b, err := s.TrustedRootJSON()
	if err != nil {
		t.Fatalf("Sigstore.TrustedRootJSON: %v", err)
	}
	return b
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

// MustPushImage is PushImage that fails t on error.
func MustPushImage(t testing.TB, target oras.Target, tag string) (ocispec.Descriptor, []byte) {
	t.Helper()
	d, raw, err := PushImage(context.Background(), target, tag)
	if err != nil {
		t.Fatalf("PushImage: %v", err)
	}
	return d, raw
}

// MustPushClassic is PushClassic that fails t on error.
func MustPushClassic(t testing.TB, target oras.Target, subject ocispec.Descriptor, layers ...*Layer) ocispec.Descriptor {
	t.Helper()
	d, err := PushClassic(context.Background(), target, subject, layers...)
	if err != nil {
		t.Fatalf("PushClassic: %v", err)
	}
	return d
}

// MustPushBundle is PushBundle that fails t on error.
func MustPushBundle(t testing.TB, target oras.Target, subject ocispec.Descriptor, b *Bundle) ocispec.Descriptor {
	t.Helper()
	d, err := PushBundle(context.Background(), target, subject, b)
	if err != nil {
		t.Fatalf("PushBundle: %v", err)
	}
	return d
}

// MustClassicRequest is ClassicRequest that fails t on error.
func MustClassicRequest(t testing.TB, config []byte, repository string, subject ocispec.Descriptor, layers ...*Layer) *plugin.VerifyRequest {
	t.Helper()
	r, err := ClassicRequest(context.Background(), config, repository, subject, layers...)
	if err != nil {
		t.Fatalf("ClassicRequest: %v", err)
	}
	return r
}

// MustBundleRequest is BundleRequest that fails t on error.
func MustBundleRequest(t testing.TB, config []byte, repository string, subject ocispec.Descriptor, b *Bundle) *plugin.VerifyRequest {
	t.Helper()
	r, err := BundleRequest(context.Background(), config, repository, subject, b)
	if err != nil {
		t.Fatalf("BundleRequest: %v", err)
	}
	return r
}
