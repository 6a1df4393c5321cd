package plugin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"

	"github.com/assayproj/assay/pkg/plugin"
)

// reportVerifier is a minimal plugin: it accepts any artifact whose
// manifest is non-empty.
type reportVerifier struct{}

func (reportVerifier) Metadata(context.Context) (plugin.Metadata, error) {
	return plugin.Metadata{
		Name:          "report", // the binary's file name
		Version:       "1.0.0",
		ArtifactTypes: []string{"application/sarif+json"},
	}, nil
}

func (reportVerifier) ValidateConfig(_ context.Context, config []byte) ([]plugin.Diagnostic, error) {
	var params struct {
		MaxAge string `json:"maxAge"`
	}
	if err := json.Unmarshal(config, &params); err != nil {
		return []plugin.Diagnostic{{Severity: plugin.SeverityError, Summary: "parameters are not valid JSON", Detail: err.Error()}}, nil
	}
	return nil, nil
}

func (reportVerifier) Verify(ctx context.Context, req *plugin.VerifyRequest) (*plugin.VerifyResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // the host's deadline has passed
	}
	if len(req.ArtifactManifest) == 0 {
		return &plugin.VerifyResponse{Verdict: plugin.VerdictFailed, Reason: "REPORT_MISSING", Message: "empty manifest"}, nil
	}
	return &plugin.VerifyResponse{
		Verdict: plugin.VerdictVerified,
		Details: map[string]any{"blobs": len(req.Blobs)},
	}, nil
}

// A plugin's main function calls Serve and nothing else.
func ExampleServe() {
	plugin.Serve(reportVerifier{})
}

// The host starts plugins from a directory holding the binaries and their
// SHA256SUMS, and maps every error to an inconclusive result.
func ExampleHost_Verify() {
	host, err := plugin.NewHost(plugin.HostOptions{Dir: "/opt/assay/plugins"})
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()

	resp, err := host.Verify(context.Background(), "report", &plugin.VerifyRequest{Config: []byte(`{}`)})
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
