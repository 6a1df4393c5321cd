package docs

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/apis/v1alpha1"
	"github.com/assayproj/assay/pkg/catalog"
	"github.com/assayproj/assay/pkg/doctest"
	"github.com/assayproj/assay/pkg/engine"
	"github.com/assayproj/assay/pkg/store"
	"sigs.k8s.io/yaml"
)

// root is the repository root, relative to this package.
const root = "../.."

// needs lists, per Markdown file, the files whose Assay objects its own
// are shown with: a Policy that requires a signature another plugin's
// README configures is validated with that Verifier.
var needs = map[string][]string{
	"plugins/vulnreport/README.md": {"plugins/notation/README.md"},
	// the cosign v2-or-v3 Policy names cosign's types
	"docs/configuration.md": {"plugins/cosign/README.md"},
}

// placeholders are the documented values that stand for material of the
// reader's own, with what the test puts in their place: a Store's
// dockerConfigPaths must name files that exist.
var placeholders = map[string]func(t *testing.T) string{
	"/home/me/.docker/config.json": func(t *testing.T) string { return dockerConfigFile(t) },
}

func readBlocks(t *testing.T) []doctest.Block {
	t.Helper()
	blocks, err := doctest.Read(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) == 0 {
		t.Fatal("no YAML block found in the documentation")
	}
	return blocks
}

// document is one YAML document of a block.
type document struct {
	block doctest.Block
	text  string
	// apiVersion and kind of the document; empty when it has none.
	apiVersion, kind string
}

func documents(t *testing.T, blocks []doctest.Block) []document {
	t.Helper()
	var out []document
	for _, b := range blocks {
		for _, text := range b.Documents() {
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(text), &head); err != nil {
				t.Errorf("%s: not YAML: %v", b, err)
				continue
			}
			out = append(out, document{block: b, text: text, apiVersion: head.APIVersion, kind: head.Kind})
		}
	}
	return out
}

func (d document) assay() bool { return d.apiVersion == v1alpha1.APIVersion }

func (d document) gatekeeper() bool {
	group, _, _ := strings.Cut(d.apiVersion, "/")
	return strings.HasSuffix(group, ".gatekeeper.sh")
}

func TestEveryYAMLBlockIsAConfigurationOrMarked(t *testing.T) {
	for _, d := range documents(t, readBlocks(t)) {
		switch d.block.Marker {
		case doctest.Unmarked:
			if !d.assay() && !d.gatekeeper() {
				t.Errorf("%s: a YAML block of neither Assay's objects (apiVersion %s) nor Gatekeeper's (*.gatekeeper.sh); "+
					"mark it <!-- fragment -->, <!-- helm-values --> or <!-- settings --> on the line before its fence (docs/testing.md)",
					d.block, v1alpha1.APIVersion)
			}
		case doctest.ClusterOnly:
			if !d.assay() {
				t.Errorf("%s: marked cluster-only, but apiVersion %q is not %s", d.block, d.apiVersion, v1alpha1.APIVersion)
			}
		}
	}
}

// configuration is the Assay objects of some blocks, as one stream of
// documents, with where each document comes from.
type configuration struct {
	name    string
	stream  bytes.Buffer
	origins []string // document index - 1 → block
}

func (c *configuration) add(t *testing.T, d document) {
	t.Helper()
	text := d.text
	for doc, fill := range placeholders {
		if strings.Contains(text, doc) {
			text = strings.ReplaceAll(text, doc, fill(t))
		}
	}
	if k, ok := strings.CutPrefix(d.kind, "Namespaced"); ok {
		// The controllers validate a namespaced object as the
		// cluster-wide kind of the same spec.
		text = strings.Replace(text, "kind: "+d.kind, "kind: "+k, 1)
	}
	c.stream.WriteString("---\n")
	c.stream.WriteString(text)
	c.origins = append(c.origins, d.block.String())
}

// where names the blocks behind the document numbers of an error.
func (c *configuration) where() string {
	var b strings.Builder
	for i, o := range c.origins {
		fmt.Fprintf(&b, "\n  document %d: %s", i+1, o)
	}
	return b.String()
}

func (c *configuration) objects(t *testing.T) *catalog.Objects {
	t.Helper()
	objs, err := catalog.Decode(c.name, c.stream.Bytes())
	if err == nil {
		err = objs.Validate(c.name)
	}
	if err != nil {
		t.Fatalf("%v%s", err, c.where())
	}
	return objs
}

