package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/cosigntest"
	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/reason"
)

// TestPluginProcess builds the plugin binary and talks to it through the
// host: the real go-plugin handshake, metadata checks, AutoMTLS and the
// protocol's conversions of requests, diagnostics and details.
func TestPluginProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, Name)
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), fmt.Appendf(nil, "%s  %s\n", hex.EncodeToString(sum[:]), Name), 0o644); err != nil {
		t.Fatal(err)
	}
	host, err := plugin.NewHost(plugin.HostOptions{Dir: dir})
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	t.Cleanup(host.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	diags, err := host.ValidateConfig(ctx, Name, []byte(`{"trustPolicies": [{"name": "p", "scopes": ["*"], "keyz": []}]}`))
	if err != nil {
		t.Fatalf("ValidateConfig: %v", err)
	}
	if len(diags) == 0 || diags[0].Field != "trustPolicies[0].keyz" || diags[0].Severity != plugin.SeverityError {
		t.Errorf("diagnostics = %+v, want an error naming trustPolicies[0].keyz first", diags)
	}

	e, s := newEnv(t), cosigntest.MustSigstore(t)
	req := e.bundle(s.MustKeylessParams(t, testRepo, "", ""), s.MustSignBundle(t, e.subject, cosigntest.BundleOptions{}))
	resp, err := host.Verify(ctx, Name, req)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if resp.Verdict != plugin.VerdictVerified || resp.Reason != reason.Verified {
		t.Fatalf("verdict %v %s: %s", resp.Verdict, resp.Reason, resp.Message)
	}
	if resp.Details["subject"] != cosigntest.DefaultIdentity || resp.Details["tlogVerified"] != true {
		t.Errorf("details = %v", resp.Details)
	}
}
