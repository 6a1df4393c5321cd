package report_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/assayproj/assay/pkg/report"
)

var update = flag.Bool("update", false, "rewrite golden files and docs/reasons.md")

// sample is a report exercising every field.
func sample() *report.Report {
	return &report.Report{
		MediaType: report.MediaType,
		Reference: "localhost:5000/app:v1",
		Subject:   "localhost:5000/app@sha256:1111111111111111111111111111111111111111111111111111111111111111",
		IsSuccess: false,
		Reason:    report.ReasonSignatureUntrusted,
		Message:   "0 of 1 application/vnd.cncf.notary.signature verified (mode any): certificate chain not trusted",
		Policy: &report.PolicyResult{Name: "signed", Rules: []report.RuleResult{{
			ArtifactType: "application/vnd.cncf.notary.signature", Mode: "any", Required: true,
			Found: 1, Failed: 1, Reason: report.ReasonSignatureUntrusted,
			Message:     "0 of 1 application/vnd.cncf.notary.signature verified (mode any): certificate chain not trusted",
			Remediation: report.ReasonSignatureUntrusted.Remediation(),
		}}},
		Artifacts: []report.Artifact{{
			ArtifactType: "application/sarif+json",
			Digest:       "sha256:2222222222222222222222222222222222222222222222222222222222222222",
			MediaType:    "application/vnd.oci.image.manifest.v1+json",
			Results: []report.Result{{
				Verifier: "reports", Type: "vulnreport", Verdict: report.Inconclusive, Reason: report.ReasonNoVerifier,
				Message: "no Verifier handles artifact type \"application/sarif+json\"", Remediation: report.ReasonNoVerifier.Remediation(),
			}},
			Artifacts: []report.Artifact{{
				ArtifactType: "application/vnd.cncf.notary.signature",
				Digest:       "sha256:3333333333333333333333333333333333333333333333333333333333333333",
				Results: []report.Result{{
					Verifier: "notation", Type: "notation", Verdict: report.Failed, Reason: report.ReasonSignatureUntrusted,
					Message: "certificate chain not trusted", Remediation: report.ReasonSignatureUntrusted.Remediation(),
					Details: map[string]any{"signerSubject": "CN=Eve", "signingTime": "2026-11-22T08:00:00Z"},
				}},
			}},
		}},
		Warnings:  []report.Warning{{Reason: report.ReasonTagResolved, Message: "tag \"v1\" resolved"}},
		Timestamp: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC),
	}
}

func TestReportEncodingIsPinned(t *testing.T) {
	got, err := json.MarshalIndent(sample(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "report.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the report encoding changed; if intended, bump MediaType for breaking changes and run with -update\ngot:\n%s\nwant:\n%s", got, want)
	}
	var back report.Report
	if err := json.Unmarshal(want, &back); err != nil {
		t.Fatal(err)
	}
	again, _ := json.MarshalIndent(&back, "", "  ")
	if !bytes.Equal(append(again, '\n'), want) {
		t.Error("the golden report does not survive a decode and encode round trip")
	}
}

func TestThatAllTheJSONKeysStartWithALowerCase(t *testing.T) {
	b, err := json.Marshal(sample())
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v any)
	count := 0
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				count++
				if r := []rune(k)[0]; !unicode.IsLower(r) {
					t.Errorf("key %s.%s does not start with a lower-case letter", path, k)
				}
				if strings.ContainsAny(k, "_-") {
					t.Errorf("key %s.%s is not lowerCamel", path, k)
				}
				walk(path+"."+k, e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	walk("", v)
	if count < 30 {
		t.Fatalf("walked only %d keys; the sample does not exercise the schema", count)
	}
}

// reasonConst is one Reason constant declared in reason.go.
type reasonConst struct {
	name    string
	code    report.Reason
	meaning string // its doc comment, without the "ReasonX:" lead
}

// declaredReasons parses reason.go for the Reason constants, so a code
// added without a remediation or documentation fails the tests.
func declaredReasons(t *testing.T) []reasonConst {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "reason.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var out []reasonConst
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Reason" {
				continue
			}
			meaning := strings.Join(strings.Fields(vs.Doc.Text()), " ")
			if _, after, ok := strings.Cut(meaning, ": "); ok {
				meaning = after
			}
			out = append(out, reasonConst{
				name:    vs.Names[0].Name,
				code:    report.Reason(strings.Trim(vs.Values[0].(*ast.BasicLit).Value, `"`)),
				meaning: meaning,
			})
		}
	}
	if len(out) < 10 {
		t.Fatalf("found only %d Reason constants in reason.go", len(out))
	}
	return out
}

func TestEveryReasonIsValidAndSaysWhatToDo(t *testing.T) {
	declared := declaredReasons(t)
	for _, r := range declared {
		if !r.code.Valid() {
			t.Errorf("%s (%s) is declared but not in the closed set", r.name, r.code)
		}
		if r.code != report.ReasonVerified && r.code.Remediation() == "" {
			t.Errorf("%s (%s) has no remediation", r.name, r.code)
		}
		if r.meaning == "" {
			t.Errorf("%s (%s) has no doc comment", r.name, r.code)
		}
	}
	if len(report.Reasons()) != len(declared) {
		t.Errorf("the closed set has %d codes, reason.go declares %d", len(report.Reasons()), len(declared))
	}
	if report.Reason("MADE_UP").Valid() {
		t.Error("an unknown code is valid")
	}
}

// reasonsDoc renders docs/reasons.md from the doc comments in reason.go.
func reasonsDoc(t *testing.T) []byte {
	t.Helper()
	rows := declaredReasons(t)
	sort.Slice(rows, func(i, j int) bool { return rows[i].code < rows[j].code })
	var b bytes.Buffer
	b.WriteString("# Reason codes\n\n")
	b.WriteString("Every verdict and policy outcome in a report carries one of these codes.\n")
	b.WriteString("The set is closed: Rego may match on them, and a plugin's unknown code is\n")
	b.WriteString("replaced by a generic one. Generated from `pkg/report/reason.go` by\n")
	b.WriteString("`go test ./pkg/report -update`; do not edit by hand.\n\n")
	b.WriteString("| code | meaning | what to do |\n|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", r.code, r.meaning, r.code.Remediation())
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
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/reasons.md is out of date; run go test ./pkg/report -update")
	}
}

func ExampleReport() {
	r := report.Report{
		MediaType: report.MediaType,
		Reference: "localhost:5000/app:v1",
		Subject:   "localhost:5000/app@sha256:1111111111111111111111111111111111111111111111111111111111111111",
		Reason:    report.ReasonNoSignature,
		Message:   "no signature of type application/vnd.cncf.notary.signature is attached to the image",
		Artifacts: []report.Artifact{},
		Timestamp: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC),
	}
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
	// Output:
	// {"mediaType":"application/vnd.assay.verification-report.v1+json","reference":"localhost:5000/app:v1","subject":"localhost:5000/app@sha256:1111111111111111111111111111111111111111111111111111111111111111","isSuccess":false,"reason":"NO_SIGNATURE","message":"no signature of type application/vnd.cncf.notary.signature is attached to the image","artifacts":[],"timestamp":"2026-11-22T09:00:00Z"}
}
