package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/reason"
)

// testNow is the time every test verifies at.
var testNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// ago returns testNow minus d in RFC 3339, as a created annotation.
func ago(d time.Duration) string { return testNow.Add(-d).Format(time.RFC3339) }

// report describes a report artifact to hand to Verify.
type report struct {
	sarif []byte
	// created is the manifest's org.opencontainers.image.created
	// annotation; "" leaves it out.
	created string
	// listed is the same annotation on the descriptor, as a referrers
	// listing gives it; "" leaves it out.
	listed string
	// layers replaces the one SARIF layer made from sarif, when set.
	layers []plugin.Blob
}

func blob(mediaType string, data []byte) plugin.Blob {
	return plugin.Blob{
		Descriptor: ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))},
		Data:       data,
	}
}

// request builds a VerifyRequest for r under params, the way the host
// does: the manifest bytes, the descriptor from the referrers listing, the
// layers with their bytes.
func (r report) request(t testing.TB, params string) *plugin.VerifyRequest {
	t.Helper()
	blobs := r.layers
	if blobs == nil {
		blobs = []plugin.Blob{blob(MediaType, r.sarif)}
	}
	layers := make([]ocispec.Descriptor, 0, len(blobs))
	for _, b := range blobs {
		layers = append(layers, b.Descriptor)
	}
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("image"), Size: 5}
	m := ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: ArtifactType,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       layers,
		Subject:      &subject,
	}
	m.SchemaVersion = 2
	if r.created != "" {
		m.Annotations = map[string]string{ocispec.AnnotationCreated: r.created}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	artifact := ocispec.Descriptor{MediaType: m.MediaType, ArtifactType: ArtifactType, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	if r.listed != "" {
		artifact.Annotations = map[string]string{ocispec.AnnotationCreated: r.listed}
	}
	return &plugin.VerifyRequest{
		Config:           []byte(params),
		Subject:          subject,
		Repository:       "registry.example.com/team/app",
		Artifact:         artifact,
		ArtifactManifest: raw,
		Blobs:            blobs,
	}
}

func testVerifier(opts Options) *Verifier {
	opts.Now = func() time.Time { return testNow }
	return NewVerifier(opts)
}

const strict = `{"maxAge": "24h", "disallowedSeverities": ["CRITICAL", "HIGH"]}`

func TestVerify(t *testing.T) {
	trivy := readTestdata(t, "trivy-findings.sarif.json")
	trivyClean := readTestdata(t, "trivy-clean.sarif.json")
	grype := readTestdata(t, "grype-findings.sarif.json")
	grypeClean := readTestdata(t, "grype-clean.sarif.json")
	fresh := ago(3 * time.Hour)

	tests := map[string]struct {
		report  report
		params  string
		opts    Options
		verdict plugin.Verdict
		reason  reason.Code
		failed  []string       // the failedChecks detail
		message []string       // substrings of the message, in order
		details map[string]any // a subset of the details, compared as JSON
	}{
		"a fresh, clean Trivy report is verified": {
			report: report{sarif: trivyClean, created: fresh}, params: strict,
			verdict: plugin.VerdictVerified, reason: reason.Verified,
			message: []string{"by trivy 0.58.1, created 2026-11-22T09:00:00Z (3h0m0s ago) passes: 0 findings"},
			details: map[string]any{
				"scanner": "trivy", "scannerVersion": "0.58.1", "createdAt": "2026-11-22T09:00:00Z",
				"age": "3h0m0s", "ageSeconds": 10800, "maxAge": "24h0m0s", "totalFindings": 0, "violations": []any{},
			},
		},
		"a fresh, clean Grype report is verified": {
			report: report{sarif: grypeClean, created: fresh}, params: strict,
			verdict: plugin.VerdictVerified, reason: reason.Verified,
			details: map[string]any{"scanner": "grype", "scannerVersion": "0.87.0"},
		},
		"a report with findings only below the disallowed severities is verified": {
			report:  report{sarif: trivy, created: fresh},
			params:  `{"disallowedSeverities": ["CRITICAL", "HIGH"], "allowlistCVEs": ["CVE-2026-0001", "CVE-2026-0002"]}`,
			verdict: plugin.VerdictVerified, reason: reason.Verified,
			message: []string{"passes: 4 findings (CRITICAL 0, HIGH 0, MEDIUM 2, LOW 1, UNKNOWN 1), 2 allowlisted id(s) ignored"},
			details: map[string]any{
				"countsBySeverity": map[string]any{"CRITICAL": 0, "HIGH": 0, "MEDIUM": 2, "LOW": 1, "UNKNOWN": 1},
				"totalFindings":    4,
				"allowlisted":      []any{"CVE-2026-0001", "CVE-2026-0002"},
			},
		},
		"a report exactly maxAge old is verified": {
			report: report{sarif: trivyClean, created: ago(24 * time.Hour)}, params: strict,
			verdict: plugin.VerdictVerified, reason: reason.Verified,
		},
		"a report older than maxAge fails with its age and the limit": {
			report: report{sarif: trivyClean, created: ago(50 * time.Hour)}, params: strict,
			verdict: plugin.VerdictFailed, reason: reason.VerificationFailed, failed: []string{checkMaxAge},
			message: []string{"created 2026-11-20T10:00:00Z (50h0m0s ago) fails: the report is 50h0m0s old, more than maxAge 24h0m0s"},
			details: map[string]any{"age": "50h0m0s", "ageSeconds": 180000, "createdAt": "2026-11-20T10:00:00Z"},
		},
		"a Trivy report with disallowed severities fails listing the CVE ids in order": {
			report: report{sarif: trivy, created: fresh}, params: strict,
			verdict: plugin.VerdictFailed, reason: reason.VerificationFailed, failed: []string{checkDisallowedSeverities},
			message: []string{"findings of disallowed severity (CRITICAL 2, HIGH 1): CVE-2026-0001 (CRITICAL), CVE-2026-0002 (HIGH)"},
			details: map[string]any{
				"countsBySeverity": map[string]any{"CRITICAL": 2, "HIGH": 1, "MEDIUM": 2, "LOW": 1, "UNKNOWN": 1},
				"totalFindings":    7,
				"violations": []any{
					map[string]any{"id": "CVE-2026-0001", "severity": "CRITICAL", "rule": "CVE-2026-0001", "checks": []any{"disallowedSeverities"}},
					map[string]any{"id": "CVE-2026-0002", "severity": "HIGH", "rule": "CVE-2026-0002", "checks": []any{"disallowedSeverities"}},
				},
			},
		},
		"a Grype report with disallowed severities fails listing each vulnerability once": {
			report: report{sarif: grype, created: fresh}, params: `{"disallowedSeverities": ["critical"]}`,
			verdict: plugin.VerdictFailed, reason: reason.VerificationFailed, failed: []string{checkDisallowedSeverities},
			message: []string{"(CRITICAL 3): CVE-2026-1001 (CRITICAL), GHSA-jfh8-c2jp-5v3q (CRITICAL)"},
			details: map[string]any{
				"violations": []any{
					map[string]any{"id": "CVE-2026-1001", "severity": "CRITICAL", "rule": "CVE-2026-1001-libcrypto3", "checks": []any{"disallowedSeverities"}},
					map[string]any{"id": "CVE-2026-1001", "severity": "CRITICAL", "rule": "CVE-2026-1001-libssl3", "checks": []any{"disallowedSeverities"}},
					map[string]any{"id": "GHSA-jfh8-c2jp-5v3q", "severity": "CRITICAL", "rule": "GHSA-jfh8-c2jp-5v3q-log4j-core", "checks": []any{"disallowedSeverities"}},
				},
			},
		},
		"an UNKNOWN severity can be disallowed": {
			report: report{sarif: grype, created: fresh}, params: `{"disallowedSeverities": ["unknown"]}`,
			verdict: plugin.VerdictFailed, reason: reason.VerificationFailed, failed: []string{checkDisallowedSeverities},
			message: []string{"(UNKNOWN 1): CVE-2026-1004 (UNKNOWN)"},
		},
		"a denylisted CVE fails whatever its severity": {
			report: report{sarif: trivy, created: fresh}, params: `{"denylistCVEs": ["CVE-2026-0004"]}`,
			verdict: plugin.VerdictFailed, reason: reason.VerificationFailed, failed: []string{checkDenylistCVEs},
			message: []string{"denylisted vulnerabilities found: CVE-2026-0004"},
			details: map[string]any{"violations": []any{
				map[string]any{"id": "CVE-2026-0004", "severity": "LOW", "rule": "CVE-2026-0004", "checks": []any{"denylistCVEs"}},
			}},
		},
		"a denylisted id matches a Grype rule id case-insensitively": {
			report: report{sarif: grype, created: fresh}, params: `{"denylistCVEs": ["ghsa-JFH8-c2jp-5v3q", "ALAS-2026-1234"]}`,
			verdict: plugin.VerdictFailed, reason: reason.VerificationFailed, failed: []string{checkDenylistCVEs},
			message: []string{"denylisted vulnerabilities found: ALAS-2026-1234, GHSA-jfh8-c2jp-5v3q"},
		},
		"a finding both denylisted and of a disallowed severity is one violation with both checks": {
			report: report{sarif: trivy, created: fresh}, params: `{"denylistCVEs": ["CVE-2026-0002"], "disallowedSeverities": ["HIGH"]}`,
			verdict: plugin.VerdictFailed, reason: reason.VerificationFailed, failed: []string{checkDenylistCVEs, checkDisallowedSeverities},
			details: map[string]any{"violations": []any{
				map[string]any{"id": "CVE-2026-0002", "severity": "HIGH", "rule": "CVE-2026-0002", "checks": []any{"denylistCVEs", "disallowedSeverities"}},
			}},
		},
		"a scanner not among allowedScanners fails": {
			report: report{sarif: grypeClean, created: fresh}, params: `{"maxAge": "24h", "allowedScanners": ["Trivy"]}`,
			verdict: plugin.VerdictFailed, reason: reason.VerificationFailed, failed: []string{checkAllowedScanners},
			message: []string{`scanner "grype" is not one of allowedScanners (Trivy)`},
		},
		"allowed scanners match case-insensitively": {
			report: report{sarif: trivyClean, created: fresh}, params: `{"maxAge": "24h", "allowedScanners": ["trivy", "GRYPE"]}`,
			verdict: plugin.VerdictVerified, reason: reason.Verified,
		},
		"a report without a created annotation fails": {
			report: report{sarif: trivyClean}, params: strict,
			verdict: plugin.VerdictFailed, reason: reason.VerificationFailed, failed: []string{checkCreated},
			message: []string{"no org.opencontainers.image.created annotation, so its age is unknown"},
		},
		"a report without a created annotation fails even without maxAge": {
			report: report{sarif: trivyClean}, params: `{"denylistCVEs": ["CVE-2021-44228"]}`,
			verdict: plugin.VerdictFailed, reason: reason.VerificationFailed, failed: []string{checkCreated},
		},
		"the created annotation of the referrers listing is used when the manifest has none": {
			report: report{sarif: trivyClean, listed: fresh}, params: strict,
			verdict: plugin.VerdictVerified, reason: reason.Verified,
			details: map[string]any{"createdAt": "2026-11-22T09:00:00Z"},
		},
		"the manifest's created annotation wins over the listing's": {
			report: report{sarif: trivyClean, created: fresh, listed: ago(100 * time.Hour)}, params: strict,
			verdict: plugin.VerdictVerified, reason: reason.Verified,
		},
		"a created time with an offset and fractions is understood": {
			report: report{sarif: trivyClean, created: "2026-11-22T10:30:00.5+01:00"}, params: strict,
			verdict: plugin.VerdictVerified, reason: reason.Verified,
			details: map[string]any{"createdAt": "2026-11-22T09:30:00.5Z", "age": "2h29m59s"},
		},
		"a created time that is not RFC 3339 fails": {
			report: report{sarif: trivyClean, created: "2026-11-22 09:00"}, params: strict,
			verdict: plugin.VerdictFailed, reason: reason.VerificationFailed, failed: []string{checkCreated},
			message: []string{`annotation "2026-11-22 09:00" is not an RFC 3339 time`},
		},
		"a report created in the future fails": {
			report: report{sarif: trivyClean, created: testNow.Add(time.Hour).Format(time.RFC3339)}, params: strict,
			verdict: plugin.VerdictFailed, reason: reason.VerificationFailed, failed: []string{checkCreated},
			message: []string{"1h0m0s in the future"},
		},
		"a report created a little in the future passes as just made": {
			report: report{sarif: trivyClean, created: testNow.Add(2 * time.Minute).Format(time.RFC3339)}, params: strict,
			verdict: plugin.VerdictVerified, reason: reason.Verified,
			details: map[string]any{"age": "0s", "ageSeconds": 0},
		},
		"malformed SARIF fails with the parse error": {
			report: report{sarif: []byte(`{"version": "2.1.0", "runs": [{"tool": `), created: fresh}, params: strict,
			verdict: plugin.VerdictFailed, reason: reason.VerificationFailed, failed: []string{checkReport},
			message: []string{"the SARIF report cannot be used: malformed SARIF report: not valid JSON: unexpected end of JSON input"},
			details: map[string]any{"createdAt": "2026-11-22T09:00:00Z"},
		},
		"a SARIF log of another version fails": {
			report: report{sarif: []byte(`{"version": "2.0.0", "runs": []}`), created: fresh}, params: strict,
			verdict: plugin.VerdictFailed, reason: reason.VerificationFailed, failed: []string{checkReport},
			message: []string{`version "2.0.0" is not SARIF 2.1.0`},
		},
		"a scan that did not complete fails": {
			report: report{sarif: []byte(`{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "Trivy"}}}]}`), created: fresh}, params: strict,
			verdict: plugin.VerdictFailed, reason: reason.VerificationFailed, failed: []string{checkReport},
			message: []string{"incomplete scan: runs[0].results is missing"},
		},
		"malformed SARIF and no created annotation are both reported": {
			report: report{sarif: []byte(`not json`)}, params: strict,
			verdict: plugin.VerdictFailed, reason: reason.VerificationFailed, failed: []string{checkCreated, checkReport},
		},
		"a report without a SARIF layer fails": {
			report: report{layers: []plugin.Blob{blob("application/json", trivyClean)}, created: fresh}, params: strict,
			verdict: plugin.VerdictFailed, reason: reason.VerificationFailed, failed: []string{checkReport},
			message: []string{`no layer of media type application/sarif+json (its layers are "application/json")`},
		},
		"a report without layers fails": {
			report: report{layers: []plugin.Blob{}, created: fresh}, params: strict,
			verdict: plugin.VerdictFailed, reason: reason.VerificationFailed, failed: []string{checkReport},
		},
		"a report with two SARIF layers fails": {
			report: report{layers: []plugin.Blob{blob(MediaType, trivyClean), blob(MediaType, grypeClean)}, created: fresh}, params: strict,
			verdict: plugin.VerdictFailed, reason: reason.VerificationFailed, failed: []string{checkReport},
		},
		"other layers beside the SARIF layer are ignored": {
			report: report{layers: []plugin.Blob{blob("text/plain", []byte("notes")), blob(MediaType, trivyClean)}, created: fresh}, params: strict,
			verdict: plugin.VerdictVerified, reason: reason.Verified,
		},
		"SARIF bytes that do not match their descriptor fail": {
			report: report{layers: []plugin.Blob{{Descriptor: blob(MediaType, trivyClean).Descriptor, Data: grypeClean}}, created: fresh}, params: strict,
			verdict: plugin.VerdictFailed, reason: reason.VerificationFailed, failed: []string{checkReport},
			message: []string{"bytes do not match its descriptor"},
		},
		"every broken rule is reported": {
			report:  report{sarif: trivy, created: ago(48 * time.Hour)},
			params:  `{"maxAge": "24h", "disallowedSeverities": ["CRITICAL"], "denylistCVEs": ["CVE-2026-0003"], "allowedScanners": ["grype"]}`,
			verdict: plugin.VerdictFailed, reason: reason.VerificationFailed,
			failed:  []string{checkMaxAge, checkAllowedScanners, checkDenylistCVEs, checkDisallowedSeverities},
			message: []string{"48h0m0s old", `scanner "Trivy"`, "denylisted vulnerabilities found: CVE-2026-0003", "CVE-2026-0001 (CRITICAL)"},
		},
		"parameters that cannot be used are inconclusive": {
			report: report{sarif: trivyClean, created: fresh}, params: `{"maxAge": "a day"}`,
			verdict: plugin.VerdictInconclusive, reason: reason.ConfigInvalid,
			message: []string{`invalid parameters: maxAge: invalid duration "a day"`},
		},
		"a SARIF layer over the plugin's limit is inconclusive": {
			report: report{sarif: trivy, created: fresh}, params: strict, opts: Options{MaxReportBytes: 1000},
			verdict: plugin.VerdictInconclusive, reason: reason.LimitExceeded,
			message: []string{"more than the plugin's limit of 1000"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			resp, err := testVerifier(tc.opts).Verify(context.Background(), tc.report.request(t, tc.params))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			t.Logf("%v %s: %s (remediation: %s)", resp.Verdict, resp.Reason, resp.Message, resp.Remediation)
			if resp.Verdict != tc.verdict || resp.Reason != tc.reason {
				t.Fatalf("verdict %v reason %s, want %v %s", resp.Verdict, resp.Reason, tc.verdict, tc.reason)
			}
			if resp.Verdict != plugin.VerdictVerified && resp.Remediation == "" {
				t.Error("a response that is not verified has no remediation")
			}
			details := jsonRoundTrip(t, resp.Details)
			var failed any
			if tc.failed != nil {
				failed = jsonValue(t, tc.failed)
			}
			if diff := cmp.Diff(failed, details["failedChecks"]); diff != "" {
				t.Errorf("failedChecks (-want +got):\n%s", diff)
			}
			rest := resp.Message
			for _, want := range tc.message {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Fatalf("message %q lacks %q (or has it out of order)", resp.Message, want)
				}
				rest = rest[i+len(want):]
			}
			want := jsonRoundTrip(t, tc.details)
			for k := range want {
				if diff := cmp.Diff(want[k], details[k]); diff != "" {
					t.Errorf("details[%q] (-want +got):\n%s", k, diff)
				}
			}
		})
	}
}

