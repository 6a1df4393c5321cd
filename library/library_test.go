package library

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/format"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/types"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "format the Rego and copy each src.rego into its template.yaml")

// What Gatekeeper v3.23 expects of a template and its constraints.
const (
	templateAPIVersion   = "templates.gatekeeper.sh/v1"
	constraintAPIVersion = "constraints.gatekeeper.sh/v1beta1"
	suiteAPIVersion      = "test.gatekeeper.sh/v1alpha1"
	admissionTarget      = "admission.k8s.gatekeeper.sh"
	regoEngine           = "Rego"
	regoVersion          = "v1"
)

// Parts of src.rego that must be the same in several templates: from the
// marker line to the end of the file.
var sharedParts = []struct {
	marker string
	dirs   []string // nil: every template
}{
	{marker: "# --- shared: the same in every Assay template, from here to the end ---\n"},
	{
		marker: "# --- decision: the same in assayverifiedimages and assayverifiedimagesnamespaced from here ---\n",
		dirs:   []string{"assayverifiedimages", "assayverifiedimagesnamespaced"},
	},
}

// externalData declares Gatekeeper's external_data builtin, which plain OPA
// does not know: it takes the request object and returns the response
// object (frameworks/constraint pkg/client/drivers/rego/builtin.go).
var externalData = &ast.Builtin{
	Name: "external_data",
	Decl: types.NewFunction(
		types.Args(types.NewObject(nil, types.NewDynamicProperty(types.S, types.A))),
		types.NewObject(nil, types.NewDynamicProperty(types.S, types.A)),
	),
}

// errNoProvider is what external_data does in unit tests unless a test
// mocks it: fail, as Gatekeeper's builtin does when it cannot build a
// response, which Rego sees as undefined.
var errNoProvider = errors.New("external_data has no provider in unit tests: mock it with `with external_data as ...`")

// template is the part of a ConstraintTemplate the tests read.
type template struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		CRD struct {
			Spec struct {
				Names struct {
					Kind string `json:"kind"`
				} `json:"names"`
				Validation struct {
					OpenAPIV3Schema struct {
						Type       string                 `json:"type"`
						Properties map[string]paramSchema `json:"properties"`
					} `json:"openAPIV3Schema"`
				} `json:"validation"`
			} `json:"spec"`
		} `json:"crd"`
		Targets []struct {
			Target string   `json:"target"`
			Rego   string   `json:"rego"`
			Libs   []string `json:"libs"`
			Code   []struct {
				Engine string `json:"engine"`
				Source struct {
					Version string   `json:"version"`
					Rego    string   `json:"rego"`
					Libs    []string `json:"libs"`
				} `json:"source"`
			} `json:"code"`
		} `json:"targets"`
	} `json:"spec"`
}

type paramSchema struct {
	Type        string       `json:"type"`
	Description string       `json:"description"`
	Items       *paramSchema `json:"items"`
}

// constraint is the part of a constraint the tests read.
type constraint struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Parameters map[string]any `json:"parameters"`
	} `json:"spec"`
}

// suite is gator's Suite (gatekeeper pkg/gator/verify/suite.go).
type suite struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Tests      []struct {
		Name       string `json:"name"`
		Template   string `json:"template"`
		Constraint string `json:"constraint"`
		Cases      []struct {
			Name       string `json:"name"`
			Object     string `json:"object"`
			Assertions []struct {
				Violations any     `json:"violations"`
				Message    *string `json:"message"`
			} `json:"assertions"`
		} `json:"cases"`
	} `json:"tests"`
}

