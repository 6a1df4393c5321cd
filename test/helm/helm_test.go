// Package helm tests the Helm chart charts/assay with the real helm
// binary: `helm lint --strict`, and `helm template` with several value
// sets whose rendered objects are decoded and checked (security context,
// probes, flags, the serving certificate against the Providers' caBundle,
// RBAC, mutators, the schema), plus a check that the chart's copies of
// crds/ and library/ are identical to their sources.
//
// The tests need helm v3 at $ASSAY_HELM_BIN or .tools/bin/helm of the
// repository; they fail, never skip, without it:
//
//	GOBIN=$PWD/.tools/bin go install helm.sh/helm/v3/cmd/helm@v3.22.0
//
// (or `make tools`). They build nothing themselves.
package helm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const (
	release   = "assay"
	namespace = "assay-system"
)

// repoRoot is the repository, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatalf("repository root: %v", err)
	}
	return root
}

func chartDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(repoRoot(t), "charts", "assay")
}

// helmBin returns the helm binary, or fails the test with how to get one.
func helmBin(t *testing.T) string {
	t.Helper()
	path := os.Getenv("ASSAY_HELM_BIN")
	from := "$ASSAY_HELM_BIN"
	if path == "" {
		path = filepath.Join(repoRoot(t), ".tools", "bin", "helm")
		from = "the default location"
	}
	info, err := os.Stat(path)
	if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		t.Fatalf("helm not found at %s (%s): these tests need the helm v3 binary.\n"+
			"Install it with `make tools`, or with\n"+
			"  GOBIN=%s go install helm.sh/helm/v3/cmd/helm@v3.22.0\n"+
			"or point ASSAY_HELM_BIN at a helm v3 binary (an absolute path: the tests run in test/helm).", path, from, filepath.Join(repoRoot(t), ".tools", "bin"))
	}
	return path
}

// helm runs helm with its state directories in a temporary directory
// and no cluster, and returns its combined output and error.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helmBin(t), args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"),
	)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

// valuesFile writes values as a YAML file and returns its path.
func valuesFile(t *testing.T, values map[string]any) string {
	t.Helper()
	data, err := yaml.Marshal(values)
	if err != nil {
		t.Fatalf("marshal values: %v", err)
	}
	// Not t.TempDir: its path carries the test name, and helm splits
	// --values at commas.
	dir, err := os.MkdirTemp("", "assay-helm-values-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("write values: %v", err)
	}
	return path
}

// templateArgs are the arguments of `helm template` for values in
// namespace ns.
func templateArgs(t *testing.T, ns string, values map[string]any, extra ...string) []string {
	t.Helper()
	args := []string{"template", release, chartDir(t), "--namespace", ns}
	if values != nil {
		args = append(args, "--values", valuesFile(t, values))
	}
	return append(args, extra...)
}

// render runs `helm template` with values in the default namespace and
// decodes what it prints; it fails the test if helm fails.
func render(t *testing.T, values map[string]any, extra ...string) manifest {
	t.Helper()
	return renderIn(t, namespace, values, extra...)
}

func renderIn(t *testing.T, ns string, values map[string]any, extra ...string) manifest {
	t.Helper()
	out, err := helm(t, templateArgs(t, ns, values, extra...)...)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	return decodeManifest(t, out)
}

// renderFails runs `helm template` and returns its output, failing the
// test if helm succeeds.
func renderFails(t *testing.T, values map[string]any, extra ...string) string {
	t.Helper()
	out, err := helm(t, templateArgs(t, namespace, values, extra...)...)
	if err == nil {
		t.Fatalf("helm template succeeded, want an error; output:\n%s", out)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("helm template: %v", err)
	}
	return out
}

// object is one rendered Kubernetes object.
type object struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	JSON       []byte
}

// into decodes the object into v (a typed API struct or a map).
func (o object) into(t *testing.T, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(o.JSON))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s %s: %v", o.Kind, o.Name, err)
	}
}

// fields returns the object as a generic map.
func (o object) fields(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	o.into(t, &m)
	return m
}

type manifest []object

func decodeManifest(t *testing.T, out string) manifest {
	t.Helper()
	var m manifest
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(out)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("split rendered YAML: %v", err)
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, doc)
		}
		if string(bytes.TrimSpace(js)) == "null" {
			continue // comments only
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(js, &meta); err != nil {
			t.Fatalf("rendered document is not an object: %v\n%s", err, doc)
		}
		if meta.APIVersion == "" || meta.Kind == "" || meta.Metadata.Name == "" {
			t.Fatalf("rendered document lacks apiVersion, kind or metadata.name:\n%s", doc)
		}
		m = append(m, object{APIVersion: meta.APIVersion, Kind: meta.Kind, Name: meta.Metadata.Name, Namespace: meta.Metadata.Namespace, JSON: js})
	}
	if len(m) == 0 {
		t.Fatalf("helm template rendered no objects:\n%s", out)
	}
	return m
}

// all returns the objects of kind.
func (m manifest) all(kind string) []object {
	var objs []object
	for _, o := range m {
		if o.Kind == kind {
			objs = append(objs, o)
		}
	}
	return objs
}

// get returns the object of kind and name, failing the test if there is
// none.
func (m manifest) get(t *testing.T, kind, name string) object {
	t.Helper()
	for _, o := range m {
		if o.Kind == kind && o.Name == name {
			return o
		}
	}
	var have []string
	for _, o := range m {
		have = append(have, o.Kind+"/"+o.Name)
	}
	t.Fatalf("no %s %q rendered; have %s", kind, name, strings.Join(have, ", "))
	return object{}
}

func (m manifest) has(kind, name string) bool {
	for _, o := range m {
		if o.Kind == kind && o.Name == name {
			return true
		}
	}
	return false
}
