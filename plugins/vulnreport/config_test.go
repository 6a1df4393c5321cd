package main

import (
	"context"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/doctest"
	"github.com/assayproj/assay/pkg/plugin"
)

func TestValidateConfig(t *testing.T) {
	type want struct {
		field    string
		severity plugin.Severity
	}
	noRule := want{"", plugin.SeverityWarning}
	tests := map[string]struct {
		raw  string
		want []want // nil: no diagnostics at all
	}{
		"every parameter set is accepted": {
			raw: `{"maxAge": "24h", "disallowedSeverities": ["critical", "HIGH"], "denylistCVEs": ["CVE-2021-44228"],
				"allowlistCVEs": ["CVE-2026-0005"], "allowedScanners": ["Trivy", "grype"]}`,
		},
		"one rule is enough": {raw: `{"maxAge": "168h"}`},
		"a field set to null counts as absent": {
			raw: `{"maxAge": "1h", "denylistCVEs": null}`,
		},
		"no parameters at all warn that nothing is checked": {raw: ``, want: []want{noRule}},
		"null parameters warn that nothing is checked":      {raw: `null`, want: []want{noRule}},
		"empty parameters warn that nothing is checked":     {raw: `{}`, want: []want{noRule}},
		"only an allowlist warns that nothing is checked":   {raw: `{"allowlistCVEs": ["CVE-2026-0001"]}`, want: []want{noRule}},
		"parameters that are not JSON":                      {raw: `{"maxAge": `, want: []want{{"", plugin.SeverityError}}},
		"parameters that are an array":                      {raw: `[]`, want: []want{{"", plugin.SeverityError}}},
		"two JSON values":                                   {raw: `{} {}`, want: []want{{"", plugin.SeverityError}}},
		"an unknown field": {
			raw:  `{"maxAge": "1h", "maximumAge": "1h"}`,
			want: []want{{"maximumAge", plugin.SeverityError}},
		},
		"a field spelled with the wrong case": {
			raw:  `{"MaxAge": "1h", "denylistCves": ["CVE-2026-0001"]}`,
			want: []want{{"MaxAge", plugin.SeverityError}, {"denylistCves", plugin.SeverityError}},
		},
		"a field name that is not an identifier is quoted": {
			raw:  `{"max age": "1h"}`,
			want: []want{{`["max age"]`, plugin.SeverityError}},
		},
		"a duration given as a number": {
			raw:  `{"maxAge": 24}`,
			want: []want{{"maxAge", plugin.SeverityError}},
		},
		"a duration in days": {
			raw:  `{"maxAge": "7d"}`,
			want: []want{{"maxAge", plugin.SeverityError}},
		},
		"a duration that is not positive": {
			raw:  `{"maxAge": "-1h"}`,
			want: []want{{"maxAge", plugin.SeverityError}},
		},
		"severities given as a string": {
			raw:  `{"disallowedSeverities": "CRITICAL"}`,
			want: []want{{"disallowedSeverities", plugin.SeverityError}},
		},
		"a severity that is not a string": {
			raw:  `{"disallowedSeverities": ["CRITICAL", 9]}`,
			want: []want{{"disallowedSeverities[1]", plugin.SeverityError}},
		},
		"an unknown severity": {
			raw:  `{"disallowedSeverities": ["CRITICAL", "SEVERE"]}`,
			want: []want{{"disallowedSeverities[1]", plugin.SeverityError}},
		},
		"a severity listed twice is a warning": {
			raw:  `{"disallowedSeverities": ["high", "HIGH"]}`,
			want: []want{{"disallowedSeverities[1]", plugin.SeverityWarning}},
		},
		"an empty vulnerability id": {
			raw:  `{"denylistCVEs": ["CVE-2026-0001", " "]}`,
			want: []want{{"denylistCVEs[1]", plugin.SeverityError}},
		},
		"two ids in one entry": {
			raw:  `{"denylistCVEs": ["CVE-2026-0001 CVE-2026-0002"]}`,
			want: []want{{"denylistCVEs[0]", plugin.SeverityError}},
		},
		"an id listed twice is a warning": {
			raw:  `{"denylistCVEs": ["CVE-2026-0001", "cve-2026-0001"]}`,
			want: []want{{"denylistCVEs[1]", plugin.SeverityWarning}},
		},
		"an id both denied and allowed": {
			raw:  `{"denylistCVEs": ["CVE-2026-0001"], "allowlistCVEs": ["cve-2026-0001"]}`,
			want: []want{{"allowlistCVEs[0]", plugin.SeverityError}},
		},
		"an empty scanner name": {
			raw:  `{"maxAge": "1h", "allowedScanners": [""]}`,
			want: []want{{"allowedScanners[0]", plugin.SeverityError}},
		},
		"a scanner listed twice is a warning": {
			raw:  `{"maxAge": "1h", "allowedScanners": ["trivy", "Trivy"]}`,
			want: []want{{"allowedScanners[1]", plugin.SeverityWarning}},
		},
		"every problem shows at once": {
			raw: `{"maxAge": "soon", "disallowedSeverities": ["bad"], "denylistCVEs": [""], "allowedScanners": [1], "extra": true}`,
			want: []want{
				{"maxAge", plugin.SeverityError}, {"disallowedSeverities[0]", plugin.SeverityError},
				{"denylistCVEs[0]", plugin.SeverityError}, {"allowedScanners[0]", plugin.SeverityError},
				{"extra", plugin.SeverityError},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			diags, err := NewVerifier(Options{}).ValidateConfig(context.Background(), []byte(tc.raw))
			if err != nil {
				t.Fatalf("ValidateConfig: %v", err)
			}
			for _, d := range diags {
				t.Logf("%v %q: %s: %s", d.Severity, d.Field, d.Summary, d.Detail)
				if d.Summary == "" {
					t.Errorf("diagnostic for %q has no summary", d.Field)
				}
			}
			if len(diags) != len(tc.want) {
				t.Fatalf("got %d diagnostics, want %d: %+v", len(diags), len(tc.want), diags)
			}
			for _, w := range tc.want {
				found := false
				for _, d := range diags {
					if d.Field == w.field && d.Severity == w.severity {
						found = true
					}
				}
				if !found {
					t.Errorf("no diagnostic of severity %v for field %q in %+v", w.severity, w.field, diags)
				}
			}
		})
	}
}

