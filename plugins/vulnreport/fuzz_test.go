package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/plugin"
)

// FuzzReadSARIF feeds arbitrary bytes to the SARIF reader. It must never
// panic; it either fails with one of its two sentinels and a message, or
// returns at least one scanner and findings with an id, a rule and a known
// severity. Whatever it returns, Verify turns the same bytes into a
// verified or failed answer.
func FuzzReadSARIF(f *testing.F) {
	for _, name := range []string{"trivy-findings.sarif.json", "trivy-clean.sarif.json", "grype-findings.sarif.json", "grype-clean.sarif.json", "trivy-legacy-template.sarif.json"} {
		f.Add(readTestdata(f, name))
	}
	for _, seed := range []string{
		``, `null`, `[]`, `{}`, `"2.1.0"`,
		`{"version": "2.1.0", "runs": null}`,
		`{"version": "2.1.0", "runs": [null, {}]}`,
		`{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"ruleId": "CVE-1-2", "properties": {"tags": ["high"], "security-severity": "NaN"}}]}]}`,
		`{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x", "rules": [null, {"id": null}, {"id": "a", "shortDescription": {"text": ""}}]}, "extensions": [null]}, "results": [{"rule": {"id": "a"}}], "invocations": [null, {"executionSuccessful": true}]}]}`,
		`{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"ruleId": "[X] GHSA-2222-3333-4444-pkg", "properties": {"security-severity": 1e400}}]}]}`,
	} {
		f.Add([]byte(seed))
	}
	v := NewVerifier(Options{Now: func() time.Time { return testNow }})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := readSARIF(data)
		if err != nil {
			if !errors.Is(err, ErrMalformedReport) && !errors.Is(err, ErrIncompleteScan) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			if s != nil {
				t.Fatalf("an error with a result: %+v", s)
			}
		} else {
			if len(s.scanners) == 0 {
				t.Fatal("a readable log without a scanner")
			}
			for _, fd := range s.findings {
				if fd.rule == "" || fd.id == "" || !slices.Contains(severities, fd.severity) {
					t.Fatalf("bad finding %+v", fd)
				}
			}
		}

		resp, verr := v.Verify(context.Background(), report{sarif: data, created: ago(time.Hour)}.request(t, strict))
		switch {
		case verr != nil:
			t.Fatalf("Verify: %v", verr)
		case resp.Verdict != plugin.VerdictVerified && resp.Verdict != plugin.VerdictFailed:
			t.Fatalf("verdict %v (%s): a report is verified or failed", resp.Verdict, resp.Message)
		case err != nil && resp.Verdict != plugin.VerdictFailed:
			t.Fatalf("an unreadable report was %v", resp.Verdict)
		}
		if _, err := json.Marshal(resp.Details); err != nil {
			t.Fatalf("details are not JSON: %v", err)
		}
	})
}

// FuzzParseConfig feeds arbitrary parameters to the decoder and validator.
// They must never panic, every diagnostic must say something, and a
// configuration accepted without errors must also pass encoding/json's
// strict decoding into Parameters.
func FuzzParseConfig(f *testing.F) {
	for _, seed := range []string{
		strict, ``, `null`, `[]`, `{}`, `{"maxAge": 5}`, `{"MaxAge": "1h"}`,
		`{"maxAge": "1h", "disallowedSeverities": ["x", 1, null], "denylistCVEs": [" "], "allowlistCVEs": ["a", "A"], "allowedScanners": [""]}`,
		`{"denylistCVEs": ["CVE-1"], "allowlistCVEs": ["cve-1"]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c := parseConfig(raw)
		for _, d := range c.diags {
			if d.Summary == "" {
				t.Fatalf("diagnostic without a summary: %+v", d)
			}
			if d.Severity != plugin.SeverityError && d.Severity != plugin.SeverityWarning {
				t.Fatalf("diagnostic with severity %v", d.Severity)
			}
		}
		if c.invalid() != nil {
			return
		}
		if c.maxAge < 0 {
			t.Fatalf("accepted a negative maxAge: %v", c.maxAge)
		}
		if trimmed := bytes.TrimSpace(raw); len(trimmed) == 0 || string(trimmed) == "null" {
			return // no parameters: valid, and not JSON to decode
		}
		var p Parameters
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatalf("accepted %q, but it does not decode: %v", raw, err)
		}
	})
}
