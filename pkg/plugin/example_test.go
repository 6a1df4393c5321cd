package plugin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/reason"
)

// reportConfig is reportVerifier's parsed parameters, with what is wrong
// with them.
type reportConfig struct {
	MaxAge string `json:"maxAge"`
	diags  []plugin.Diagnostic
}

func parseReportConfig(raw []byte) *reportConfig {
	c := &reportConfig{}
	if err := json.Unmarshal(raw, c); err != nil {
		c.diags = []plugin.Diagnostic{{Severity: plugin.SeverityError, Summary: "parameters are not valid JSON", Detail: err.Error()}}
	}
	return c
}

// reportVerifier is a minimal plugin: it accepts any artifact that has at
// least one layer. It parses each distinct configuration once.
type reportVerifier struct {
	configs *plugin.ConfigCache[*reportConfig]
}

func newReportVerifier() *reportVerifier {
	return &reportVerifier{configs: plugin.NewConfigCache(0, parseReportConfig)}
}

func (*reportVerifier) Metadata(context.Context) (plugin.Metadata, error) {
	return plugin.Metadata{
		Name:          "report", // the binary's file name
		Version:       "1.0.0",
		ArtifactTypes: []string{"application/sarif+json"},
	}, nil
}

func (v *reportVerifier) ValidateConfig(_ context.Context, config []byte) ([]plugin.Diagnostic, error) {
	return v.configs.Get(config).diags, nil
}

// Verify needs no checks of the request's shape: Serve validated it.
func (v *reportVerifier) Verify(ctx context.Context, req *plugin.VerifyRequest) (*plugin.VerifyResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // the host's deadline has passed
	}
	if cfg := v.configs.Get(req.Config); len(cfg.diags) > 0 {
		return &plugin.VerifyResponse{Verdict: plugin.VerdictInconclusive, Reason: reason.ConfigInvalid, Message: cfg.diags[0].Summary}, nil
	}
	if len(req.Blobs) == 0 {
		return &plugin.VerifyResponse{Verdict: plugin.VerdictFailed, Reason: reason.VerificationFailed, Message: "the report has no layer"}, nil
	}
	return &plugin.VerifyResponse{
		Verdict: plugin.VerdictVerified,
		Reason:  reason.Verified,
		Details: map[string]any{"blobs": len(req.Blobs)},
	}, nil
}

// A plugin's main function calls Serve and nothing else.
func ExampleServe() {
	plugin.Serve(newReportVerifier())
}

// The host starts plugins from a directory holding the binaries and their
// SHA256SUMS, and maps every error to an inconclusive result.
func ExampleHost_Verify() {
	host, err := plugin.NewHost(plugin.HostOptions{Dir: "/opt/assay/plugins"})
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()

	resp, err := host.Verify(context.Background(), "report", &plugin.VerifyRequest{
		Config:           []byte(`{"maxAge":"24h"}`),
		Subject:          ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("image"), Size: 5},
		Repository:       "registry.example/app",
		Artifact:         ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("report"), Size: 6, ArtifactType: "application/sarif+json"},
		ArtifactManifest: []byte(`{"schemaVersion":2}`),
	})
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Println("inconclusive: DEADLINE_EXCEEDED")
	case err != nil:
		fmt.Println("inconclusive: PLUGIN_UNAVAILABLE:", err)
	case resp.Verdict == plugin.VerdictUnspecified:
		fmt.Println("inconclusive: the plugin gave no verdict")
	default:
		fmt.Println(resp.Verdict)
	}
}
