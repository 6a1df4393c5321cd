package doctest

import (
	"encoding/json"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// apiVersion is that of Assay's verification objects; pkg/apis/v1alpha1
// is not imported so that plugin tests stay light.
const apiVersion = "config.assay.dev/v1alpha1"

// Documents splits the block into its YAML documents (separated by
// "---" lines), leaving out those with nothing but comments.
func (b Block) Documents() []string {
	var docs []string
	var cur strings.Builder
	flush := func() {
		for _, l := range strings.Split(cur.String(), "\n") {
			if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
				docs = append(docs, cur.String())
				break
			}
		}
		cur.Reset()
	}
	for _, l := range strings.SplitAfter(b.Text, "\n") {
		if t := strings.TrimRight(l, "\n"); t == "---" || strings.HasPrefix(t, "--- ") {
			flush()
			continue
		}
		cur.WriteString(l)
	}
	flush()
	return docs
}

// Parameters are the spec.parameters of one documented Verifier.
type Parameters struct {
	Block Block
	// Verifier is the Verifier's name.
	Verifier string
	// JSON is spec.parameters as JSON; "{}" when the Verifier has none,
	// as the host sends it.
	JSON []byte
}

func (p Parameters) String() string { return fmt.Sprintf("%s Verifier %q", p.Block, p.Verifier) }

type verifierDoc struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec verifierSpec `json:"spec"`
}

type verifierSpec struct {
	Plugin     string          `json:"plugin"`
	Parameters json.RawMessage `json:"parameters"`
}

// VerifierParameters returns the parameters of the documented Verifiers
// (and NamespacedVerifiers) whose spec.plugin is plugin: the objects of
// unmarked and cluster-only blocks, and the config.verifiers of
// helm-values blocks. Fragments are left out. A block that is not YAML
// is an error; whether it is a valid object is for the tests of its
// decoder.
func VerifierParameters(blocks []Block, plugin string) ([]Parameters, error) {
	var out []Parameters
	add := func(b Block, name string, s verifierSpec) {
		if s.Plugin != plugin {
			return
		}
		raw := []byte(s.Parameters)
		if len(raw) == 0 || string(raw) == "null" {
			raw = []byte("{}")
		}
		out = append(out, Parameters{Block: b, Verifier: name, JSON: raw})
	}
	for _, b := range blocks {
		for _, doc := range b.Documents() {
			switch b.Marker {
			case Unmarked, ClusterOnly:
				var v verifierDoc
				if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
					return nil, fmt.Errorf("%s: %w", b, err)
				}
				if v.APIVersion == apiVersion && (v.Kind == "Verifier" || v.Kind == "NamespacedVerifier") {
					add(b, v.Metadata.Name, v.Spec)
				}
			case HelmValues:
				var v struct {
					Config struct {
						Verifiers []struct {
							Name string       `json:"name"`
							Spec verifierSpec `json:"spec"`
						} `json:"verifiers"`
					} `json:"config"`
				}
				if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
					return nil, fmt.Errorf("%s: %w", b, err)
				}
				for _, cv := range v.Config.Verifiers {
					add(b, cv.Name, cv.Spec)
				}
			}
		}
	}
	return out, nil
}

// Substitutions put real material in the place of what the
// documentation shows as a placeholder, so that a plugin's parser sees
// parameters that work.
type Substitutions struct {
	// Strings maps a documented string value (a PEM whose body is "...",
	// a path under /etc/assay) to the value put in its place. Only whole
	// string values are replaced.
	Strings map[string]string
	// ValueFrom returns the value of a cluster-only reference to a
	// ConfigMap or a Secret, an object {"valueFrom": {...}} (see
	// pkg/catalog), as the controllers read it before the plugin sees the
	// parameters. If nil, references stay as they are.
	ValueFrom func(ref map[string]any) string
}

// Substitute returns p's parameters with s applied, and the keys of
// s.Strings it replaced.
func (p Parameters) Substitute(s Substitutions) ([]byte, []string, error) {
	var v any
	if err := json.Unmarshal(p.JSON, &v); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", p, err)
	}
	var used []string
	var walk func(any) any
	walk = func(v any) any {
		switch t := v.(type) {
		case string:
			if r, ok := s.Strings[t]; ok {
				used = append(used, t)
				return r
			}
		case map[string]any:
			if ref, ok := t["valueFrom"].(map[string]any); ok && len(t) == 1 && s.ValueFrom != nil {
				return s.ValueFrom(ref)
			}
			for k, e := range t {
				t[k] = walk(e)
			}
		case []any:
			for i, e := range t {
				t[i] = walk(e)
			}
		}
		return v
	}
	out, err := json.Marshal(walk(v))
	return out, used, err
}
