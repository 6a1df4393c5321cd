package reason_test

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/assayproj/assay/pkg/reason"
)

var update = flag.Bool("update", false, "rewrite docs/reasons.md")

// codeConst is one Code constant declared in package reason.
type codeConst struct {
	name    string
	code    reason.Code
	meaning string // its doc comment, without the "X:" lead
}

// declaredCodes parses the package's source for the Code constants, so
// a code added without a remediation or documentation fails the tests. A
// constant counts when it is typed Code or converted with Code("...").
func declaredCodes(t *testing.T) []codeConst {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var out []codeConst
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				for i, id := range vs.Names {
					var value ast.Expr
					if i < len(vs.Values) {
						value = vs.Values[i]
					}
					typed := false
					if tid, ok := vs.Type.(*ast.Ident); ok && tid.Name == "Code" {
						typed = true
					}
					if call, ok := value.(*ast.CallExpr); ok {
						if fid, ok := call.Fun.(*ast.Ident); ok && fid.Name == "Code" && len(call.Args) == 1 {
							typed, value = true, call.Args[0]
						}
					}
					if !typed {
						continue
					}
					lit, ok := value.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Errorf("%s: %s is not a string literal; declare codes as X Code = \"X\"", fset.Position(id.Pos()), id.Name)
						continue
					}
					code, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					doc := vs.Doc
					if doc == nil && len(g.Specs) == 1 {
						doc = g.Doc
					}
					meaning := strings.Join(strings.Fields(doc.Text()), " ")
					if _, after, ok := strings.Cut(meaning, ": "); ok {
						meaning = after
					}
					out = append(out, codeConst{name: id.Name, code: reason.Code(code), meaning: meaning})
				}
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("found only %d Code constants", len(out))
	}
	return out
}

