package report_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/report"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// sample is a report exercising every field.
func sample() *report.Report {
	return &report.Report{
		MediaType:   report.MediaType,
		Reference:   "localhost:5000/app:v1",
		Subject:     "localhost:5000/app@sha256:1111111111111111111111111111111111111111111111111111111111111111",
		IsSuccess:   false,
		Reason:      report.ReasonSignatureUntrusted,
		Message:     "0 of 1 application/vnd.cncf.notary.signature verified (mode any): certificate chain not trusted",
		Remediation: report.ReasonSignatureUntrusted.Remediation(),
		Policy: &report.PolicyResult{Name: "signed", Rules: []report.RuleResult{{
			ArtifactType: "application/vnd.cncf.notary.signature", Mode: "any", Required: true,
			Found: 1, Failed: 1, Reason: report.ReasonSignatureUntrusted,
			Message:     "0 of 1 application/vnd.cncf.notary.signature verified (mode any): certificate chain not trusted",
			Remediation: report.ReasonSignatureUntrusted.Remediation(),
		}, {
			ArtifactTypes: []string{"application/vnd.dev.cosign.artifact.sig.v1+json", "application/vnd.dev.sigstore.bundle.v0.3+json"},
			Mode:          "any", Required: true, Satisfied: true,
			Found: 1, Verified: 1, Reason: report.ReasonVerified,
			Message: "1 of 1 application/vnd.dev.sigstore.bundle.v0.3+json verified (of application/vnd.dev.cosign.artifact.sig.v1+json or application/vnd.dev.sigstore.bundle.v0.3+json)",
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
		Platforms: []report.PlatformResult{{
			Platform: "linux/arm64/v8", Digest: "sha256:4444444444444444444444444444444444444444444444444444444444444444",
			IsSuccess: false, Reason: report.ReasonNoSignature, Message: "no signature of type application/vnd.cncf.notary.signature is attached to the image",
			Remediation: report.ReasonNoSignature.Remediation(), Artifacts: []report.Artifact{},
		}},
		Coverage:  &report.Coverage{Mode: "platforms", Platforms: 1, Passed: 0, Message: "0 of 1 platforms pass"},
		Warnings:  []report.Warning{{Reason: report.ReasonTagResolved, Message: "tag \"v1\" resolved"}},
		Sources:   []report.Source{{Name: report.SourceReferrersAPI, Found: 1, Message: "referrers API: 1 artifact"}},
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
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Fatalf("the report encoding changed; if intended, bump MediaType for breaking changes and run with -update (-golden +got):\n%s", diff)
	}

	// The golden file decodes into the same report and encodes back to
	// itself, so readers of the schema can round-trip it.
	var back report.Report
	if err := json.Unmarshal(want, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sample(), &back); diff != "" {
		t.Errorf("decoding the golden file (-sample +decoded):\n%s", diff)
	}
	again, err := json.MarshalIndent(&back, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(again, '\n'), want) {
		t.Error("the golden report does not survive a decode and encode round trip")
	}
}

// jsonKeys returns the paths of every object key in the JSON encoding
// of v. Arrays add nothing to a path, and a key nested under itself
// (artifacts of artifacts) is folded, so paths match the schema's types.
func jsonKeys(t *testing.T, v any) map[string]bool {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				p := joinKey(path, k)
				keys[p] = true
				walk(p, e)
			}
		case []any:
			for _, e := range x {
				walk(path, e)
			}
		}
	}
	walk("", doc)
	return keys
}

func joinKey(path, key string) string {
	if strings.HasSuffix(path, "."+key) {
		return path
	}
	return path + "." + key
}

// lowerCamel matches a key that starts with a lower-case ASCII letter
// and has no separators.
var lowerCamel = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

func TestThatAllTheJSONKeysStartWithALowerCase(t *testing.T) {
	keys := jsonKeys(t, sample())
	for path := range keys {
		k := path[strings.LastIndex(path, ".")+1:]
		if !lowerCamel.MatchString(k) {
			t.Errorf("key %s is not lowerCamel", path)
		}
	}
	if len(keys) < 30 {
		t.Fatalf("walked only %d keys; the sample does not exercise the schema", len(keys))
	}
}

// TestEverySchemaFieldIsPinned walks the report's Go types, so a field
// added without a lowerCamel tag, or left out of the golden sample, fails
// even when nobody remembers to set it in the sample.
func TestEverySchemaFieldIsPinned(t *testing.T) {
	keys := jsonKeys(t, sample())
	pkg := reflect.TypeFor[report.Report]().PkgPath()
	seen := map[reflect.Type]bool{}
	var visit func(path string, typ reflect.Type)
	visit = func(path string, typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ.PkgPath() != pkg || seen[typ] {
			return
		}
		seen[typ] = true
		for f := range typ.Fields() {
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("json")
			name, _, _ := strings.Cut(tag, ",")
			if !lowerCamel.MatchString(name) {
				t.Errorf("%s.%s has json tag %q; every field needs an explicit lowerCamel name", typ.Name(), f.Name, tag)
				continue
			}
			key := joinKey(path, name)
			if !keys[key] {
				t.Errorf("%s.%s (%s) is not in the golden sample; set it in sample() and run with -update", typ.Name(), f.Name, key)
			}
			visit(key, f.Type)
		}
	}
	visit("", reflect.TypeFor[report.Report]())
	if len(seen) < 6 {
		t.Fatalf("visited only %d schema types", len(seen))
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
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
	// Output:
	// {
	//   "mediaType": "application/vnd.assay.verification-report.v1+json",
	//   "reference": "localhost:5000/app:v1",
	//   "subject": "localhost:5000/app@sha256:1111111111111111111111111111111111111111111111111111111111111111",
	//   "isSuccess": false,
	//   "reason": "NO_SIGNATURE",
	//   "message": "no signature of type application/vnd.cncf.notary.signature is attached to the image",
	//   "artifacts": [],
	//   "timestamp": "2026-11-22T09:00:00Z"
	// }
}

func ExampleReason_Remediation() {
	for _, r := range []report.Reason{report.ReasonNoSignature, report.ReasonVerified, "MADE_UP"} {
		fmt.Printf("%s valid=%v remediation=%q\n", r, r.Valid(), r.Remediation())
	}
	// Output:
	// NO_SIGNATURE valid=true remediation="Sign the image and push the signature to the same repository."
	// VERIFIED valid=true remediation=""
	// MADE_UP valid=false remediation=""
}

func ExampleCount() {
	for _, n := range []int{0, 1, 3} {
		fmt.Println(report.Count(n, "artifact", "artifacts"))
	}
	// Output:
	// no artifacts
	// 1 artifact
	// 3 artifacts
}
