package plugin

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goplugin "github.com/hashicorp/go-plugin"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeVerifier is a Verifier whose methods are set per test.
type fakeVerifier struct {
	metadata       func(context.Context) (Metadata, error)
	validateConfig func(context.Context, []byte) ([]Diagnostic, error)
	verify         func(context.Context, *VerifyRequest) (*VerifyResponse, error)
}

var _ Verifier = (*fakeVerifier)(nil)

func newFakeVerifier() *fakeVerifier {
	return &fakeVerifier{
		metadata: func(context.Context) (Metadata, error) {
			return Metadata{Name: "fake", Version: "1", ArtifactTypes: []string{"application/vnd.fake"}}, nil
		},
		validateConfig: func(context.Context, []byte) ([]Diagnostic, error) { return nil, nil },
		verify: func(context.Context, *VerifyRequest) (*VerifyResponse, error) {
			return &VerifyResponse{Verdict: VerdictVerified}, nil
		},
	}
}

func (f *fakeVerifier) WithMetadata(fn func(context.Context) (Metadata, error)) *fakeVerifier {
	f.metadata = fn
	return f
}

func (f *fakeVerifier) WithValidateConfig(fn func(context.Context, []byte) ([]Diagnostic, error)) *fakeVerifier {
	f.validateConfig = fn
	return f
}

func (f *fakeVerifier) WithVerify(fn func(context.Context, *VerifyRequest) (*VerifyResponse, error)) *fakeVerifier {
	f.verify = fn
	return f
}

func (f *fakeVerifier) Metadata(ctx context.Context) (Metadata, error) { return f.metadata(ctx) }
func (f *fakeVerifier) ValidateConfig(ctx context.Context, c []byte) ([]Diagnostic, error) {
	return f.validateConfig(ctx, c)
}
func (f *fakeVerifier) Verify(ctx context.Context, r *VerifyRequest) (*VerifyResponse, error) {
	return f.verify(ctx, r)
}

// connect serves impl through go-plugin's in-process gRPC test connection
// and returns the host-side adapter.
func connect(t *testing.T, impl Verifier) Verifier {
	t.Helper()
	c, _ := goplugin.TestPluginGRPCConn(t, false, versionedPlugins(impl, nil)[ProtocolVersion])
	t.Cleanup(func() {
		// Close also stops the server, through go-plugin's controller.
		if err := c.Close(); err != nil {
			t.Logf("close test connection: %v", err)
		}
	})
	raw, err := c.Dispense(pluginKey)
	if err != nil {
		t.Fatalf("Dispense: %v", err)
	}
	v, ok := raw.(Verifier)
	if !ok {
		t.Fatalf("Dispense returned %T, not a Verifier", raw)
	}
	return v
}

func fullRequest() *VerifyRequest {
	blob1, blob2 := []byte("envelope bytes"), []byte{0, 1, 2, 255}
	return &VerifyRequest{
		Config: []byte(`{"trustPolicy":"strict"}`),
		Subject: ocispec.Descriptor{
			MediaType:   ocispec.MediaTypeImageIndex,
			Digest:      digest.FromString("subject"),
			Size:        1234,
			URLs:        []string{"https://example.com/a", "https://example.com/b"},
			Annotations: map[string]string{"org.opencontainers.image.created": "2026-01-02T03:04:05Z"},
			Data:        []byte(`{"inline":true}`),
			Platform: &ocispec.Platform{
				Architecture: "arm64",
				OS:           "linux",
				OSVersion:    "6.1",
				OSFeatures:   []string{"sse4"},
				Variant:      "v8",
			},
			ArtifactType: "application/vnd.example.thing",
		},
		Repository: "localhost:5000/app",
		Artifact: ocispec.Descriptor{
			MediaType:    ocispec.MediaTypeImageManifest,
			Digest:       digest.FromString("artifact"),
			Size:         567,
			ArtifactType: "application/vnd.cncf.notary.signature",
		},
		ArtifactManifest: []byte(`{"schemaVersion":2}`),
		Blobs: []Blob{
			{Descriptor: ocispec.Descriptor{MediaType: "application/jose+json", Digest: digest.FromBytes(blob1), Size: int64(len(blob1))}, Data: blob1},
			{Descriptor: ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(blob2), Size: int64(len(blob2))}, Data: blob2},
		},
	}
}

func TestBoundaryRoundTrip(t *testing.T) {
	want := fullRequest()
	wantResp := &VerifyResponse{
		Verdict:     VerdictFailed,
		Reason:      "SIGNATURE_UNTRUSTED",
		Message:     "signed by an unknown identity",
		Remediation: "add the signer's root to the trust store",
		Details: map[string]any{
			"issuer":   "CN=Test Root",
			"serial":   "0a1b",
			"count":    float64(3),
			"revoked":  false,
			"nothing":  nil,
			"cves":     []any{"CVE-2024-0001", "CVE-2024-0002"},
			"nested":   map[string]any{"depth": float64(2), "list": []any{map[string]any{"k": "v"}}},
			"unicode":  "é ✓",
			"fraction": 0.25,
		},
	}
	var got *VerifyRequest
	v := connect(t, newFakeVerifier().WithVerify(func(_ context.Context, r *VerifyRequest) (*VerifyResponse, error) {
		got = r
		return wantResp, nil
	}))

	resp, err := v.Verify(t.Context(), want)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("request seen by the plugin (-sent +received):\n%s", diff)
	}
	if diff := cmp.Diff(wantResp, resp); diff != "" {
		t.Errorf("response seen by the host (-sent +received):\n%s", diff)
	}
}

