// Command demo shows Assay end to end on one machine: it starts an OCI
// registry on loopback, pushes a signed and an unsigned image (signed with
// the Notary Project libraries by a CA made on the spot), writes a
// configuration trusting that CA, and runs `assay verify` on both images
// and `assay discover` on the signed one. It exits non-zero unless the
// signed image passes and the unsigned one fails with NO_SIGNATURE.
//
// Run it with `make demo`.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/registrytest"
	"oras.land/oras-go/v2/registry/remote"
)

func main() {
	assay := flag.String("assay", "bin/assay", "path of the assay binary")
	pluginDir := flag.String("plugin-dir", "bin/plugins", "plugin directory with SHA256SUMS")
	flag.Parse()
	if err := run(*assay, *pluginDir, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func run(assay, pluginDir string, out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	srv, err := registrytest.StartOlareg()
	if err != nil {
		return err
	}
	defer srv.Close()
	repoName := srv.Host() + "/demo/app"
	repo, err := remote.NewRepository(repoName)
	if err != nil {
		return err
	}
	repo.PlainHTTP = true
	fmt.Fprintf(out, "== local OCI registry at %s (in-process, referrers API)\n", srv.Host())

	ca, err := notationtest.NewCA(notationtest.CAOptions{})
	if err != nil {
		return err
	}
	leaf, err := ca.IssueLeaf(notationtest.LeafOptions{})
	if err != nil {
		return err
	}
	signed, err := notationtest.PushImage(ctx, repo, "signed", "signed")
	if err != nil {
		return err
	}
	sig, err := notationtest.Sign(ctx, leaf, signed, notationtest.SignOptions{})
	if err != nil {
		return err
	}
	if _, err := notationtest.PushSignature(ctx, repo, signed, sig); err != nil {
		return err
	}
	if _, err := notationtest.PushImage(ctx, repo, "unsigned", "unsigned"); err != nil {
		return err
	}
	fmt.Fprintf(out, "== pushed %s:signed (Notary Project signature by %q) and %s:unsigned\n",
		repoName, leaf.Cert.Subject.CommonName, repoName)

	dir, err := os.MkdirTemp("", "assay-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "assay.yaml")
	params, err := notationtest.NewParams(repoName, ca, nil).JSON()
	if err != nil {
		return err
	}
	if err := os.WriteFile(cfg, []byte(config(srv.Host(), params)), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(out, "== configuration (%s): Store, Verifier \"notation\" trusting the demo CA, Policy requiring a signature\n\n", cfg)

	steps := []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"verify", repoName + ":signed"}, 0, "VERIFIED"},
		{[]string{"verify", repoName + ":unsigned"}, 1, "NO_SIGNATURE"},
		{[]string{"discover", repoName + ":signed"}, 0, "application/vnd.cncf.notary.signature"},
	}
	for _, s := range steps {
		args := append([]string{"--config", cfg, "--plugin-dir", pluginDir}, s.args...)
		fmt.Fprintf(out, "$ assay %s\n", strings.Join(s.args, " "))
		var buf bytes.Buffer
		cmd := exec.CommandContext(ctx, assay, args...)
		cmd.Stdout = io.MultiWriter(out, &buf)
		cmd.Stderr = io.MultiWriter(os.Stderr, &buf)
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			return fmt.Errorf("run assay: %w", err)
		}
		fmt.Fprintf(out, "(exit code %d)\n\n", code)
		if code != s.wantCode || !strings.Contains(buf.String(), s.want) {
			return fmt.Errorf("assay %s: exit code %d, want %d with %q in the output", strings.Join(s.args, " "), code, s.wantCode, s.want)
		}
	}
	fmt.Fprintln(out, "== demo passed: the signed image verified, the unsigned one was refused with NO_SIGNATURE")
	return nil
}

// config renders the verification objects for the demo registry.
func config(host string, params []byte) string {
	var p bytes.Buffer
	_ = json.Indent(&p, params, "    ", "  ")
	return fmt.Sprintf(`apiVersion: config.assay.dev/v1alpha1
kind: Store
metadata:
  name: demo
spec:
  registries:
    - host: %q
      plainHTTP: true
---
apiVersion: config.assay.dev/v1alpha1
kind: Verifier
metadata:
  name: notation
spec:
  plugin: notation
  artifactTypes: [application/vnd.cncf.notary.signature]
  parameters:
    %s
---
apiVersion: config.assay.dev/v1alpha1
kind: Policy
metadata:
  name: signed-images
spec:
  rules:
    - artifactType: application/vnd.cncf.notary.signature
      required: true
      mode: any
`, host, p.String())
}