func TestParseConfigNormalises(t *testing.T) {
	c := parseConfig([]byte(`{"maxAge": " 36h ", "disallowedSeverities": [" critical "], "denylistCVEs": ["cve-2021-44228"],
		"allowlistCVEs": ["ghsa-jfh8-c2jp-5v3q"], "allowedScanners": [" Trivy "]}`))
	if d := c.invalid(); d != nil {
		t.Fatalf("invalid: %+v", d)
	}
	switch {
	case c.maxAge != 36*time.Hour:
		t.Errorf("maxAge = %v", c.maxAge)
	case !c.disallowedSeverities[SeverityCritical] || len(c.disallowedSeverities) != 1:
		t.Errorf("disallowedSeverities = %v", c.disallowedSeverities)
	case !c.denylist["CVE-2021-44228"]:
		t.Errorf("denylist = %v", c.denylist)
	case !c.allowlist["GHSA-JFH8-C2JP-5V3Q"]:
		t.Errorf("allowlist = %v", c.allowlist)
	case len(c.allowedScanners) != 1 || c.allowedScanners[0] != "Trivy":
		t.Errorf("allowedScanners = %q", c.allowedScanners)
	}
}

func TestConfigIsCachedByItsBytes(t *testing.T) {
	v := NewVerifier(Options{MaxConfigs: 2})
	a, b, c := []byte(`{"maxAge": "1h"}`), []byte(`{"maxAge": "2h"}`), []byte(`{"maxAge": "3h"}`)
	first := v.configs.Get(a)
	if v.configs.Get(a) != first {
		t.Fatal("the same bytes were parsed again")
	}
	v.configs.Get(b)
	v.configs.Get(c) // evicts a
	if v.configs.Get(a) == first {
		t.Error("the oldest configuration was not evicted")
	}
	if n := v.configs.Len(); n != 2 {
		t.Errorf("cache holds %d configurations, want MaxConfigs 2", n)
	}
}

// TestDocumentedParametersAreAccepted parses the parameters of every
// vulnreport Verifier shown in the documentation (docs/*.md and the
// READMEs, read with pkg/doctest) with this plugin's parser: any
// diagnostic (an unknown field, a wrong type, a renamed field) fails.
func TestDocumentedParametersAreAccepted(t *testing.T) {
	blocks, err := doctest.Read("../..")
	if err != nil {
		t.Fatal(err)
	}
	documented, err := doctest.VerifierParameters(blocks, "vulnreport")
	if err != nil {
		t.Fatal(err)
	}
	if len(documented) < 2 {
		t.Fatalf("found %d vulnreport Verifiers in the documentation; want the README's and configuration.md's", len(documented))
	}
	for _, p := range documented {
		for _, d := range parseConfig(p.JSON).diags {
			t.Errorf("%s: field %s: %s: %s", p, d.Field, d.Summary, d.Detail)
		}
	}
}
