package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/assayproj/assay/pkg/engine"
)

// TestLoadFileReportsEveryErrorAtOnce loads a file with a catalog error
// (an unknown rule mode), a file-mode error (pull Secrets) and a plugin
// error (a parameter the notation plugin does not know): one run names
// all three, so a user fixes the file once.
func TestLoadFileReportsEveryErrorAtOnce(t *testing.T) {
	const config = `apiVersion: config.assay.dev/v1alpha1
kind: Store
metadata: {name: default}
spec:
  pullSecrets: [{name: regcred, namespace: assay-system}]
---
apiVersion: config.assay.dev/v1alpha1
kind: Verifier
metadata: {name: notation}
spec:
  plugin: notation
  artifactTypes: [application/vnd.cncf.notary.signature]
  parameters: {trustPolicyDocument: {version: "1.0", trustPolicies: []}, notAField: 1}
---
apiVersion: config.assay.dev/v1alpha1
kind: Policy
metadata: {name: signed}
spec:
  rules:
    - {artifactType: application/vnd.cncf.notary.signature, required: true, mode: sometimes}
`
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	_, rt := newRuntime(t, engine.Options{PluginDir: pluginDir})
	err := rt.LoadFile(context.Background(), path)
	if err == nil {
		t.Fatal("the file loaded")
	}
	for _, want := range []string{
		`"sometimes" is not a mode`,
		`Store "default" field spec.pullSecrets`,
		`Verifier "notation" field spec.parameters`,
		"notAField",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not name %q:\n%v", want, err)
		}
	}
	if rt.Ready() {
		t.Error("a configuration is in effect after a file that does not load")
	}
}
