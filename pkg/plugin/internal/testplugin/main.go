// Command testplugin is a verifier plugin for the tests of package plugin.
// Its behaviour is chosen per call by the JSON config it is sent:
//
//	{"mode": "<mode>", "notify": "127.0.0.1:<port>"}
//
// Modes:
//
//	verified     VerdictVerified
//	failed       VerdictFailed with reason, message and remediation
//	unspecified  a response with VerdictUnspecified
//	echo         VerdictVerified; Details echo what the plugin received (pid,
//	             digests, repository, blob count and digests, manifest size)
//	             and the context deadline it saw (RFC 3339, nanoseconds)
//	hang         waits until the call's context ends, returns its error
//	panic        panics inside Verify
//	exit         calls os.Exit(3) inside Verify
//	error        returns an error from Verify
//	bad-details  returns Details that are not JSON-compatible
//
// If notify is set, the plugin dials it and writes its pid and a newline
// before acting, so a test knows the call is in flight and which process
// holds it. Its metadata name is "testplugin": installed under another
// name, the host must refuse it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/assayproj/assay/pkg/plugin"
)

const (
	// Name is the plugin's metadata name.
	Name = "testplugin"
	// ArtifactType is the only artifact type it claims.
	ArtifactType = "application/vnd.assay.test.v1"
)

type config struct {
	Mode   string `json:"mode"`
	Notify string `json:"notify,omitempty"`
}

var modes = map[string]bool{
	"verified": true, "failed": true, "unspecified": true, "echo": true, "hang": true,
	"panic": true, "exit": true, "error": true, "bad-details": true,
}

type verifier struct{}

var _ plugin.Verifier = verifier{}

func (verifier) Metadata(context.Context) (plugin.Metadata, error) {
	return plugin.Metadata{
		Name:           Name,
		Version:        "0.0.1-test",
		ArtifactTypes:  []string{ArtifactType},
		Capabilities:   []string{},
		SignatureTypes: []string{ArtifactType},
	}, nil
}

func (verifier) ValidateConfig(_ context.Context, raw []byte) ([]plugin.Diagnostic, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return []plugin.Diagnostic{{Severity: plugin.SeverityError, Summary: "config is not valid JSON", Detail: err.Error()}}, nil
	}
	if !modes[c.Mode] {
		return []plugin.Diagnostic{{Severity: plugin.SeverityError, Field: "mode", Summary: fmt.Sprintf("unknown mode %q", c.Mode)}}, nil
	}
	return nil, nil
}

func (verifier) Verify(ctx context.Context, req *plugin.VerifyRequest) (*plugin.VerifyResponse, error) {
	var c config
	if err := json.Unmarshal(req.Config, &c); err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	if c.Notify != "" {
		if err := notify(ctx, c.Notify); err != nil {
			return nil, err
		}
	}
	switch c.Mode {
	case "verified":
		return &plugin.VerifyResponse{Verdict: plugin.VerdictVerified, Reason: "VERIFIED", Message: "test artifact verified"}, nil
	case "failed":
		return &plugin.VerifyResponse{
			Verdict:     plugin.VerdictFailed,
			Reason:      "SIGNATURE_UNTRUSTED",
			Message:     "test artifact failed",
			Remediation: "sign it with a trusted key",
		}, nil
	case "unspecified":
		return &plugin.VerifyResponse{Message: "said nothing"}, nil
	case "echo":
		return echo(ctx, req), nil
	case "hang":
		<-ctx.Done()
		return nil, ctx.Err()
	case "panic":
		panic("testplugin: asked to panic")
	case "exit":
		os.Exit(3)
		return nil, nil
	case "error":
		return nil, errors.New("testplugin: asked to fail")
	case "bad-details":
		return &plugin.VerifyResponse{Verdict: plugin.VerdictVerified, Details: map[string]any{"ch": make(chan int)}}, nil
	default:
		return nil, fmt.Errorf("unknown mode %q", c.Mode)
	}
}

func echo(ctx context.Context, req *plugin.VerifyRequest) *plugin.VerifyResponse {
	blobDigests := make([]any, len(req.Blobs))
	blobBytes := 0
	for i, b := range req.Blobs {
		blobDigests[i] = b.Descriptor.Digest.String()
		blobBytes += len(b.Data)
	}
	details := map[string]any{
		"pid":            os.Getpid(),
		"subjectDigest":  req.Subject.Digest.String(),
		"artifactDigest": req.Artifact.Digest.String(),
		"artifactType":   req.Artifact.ArtifactType,
		"repository":     req.Repository,
		"manifestBytes":  len(req.ArtifactManifest),
		"blobCount":      len(req.Blobs),
		"blobDigests":    blobDigests,
		"blobBytes":      blobBytes,
		"hasDeadline":    false,
	}
	if d, ok := ctx.Deadline(); ok {
		details["hasDeadline"] = true
		details["deadline"] = d.Format(time.RFC3339Nano)
	}
	return &plugin.VerifyResponse{Verdict: plugin.VerdictVerified, Reason: "VERIFIED", Details: details}
}

// notify tells the test that the call is in flight and which pid holds it.
func notify(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "%d\n", os.Getpid()); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

func main() {
	plugin.Serve(verifier{})
}