// build runs the serving runtime's Build, which makes the checks of a
// --config file (no pullSecrets, no valueFrom) and builds the registry
// view and the executor; plugins are not started (their parameters are
// checked by the plugins' own tests).
func build(t *testing.T, objs *catalog.Objects, where string) error {
	t.Helper()
	stack, err := store.NewStack(store.StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := engine.New(engine.Options{Stack: stack, DiscoverOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	_, err = rt.Build(context.Background(), objs, where, nil)
	return err
}

func TestAssayObjectsWorkInAConfigFile(t *testing.T) {
	byFile := map[string][]document{}
	var files []string
	for _, d := range documents(t, readBlocks(t)) {
		if d.block.Marker != doctest.Unmarked || !d.assay() {
			continue
		}
		if _, ok := byFile[d.block.File]; !ok {
			files = append(files, d.block.File)
		}
		byFile[d.block.File] = append(byFile[d.block.File], d)
	}
	if len(files) < 3 {
		t.Fatalf("Assay objects found in %v only; the documentation reader looks wrong", files)
	}
	for _, file := range files {
		// A configuration holds one Policy: a file showing several
		// shows alternatives, each checked with the file's other objects.
		var policies, others []document
		for _, d := range byFile[file] {
			if d.kind == v1alpha1.KindPolicy {
				policies = append(policies, d)
			} else {
				others = append(others, d)
			}
		}
		for _, other := range needs[file] {
			if len(byFile[other]) == 0 {
				t.Fatalf("%s needs %s, which shows no Assay objects", file, other)
			}
			for _, d := range byFile[other] {
				if d.kind == v1alpha1.KindVerifier {
					others = append(others, d)
				}
			}
		}
		sets := [][]document{others}
		if len(policies) > 0 {
			sets = nil
			for _, p := range policies {
				sets = append(sets, append(slices.Clone(others), p))
			}
		}
		for i, set := range sets {
			name := file
			if len(sets) > 1 {
				name = fmt.Sprintf("%s/policy-%d", file, i+1)
			}
			t.Run(name, func(t *testing.T) {
				c := &configuration{name: file}
				for _, d := range set {
					if strings.HasPrefix(d.kind, "Namespaced") {
						t.Errorf("%s: %s objects are read only with --config-source cluster; mark the block <!-- cluster-only -->", d.block, d.kind)
					}
					c.add(t, d)
				}
				objs := c.objects(t)
				if err := build(t, objs, file); err != nil {
					t.Fatalf("refused in a --config file: %v%s\nmark a block that works only in a cluster <!-- cluster-only -->", err, c.where())
				}
			})
		}
	}
}

func TestClusterOnlyObjectsWorkOnlyInACluster(t *testing.T) {
	checked := 0
	for _, d := range documents(t, readBlocks(t)) {
		if d.block.Marker != doctest.ClusterOnly || !d.assay() {
			continue
		}
		checked++
		t.Run(d.block.String(), func(t *testing.T) {
			c := &configuration{name: d.block.String()}
			c.add(t, d)
			objs := c.objects(t)
			fileErr := build(t, objs, d.block.String())

			// As the controllers give it to the runtime: the Secrets
			// read, the references resolved.
			for _, s := range objs.Stores {
				for range s.Spec.PullSecrets {
					objs.DockerConfigs = append(objs.DockerConfigs, []byte(`{"auths":{}}`))
				}
			}
			ca := testCA(t)
			for i, v := range objs.Verifiers {
				raw, refs, err := catalog.ResolveValueFrom(v.Spec.Parameters.Raw, "", func(catalog.ValueRef) (string, error) { return ca, nil })
				if err != nil {
					t.Fatalf("valueFrom as the controllers read it: %v", err)
				}
				if len(refs) > 0 {
					objs.Verifiers[i].Spec.Parameters.Raw = raw
				}
			}
			if err := build(t, objs, "cluster"); err != nil {
				t.Fatalf("refused in a cluster: %v", err)
			}
			if fileErr == nil && !strings.HasPrefix(d.kind, "Namespaced") {
				t.Fatalf("marked cluster-only, but works in a --config file as it is; remove the marker")
			}
		})
	}
	if checked == 0 {
		t.Fatal("no cluster-only block: docs/configuration.md shows pullSecrets and valueFrom as cluster-only")
	}
}

// dockerConfigFile writes an empty docker config.
func dockerConfigFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(`{"auths":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testCA returns the PEM of a self-signed CA certificate made for the
// test.
func testCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Assay docs test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
