package catalog_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/assayproj/assay/pkg/apis/v1alpha1"
	"github.com/assayproj/assay/pkg/catalog"
	"github.com/assayproj/assay/pkg/executor"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

const validFile = "testdata/valid.yaml"

func typeMeta(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: "config.assay.dev/v1alpha1", Kind: kind}
}

func TestDecodeReadsEveryKind(t *testing.T) {
	data, err := os.ReadFile(validFile)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := catalog.Decode(validFile, data)
	if err != nil {
		t.Fatal(err)
	}
	if err := objs.Validate(validFile); err != nil {
		t.Fatal(err)
	}
	want := &catalog.Objects{
		Stores: []v1alpha1.Store{{
			TypeMeta:   typeMeta("Store"),
			ObjectMeta: metav1.ObjectMeta{Name: "default"},
			Spec: v1alpha1.StoreSpec{
				Registries: []v1alpha1.RegistrySpec{
					{Host: "localhost:5000", PlainHTTP: true},
					{Host: "ghcr.io", Username: "robot", Password: "s3cret"},
				},
				Limits: v1alpha1.StoreLimits{MaxReferrers: 100},
			},
		}},
		Verifiers: []v1alpha1.Verifier{
			{
				TypeMeta:   typeMeta("Verifier"),
				ObjectMeta: metav1.ObjectMeta{Name: "notation"},
				Spec: v1alpha1.VerifierSpec{
					Plugin:        "notation",
					ArtifactTypes: []string{"application/vnd.cncf.notary.signature"},
					Parameters:    runtime.RawExtension{Raw: []byte(`{"trustStores":{"ca":{"acme":{"certificates":["-----BEGIN CERTIFICATE-----"]}}}}`)},
				},
			},
			{
				TypeMeta:   typeMeta("Verifier"),
				ObjectMeta: metav1.ObjectMeta{Name: "sbom"},
				Spec:       v1alpha1.VerifierSpec{Plugin: "sbom-check", ArtifactTypes: []string{"application/spdx+json"}},
			},
		},
		Policies: []v1alpha1.Policy{{
			TypeMeta:   typeMeta("Policy"),
			ObjectMeta: metav1.ObjectMeta{Name: "signed"},
			Spec: v1alpha1.PolicySpec{Rules: []v1alpha1.PolicyRule{
				{ArtifactType: "application/vnd.cncf.notary.signature", Required: true, Mode: v1alpha1.ModeAll},
				{ArtifactType: "application/spdx+json"},
			}},
		}},
	}
	if diff := cmp.Diff(want, objs, cmpopts.IgnoreUnexported(catalog.Objects{}), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("decoded objects (-want +got):\n%s", diff)
	}
}

func TestLoadFile(t *testing.T) {
	objs, err := catalog.LoadFile(validFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs.Stores) != 1 || len(objs.Verifiers) != 2 || len(objs.Policies) != 1 {
		t.Errorf("got %d stores, %d verifiers, %d policies", len(objs.Stores), len(objs.Verifiers), len(objs.Policies))
	}

	if _, err := catalog.LoadFile(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v, want fs.ErrNotExist", err)
	}

	// A file that decodes but does not validate fails with its path.
	path := filepath.Join(t.TempDir(), "assay.yaml")
	if err := os.WriteFile(path, []byte(object("Verifier", "v", "spec: {plugin: ../evil, artifactTypes: [x]}")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = catalog.LoadFile(path)
	var oe *catalog.ObjectError
	if !errors.As(err, &oe) || oe.File != path || oe.Field != "spec.plugin" {
		t.Errorf("an invalid file: %v, want an ObjectError for %s field spec.plugin", err, path)
	}
}

// object renders one verification object document.
func object(kind, name, rest string) string {
	return "apiVersion: config.assay.dev/v1alpha1\nkind: " + kind + "\nmetadata: {name: " + name + "}\n" + rest + "\n"
}

// file joins documents with separators.
func file(docs ...string) string { return strings.Join(docs, "---\n") }

var (
	sigVerifier    = object("Verifier", "sig", "spec: {plugin: notation, artifactTypes: [sig]}")
	bundleVerifier = object("Verifier", "bundle", "spec: {plugin: cosign, artifactTypes: [bundle]}")
)

// objectErrors flattens joined errors into the ObjectErrors they hold.
func objectErrors(err error) []*catalog.ObjectError {
	if oe, ok := err.(*catalog.ObjectError); ok {
		return []*catalog.ObjectError{oe}
	}
	var out []*catalog.ObjectError
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, objectErrors(e)...)
		}
	}
	return out
}