func TestBoundaryMetadataAndDiagnostics(t *testing.T) {
	wantMeta := Metadata{
		Name:           "notation",
		Version:        "1.2.3",
		ArtifactTypes:  []string{"application/vnd.cncf.notary.signature", "application/vnd.other"},
		Capabilities:   []string{CapabilityNetwork},
		SignatureTypes: []string{"application/vnd.cncf.notary.signature"},
	}
	wantDiags := []Diagnostic{
		{Severity: SeverityError, Field: "trustStores.ca.acme", Summary: "unknown trust store", Detail: "define it under trustStores"},
		{Severity: SeverityWarning, Field: "revocation", Summary: "revocation checks are off"},
	}
	var gotConfig []byte
	v := connect(t, newFakeVerifier().
		WithMetadata(func(context.Context) (Metadata, error) { return wantMeta, nil }).
		WithValidateConfig(func(_ context.Context, c []byte) ([]Diagnostic, error) {
			gotConfig = c
			return wantDiags, nil
		}))

	meta, err := v.Metadata(t.Context())
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	if diff := cmp.Diff(wantMeta, meta); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	diags, err := v.ValidateConfig(t.Context(), []byte(`{"a":1}`))
	if err != nil {
		t.Fatalf("ValidateConfig: %v", err)
	}
	if diff := cmp.Diff(wantDiags, diags); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]byte(`{"a":1}`), gotConfig); diff != "" {
		t.Errorf("config seen by the plugin (-want +got):\n%s", diff)
	}
}

func TestBoundaryErrors(t *testing.T) {
	tests := map[string]struct {
		verify func(context.Context, *VerifyRequest) (*VerifyResponse, error)
		want   error
	}{
		"an error returned by the plugin reaches the host as ErrRemote": {
			verify: func(context.Context, *VerifyRequest) (*VerifyResponse, error) {
				return nil, errors.New("cannot parse envelope")
			},
			want: ErrRemote,
		},
		"a panic in the plugin reaches the host as ErrPanicked": {
			verify: func(context.Context, *VerifyRequest) (*VerifyResponse, error) { panic("boom") },
			want:   ErrPanicked,
		},
		"details that are not JSON-compatible are an error, not a panic": {
			verify: func(context.Context, *VerifyRequest) (*VerifyResponse, error) {
				return &VerifyResponse{Verdict: VerdictVerified, Details: map[string]any{"f": func() {}}}, nil
			},
			want: ErrRemote,
		},
		"a nil response without an error is an error": {
			verify: func(context.Context, *VerifyRequest) (*VerifyResponse, error) { return nil, nil },
			want:   ErrRemote,
		},
		"a plugin giving up on its deadline reports context.DeadlineExceeded": {
			verify: func(ctx context.Context, _ *VerifyRequest) (*VerifyResponse, error) {
				return nil, context.DeadlineExceeded
			},
			want: context.DeadlineExceeded,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v := connect(t, newFakeVerifier().WithVerify(tc.verify))
			resp, err := v.Verify(t.Context(), fullRequest())
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify error = %v, want one wrapping %v (response %+v)", err, tc.want, resp)
			}
		})
	}
}

func TestBoundaryPassesTheDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
	defer cancel()
	hostDeadline, _ := ctx.Deadline()
	var seen time.Time
	var ok bool
	v := connect(t, newFakeVerifier().WithVerify(func(ctx context.Context, _ *VerifyRequest) (*VerifyResponse, error) {
		seen, ok = ctx.Deadline()
		return &VerifyResponse{Verdict: VerdictVerified}, nil
	}))
	if _, err := v.Verify(ctx, fullRequest()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !ok {
		t.Fatal("the plugin saw no deadline")
	}
	if seen.After(hostDeadline) {
		t.Errorf("plugin deadline %v is later than the host's %v", seen, hostDeadline)
	}
}

func TestBoundaryUnknownVerdictFailsClosed(t *testing.T) {
	v := connect(t, newFakeVerifier().WithVerify(func(context.Context, *VerifyRequest) (*VerifyResponse, error) {
		return &VerifyResponse{Verdict: Verdict(42)}, nil
	}))
	resp, err := v.Verify(t.Context(), fullRequest())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if resp.Verdict != VerdictUnspecified {
		t.Errorf("verdict = %v, want %v", resp.Verdict, VerdictUnspecified)
	}
}
