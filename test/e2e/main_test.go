// Package e2e runs the assay binary and the notation plugin as real
// processes against real registries (olareg with the OCI 1.1 referrers
// API, the distribution v3 registry binary without it) on images signed
// in the test with the Notary Project libraries.
package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/assayproj/assay/pkg/servetest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/assayproj/assay/pkg/report"
)

var (
	assayBin  string // built by TestMain
	pluginDir string // holds notation and SHA256SUMS
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "assay-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles assay and the plugins the tests use, with SHA256SUMS.
func build(dir string) (err error) {
	plugins := servetest.Plugins()
	// a plugin that can crash or hang on demand, to show the host copes
	plugins["testplugin"] = servetest.Module + "/pkg/plugin/internal/testplugin"
	assayBin, pluginDir, err = servetest.Build(dir, plugins)
	return err
}

// result of one assay invocation.
type result struct {
	code   int
	stdout string
	stderr string
}

// runAssay runs the assay binary with the test plugin directory.
func runAssay(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(assayBin, append([]string{"--plugin-dir", pluginDir}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run assay %v: %v", args, err)
	}
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") {
		t.Fatalf("assay %v panicked:\n%s", args, r.stderr)
	}
	return r
}

// verifyJSON runs `assay verify -o json` on one reference and decodes the
// report, the only element of the JSON array printed.
func verifyJSON(t *testing.T, config string, extra []string, ref string) (*report.Report, result) {
	t.Helper()
	args := append([]string{"--config", config}, extra...)
	args = append(args, "verify", "-o", "json", ref)
	r := runAssay(t, args...)
	var reps []report.Report
	if err := json.Unmarshal([]byte(r.stdout), &reps); err != nil || len(reps) != 1 {
		t.Fatalf("assay verify %s: exit %d, output is not an array of one report: %v\nstdout:\n%s\nstderr:\n%s", ref, r.code, err, r.stdout, r.stderr)
	}
	rep := reps[0]
	if rep.MediaType != report.MediaType {
		t.Fatalf("report mediaType = %q", rep.MediaType)
	}
	wantCode := 1
	if rep.IsSuccess {
		wantCode = 0
	}
	if r.code != wantCode {
		t.Fatalf("exit code %d does not match isSuccess=%v\nstderr:\n%s", r.code, rep.IsSuccess, r.stderr)
	}
	return &rep, r
}