// where is the location of a problem.
type where struct {
	Document          int
	Kind, Name, Field string
}

func locate(errs []*catalog.ObjectError) []where {
	out := make([]where, len(errs))
	for i, e := range errs {
		out[i] = where{e.Document, e.Kind, e.Name, e.Field}
	}
	return out
}

func TestRejections(t *testing.T) {
	tests := map[string]struct {
		doc  string
		want where
	}{
		"an unknown field": {
			doc:  file(sigVerifier, object("Verifier", "v2", "spec: {plugn: notation, artifactTypes: [x]}")),
			want: where{2, "Verifier", "v2", "spec.plugn"},
		},
		"an unknown field in a list": {
			doc:  object("Store", "s", "spec: {registries: [{host: ghcr.io, usr: robot}]}"),
			want: where{1, "Store", "s", "spec.registries[0].usr"},
		},
		"an unknown top-level field": {
			doc:  object("Store", "s", "sepc: {}"),
			want: where{1, "Store", "s", "sepc"},
		},
		// The YAML decoder reports duplicate keys by line, not path, so the
		// error names the object but no field.
		"a duplicate field": {
			doc:  object("Verifier", "v", "spec:\n  plugin: a\n  plugin: b\n  artifactTypes: [x]"),
			want: where{1, "Verifier", "v", ""},
		},
		"a wrong apiVersion": {
			doc:  "apiVersion: config.assay.dev/v1\nkind: Store\nmetadata: {name: s}\n",
			want: where{1, "Store", "s", "apiVersion"},
		},
		"a missing apiVersion": {
			doc:  "kind: Store\nmetadata: {name: s}\n",
			want: where{1, "Store", "s", "apiVersion"},
		},
		"an unknown kind": {
			doc:  object("Signer", "s", ""),
			want: where{1, "Signer", "s", "kind"},
		},
		"two objects of one kind and name": {
			doc:  file(sigVerifier, sigVerifier),
			want: where{2, "Verifier", "sig", "metadata.name"},
		},
		"two Policies": {
			doc: file(sigVerifier,
				object("Policy", "a", "spec: {rules: [{artifactType: sig, required: true}]}"),
				object("Policy", "b", "spec: {rules: [{artifactType: sig, required: true}]}")),
			want: where{3, "Policy", "b", ""},
		},
		"two Stores": {
			doc:  file(object("Store", "a", ""), object("Store", "b", "")),
			want: where{2, "Store", "b", ""},
		},
		"a Policy rule with a type no Verifier handles": {
			doc:  file(sigVerifier, object("Policy", "p", "spec: {rules: [{artifactType: sbom, required: true}]}")),
			want: where{2, "Policy", "p", "spec.rules[0].artifactType"},
		},
		"a bad mode": {
			doc:  file(sigVerifier, object("Policy", "p", "spec: {rules: [{artifactType: sig, mode: most, required: true}]}")),
			want: where{2, "Policy", "p", "spec.rules[0].mode"},
		},
		"a bad multiArch mode": {
			doc:  file(sigVerifier, object("Policy", "p", "spec: {multiArch: every, rules: [{artifactType: sig, required: true}]}")),
			want: where{2, "Policy", "p", "spec.multiArch"},
		},
		"a Verifier requiring signatures on its artifacts with a Store that lists no nested referrers": {
			doc: file(object("Store", "s", "spec: {limits: {maxDepth: 1}}"),
				object("Verifier", "v", "spec: {plugin: vulnreport, artifactTypes: [application/sarif+json], requireSignature: true}")),
			want: where{2, "Verifier", "v", "spec.requireSignature"},
		},
		"a Policy without rules": {
			doc:  file(sigVerifier, object("Policy", "p", "spec: {rules: []}")),
			want: where{2, "Policy", "p", "spec.rules"},
		},
		"two rules for one type": {
			doc:  file(sigVerifier, object("Policy", "p", "spec: {rules: [{artifactType: sig, required: true}, {artifactType: sig, mode: all}]}")),
			want: where{2, "Policy", "p", "spec.rules[1].artifactType"},
		},
		"a rule without a type": {
			doc:  file(sigVerifier, object("Policy", "p", "spec: {rules: [{required: true}]}")),
			want: where{2, "Policy", "p", "spec.rules[0].artifactType"},
		},
		"a Policy whose rules are all optional": {
			doc:  file(sigVerifier, bundleVerifier, object("Policy", "p", "spec: {rules: [{artifactType: sig}, {artifactType: bundle}]}")),
			want: where{3, "Policy", "p", "spec.rules"},
		},
		"a Policy whose rules are all optional, checking every platform": {
			doc:  file(sigVerifier, object("Policy", "p", "spec: {multiArch: platforms, rules: [{artifactTypes: [sig]}]}")),
			want: where{2, "Policy", "p", "spec.rules"},
		},
		"allowUnsigned beside a required rule": {
			doc:  file(sigVerifier, object("Policy", "p", "spec: {allowUnsigned: true, rules: [{artifactType: sig, required: true}]}")),
			want: where{2, "Policy", "p", "spec.allowUnsigned"},
		},
		"a rule with artifactType and artifactTypes": {
			doc:  file(sigVerifier, bundleVerifier, object("Policy", "p", "spec: {rules: [{artifactType: sig, artifactTypes: [bundle], required: true}]}")),
			want: where{3, "Policy", "p", "spec.rules[0].artifactTypes"},
		},
		"a rule with an empty artifactTypes": {
			doc:  file(sigVerifier, object("Policy", "p", "spec: {rules: [{artifactTypes: [], required: true}, {artifactType: sig, required: true}]}")),
			want: where{2, "Policy", "p", "spec.rules[0].artifactTypes"},
		},
		"a type in artifactTypes that no Verifier handles": {
			doc:  file(sigVerifier, object("Policy", "p", "spec: {rules: [{artifactTypes: [sig, bundle], required: true}]}")),
			want: where{2, "Policy", "p", "spec.rules[0].artifactTypes[1]"},
		},
		"an empty type in artifactTypes": {
			doc:  file(sigVerifier, object("Policy", "p", "spec: {rules: [{artifactTypes: ['', sig], required: true}]}")),
			want: where{2, "Policy", "p", "spec.rules[0].artifactTypes[0]"},
		},
		"a type listed twice in artifactTypes": {
			doc:  file(sigVerifier, object("Policy", "p", "spec: {rules: [{artifactTypes: [sig, sig], required: true}]}")),
			want: where{2, "Policy", "p", "spec.rules[0].artifactTypes[1]"},
		},
		"a type of artifactTypes with a rule of its own": {
			doc:  file(sigVerifier, bundleVerifier, object("Policy", "p", "spec: {rules: [{artifactTypes: [sig, bundle], required: true}, {artifactType: bundle}]}")),
			want: where{3, "Policy", "p", "spec.rules[1].artifactType"},
		},
		"a Verifier plugin given as a path": {
			doc:  object("Verifier", "v", "spec: {plugin: ../evil, artifactTypes: [x]}"),
			want: where{1, "Verifier", "v", "spec.plugin"},
		},
		"a Verifier plugin given as an absolute path": {
			doc:  object("Verifier", "v", "spec: {plugin: /usr/bin/evil, artifactTypes: [x]}"),
			want: where{1, "Verifier", "v", "spec.plugin"},
		},
		"a Verifier plugin given as a URL": {
			doc:  object("Verifier", "v", "spec: {plugin: 'https://example.com/evil', artifactTypes: [x]}"),
			want: where{1, "Verifier", "v", "spec.plugin"},
		},
		"a Verifier without a plugin": {
			doc:  object("Verifier", "v", "spec: {artifactTypes: [x]}"),
			want: where{1, "Verifier", "v", "spec.plugin"},
		},
		"a Verifier without artifact types": {
			doc:  object("Verifier", "v", "spec: {plugin: notation}"),
			want: where{1, "Verifier", "v", "spec.artifactTypes"},
		},
		"a Verifier listing a type twice": {
			doc:  object("Verifier", "v", "spec: {plugin: notation, artifactTypes: [x, x]}"),
			want: where{1, "Verifier", "v", "spec.artifactTypes[1]"},
		},
		"Verifier parameters that are not an object": {
			doc:  object("Verifier", "v", "spec: {plugin: notation, artifactTypes: [x], parameters: [1, 2]}"),
			want: where{1, "Verifier", "v", "spec.parameters"},
		},
		"a Store host with a scheme": {
			doc:  object("Store", "s", "spec: {registries: [{host: 'https://ghcr.io'}]}"),
			want: where{1, "Store", "s", "spec.registries[0].host"},
		},
		"a Store host with a path": {
			doc:  object("Store", "s", "spec: {registries: [{host: ghcr.io/acme}]}"),
			want: where{1, "Store", "s", "spec.registries[0].host"},
		},
		"an empty Store host": {
			doc:  object("Store", "s", "spec: {registries: [{plainHTTP: true}]}"),
			want: where{1, "Store", "s", "spec.registries[0].host"},
		},
		"a Store host listed twice": {
			doc:  object("Store", "s", "spec: {registries: [{host: ghcr.io}, {host: ghcr.io}]}"),
			want: where{1, "Store", "s", "spec.registries[1].host"},
		},
		"a Store token realm given as a URL": {
			doc:  object("Store", "s", "spec: {registries: [{host: 'registry.internal', tokenRealms: ['https://auth.internal/token']}]}"),
			want: where{1, "Store", "s", "spec.registries[0].tokenRealms[0]"},
		},
		"a negative limit": {
			doc:  object("Store", "s", "spec: {limits: {maxBlobBytes: -1}}"),
			want: where{1, "Store", "s", "spec.limits.maxBlobBytes"},
		},
		"a zero limit for an artifact type": {
			doc:  object("Store", "s", "spec: {limits: {maxBytesPerArtifactType: {application/vnd.cncf.notary.signature: 0}}}"),
			want: where{1, "Store", "s", `spec.limits.maxBytesPerArtifactType["application/vnd.cncf.notary.signature"]`},
		},
		"a password without a username": {
			doc:  object("Store", "s", "spec: {registries: [{host: ghcr.io, password: x}]}"),
			want: where{1, "Store", "s", "spec.registries[0].password"},
		},
		"an identity token with a password": {
			doc:  object("Store", "s", "spec: {registries: [{host: ghcr.io, username: u, password: x, identityToken: t}]}"),
			want: where{1, "Store", "s", "spec.registries[0].identityToken"},
		},
		"an object without a name": {
			doc:  "apiVersion: config.assay.dev/v1alpha1\nkind: Store\nmetadata: {}\n",
			want: where{1, "Store", "", "metadata.name"},
		},
		// Type errors are located by object; the message names the field.
		"a value of the wrong type": {
			doc:  object("Store", "s", "spec: {limits: {maxBlobBytes: lots}}"),
			want: where{1, "Store", "s", ""},
		},
		"garbage YAML": {
			doc:  "kind: [unclosed\n",
			want: where{Document: 1},
		},
		"garbage YAML in the second document": {
			doc:  file(sigVerifier, "kind: {unclosed\n"),
			want: where{Document: 2},
		},
		"a document that is a list": {
			doc:  "- apiVersion: config.assay.dev/v1alpha1\n- kind: Store\n",
			want: where{Document: 1},
		},
		// The reader fails on the separator that would end document 1.
		"text after a document separator": {
			doc:  sigVerifier + "--- kind: Store\n",
			want: where{Document: 1},
		},
		"documents are counted by object, skipping empty and comment-only ones": {
			doc:  "---\n# just a comment\n---\n" + file(sigVerifier, "\n", object("Verifier", "v", "spec: {plugin: ../evil, artifactTypes: [x]}")),
			want: where{2, "Verifier", "v", "spec.plugin"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			objs, err := catalog.Decode("assay.yaml", []byte(tc.doc))
			if err == nil {
				if objs == nil {
					t.Fatal("no objects and no error")
				}
				err = objs.Validate("assay.yaml")
			} else if objs != nil {
				t.Errorf("Decode returned objects with an error: %+v", objs)
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
			if oe.File != "assay.yaml" || oe.Err == nil || oe.Error() == "" {
				t.Errorf("error %#v lacks its file or cause", oe)
			}
			all := objectErrors(err)
			if diff := cmp.Diff([]where{tc.want}, locate(all)); diff != "" {
				t.Errorf("located (-want +got):\n%s\nerror: %v", diff, err)
			}
		})
	}
}

func TestWhatIsAccepted(t *testing.T) {
	policy := object("Policy", "p", "spec: {rules: [{artifactType: sig, required: true}]}")
	tests := map[string]struct {
		doc                         string
		stores, verifiers, policies int
	}{
		"an empty file":   {doc: ""},
		"only comments":   {doc: "# nothing configured yet\n"},
		"only separators": {doc: "---\n---\n"},
		"empty documents between objects": {
			doc:       "---\n---\n" + file(sigVerifier, "", "# nothing\n", "\n", policy) + "---\n",
			verifiers: 1, policies: 1,
		},
		"separators with comments": {
			doc:       "--- # first\n" + sigVerifier + "--- # second\n--- # third\n" + policy,
			verifiers: 1, policies: 1,
		},
		"a comment-only document after a leading separator": {
			doc:       "---\n# just a comment\n---\n" + sigVerifier,
			verifiers: 1,
		},
		"one name in several kinds": {
			doc:    file(object("Store", "default", ""), object("Verifier", "default", "spec: {plugin: notation, artifactTypes: [sig]}"), object("Policy", "default", "spec: {rules: [{artifactType: sig, required: true}]}")),
			stores: 1, verifiers: 1, policies: 1,
		},
		"a Policy with mode any": {
			doc:       file(sigVerifier, object("Policy", "p", "spec: {rules: [{artifactType: sig, mode: any, required: true}]}")),
			verifiers: 1, policies: 1,
		},
		"a rule requiring one of several types": {
			doc:       file(sigVerifier, bundleVerifier, object("Policy", "p", "spec: {rules: [{artifactTypes: [sig, bundle], required: true, mode: all}]}")),
			verifiers: 2, policies: 1,
		},
		"one type required, alternatives optional": {
			doc:       file(sigVerifier, bundleVerifier, object("Policy", "p", "spec: {rules: [{artifactType: sig, required: true}, {artifactTypes: [bundle]}]}")),
			verifiers: 2, policies: 1,
		},
		"optional rules only, with allowUnsigned": {
			doc:       file(sigVerifier, object("Policy", "p", "spec: {allowUnsigned: true, multiArch: either, rules: [{artifactType: sig}]}")),
			verifiers: 1, policies: 1,
		},
		"an IPv6 registry": {
			doc:    object("Store", "s", "spec: {registries: [{host: '[::1]:5000', plainHTTP: true}]}"),
			stores: 1,
		},
		"zero limits meaning the defaults": {
			doc:    object("Store", "s", "spec: {limits: {maxBlobBytes: 0, maxDepth: 0}}"),
			stores: 1,
		},
		"a JSON document": {
			doc:       `{"apiVersion": "config.assay.dev/v1alpha1", "kind": "Verifier", "metadata": {"name": "v"}, "spec": {"plugin": "notation", "artifactTypes": ["sig"]}}`,
			verifiers: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			objs, err := catalog.Decode("assay.yaml", []byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if err := objs.Validate("assay.yaml"); err != nil {
				t.Fatal(err)
			}
			if len(objs.Stores) != tc.stores || len(objs.Verifiers) != tc.verifiers || len(objs.Policies) != tc.policies {
				t.Errorf("got %d stores, %d verifiers, %d policies; want %d, %d, %d",
					len(objs.Stores), len(objs.Verifiers), len(objs.Policies), tc.stores, tc.verifiers, tc.policies)
			}
		})
	}
}

func TestEveryProblemIsReported(t *testing.T) {
	doc := file(
		object("Verifier", "a", "spec: {plugin: ../x, artifactTypes: []}"),
		object("Verifier", "b", "spec: {plugn: x}"),
		object("Policy", "p", "spec: {rules: [{artifactType: sig, mode: most}]}"),
	)
	if _, err := catalog.Decode("f.yaml", []byte(doc)); err != nil {
		want := []where{{2, "Verifier", "b", "spec.plugn"}}
		if diff := cmp.Diff(want, locate(objectErrors(err))); diff != "" {
			t.Errorf("decode errors (-want +got):\n%s", diff)
		}
	} else {
		t.Fatal("an unknown field was accepted")
	}

	doc = file(
		object("Verifier", "a", "spec: {plugin: ../x, artifactTypes: []}"),
		object("Policy", "p", "spec: {rules: [{artifactType: sig, mode: most}]}"),
	)
	// The Policy's one rule is optional too, which is a problem of its
	// own, reported last.
	objs, err := catalog.Decode("f.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []where{
		{1, "Verifier", "a", "spec.plugin"},
		{1, "Verifier", "a", "spec.artifactTypes"},
		{2, "Policy", "p", "spec.rules[0].mode"},
		{2, "Policy", "p", "spec.rules[0].artifactType"},
		{2, "Policy", "p", "spec.rules"},
	}
	if diff := cmp.Diff(want, locate(objectErrors(objs.Validate("f.yaml")))); diff != "" {
		t.Errorf("validation errors (-want +got):\n%s", diff)
	}
}

// TestAPolicyAdmittingBareImagesIsRefusedWithTheFix: a Policy an image
// with nothing attached satisfies is refused with the reason the executor
// refuses it for and the ways out.
func TestAPolicyAdmittingBareImagesIsRefusedWithTheFix(t *testing.T) {
	objs, err := catalog.Decode("assay.yaml", []byte(file(sigVerifier, bundleVerifier,
		object("Policy", "p", "spec: {rules: [{artifactType: sig}, {artifactType: bundle}]}"))))
	if err != nil {
		t.Fatal(err)
	}
	err = objs.Validate("assay.yaml")
	if !errors.Is(err, executor.ErrAdmitsUnattached) {
		t.Fatalf("error %v does not wrap executor.ErrAdmitsUnattached", err)
	}
	want := `assay.yaml: document 3 (Policy "p") field spec.rules: an image with nothing attached would satisfy every rule, ` +
		`so it would be admitted unverified; mark a rule required: true, or group the types of alternative rules in one rule's artifactTypes ` +
		`(or, if the Policy only restricts what is attached, set spec.allowUnsigned: true)`
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
}

// TestObjectsFromTheClusterValidateTheSameWay: custom resources read from
// the API server never pass through Decode; their errors name the object
// without a file or document.
func TestObjectsFromTheClusterValidateTheSameWay(t *testing.T) {
	objs := &catalog.Objects{
		Verifiers: []v1alpha1.Verifier{{
			ObjectMeta: metav1.ObjectMeta{Name: "v"},
			Spec:       v1alpha1.VerifierSpec{Plugin: "../evil", ArtifactTypes: []string{"sig"}},
		}},
	}
	err := objs.Validate("")
	if !errors.Is(err, catalog.ErrInvalidObject) {
		t.Fatalf("error %v does not wrap ErrInvalidObject", err)
	}
	if diff := cmp.Diff([]where{{0, "Verifier", "v", "spec.plugin"}}, locate(objectErrors(err))); diff != "" {
		t.Errorf("located (-want +got):\n%s", diff)
	}
}

func FuzzDecode(f *testing.F) {
	seed, err := os.ReadFile(validFile)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	for _, doc := range strings.Split(string(seed), "\n---\n") {
		f.Add([]byte(doc))
	}
	f.Add([]byte(sigVerifier))
	f.Add([]byte(file(sigVerifier, sigVerifier)))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte(object("Store", "s", "spec: {registries: [{host: '[::1]:5000'}], limits: {maxNodes: -1}}")))
	f.Add([]byte(`{"apiVersion": "config.assay.dev/v1alpha1", "kind": "Policy", "metadata": {"name": "p"}, "spec": {"rules": [{"artifactType": "x"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := catalog.Decode("fuzz.yaml", data)
		if err != nil {
			if objs != nil {
				t.Fatal("objects returned with an error")
			}
			checkObjectErrors(t, err)
			return
		}
		if objs == nil {
			t.Fatal("no objects and no error")
		}
		if err := objs.Validate("fuzz.yaml"); err != nil {
			checkObjectErrors(t, err)
		}
	})
}

// checkObjectErrors asserts that err consists of ObjectErrors only.
func checkObjectErrors(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, catalog.ErrInvalidObject) {
		t.Fatalf("error %v does not wrap ErrInvalidObject", err)
	}
	var oe *catalog.ObjectError
	if !errors.As(err, &oe) {
		t.Fatalf("error %v is not an ObjectError", err)
	}
	var count func(error) int
	count = func(err error) int {
		if _, ok := err.(*catalog.ObjectError); ok {
			return 1
		}
		j, ok := err.(interface{ Unwrap() []error })
		if !ok {
			t.Fatalf("%T (%v) is neither an ObjectError nor a join of them", err, err)
		}
		n := 0
		for _, e := range j.Unwrap() {
			n += count(e)
		}
		return n
	}
	if count(err) == 0 {
		t.Fatalf("an empty error: %v", err)
	}
	for _, e := range objectErrors(err) {
		if e.File != "fuzz.yaml" || e.Document < 1 || e.Err == nil || e.Error() == "" {
			t.Fatalf("a malformed ObjectError: %#v", e)
		}
	}
}

// TestDocumentedPoliciesAreValid: every Policy example of
// docs/configuration.md decodes and validates (beside a Verifier for the
// types it names), so the documentation shows no Policy Assay refuses.
func TestDocumentedPoliciesAreValid(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, block := range strings.Split(string(raw), "```yaml\n")[1:] {
		doc, _, _ := strings.Cut(block, "```")
		if !strings.Contains(doc, "kind: Policy\n") {
			continue
		}
		n++
		objs, err := catalog.Decode("configuration.md", []byte(doc))
		if err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		var types []string
		for _, p := range objs.Policies {
			for _, r := range p.Spec.Rules {
				if r.ArtifactType != "" {
					types = append(types, r.ArtifactType)
				}
				types = append(types, r.ArtifactTypes...)
			}
		}
		objs.Verifiers = append(objs.Verifiers, v1alpha1.Verifier{
			ObjectMeta: metav1.ObjectMeta{Name: "documented-types"},
			Spec:       v1alpha1.VerifierSpec{Plugin: "any", ArtifactTypes: types},
		})
		if err := objs.Validate("configuration.md"); err != nil {
			t.Errorf("%v\n%s", err, doc)
		}
	}
	if n < 3 {
		t.Errorf("found %d Policy examples in docs/configuration.md, want at least 3 (signed images, cosign v2 or v3, allowUnsigned)", n)
	}
}

// TestAMalformedDocumentSaysWhatItWants pins the messages of documents
// that are not objects, or whose head fields have the wrong type: they
// name the document, the field and what belongs there, in YAML's terms.
func TestAMalformedDocumentSaysWhatItWants(t *testing.T) {
	const store = "apiVersion: config.assay.dev/v1alpha1\nkind: Store\nmetadata: {name: s}\n"
	const want = "; each document must be a Store, Verifier or Policy object with apiVersion and kind"
	tests := map[string]struct {
		doc  string
		want string
	}{
		"a plain string": {
			doc:  store + "---\njust a string\n",
			want: "config.yaml: document 2: not an object (got a string)" + want,
		},
		"a list": {
			doc:  "- apiVersion: config.assay.dev/v1alpha1\n  kind: Store\n",
			want: "config.yaml: document 1: not an object (got a list)" + want,
		},
		"a number": {
			doc:  "42\n",
			want: "config.yaml: document 1: not an object (got a number)" + want,
		},
		"a name YAML reads as a boolean": {
			doc:  "apiVersion: config.assay.dev/v1alpha1\nkind: Verifier\nmetadata: {name: n}\n",
			want: "config.yaml: document 1 field metadata.name: got a boolean, want a string (YAML reads y, n, yes, no, on and off as booleans: quote the value)",
		},
		"metadata as a string": {
			doc:  "apiVersion: config.assay.dev/v1alpha1\nkind: Store\nmetadata: s\n",
			want: "config.yaml: document 1 field metadata: got a string, want an object",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := catalog.Decode("config.yaml", []byte(tc.doc))
			if !errors.Is(err, catalog.ErrInvalidObject) {
				t.Fatalf("Decode: %v, want ErrInvalidObject", err)
			}
			if err.Error() != tc.want {
				t.Fatalf("message\n%s\nwant\n%s", err, tc.want)
			}
		})
	}
}