// jsonRoundTrip returns details as the host hands them on: through JSON.
func jsonRoundTrip(t *testing.T, details map[string]any) map[string]any {
	t.Helper()
	m, _ := jsonValue(t, details).(map[string]any)
	return m
}

// jsonValue returns v decoded from its JSON encoding.
func jsonValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestVerifyDetailsForRego pins the details of a failed Grype report
// exactly: the keys and shapes the AssayVulnerabilityReport template reads
// (createdAt, scanner, violations, countsBySeverity) and the rest.
func TestVerifyDetailsForRego(t *testing.T) {
	sarif := readTestdata(t, "grype-findings.sarif.json")
	req := report{sarif: sarif, created: "2026-11-22T06:00:00Z"}.request(t,
		`{"maxAge": "168h", "disallowedSeverities": ["HIGH"], "denylistCVEs": ["CVE-2026-1003"], "allowlistCVEs": ["CVE-2026-1004"]}`)
	resp, err := testVerifier(Options{}).Verify(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(resp.Details, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{
  "age": "6h0m0s",
  "ageSeconds": 21600,
  "allowlisted": [
    "CVE-2026-1004"
  ],
  "countsBySeverity": {
    "CRITICAL": 3,
    "HIGH": 1,
    "LOW": 1,
    "MEDIUM": 1,
    "UNKNOWN": 0
  },
  "createdAt": "2026-11-22T06:00:00Z",
  "failedChecks": [
    "denylistCVEs",
    "disallowedSeverities"
  ],
  "maxAge": "168h0m0s",
  "sarifDigest": "%s",
  "scanner": "grype",
  "scannerVersion": "0.87.0",
  "totalFindings": 6,
  "violations": [
    {
      "id": "CVE-2026-1002",
      "severity": "HIGH",
      "rule": "CVE-2026-1002-zlib",
      "checks": [
        "disallowedSeverities"
      ]
    },
    {
      "id": "CVE-2026-1003",
      "severity": "LOW",
      "rule": "CVE-2026-1003-busybox",
      "checks": [
        "denylistCVEs"
      ]
    }
  ]
}`, digest.FromBytes(sarif))
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("details (-want +got):\n%s", diff)
	}
	const msg = "vulnerability report by grype 0.87.0, created 2026-11-22T06:00:00Z (6h0m0s ago) fails: " +
		"denylisted vulnerabilities found: CVE-2026-1003; findings of disallowed severity (HIGH 1): CVE-2026-1002 (HIGH)"
	if resp.Message != msg {
		t.Errorf("message\n got %q\nwant %q", resp.Message, msg)
	}
}

func TestVerifyCapsTheIDsInTheMessageButNotInTheDetails(t *testing.T) {
	var rules, results []string
	for i := range 25 {
		id := fmt.Sprintf("CVE-2026-%04d", 100+i)
		rules = append(rules, fmt.Sprintf(`{"id": %q, "properties": {"tags": ["vulnerability", "security", "CRITICAL"], "security-severity": "9.8"}}`, id))
		results = append(results, fmt.Sprintf(`{"ruleId": %q, "ruleIndex": %d, "level": "error", "message": {"text": "x"}}`, id, i))
	}
	log := `{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "Trivy", "rules": [` + strings.Join(rules, ",") +
		`]}}, "results": [` + strings.Join(results, ",") + `]}]}`
	resp, err := testVerifier(Options{}).Verify(context.Background(), report{sarif: []byte(log), created: ago(time.Hour)}.request(t, strict))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Verdict != plugin.VerdictFailed {
		t.Fatalf("verdict %v: %s", resp.Verdict, resp.Message)
	}
	if !strings.Contains(resp.Message, "CVE-2026-0109 (CRITICAL) and 15 more (see the violations detail)") || strings.Contains(resp.Message, "CVE-2026-0110") {
		t.Errorf("message does not list exactly the first 10 ids: %s", resp.Message)
	}
	if v := resp.Details["violations"].([]violation); len(v) != 25 || v[0].ID != "CVE-2026-0100" || v[24].ID != "CVE-2026-0124" {
		t.Errorf("violations = %+v, want all 25 in order", v)
	}
}

func TestVerifyJudgesEveryRequestAfresh(t *testing.T) {
	// The plugin keeps no state between reports but the parsed
	// configuration: the same verifier answers a clean and a failing
	// report, in any order and concurrently.
	v := testVerifier(Options{})
	clean := report{sarif: readTestdata(t, "trivy-clean.sarif.json"), created: ago(time.Hour)}.request(t, strict)
	bad := report{sarif: readTestdata(t, "trivy-findings.sarif.json"), created: ago(time.Hour)}.request(t, strict)
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			req, want := clean, plugin.VerdictVerified
			if i%2 == 1 {
				req, want = bad, plugin.VerdictFailed
			}
			resp, err := v.Verify(context.Background(), req)
			switch {
			case err != nil:
				errs <- err
			case resp.Verdict != want:
				errs <- fmt.Errorf("verdict %v, want %v: %s", resp.Verdict, want, resp.Message)
			default:
				errs <- nil
			}
		}()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestMetadata(t *testing.T) {
	m, err := NewVerifier(Options{Version: "v1.2.3"}).Metadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := plugin.Metadata{Name: "vulnreport", Version: "v1.2.3", ArtifactTypes: []string{"application/sarif+json"}}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
}

func TestRemediationsCoverEveryCheck(t *testing.T) {
	for _, c := range []string{checkCreated, checkReport, checkMaxAge, checkAllowedScanners, checkDisallowedSeverities, checkDenylistCVEs} {
		if remediations[c] == "" {
			t.Errorf("check %q has no remediation", c)
		}
	}
	if len(remediations) != 6 {
		t.Errorf("remediations has checks no test names: %v", maps.Keys(remediations))
	}
}
