package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/report"
)

const sarifType = "application/sarif+json"

// sarifFile reads one of the vulnreport plugin's SARIF fixtures, written
// in the shapes Trivy and Grype produce.
func sarifFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "plugins", "vulnreport", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// attachReport attaches sarif to subject as a vulnerability report created
// at created, the way `oras attach --artifact-type application/sarif+json
// --annotation org.opencontainers.image.created=… report.sarif:application/sarif+json`
// does.
func attachReport(t *testing.T, repo *remote.Repository, subject ocispec.Descriptor, sarif []byte, created time.Time) ocispec.Descriptor {
	t.Helper()
	return registrytest.Attach(t, repo, subject, registrytest.Artifact{
		ArtifactType: sarifType,
		Blobs:        []registrytest.Blob{{MediaType: sarifType, Data: sarif}},
		Annotations:  map[string]string{ocispec.AnnotationCreated: created.UTC().Format(time.RFC3339)},
	})
}

// vulnConfigOptions shape the configuration of a vulnerability report test.
type vulnConfigOptions struct {
	params           string // the vulnreport Verifier's parameters (JSON)
	mode             string // the Policy's mode for reports; "" is any
	requireSignature bool   // the Verifier's spec.requireSignature
}

// vulnConfig writes a Store for f's registry, a Verifier "notation"
// trusting f's CA for repository, a Verifier "reports" of plugin
// vulnreport, and a Policy requiring both a Notary Project signature and
// a vulnerability report.
func (f *fixture) vulnConfig(repository string, o vulnConfigOptions) string {
	f.t.Helper()
	mode := o.mode
	if mode == "" {
		mode = "any"
	}
	notation := notationtest.MustJSON(f.t, notationtest.NewParams(repository, f.ca, nil))
	doc := fmt.Sprintf(`apiVersion: config.assay.dev/v1alpha1
kind: Store
metadata: {name: registries}
spec:
  registries:
    - {host: %q, plainHTTP: true}
---
apiVersion: config.assay.dev/v1alpha1
kind: Verifier
metadata: {name: notation}
spec:
  plugin: notation
  artifactTypes: [%s]
  parameters: %s
---
apiVersion: config.assay.dev/v1alpha1
kind: Verifier
metadata: {name: reports}
spec:
  plugin: vulnreport
  artifactTypes: [%s]
  requireSignature: %t
  parameters: %s
---
apiVersion: config.assay.dev/v1alpha1
kind: Policy
metadata: {name: scanned}
spec:
  rules:
    - {artifactType: %s, required: true, mode: any}
    - {artifactType: %s, required: true, mode: %s}
`, f.host, notarySignature, notation, sarifType, o.requireSignature, o.params, notarySignature, sarifType, mode)
	path := filepath.Join(f.t.TempDir(), "assay.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		f.t.Fatal(err)
	}
	return path
}

// templateProblems evaluates the AssayVulnerabilityReport template's
// decision for one image on the report Assay gave, with OPA: the messages
// Gatekeeper would deny the Pod with.
func templateProblems(t *testing.T, image string, rawReport []byte, params map[string]any) []string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "library", "assayvulnerabilityreport", "src.rego"))
	if err != nil {
		t.Fatal(err)
	}
	// assay verify -o json prints an array of reports, here of one
	var reps []any
	if err := json.Unmarshal(rawReport, &reps); err != nil {
		t.Fatal(err)
	}
	if len(reps) != 1 {
		t.Fatalf("assay verify printed %d reports for one image", len(reps))
	}
	rep := reps[0]
	// The template's single external_data call is not evaluated here, but
	// the builtin must exist for the module to compile.
	externalData := rego.Function1(
		&rego.Function{Name: "external_data", Decl: types.NewFunction(types.Args(types.A), types.A)},
		func(rego.BuiltinContext, *ast.Term) (*ast.Term, error) { return nil, errors.New("not in this test") },
	)
	rs, err := rego.New(
		rego.Query("msgs := data.assayvulnerabilityreport.vuln_problems(input.image, input.report, input.parameters, input.now)"),
		rego.Module("src.rego", string(src)),
		rego.Input(map[string]any{"image": image, "report": rep, "parameters": params, "now": time.Now().UnixNano()}),
		externalData,
	).Eval(context.Background())
	if err != nil {
		t.Fatalf("evaluate the template: %v", err)
	}
	if len(rs) != 1 {
		t.Fatalf("the template's decision is undefined for this report:\n%s", rawReport)
	}
	var msgs []string
	for _, m := range rs[0].Bindings["msgs"].([]any) {
		msgs = append(msgs, m.(string))
	}
	return msgs
}

