package servetest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Module is the import path of Assay's module.
const Module = "github.com/assayproj/assay"

// Build compiles cmd/assay into dir/assay and each plugin (name → main
// package import path) into dir/plugins/<name>, and writes
// dir/plugins/SHA256SUMS the way `make build` does. It returns the
// binary's path and the plugin directory.
func Build(dir string, plugins map[string]string) (assay, pluginDir string, err error) {
	return build(dir, plugins, false)
}

// BuildStatic is Build with CGO_ENABLED=0 and -trimpath, as `make image`
// builds the binaries of the container image.
func BuildStatic(dir string, plugins map[string]string) (assay, pluginDir string, err error) {
	return build(dir, plugins, true)
}

func build(dir string, plugins map[string]string, static bool) (assay, pluginDir string, err error) {
	assay = filepath.Join(dir, "assay")
	pluginDir = filepath.Join(dir, "plugins")
	if err := goBuild(assay, Module+"/cmd/assay", static); err != nil {
		return "", "", err
	}
	if err := buildPlugins(pluginDir, plugins, static); err != nil {
		return "", "", err
	}
	return assay, pluginDir, nil
}

// PluginNames are the verifier plugins of the repository, under plugins/.
var PluginNames = []string{"notation", "cosign", "vulnreport"}

// Plugins maps each named plugin (all of PluginNames when none is named)
// to its main package, for Build and BuildPlugins.
func Plugins(names ...string) map[string]string {
	if len(names) == 0 {
		names = PluginNames
	}
	out := make(map[string]string, len(names))
	for _, n := range names {
		out[n] = Module + "/plugins/" + n
	}
	return out
}

// BuildPlugins compiles each plugin (name → main package import path)
// into dir/<name> and writes dir/SHA256SUMS the way `make plugins` does,
// for tests that run plugins without assay itself.
func BuildPlugins(dir string, plugins map[string]string) error {
	return buildPlugins(dir, plugins, false)
}

func buildPlugins(dir string, plugins map[string]string, static bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	names := make([]string, 0, len(plugins))
	for name := range plugins {
		names = append(names, name)
	}
	sort.Strings(names)
	var sums strings.Builder
	for _, name := range names {
		out := filepath.Join(dir, name)
		if err := goBuild(out, plugins[name], static); err != nil {
			return err
		}
		data, err := os.ReadFile(out)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(sum[:]), name)
	}
	return os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums.String()), 0o644)
}

func goBuild(out, pkg string, static bool) error {
	args := []string{"build", "-o", out}
	if static {
		args = append(args, "-trimpath")
	}
	cmd := exec.Command("go", append(args, pkg)...)
	if static {
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// NotationSignature is the artifact type of Notary Project signatures.
const NotationSignature = "application/vnd.cncf.notary.signature"

// NotationConfig renders the verification objects most tests use: a
// Store reaching hosts over plain HTTP, a Verifier "notation" with the
// plugin parameters params (JSON), and a Policy "signed" requiring a
// Notary Project signature under mode ("any" or "all"; "" is "any").
func NotationConfig(hosts []string, params []byte, mode string) string {
	if mode == "" {
		mode = "any"
	}
	var b strings.Builder
	b.WriteString("apiVersion: config.assay.dev/v1alpha1\nkind: Store\nmetadata: {name: registries}\nspec:\n  registries:\n")
	for _, h := range hosts {
		fmt.Fprintf(&b, "    - {host: %q, plainHTTP: true}\n", h)
	}
	fmt.Fprintf(&b, `---
apiVersion: config.assay.dev/v1alpha1
kind: Verifier
metadata: {name: notation}
spec:
  plugin: notation
  artifactTypes: [%s]
  parameters: %s
---
apiVersion: config.assay.dev/v1alpha1
kind: Policy
metadata: {name: signed}
spec:
  rules:
    - {artifactType: %s, required: true, mode: %s}
`, NotationSignature, params, NotationSignature, mode)
	return b.String()
}