// policies returns the folders that hold a template.yaml.
func policies(t *testing.T) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join("*", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, m := range matches {
		dirs = append(dirs, filepath.Dir(m))
	}
	if len(dirs) == 0 {
		t.Fatal("no library/*/template.yaml found")
	}
	return dirs
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	if err := yaml.Unmarshal(readFile(t, path), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func parseRego(t *testing.T, path string, src []byte) *ast.Module {
	t.Helper()
	m, err := ast.ParseModuleWithOpts(path, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

func capabilities() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	caps.Builtins = append(caps.Builtins, externalData)
	return caps
}

// regoBlock finds the line introducing the embedded Rego in a template.
var regoBlock = regexp.MustCompile(`(?m)^( *)rego: \|\n`)

// TestUpdateTemplates, with -update, formats src.rego and src_test.rego
// and copies src.rego into template.yaml. The Rego block must be the last
// thing in template.yaml.
func TestUpdateTemplates(t *testing.T) {
	if !*update {
		t.Skip("run with -update to copy src.rego into template.yaml")
	}
	for _, dir := range policies(t) {
		for _, name := range []string{"src.rego", "src_test.rego"} {
			formatRego(t, filepath.Join(dir, name))
		}
		path := filepath.Join(dir, "template.yaml")
		tpl := readFile(t, path)
		loc := regoBlock.FindSubmatchIndex(tpl)
		if loc == nil {
			t.Fatalf("%s: no `rego: |` line", path)
		}
		indent := string(tpl[loc[2]:loc[3]]) + "  "
		var out bytes.Buffer
		out.Write(tpl[:loc[1]])
		for line := range strings.Lines(string(readFile(t, filepath.Join(dir, "src.rego")))) {
			if strings.TrimSpace(line) != "" {
				out.WriteString(indent)
			}
			out.WriteString(line)
		}
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// formatRego formats a Rego file in place as opa fmt would.
func formatRego(t *testing.T, path string) {
	t.Helper()
	got, err := format.SourceWithOpts(path, readFile(t, path), format.Opts{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if err := os.WriteFile(path, got, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRego runs every policy's src_test.rego against its src.rego.
func TestRego(t *testing.T) {
	total := 0
	for _, dir := range policies(t) {
		t.Run(dir, func(t *testing.T) {
			modules := map[string]*ast.Module{}
			for _, name := range []string{"src.rego", "src_test.rego"} {
				path := filepath.Join(dir, name)
				modules[path] = parseRego(t, path, readFile(t, path))
			}
			results := runRego(t, modules)
			if len(results) == 0 {
				t.Fatalf("%s/src_test.rego ran no tests", dir)
			}
			for _, r := range results {
				total++
				switch {
				case r.Error != nil:
					t.Errorf("%s.%s (%s): error: %v", r.Package, r.Name, r.Location, r.Error)
				case r.Fail:
					failedAt := ""
					if r.FailedAt != nil {
						failedAt = fmt.Sprintf(" at %s: %s", r.FailedAt.Location, r.FailedAt)
					}
					for name, sub := range r.SubResults.Iter {
						if sub.Fail && len(sub.SubResults) == 0 {
							failedAt += fmt.Sprintf("\n\tcase %q failed", strings.Join(name, "/"))
						}
					}
					t.Errorf("%s.%s (%s): failed%s", r.Package, r.Name, r.Location, failedAt)
				case r.Skip:
					t.Errorf("%s.%s (%s): skipped; remove todo_ tests before committing", r.Package, r.Name, r.Location)
				}
			}
			t.Logf("%d Rego tests", len(results))
		})
	}
	if total == 0 {
		t.Fatal("no Rego tests ran")
	}
}

func runRego(t *testing.T, modules map[string]*ast.Module) []*tester.Result {
	t.Helper()
	ctx := context.Background()
	store := inmem.New()
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Abort(ctx, txn)
	fail := rego.Function1(
		&rego.Function{Name: externalData.Name, Decl: externalData.Decl},
		func(rego.BuiltinContext, *ast.Term) (*ast.Term, error) { return nil, errNoProvider },
	)
	ch, err := tester.NewRunner().
		SetStore(store).
		SetModules(modules).
		AddCustomBuiltins([]*tester.Builtin{{Decl: externalData, Func: fail}}).
		SetTimeout(time.Minute).
		RunTests(ctx, txn)
	if err != nil {
		t.Fatalf("compile the Rego tests: %v", err)
	}
	var results []*tester.Result
	for r := range ch {
		results = append(results, r)
	}
	return results
}

// TestTemplates checks each template.yaml against its folder and src.rego,
// and compiles its Rego as Gatekeeper would (v1, external_data declared).
func TestTemplates(t *testing.T) {
	for _, dir := range policies(t) {
		t.Run(dir, func(t *testing.T) {
			path := filepath.Join(dir, "template.yaml")
			var tpl template
			readYAML(t, path, &tpl)
			if tpl.APIVersion != templateAPIVersion || tpl.Kind != "ConstraintTemplate" {
				t.Errorf("%s is %s %s, want %s ConstraintTemplate", path, tpl.APIVersion, tpl.Kind, templateAPIVersion)
			}
			if tpl.Metadata.Name != dir {
				t.Errorf("%s: metadata.name is %q, want the folder's name %q", path, tpl.Metadata.Name, dir)
			}
			kind := tpl.Spec.CRD.Spec.Names.Kind
			if !strings.EqualFold(kind, dir) {
				t.Errorf("%s: spec.crd.spec.names.kind %q is not the folder's name %q (Gatekeeper requires the lower-cased kind as the template's name)", path, kind, dir)
			}
			if len(tpl.Spec.Targets) != 1 {
				t.Fatalf("%s: %d targets, want 1", path, len(tpl.Spec.Targets))
			}
			target := tpl.Spec.Targets[0]
			if target.Target != admissionTarget {
				t.Errorf("%s: target %q, want %q", path, target.Target, admissionTarget)
			}
			if target.Rego != "" || len(target.Libs) > 0 {
				t.Errorf("%s: targets[0].rego and libs must be empty: they are Rego v0 and would replace code[].source", path)
			}
			if len(target.Code) != 1 || target.Code[0].Engine != regoEngine {
				t.Fatalf("%s: want exactly one code entry with engine %s", path, regoEngine)
			}
			source := target.Code[0].Source
			if source.Version != regoVersion {
				t.Errorf("%s: code[0].source.version is %q, want %q (Gatekeeper reads anything else as v0)", path, source.Version, regoVersion)
			}
			if len(source.Libs) > 0 {
				t.Errorf("%s: code[0].source.libs must be empty; each template is self-contained", path)
			}
			srcPath := filepath.Join(dir, "src.rego")
			src := readFile(t, srcPath)
			if diff := cmp.Diff(string(src), source.Rego); diff != "" {
				t.Errorf("%s embeds different Rego than %s (-src.rego +template.yaml); run go test ./library -update:\n%s", path, srcPath, diff)
			}

			mod := parseRego(t, path, []byte(source.Rego))
			if got := mod.Package.Path.String(); got != "data."+dir {
				t.Errorf("%s: package %s, want package %s", path, strings.TrimPrefix(got, "data."), dir)
			}
			c := ast.NewCompiler().WithCapabilities(capabilities())
			if c.Compile(map[string]*ast.Module{path: mod}); c.Failed() {
				t.Fatalf("%s: compile: %v", path, c.Errors)
			}
			if len(c.GetRulesExact(mod.Package.Path.Append(ast.StringTerm("violation")))) == 0 {
				t.Errorf("%s: no violation rule", path)
			}
			checkOnlyInput(t, path, mod)

			params := tpl.Spec.CRD.Spec.Validation.OpenAPIV3Schema
			if params.Type != "object" {
				t.Errorf("%s: openAPIV3Schema.type is %q, want object", path, params.Type)
			}
			for name, p := range params.Properties {
				if p.Description == "" {
					t.Errorf("%s: parameter %s has no description", path, name)
				}
			}
			checkSamples(t, dir, kind, params.Properties)
			checkSuite(t, dir, kind)
		})
	}
}

// checkOnlyInput fails when the Rego reads data other than its own
// package: Gatekeeper rejects references to data outside data.inventory
// and the template's libs.
func checkOnlyInput(t *testing.T, path string, mod *ast.Module) {
	t.Helper()
	ast.WalkRefs(mod, func(ref ast.Ref) bool {
		if ref.HasPrefix(ast.DefaultRootRef) && !ref.HasPrefix(mod.Package.Path) {
			t.Errorf("%s: %s reads data outside the template's package", path, ref)
		}
		return false
	})
}

func checkSamples(t *testing.T, dir, kind string, schema map[string]paramSchema) {
	t.Helper()
	samples, err := filepath.Glob(filepath.Join(dir, "samples", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) == 0 {
		t.Errorf("%s has no samples", dir)
	}
	for _, s := range samples {
		var c constraint
		path := filepath.Join(s, "constraint.yaml")
		readYAML(t, path, &c)
		if c.APIVersion != constraintAPIVersion || c.Kind != kind {
			t.Errorf("%s is %s %s, want %s %s", path, c.APIVersion, c.Kind, constraintAPIVersion, kind)
		}
		if c.Metadata.Name == "" {
			t.Errorf("%s has no metadata.name", path)
		}
		for name, value := range c.Spec.Parameters {
			p, ok := schema[name]
			if !ok {
				t.Errorf("%s: parameter %s is not in the template's schema", path, name)
				continue
			}
			if err := p.check(value); err != nil {
				t.Errorf("%s: parameter %s: %v", path, name, err)
			}
		}
		for _, name := range []string{"example_allowed.yaml", "example_disallowed.yaml"} {
			var pod struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			readYAML(t, filepath.Join(s, name), &pod)
			if pod.APIVersion != "v1" || pod.Kind != "Pod" {
				t.Errorf("%s is %s %s, want a v1 Pod", filepath.Join(s, name), pod.APIVersion, pod.Kind)
			}
		}
	}
}

// check is a small subset of OpenAPI validation: the JSON type.
func (p paramSchema) check(v any) error {
	ok := false
	switch p.Type {
	case "string":
		_, ok = v.(string)
	case "boolean":
		_, ok = v.(bool)
	case "integer":
		f, isNum := v.(float64)
		ok = isNum && f == float64(int64(f))
	case "array":
		var items []any
		items, ok = v.([]any)
		if ok && p.Items != nil {
			for i, item := range items {
				if err := p.Items.check(item); err != nil {
					return fmt.Errorf("item %d: %w", i, err)
				}
			}
		}
	default:
		return fmt.Errorf("the schema's type %q is not checked here", p.Type)
	}
	if !ok {
		return fmt.Errorf("%v is not of type %s", v, p.Type)
	}
	return nil
}

func checkSuite(t *testing.T, dir, kind string) {
	t.Helper()
	path := filepath.Join(dir, "suite.yaml")
	var s suite
	readYAML(t, path, &s)
	if s.APIVersion != suiteAPIVersion || s.Kind != "Suite" {
		t.Errorf("%s is %s %s, want %s Suite", path, s.APIVersion, s.Kind, suiteAPIVersion)
	}
	if len(s.Tests) == 0 {
		t.Errorf("%s has no tests", path)
	}
	used := map[string]bool{}
	for _, test := range s.Tests {
		if test.Template != "template.yaml" {
			t.Errorf("%s: test %q uses template %q, want template.yaml", path, test.Name, test.Template)
		}
		var c constraint
		readYAML(t, filepath.Join(dir, test.Constraint), &c)
		if c.Kind != kind {
			t.Errorf("%s: test %q: constraint %s is a %s, want %s", path, test.Name, test.Constraint, c.Kind, kind)
		}
		used[filepath.Dir(test.Constraint)] = true
		if len(test.Cases) == 0 {
			t.Errorf("%s: test %q has no cases", path, test.Name)
		}
		for _, tc := range test.Cases {
			if _, err := os.Stat(filepath.Join(dir, tc.Object)); err != nil {
				t.Errorf("%s: case %q: %v", path, tc.Name, err)
			}
			if len(tc.Assertions) == 0 {
				t.Errorf("%s: case %q has no assertions", path, tc.Name)
			}
		}
	}
	samples, _ := filepath.Glob(filepath.Join(dir, "samples", "*"))
	for _, sample := range samples {
		rel, _ := filepath.Rel(dir, sample)
		if !used[rel] {
			t.Errorf("%s: sample %s is not in the suite", path, rel)
		}
	}
}

// TestRegoFormatted checks that the Rego is formatted as opa fmt would.
func TestRegoFormatted(t *testing.T) {
	for _, dir := range policies(t) {
		for _, name := range []string{"src.rego", "src_test.rego"} {
			path := filepath.Join(dir, name)
			src := readFile(t, path)
			got, err := format.SourceWithOpts(path, src, format.Opts{RegoVersion: ast.RegoV1})
			if err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
			if diff := cmp.Diff(string(got), string(src)); diff != "" {
				t.Errorf("%s is not opa fmt formatted (-want +got):\n%s", path, diff)
			}
		}
	}
}

// TestSharedRego checks that the parts of src.rego meant to be the same in
// several templates (the handling of the provider's answer, the signature
// decision) are.
func TestSharedRego(t *testing.T) {
	for _, part := range sharedParts {
		dirs := part.dirs
		if dirs == nil {
			dirs = policies(t)
		}
		var first, firstDir string
		for _, dir := range dirs {
			src := string(readFile(t, filepath.Join(dir, "src.rego")))
			_, shared, ok := strings.Cut(src, part.marker)
			if !ok {
				t.Errorf("%s/src.rego has no line %q", dir, strings.TrimSpace(part.marker))
				continue
			}
			if firstDir == "" {
				first, firstDir = shared, dir
				continue
			}
			if diff := cmp.Diff(first, shared); diff != "" {
				t.Errorf("the Rego after %q differs between %s and %s (-%s +%s):\n%s", strings.TrimSpace(part.marker), firstDir, dir, firstDir, dir, diff)
			}
		}
	}
}
