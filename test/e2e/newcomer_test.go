package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/report"
)

// TestServeStopsWithoutErrors stops assay serve as a terminal or `make
// demo` does, SIGTERM to its process group (its plugin processes
// included), after a verification started the notation plugin: a stop
// asked for logs no error.
func TestServeStopsWithoutErrors(t *testing.T) {
	s := startServed(t)
	r := post(t, s.srv, "/v1/verify", s.signed)
	if len(r.Response.Items) != 1 || r.Response.Items[0].Error != "" {
		t.Fatalf("items: %+v", r.Response.Items)
	}
	s.srv.Stop()
	out := s.srv.Output()
	if !strings.Contains(out, "stopped") {
		t.Fatalf("assay serve did not stop cleanly:\n%s", out)
	}
	for _, bad := range []string{"level=ERROR", "log.SetLogger"} {
		if strings.Contains(out, bad) {
			t.Errorf("assay serve logged %q on a normal stop:\n%s", bad, out)
		}
	}
}

// TestVerifyFindsThePluginsBesideTheBinary runs assay from another
// directory without --plugin-dir: the plugins beside the binary (as
// `make build` lays out bin/) are found. With ASSAY_PLUGIN_DIR naming a
// missing directory the error names the setting.
func TestVerifyFindsThePluginsBesideTheBinary(t *testing.T) {
	f := newFixture(t, registrytest.NewOlareg(t).Host())
	r := f.repo("newcomer/app")
	d := f.image(r, "signed")
	f.sign(r, f.leaf, d, notationtest.SignOptions{})
	cfg := f.config(r.Reference.String(), configOptions{})

	run := func(env ...string) (int, string, string) {
		t.Helper()
		cmd := exec.Command(assayBin, "--config", cfg, "verify", r.Reference.String()+":signed")
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), env...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), stdout.String(), stderr.String()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, stdout.String(), stderr.String()
	}
	if code, stdout, stderr := run(); code != 0 {
		t.Fatalf("exit %d without --plugin-dir, from another directory\n%s%s", code, stdout, stderr)
	}
	missing := t.TempDir() + "/none"
	code, _, stderr := run("ASSAY_PLUGIN_DIR=" + missing)
	want := `plugin directory "` + missing + `" does not exist; build the plugins (make build) or set --plugin-dir / ASSAY_PLUGIN_DIR`
	if code != 2 || !strings.Contains(stderr, want) {
		t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, want)
	}
}

// TestAPlainHTTPRegistryReportsTheStoreSetting: a Store that does not
// mark a plain-HTTP registry as such gets a report whose remediation
// names spec.registries' plainHTTP for that host.
func TestAPlainHTTPRegistryReportsTheStoreSetting(t *testing.T) {
	host := registrytest.NewOlareg(t).Host()
	cfg := writeFile(t, `apiVersion: config.assay.dev/v1alpha1
kind: Store
metadata: {name: s}
spec:
  registries: [{host: "`+host+`"}]
`)
	rep, _ := verifyJSON(t, cfg, nil, host+"/app:v1")
	if rep.Reason != report.ReasonRegistryError || !strings.Contains(rep.Remediation, `{host: "`+host+`", plainHTTP: true}`) {
		t.Fatalf("reason %s, remediation %q; want REGISTRY_ERROR naming plainHTTP for %s", rep.Reason, rep.Remediation, host)
	}
}
