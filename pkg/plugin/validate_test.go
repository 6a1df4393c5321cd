package plugin

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestValidateRejectsMalformedRequests(t *testing.T) {
	tests := map[string]func(r *VerifyRequest){
		"no config":                        func(r *VerifyRequest) { r.Config = nil },
		"config of white space only":       func(r *VerifyRequest) { r.Config = []byte(" \n") },
		"config that is not JSON":          func(r *VerifyRequest) { r.Config = []byte(`{"trustPolicy":`) },
		"config with two JSON values":      func(r *VerifyRequest) { r.Config = []byte(`{} {}`) },
		"no subject media type":            func(r *VerifyRequest) { r.Subject.MediaType = "" },
		"no subject digest":                func(r *VerifyRequest) { r.Subject.Digest = "" },
		"a subject digest that is not hex": func(r *VerifyRequest) { r.Subject.Digest = "sha256:zz" },
		"no repository":                    func(r *VerifyRequest) { r.Repository = "" },
		"no artifact descriptor":           func(r *VerifyRequest) { r.Artifact = ocispec.Descriptor{} },
		"no artifact digest":               func(r *VerifyRequest) { r.Artifact.Digest = "" },
		"an artifact digest of unknown algorithm": func(r *VerifyRequest) {
			r.Artifact.Digest = "md5:d41d8cd98f00b204e9800998ecf8427e"
		},
		"no artifact manifest": func(r *VerifyRequest) { r.ArtifactManifest = nil },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			r := fullRequest()
			mutate(r)
			if err := r.Validate(); !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("Validate() = %v, want ErrInvalidRequest", err)
			}
		})
	}
	var nilReq *VerifyRequest
	if err := nilReq.Validate(); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("nil request: Validate() = %v, want ErrInvalidRequest", err)
	}
}

func TestValidateAcceptsWhatTheHostSends(t *testing.T) {
	tests := map[string]func(r *VerifyRequest){
		"a full request":                   func(*VerifyRequest) {},
		"empty parameters":                 func(r *VerifyRequest) { r.Config = []byte(`{}`) },
		"null parameters, for the plugin":  func(r *VerifyRequest) { r.Config = []byte(`null`) },
		"no blobs":                         func(r *VerifyRequest) { r.Blobs = nil },
		"a blob whose bytes do not match":  func(r *VerifyRequest) { r.Blobs[0].Data = []byte("other") },
		"a manifest that is not JSON":      func(r *VerifyRequest) { r.ArtifactManifest = []byte("not json") },
		"an artifact without its own type": func(r *VerifyRequest) { r.Artifact.ArtifactType = "" },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			r := fullRequest()
			mutate(r)
			if err := r.Validate(); err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
		})
	}
}

// Serve answers a malformed request with INVALID_REQUEST before the
// plugin's Verify runs; the host sees ErrProtocol wrapping
// ErrInvalidRequest.
func TestBoundaryRejectsMalformedRequestsBeforeVerify(t *testing.T) {
	var calls atomic.Int32
	v := connect(t, newFakeVerifier().WithVerify(func(context.Context, *VerifyRequest) (*VerifyResponse, error) {
		calls.Add(1)
		return &VerifyResponse{Verdict: VerdictVerified}, nil
	}))
	bad := fullRequest()
	bad.Artifact.Digest = ""
	_, err := v.Verify(t.Context(), bad)
	if !errors.Is(err, ErrInvalidRequest) || !errors.Is(err, ErrProtocol) {
		t.Fatalf("Verify error = %v, want ErrProtocol and ErrInvalidRequest", err)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the plugin's Verify ran %d times for a malformed request", n)
	}
	if _, err := v.Verify(t.Context(), fullRequest()); err != nil {
		t.Fatalf("a well-formed request after a malformed one: %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("the plugin's Verify ran %d times, want 1", n)
	}
}

func TestValidateMetadata(t *testing.T) {
	ok := Metadata{
		Name: "cosign", Version: "1",
		ArtifactTypes:  []string{"application/vnd.dev.cosign.artifact.sig.v1+json", "application/vnd.dev.sigstore.bundle.v0.3+json"},
		SignatureTypes: []string{"application/vnd.dev.sigstore.bundle.v0.3+json"},
	}
	tests := map[string]struct {
		mutate func(m *Metadata)
		valid  bool
	}{
		"metadata declaring one of its artifact types a signature": {mutate: func(*Metadata) {}, valid: true},
		"metadata declaring no signature types":                    {mutate: func(m *Metadata) { m.SignatureTypes = nil }, valid: true},
		"a signature type the plugin does not verify": {
			mutate: func(m *Metadata) {
				m.SignatureTypes = append(m.SignatureTypes, "application/vnd.cncf.notary.signature")
			},
		},
		"an empty signature type":      {mutate: func(m *Metadata) { m.SignatureTypes = []string{""} }},
		"a name other than the binary": {mutate: func(m *Metadata) { m.Name = "notation" }},
		"no artifact types":            {mutate: func(m *Metadata) { m.ArtifactTypes, m.SignatureTypes = nil, nil }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := ok
			m.ArtifactTypes = slices.Clone(ok.ArtifactTypes)
			m.SignatureTypes = slices.Clone(ok.SignatureTypes)
			tc.mutate(&m)
			err := validateMetadata("cosign", m)
			if tc.valid && err != nil {
				t.Fatalf("validateMetadata = %v, want nil", err)
			}
			if !tc.valid && !errors.Is(err, ErrInvalidMetadata) {
				t.Fatalf("validateMetadata = %v, want ErrInvalidMetadata", err)
			}
		})
	}
}
