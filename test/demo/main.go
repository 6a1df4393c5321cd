// Command demo shows Assay end to end on one machine: it starts an OCI
// registry on loopback, pushes a signed and an unsigned image (signed with
// the Notary Project libraries by a CA made on the spot), writes a
// configuration trusting that CA, and runs `assay verify` on both images
// and `assay discover` on the signed one. Then it starts `assay serve`
// with TLS material made on the spot and sends it Gatekeeper's
// ProviderRequest for both images, with curl. It exits non-zero unless the
// signed image passes and the unsigned one fails with NO_SIGNATURE, on
// the command line and through the provider.
//
// Run it with `make demo`. `make serve-demo` (-wait) keeps the registry
// and assay serve running on fixed addresses, with the configuration and
// TLS material in examples/demo/, and prints the curl command to try.
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
	wait := flag.Bool("wait", false, "keep the registry and assay serve running on fixed addresses until interrupted")
	dir := flag.String("dir", "", "directory for the configuration and TLS material (default: a temporary one; examples/demo with -wait)")
	flag.Parse()
	o := options{assay: *assay, pluginDir: *pluginDir, wait: *wait, dir: *dir}
	if o.wait {
		o.registry, o.listen, o.healthListen = "127.0.0.1:5000", "127.0.0.1:8443", "127.0.0.1:8081"
		if o.dir == "" {
			o.dir = filepath.Join("examples", "demo")
		}
	}
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

type options struct {
	assay, pluginDir string
	wait             bool
	dir              string
	// registry, listen and healthListen are fixed addresses; empty means random ports.
	registry, listen, healthListen string
}

func run(o options, out io.Writer) error {
	assay, pluginDir := o.assay, o.pluginDir
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var srv *registrytest.Server
	var err error
	if o.registry != "" {
		srv, err = registrytest.StartOlaregOn(o.registry)
	} else {
		srv, err = registrytest.StartOlareg()
	}
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

	dir := o.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "assay-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
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
	if err := serveDemo(ctx, o, out, cfg, dir, repoName); err != nil {
		return err
	}
	fmt.Fprintln(out, "== demo passed: the signed image verified, the unsigned one was refused with NO_SIGNATURE, on the command line and through the provider")
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
