package report_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"testing"

	"github.com/assayproj/assay/pkg/reason"
	"github.com/assayproj/assay/pkg/report"
)

// TestEveryCodeHasAReportName checks that reason.go names every code of
// the closed set as ReasonX = reason.X, and nothing else, so host code can
// keep spelling codes report.ReasonX and a code added to package reason
// is not forgotten here.
func TestEveryCodeHasAReportName(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "reason.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, id := range vs.Names {
				sel, ok := vs.Values[i].(*ast.SelectorExpr)
				if x, isIdent := sel.X.(*ast.Ident); !ok || !isIdent || x.Name != "reason" {
					t.Errorf("%s: %s is not a reason.X constant", fset.Position(id.Pos()), id.Name)
					continue
				}
				if id.Name != "Reason"+sel.Sel.Name {
					t.Errorf("%s: %s names reason.%s; call it Reason%s", fset.Position(id.Pos()), id.Name, sel.Sel.Name, sel.Sel.Name)
				}
				named[sel.Sel.Name] = true
			}
		}
	}
	if got, want := len(named), len(reason.All()); got != want {
		t.Errorf("reason.go names %d codes, the closed set has %d; add ReasonX = reason.X for the missing ones", got, want)
	}
	for _, c := range report.Reasons() {
		if !c.Valid() {
			t.Errorf("Reasons() returned %q, which is not in the set", c)
		}
	}
}