// upperSnake is the form of every code.
var upperSnake = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$`)

func TestEveryCodeIsValidAndSaysWhatToDo(t *testing.T) {
	declared := declaredCodes(t)
	codes := map[reason.Code]string{}
	for _, r := range declared {
		if other, dup := codes[r.code]; dup {
			t.Errorf("%s and %s share the code %s", other, r.name, r.code)
		}
		codes[r.code] = r.name
		if !upperSnake.MatchString(string(r.code)) {
			t.Errorf("%s (%q) is not UPPER_SNAKE_CASE", r.name, r.code)
		}
		if !r.code.Valid() {
			t.Errorf("%s (%s) is declared but not in the closed set", r.name, r.code)
		}
		if r.code != reason.Verified && r.code.Remediation() == "" {
			t.Errorf("%s (%s) has no remediation", r.name, r.code)
		}
		if r.meaning == "" {
			t.Errorf("%s (%s) has no doc comment", r.name, r.code)
		}
	}
	if reason.Verified.Remediation() != "" {
		t.Errorf("VERIFIED has a remediation: %q", reason.Verified.Remediation())
	}
	// The closed set holds exactly the declared codes.
	var set []reason.Code
	for _, r := range reason.All() {
		set = append(set, r)
		if _, ok := codes[r]; !ok {
			t.Errorf("%s is in the closed set but not declared as a constant", r)
		}
	}
	if len(set) != len(declared) {
		t.Errorf("the closed set has %d codes, the package declares %d", len(set), len(declared))
	}
	for _, unknown := range []reason.Code{"", "MADE_UP", "verified"} {
		if unknown.Valid() || unknown.Remediation() != "" {
			t.Errorf("the unknown code %q is valid or has a remediation", unknown)
		}
	}
}

// reasonsDoc renders docs/reasons.md from the reason constants' doc
// comments and remediations.
func reasonsDoc(t *testing.T) []byte {
	t.Helper()
	rows := declaredCodes(t)
	slices.SortFunc(rows, func(a, b codeConst) int { return strings.Compare(string(a.code), string(b.code)) })
	cell := strings.NewReplacer("|", `\|`, "\n", " ").Replace
	var b bytes.Buffer
	b.WriteString("# Reason codes\n\n")
	b.WriteString("Every verdict and policy outcome in a report carries one of these codes.\n")
	b.WriteString("The set is closed: Rego may match on them, and a plugin's unknown code is\n")
	b.WriteString("replaced by a generic one. Generated from `pkg/reason/reason.go` by\n")
	b.WriteString("`go test ./pkg/reason -update`; do not edit by hand.\n\n")
	b.WriteString("| code | meaning | what to do |\n|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", r.code, cell(r.meaning), cell(r.code.Remediation()))
	}
	return b.Bytes()
}

func TestReasonsDocIsCurrent(t *testing.T) {
	want := reasonsDoc(t)
	path := filepath.Join("..", "..", "docs", "reasons.md")
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/reason -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Fatalf("docs/reasons.md is out of date; run go test ./pkg/reason -update (-want +got):\n%s", diff)
	}
}

func TestForVerdictKeepsAFittingCodeAndReplacesTheRest(t *testing.T) {
	tests := map[string]struct {
		verdict string
		code    reason.Code
		want    reason.Code
	}{
		"a verified result keeps VERIFIED":                        {"verified", reason.Verified, reason.Verified},
		"a verified result without a code gets VERIFIED":          {"verified", "", reason.Verified},
		"a verified result with an unknown code gets VERIFIED":    {"verified", "LOOKS_FINE", reason.Verified},
		"a verified result keeps a warning code of the set":       {"verified", reason.TagResolved, reason.TagResolved},
		"a failed result keeps its specific code":                 {"failed", reason.SignatureUntrusted, reason.SignatureUntrusted},
		"a failed result without a code gets VERIFICATION_FAILED": {"failed", "", reason.VerificationFailed},
		"a failed result with an unknown code is generic":         {"failed", "BAD_SIG", reason.VerificationFailed},
		"a failed result may not claim VERIFIED":                  {"failed", reason.Verified, reason.VerificationFailed},
		"an inconclusive result keeps its specific code":          {"inconclusive", reason.NoTrustPolicy, reason.NoTrustPolicy},
		"an inconclusive result with an unknown code is generic":  {"inconclusive", "HMM", reason.PluginError},
		"an inconclusive result may not claim VERIFIED":           {"inconclusive", reason.Verified, reason.PluginError},
		"an unspecified verdict is treated as inconclusive":       {"unspecified", "", reason.PluginError},
		"an unspecified verdict keeps a specific code of the set": {"unspecified", reason.ConfigInvalid, reason.ConfigInvalid},
		"the verdict is matched exactly, as reports spell it":     {"Verified", "", reason.PluginError},
		"a code differing from the set only in case is not in it": {"failed", "signature_invalid", reason.VerificationFailed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := reason.ForVerdict(tc.verdict, tc.code); got != tc.want {
				t.Errorf("ForVerdict(%q, %q) = %q, want %q", tc.verdict, tc.code, got, tc.want)
			}
		})
	}
}

// ForVerdict always answers a code of the set, and never VERIFIED for a
// verdict that is not verified.
func TestForVerdictAlwaysAnswersACodeOfTheSet(t *testing.T) {
	codes := append(reason.All(), "", "MADE_UP")
	for _, v := range []string{"verified", "failed", "inconclusive", ""} {
		for _, c := range codes {
			got := reason.ForVerdict(v, c)
			if !got.Valid() {
				t.Errorf("ForVerdict(%q, %q) = %q, not in the set", v, c, got)
			}
			if v != "verified" && got == reason.Verified {
				t.Errorf("ForVerdict(%q, %q) = VERIFIED", v, c)
			}
		}
	}
}

func ExampleForVerdict() {
	fmt.Println(reason.ForVerdict("failed", "SOMETHING_ELSE"))
	fmt.Println(reason.ForVerdict("failed", reason.CertificateRevoked))
	fmt.Println(reason.ForVerdict("inconclusive", reason.Verified))
	// Output:
	// VERIFICATION_FAILED
	// CERTIFICATE_REVOKED
	// PLUGIN_ERROR
}
