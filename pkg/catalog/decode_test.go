package catalog_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/assayproj/assay/pkg/apis/v1alpha1"
	"github.com/assayproj/assay/pkg/catalog"
)

func TestLoadFileReadsEveryKind(t *testing.T) {
	objs, err := catalog.LoadFile(filepath.Join("testdata", "valid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs.Stores) != 1 || len(objs.Verifiers) != 2 || len(objs.Policies) != 1 {
		t.Fatalf("got %d stores, %d verifiers, %d policies", len(objs.Stores), len(objs.Verifiers), len(objs.Policies))
	}
	s := objs.Stores[0]
	if s.Spec.Registries[0].Host != "localhost:5000" || !s.Spec.Registries[0].PlainHTTP || s.Spec.Registries[1].Username != "robot" || s.Spec.Limits.MaxReferrers != 100 {
		t.Errorf("store = %+v", s.Spec)
	}
	v := objs.Verifiers[0]
	if v.Name != "notation" || v.Spec.Plugin != "notation" || !strings.Contains(string(v.Spec.Parameters.Raw), `"acme"`) {
		t.Errorf("verifier = %+v params %s", v.Spec, v.Spec.Parameters.Raw)
	}
	p := objs.Policies[0]
	if len(p.Spec.Rules) != 2 || p.Spec.Rules[0].Mode != v1alpha1.ModeAll || !p.Spec.Rules[0].Required || p.Spec.Rules[1].Required {
		t.Errorf("policy = %+v", p.Spec)
	}
}

const (
	header   = "apiVersion: config.assay.dev/v1alpha1\n"
	verifier = header + "kind: Verifier\nmetadata: {name: sig}\nspec: {plugin: notation, artifactTypes: [sig]}\n"
)

func TestRejections(t *testing.T) {
	tests := map[string]struct {
		doc               string
		document          int
		kind, name, field string
		fieldInMessage    string
	}{
		"an unknown field": {
			doc:      verifier + "---\n" + header + "kind: Verifier\nmetadata: {name: v2}\nspec: {plugn: notation, artifactTypes: [x]}\n",
			document: 2, kind: "Verifier", name: "v2", fieldInMessage: "spec.plugn",
		},
		"a duplicate field": {
			doc:      header + "kind: Verifier\nmetadata: {name: v}\nspec:\n  plugin: a\n  plugin: b\n  artifactTypes: [x]\n",
			document: 1, kind: "Verifier", name: "v", fieldInMessage: "plugin",
		},
		"a wrong apiVersion": {
			doc:      "apiVersion: config.assay.dev/v1\nkind: Store\nmetadata: {name: s}\n",
			document: 1, kind: "Store", name: "s", field: "apiVersion",
		},
		"an unknown kind": {
			doc:      header + "kind: Signer\nmetadata: {name: s}\n",
			document: 1, kind: "Signer", name: "s", field: "kind",
		},
		"two objects of one kind and name": {
			doc:      verifier + "---\n" + verifier,
			document: 2, kind: "Verifier", name: "sig", field: "metadata.name",
		},
		"two Policies": {
			doc:      verifier + "---\n" + header + "kind: Policy\nmetadata: {name: a}\nspec: {rules: [{artifactType: sig}]}\n---\n" + header + "kind: Policy\nmetadata: {name: b}\nspec: {rules: [{artifactType: sig}]}\n",
			document: 3, kind: "Policy", name: "b",
		},
		"a rule no Verifier handles": {
			doc:      verifier + "---\n" + header + "kind: Policy\nmetadata: {name: p}\nspec: {rules: [{artifactType: sbom, required: true}]}\n",
			document: 2, kind: "Policy", name: "p", field: "spec.rules[0].artifactType",
		},
		"a bad mode": {
			doc:      verifier + "---\n" + header + "kind: Policy\nmetadata: {name: p}\nspec: {rules: [{artifactType: sig, mode: most}]}\n",
			document: 2, kind: "Policy", name: "p", field: "spec.rules[0].mode",
		},
		"a plugin given as a path": {
			doc:      header + "kind: Verifier\nmetadata: {name: v}\nspec: {plugin: ../evil, artifactTypes: [x]}\n",
			document: 1, kind: "Verifier", name: "v", field: "spec.plugin",
		},
		"a Verifier without artifact types": {
			doc:      header + "kind: Verifier\nmetadata: {name: v}\nspec: {plugin: notation}\n",
			document: 1, kind: "Verifier", name: "v", field: "spec.artifactTypes",
		},
		"a registry given with a scheme": {
			doc:      header + "kind: Store\nmetadata: {name: s}\nspec: {registries: [{host: 'https://ghcr.io'}]}\n",
			document: 1, kind: "Store", name: "s", field: "spec.registries[0].host",
		},
		"a negative limit": {
			doc:      header + "kind: Store\nmetadata: {name: s}\nspec: {limits: {maxBlobBytes: -1}}\n",
			document: 1, kind: "Store", name: "s", field: "spec.limits.maxBlobBytes",
		},
		"a password without a username": {
			doc:      header + "kind: Store\nmetadata: {name: s}\nspec: {registries: [{host: ghcr.io, password: x}]}\n",
			document: 1, kind: "Store", name: "s", field: "spec.registries[0].password",
		},
		"an object without a name": {
			doc:      header + "kind: Store\nmetadata: {}\n",
			document: 1, kind: "Store", field: "metadata.name",
		},
		"garbage YAML": {
			doc:      "kind: [unclosed\n",
			document: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			objs, err := catalog.Decode("assay.yaml", []byte(tc.doc))
			if err == nil {
				err = objs.Validate("assay.yaml")
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, catalog.ErrInvalidObject) {
				t.Errorf("error %v does not wrap ErrInvalidObject", err)
			}
			var oe *catalog.ObjectError
			if !errors.As(err, &oe) {
				t.Fatalf("error %v is not an ObjectError", err)
			}
			if oe.File != "assay.yaml" || oe.Document != tc.document || oe.Kind != tc.kind || oe.Name != tc.name || oe.Field != tc.field {
				t.Errorf("located at file %q document %d %s %q field %q; want document %d %s %q field %q",
					oe.File, oe.Document, oe.Kind, oe.Name, oe.Field, tc.document, tc.kind, tc.name, tc.field)
			}
			if tc.fieldInMessage != "" && !strings.Contains(err.Error(), tc.fieldInMessage) {
				t.Errorf("message does not name %s: %v", tc.fieldInMessage, err)
			}
		})
	}
}

func TestEveryProblemIsReported(t *testing.T) {
	doc := header + "kind: Verifier\nmetadata: {name: a}\nspec: {plugin: ../x, artifactTypes: []}\n"
	objs, err := catalog.Decode("f.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	err = objs.Validate("f.yaml")
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var oe *catalog.ObjectError
		if errors.As(e, &oe) {
			fields = append(fields, oe.Field)
		}
	}
	if strings.Join(fields, ",") != "spec.plugin,spec.artifactTypes" {
		t.Errorf("reported fields %v, want spec.plugin and spec.artifactTypes", fields)
	}
}

func FuzzDecode(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join("testdata", "valid.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(verifier))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := catalog.Decode("fuzz.yaml", data)
		if err != nil {
			if !errors.Is(err, catalog.ErrInvalidObject) {
				t.Fatalf("decode error %v does not wrap ErrInvalidObject", err)
			}
			return
		}
		if err := objs.Validate("fuzz.yaml"); err != nil {
			var oe *catalog.ObjectError
			if !errors.As(err, &oe) {
				t.Fatalf("validation error %v is not an ObjectError", err)
			}
		}
	})
}