// TestVerifyVulnerabilityReportsOnRealRegistries runs assay verify with the
// notation and vulnreport plugins as processes on signed images carrying
// SARIF reports, and checks the result both as Assay reports it and as the
// AssayVulnerabilityReport template reads it.
func TestVerifyVulnerabilityReportsOnRealRegistries(t *testing.T) {
	const strict = `{"maxAge": "24h", "disallowedSeverities": ["CRITICAL", "HIGH"], "denylistCVEs": ["CVE-2026-1003"]}`
	strictTemplate := map[string]any{"maxAgeHours": 24, "disallowedSeverities": []any{"CRITICAL", "HIGH"}}
	now := time.Now()
	type attach struct {
		file string
		age  time.Duration
		sign bool // sign the report with the trusted leaf
	}
	cases := map[string]struct {
		reports []attach
		config  vulnConfigOptions
		success bool
		// verdict, reason and message of the newest report's vulnreport
		// result (message: substrings in order)
		verdict report.Verdict
		reason  report.Reason
		message []string
		// template: the template's parameters, and a substring of each
		// message it must give (none: it must admit)
		templateParams map[string]any
		template       []string
	}{
		"a fresh, clean Trivy report is verified": {
			reports: []attach{{file: "trivy-clean.sarif.json", age: time.Hour}},
			config:  vulnConfigOptions{params: strict},
			success: true, verdict: report.Verified, reason: report.ReasonVerified,
			message:        []string{"vulnerability report by trivy 0.58.1, created ", " passes: 0 findings"},
			templateParams: strictTemplate,
		},
		"a report older than maxAge fails with its age": {
			reports: []attach{{file: "trivy-clean.sarif.json", age: 50 * time.Hour}},
			config:  vulnConfigOptions{params: strict},
			verdict: report.Failed, reason: report.ReasonVerificationFailed,
			message:        []string{"fails: the report is 50h0m", " old, more than maxAge 24h0m0s"},
			templateParams: strictTemplate,
			template:       []string{"(trivy, created ", " is 50 hours old, more than maxAgeHours 24"},
		},
		"a Trivy report with disallowed severities fails listing its CVEs": {
			reports: []attach{{file: "trivy-findings.sarif.json", age: time.Hour}},
			config:  vulnConfigOptions{params: strict},
			verdict: report.Failed, reason: report.ReasonVerificationFailed,
			message:        []string{"findings of disallowed severity (CRITICAL 2, HIGH 1): CVE-2026-0001 (CRITICAL), CVE-2026-0002 (HIGH)"},
			templateParams: strictTemplate,
			template:       []string{"has findings of disallowed severity: CRITICAL (2): CVE-2026-0001; HIGH (1): CVE-2026-0002"},
		},
		"a Grype report with a denylisted CVE fails": {
			reports: []attach{{file: "grype-findings.sarif.json", age: time.Hour}},
			config:  vulnConfigOptions{params: `{"maxAge": "24h", "denylistCVEs": ["CVE-2026-1003"]}`},
			verdict: report.Failed, reason: report.ReasonVerificationFailed,
			message:        []string{"vulnerability report by grype 0.87.0", "denylisted vulnerabilities found: CVE-2026-1003"},
			templateParams: map[string]any{},
			template:       []string{`verifier "reports" failed the newest vulnerability report`, "(grype, created ", "VERIFICATION_FAILED: ", "denylisted vulnerabilities found: CVE-2026-1003"},
		},
		"a malformed report fails with the parse error": {
			reports: []attach{{file: "", age: time.Hour}},
			config:  vulnConfigOptions{params: strict},
			verdict: report.Failed, reason: report.ReasonVerificationFailed,
			message:        []string{"the SARIF report cannot be used: malformed SARIF report: not valid JSON: "},
			templateParams: strictTemplate,
			template:       []string{`verifier "reports" failed the newest vulnerability report`, "malformed SARIF report"},
		},
		"an unsigned report fails when the Verifier requires a signature": {
			reports: []attach{{file: "trivy-clean.sarif.json", age: time.Hour}},
			config:  vulnConfigOptions{params: strict, requireSignature: true},
			verdict: report.Failed, reason: report.ReasonNoSignature,
			message:        []string{"carries no verified signature"},
			templateParams: map[string]any{"requireSignedReport": true},
			template:       []string{"is not signed by a trusted signer: no signature is attached to it"},
		},
		"a report signed by a trusted signer is verified when a signature is required": {
			reports: []attach{{file: "trivy-clean.sarif.json", age: time.Hour, sign: true}},
			config:  vulnConfigOptions{params: strict, requireSignature: true},
			success: true, verdict: report.Verified, reason: report.ReasonVerified,
			templateParams: map[string]any{"requireSignedReport": true, "maxAgeHours": 24},
		},
		"the newest report decides: a fresh clean scan over an old failing one": {
			reports: []attach{{file: "trivy-findings.sarif.json", age: 72 * time.Hour}, {file: "grype-clean.sarif.json", age: time.Hour}},
			config:  vulnConfigOptions{params: strict, mode: "newest"},
			success: true, verdict: report.Verified, reason: report.ReasonVerified,
			message:        []string{"by grype 0.87.0"},
			templateParams: strictTemplate,
		},
		"the newest report decides: a failing scan over an older clean one": {
			reports: []attach{{file: "trivy-clean.sarif.json", age: 3 * time.Hour}, {file: "trivy-findings.sarif.json", age: time.Hour}},
			config:  vulnConfigOptions{params: strict, mode: "newest"},
			verdict: report.Failed, reason: report.ReasonVerificationFailed,
			message:        []string{"CVE-2026-0001 (CRITICAL)"},
			templateParams: strictTemplate,
			template:       []string{"failed the newest vulnerability report", "has findings of disallowed severity: CRITICAL (2): CVE-2026-0001"},
		},
	}
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			i := 0
			for name, tc := range cases {
				i++
				repoName := fmt.Sprintf("e2e/vuln%d", i)
				t.Run(name, func(t *testing.T) {
					f := newFixture(t, host)
					r := f.repo(repoName)
					d := f.image(r, "v1")
					f.sign(r, f.leaf, d, notationtest.SignOptions{})
					var newest ocispec.Descriptor
					for _, a := range tc.reports {
						data := []byte(`{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "Trivy"}}, "results": [`)
						if a.file != "" {
							data = sarifFile(t, a.file)
						}
						desc := attachReport(t, r, d, data, now.Add(-a.age))
						if a.sign {
							f.sign(r, f.leaf, desc, notationtest.SignOptions{})
						}
						newest = desc // the cases attach the newest last
					}
					ref := r.Reference.String() + ":v1"
					rep, out := verifyJSON(t, f.vulnConfig(r.Reference.String(), tc.config), nil, ref)
					if rep.IsSuccess != tc.success {
						t.Errorf("isSuccess = %v, want %v: %s: %s", rep.IsSuccess, tc.success, rep.Reason, rep.Message)
					}

					var res *report.Result
					var found int
					for i := range rep.Artifacts {
						a := &rep.Artifacts[i]
						if a.ArtifactType != sarifType {
							continue
						}
						found++
						if a.Digest == newest.Digest.String() {
							if len(a.Results) != 1 {
								t.Fatalf("report %s has results %+v, want one", a.Digest, a.Results)
							}
							res = &a.Results[0]
						}
					}
					if found != len(tc.reports) || res == nil {
						t.Fatalf("found %d reports (want %d), the newest %s among them: %v; artifacts %+v", found, len(tc.reports), newest.Digest, res != nil, rep.Artifacts)
					}
					t.Logf("%s %s: %s", res.Verdict, res.Reason, res.Message)
					if res.Verifier != "reports" || res.Type != "vulnreport" || res.Verdict != tc.verdict || res.Reason != tc.reason {
						t.Errorf("result %s/%s %s %s, want reports/vulnreport %s %s", res.Verifier, res.Type, res.Verdict, res.Reason, tc.verdict, tc.reason)
					}
					rest := res.Message
					for _, want := range tc.message {
						j := strings.Index(rest, want)
						if j < 0 {
							t.Fatalf("message %q lacks %q (or has it out of order)", res.Message, want)
						}
						rest = rest[j+len(want):]
					}
					if res.Verdict != report.Verified && res.Remediation == "" {
						t.Error("a failure without remediation")
					}
					if _, ok := res.Details["sarifDigest"].(string); !ok && res.Reason != report.ReasonNoSignature {
						t.Errorf("details lack sarifDigest: %v", res.Details)
					}

					msgs := templateProblems(t, ref, []byte(out.stdout), tc.templateParams)
					for _, m := range msgs {
						t.Logf("template: %s", m)
					}
					if len(tc.template) == 0 {
						if len(msgs) > 0 {
							t.Errorf("the template denies a report Assay verified: %q", msgs)
						}
						return
					}
					if len(msgs) == 0 {
						t.Fatal("the template admits the image")
					}
					all := strings.Join(msgs, "\n")
					for _, want := range tc.template {
						if !strings.Contains(all, want) {
							t.Errorf("the template's messages lack %q:\n%s", want, all)
						}
					}
				})
			}
		})
	}
}
