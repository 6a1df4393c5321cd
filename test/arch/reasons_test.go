package arch

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/assayproj/assay/pkg/reason"
)

// pluginCodes lists, per plugin, the reason codes it can emit. A plugin
// names a code only as a constant of package reason, so this list is
// exactly the set of reason.X it mentions. Update it when a plugin starts
// or stops using a code (and its README if it documents its codes).
var pluginCodes = map[string][]reason.Code{
	"plugins/cosign": {
		reason.CertificateExpired, reason.ConfigInvalid, reason.IdentityMismatch, reason.NoTrustPolicy,
		reason.SignatureInvalid, reason.SignatureUntrusted, reason.TimestampInvalid, reason.VerificationFailed,
		reason.Verified,
	},
	"plugins/notation": {
		reason.CertificateExpired, reason.CertificateRevoked, reason.ConfigInvalid, reason.IdentityMismatch,
		reason.NoTrustPolicy, reason.SignatureExpired, reason.SignatureInvalid, reason.SignatureUntrusted,
		reason.TimestampInvalid, reason.VerificationFailed, reason.Verified,
	},
	"plugins/vulnreport": {
		reason.ConfigInvalid, reason.LimitExceeded, reason.VerificationFailed, reason.Verified,
	},
}

// declaredCodes maps the names of package reason's Code constants to
// their values, read from its source.
func declaredCodes(t *testing.T) map[string]reason.Code {
	t.Helper()
	out := map[string]reason.Code{}
	for _, f := range parseDir(t, filepath.Join("..", "..", "pkg", "reason")) {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				if typ, ok := vs.Type.(*ast.Ident); !ok || typ.Name != "Code" {
					continue
				}
				for i, id := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("reason.%s is not a string literal", id.Name)
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					out[id.Name] = reason.Code(v)
				}
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("found only %d codes in pkg/reason", len(out))
	}
	return out
}

// parseDir parses the non-test Go files of dir.
func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// TestPluginsEmitOnlyCodesOfTheClosedSet reads each plugin's source: a
// reason code may appear only as a constant of package reason, never as a
// string literal (in a Reason field or anywhere else) nor as a conversion
// to reason.Code, so every code a plugin can emit is in the closed set
// and the list above says which.
func TestPluginsEmitOnlyCodesOfTheClosedSet(t *testing.T) {
	codes := declaredCodes(t)
	dirs, err := filepath.Glob(filepath.Join("..", "..", "plugins", "*"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		plugin := "plugins/" + filepath.Base(dir)
		seen[plugin] = true
		used := map[reason.Code]bool{}
		for _, f := range parseDir(t, dir) {
			for _, problem := range scanCodes(f, codes, used) {
				t.Errorf("%s: %s", plugin, problem)
			}
		}
		var got []reason.Code
		for c := range used {
			if !c.Valid() {
				t.Errorf("%s uses %s, which is declared in pkg/reason but not in the closed set", plugin, c)
			}
			got = append(got, c)
		}
		slices.Sort(got)
		want := slices.Clone(pluginCodes[plugin])
		slices.Sort(want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s emits other codes than pluginCodes lists (-listed +used):\n%s", plugin, diff)
		}
		for _, c := range want {
			if !c.Valid() {
				t.Errorf("pluginCodes lists %s for %s, which is not in the closed set", c, plugin)
			}
		}
	}
	for plugin := range pluginCodes {
		if !seen[plugin] {
			t.Errorf("pluginCodes lists %s, which does not exist", plugin)
		}
	}
	if len(seen) < 3 {
		t.Fatalf("found only %d plugins", len(seen))
	}
}

// scanCodes records in used the codes f names as constants of package
// reason and returns a problem for every code named any other way.
func scanCodes(f *ast.File, codes map[string]reason.Code, used map[reason.Code]bool) []string {
	byValue := map[reason.Code]string{}
	for name, c := range codes {
		byValue[c] = name
	}
	local := ""
	for _, imp := range f.Imports {
		if imp.Path.Value == strconv.Quote(module+"/pkg/reason") {
			local = "reason"
			if imp.Name != nil {
				local = imp.Name.Name
			}
		}
	}
	var problems []string
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && isIdent(sel.X, local) && sel.Sel.Name == "Code" {
				problems = append(problems, "converts a value to reason.Code; use a constant of package reason")
			}
		case *ast.SelectorExpr:
			if isIdent(n.X, local) {
				if c, ok := codes[n.Sel.Name]; ok {
					used[c] = true
				}
			}
		case *ast.KeyValueExpr:
			if k, ok := n.Key.(*ast.Ident); ok && k.Name == "Reason" {
				if _, ok := n.Value.(*ast.BasicLit); ok {
					problems = append(problems, "sets Reason to a string literal; use a constant of package reason")
				}
			}
		case *ast.BasicLit:
			if n.Kind != token.STRING {
				break
			}
			if v, err := strconv.Unquote(n.Value); err == nil {
				if name, ok := byValue[reason.Code(v)]; ok {
					problems = append(problems, fmt.Sprintf("spells the code %s as a string; use reason.%s", v, name))
				}
			}
		}
		return true
	})
	return problems
}

// The scanner itself catches each way of spelling a code other than as a
// constant of package reason.
func TestScanCodesFindsCodesSpelledAsStrings(t *testing.T) {
	src := `package main

import (
	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/reason"
)

const mine = "SIGNATURE_INVALID"

func a() *plugin.VerifyResponse { return &plugin.VerifyResponse{Reason: "MADE_UP"} }
func b(s string) reason.Code    { return reason.Code(s) }
func c() reason.Code            { return reason.Verified }
`
	f, err := parser.ParseFile(token.NewFileSet(), "x.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	used := map[reason.Code]bool{}
	problems := scanCodes(f, declaredCodes(t), used)
	want := []string{
		"spells the code SIGNATURE_INVALID as a string; use reason.SignatureInvalid",
		"sets Reason to a string literal; use a constant of package reason",
		"converts a value to reason.Code; use a constant of package reason",
	}
	if diff := cmp.Diff(want, problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[reason.Code]bool{reason.Verified: true}, used); diff != "" {
		t.Errorf("used (-want +got):\n%s", diff)
	}
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && name != "" && id.Name == name
}
