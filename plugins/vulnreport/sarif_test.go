package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"
)

// The files in testdata are SARIF logs written for these tests in the
// shapes Trivy (pkg/report/sarif.go, and its old contrib/sarif.tpl) and
// Grype (grype/presenter/sarif) produce; the vulnerabilities are made up.

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestReadSARIF(t *testing.T) {
	tests := map[string]struct {
		file     string
		scanners []string
		version  string
		findings []finding
	}{
		"a Trivy report gives CVE ids and the severity tags, even where the CVSS score disagrees": {
			file: "trivy-findings.sarif.json", scanners: []string{"Trivy"}, version: "0.58.1",
			findings: []finding{
				{"CVE-2026-0001", "CVE-2026-0001", SeverityCritical},
				{"CVE-2026-0001", "CVE-2026-0001", SeverityCritical},
				{"CVE-2026-0002", "CVE-2026-0002", SeverityHigh},
				{"CVE-2026-0003", "CVE-2026-0003", SeverityMedium},
				{"CVE-2026-0004", "CVE-2026-0004", SeverityLow},
				{"CVE-2026-0005", "CVE-2026-0005", SeverityUnknown},
				{"CVE-2026-0006", "CVE-2026-0006", SeverityMedium},
			},
		},
		"a clean Trivy report has no findings": {
			file: "trivy-clean.sarif.json", scanners: []string{"Trivy"}, version: "0.58.1",
		},
		"a Grype report gives the vulnerability ids without the package and severities from the CVSS score": {
			file: "grype-findings.sarif.json", scanners: []string{"grype"}, version: "0.87.0",
			findings: []finding{
				{"CVE-2026-1001", "CVE-2026-1001-libssl3", SeverityCritical},
				{"CVE-2026-1001", "CVE-2026-1001-libcrypto3", SeverityCritical},
				{"CVE-2026-1002", "CVE-2026-1002-zlib", SeverityHigh},
				{"GHSA-jfh8-c2jp-5v3q", "GHSA-jfh8-c2jp-5v3q-log4j-core", SeverityCritical},
				{"ALAS-2026-1234", "ALAS-2026-1234-bash", SeverityMedium},
				{"CVE-2026-1003", "CVE-2026-1003-busybox", SeverityLow},
				{"CVE-2026-1004", "CVE-2026-1004-musl", SeverityUnknown},
			},
		},
		"a clean Grype report without rules has no findings": {
			file: "grype-clean.sarif.json", scanners: []string{"grype"}, version: "0.87.0",
		},
		"a report from Trivy's old template loses the severity prefix of its rule ids": {
			file: "trivy-legacy-template.sarif.json", scanners: []string{"Trivy"},
			findings: []finding{{"CVE-2019-1549", "[HIGH] CVE-2019-1549", SeverityHigh}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := readSARIF(readTestdata(t, tc.file))
			if err != nil {
				t.Fatalf("readSARIF: %v", err)
			}
			if diff := cmp.Diff(tc.scanners, s.scanners); diff != "" {
				t.Errorf("scanners (-want +got):\n%s", diff)
			}
			if s.version != tc.version {
				t.Errorf("version = %q, want %q", s.version, tc.version)
			}
			if diff := cmp.Diff(tc.findings, s.findings, cmp.AllowUnexported(finding{})); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadSARIFRejectsLogsItCannotUse(t *testing.T) {
	const driver = `"tool": {"driver": {"name": "Trivy"}}`
	tests := map[string]struct {
		log  string
		want error
	}{
		"bytes that are not JSON":        {`{"version": "2.1.0", "runs": [`, ErrMalformedReport},
		"a JSON array":                   {`[]`, ErrMalformedReport},
		"JSON null":                      {`null`, ErrMalformedReport},
		"trailing data after the log":    {`{"version": "2.1.0", "runs": []} x`, ErrMalformedReport},
		"a log without a version":        {`{"runs": [{` + driver + `, "results": []}]}`, ErrMalformedReport},
		"a log of another SARIF version": {`{"version": "2.0.0", "runs": [{` + driver + `, "results": []}]}`, ErrMalformedReport},
		"a log without runs":             {`{"version": "2.1.0", "runs": []}`, ErrMalformedReport},
		"a null run":                     {`{"version": "2.1.0", "runs": [null]}`, ErrMalformedReport},
		"a run without a tool":           {`{"version": "2.1.0", "runs": [{"results": []}]}`, ErrMalformedReport},
		"a run whose driver has no name": {`{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": " "}}, "results": []}]}`, ErrMalformedReport},
		"a run without results":          {`{"version": "2.1.0", "runs": [{` + driver + `}]}`, ErrIncompleteScan},
		"a run whose invocation failed": {`{"version": "2.1.0", "runs": [{` + driver + `, "results": [],
			"invocations": [{"executionSuccessful": false}]}]}`, ErrIncompleteScan},
		"a null result":                   {`{"version": "2.1.0", "runs": [{` + driver + `, "results": [null]}]}`, ErrMalformedReport},
		"a result without a rule id":      {`{"version": "2.1.0", "runs": [{` + driver + `, "results": [{"message": {"text": "x"}}]}]}`, ErrMalformedReport},
		"a rule id of the wrong type":     {`{"version": "2.1.0", "runs": [{` + driver + `, "results": [{"ruleId": 7}]}]}`, ErrMalformedReport},
		"tags that are not strings":       {`{"version": "2.1.0", "runs": [{` + driver + `, "results": [{"ruleId": "CVE-2026-0001", "properties": {"tags": [1]}}]}]}`, ErrMalformedReport},
		"a property bag that is a number": {`{"version": "2.1.0", "runs": [{` + driver + `, "results": [{"ruleId": "CVE-2026-0001", "properties": 5}]}]}`, ErrMalformedReport},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := readSARIF([]byte(tc.log))
			if !errors.Is(err, tc.want) {
				t.Fatalf("readSARIF = %+v, %v; want an error wrapping %v", s, err, tc.want)
			}
			if strings.TrimSpace(strings.TrimPrefix(err.Error(), tc.want.Error()+":")) == "" {
				t.Errorf("error %q does not say what is wrong", err)
			}
		})
	}
}

func TestReadSARIFAcceptsWhatTheSpecAllows(t *testing.T) {
	tests := map[string]struct {
		log      string
		findings []finding
	}{
		"a byte order mark before the log": {
			log: "\xef\xbb\xbf" + `{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "Trivy"}}, "results": []}]}`,
		},
		"results that pass or do not apply are not findings": {
			log: `{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [
				{"ruleId": "CVE-2026-0001", "kind": "pass"}, {"ruleId": "CVE-2026-0002", "kind": "notApplicable"},
				{"ruleId": "CVE-2026-0003", "kind": "fail"}]}]}`,
			findings: []finding{{"CVE-2026-0003", "CVE-2026-0003", SeverityUnknown}},
		},
		"a suppressed result is still a finding": {
			log: `{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [
				{"ruleId": "CVE-2026-0001", "suppressions": [{"kind": "external"}]}]}]}`,
			findings: []finding{{"CVE-2026-0001", "CVE-2026-0001", SeverityUnknown}},
		},
		"a rule referenced by rule.id and defined in a tool extension": {
			log: `{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}, "extensions": [{"name": "db", "rules": [
				{"id": "CVE-2026-0001", "properties": {"security-severity": 9.1}}]}]},
				"results": [{"rule": {"id": "CVE-2026-0001"}}]}]}`,
			findings: []finding{{"CVE-2026-0001", "CVE-2026-0001", SeverityCritical}},
		},
		"the result's own properties come before its rule's": {
			log: `{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x", "rules": [
				{"id": "CVE-2026-0001", "properties": {"tags": ["LOW"]}}]}},
				"results": [{"ruleId": "CVE-2026-0001", "properties": {"tags": ["high"]}}]}]}`,
			findings: []finding{{"CVE-2026-0001", "CVE-2026-0001", SeverityHigh}},
		},
		"a result whose rule is not defined has an unknown severity": {
			log:      `{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"ruleId": "CVE-2026-0001", "level": "error"}]}]}`,
			findings: []finding{{"CVE-2026-0001", "CVE-2026-0001", SeverityUnknown}},
		},
		"findings of every run count": {
			log: `{"version": "2.1.0", "runs": [
				{"tool": {"driver": {"name": "Trivy"}}, "results": [{"ruleId": "CVE-2026-0001"}]},
				{"tool": {"driver": {"name": "trivy"}}, "results": [{"ruleId": "CVE-2026-0002"}]}]}`,
			findings: []finding{{"CVE-2026-0001", "CVE-2026-0001", SeverityUnknown}, {"CVE-2026-0002", "CVE-2026-0002", SeverityUnknown}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := readSARIF([]byte(tc.log))
			if err != nil {
				t.Fatalf("readSARIF: %v", err)
			}
			if diff := cmp.Diff(tc.findings, s.findings, cmp.AllowUnexported(finding{})); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSeverityRule(t *testing.T) {
	tags := func(t ...string) *sarif.PropertyBag { return &sarif.PropertyBag{Tags: t} }
	score := func(v any) *sarif.PropertyBag {
		return &sarif.PropertyBag{Properties: sarif.Properties{securitySeverityKey: v}}
	}
	tests := map[string]struct {
		bags []*sarif.PropertyBag
		want string
	}{
		"nothing is unknown":                         {nil, SeverityUnknown},
		"a severity tag, in any case":                {[]*sarif.PropertyBag{tags("vulnerability", "security", "High")}, SeverityHigh},
		"the most severe of several severity tags":   {[]*sarif.PropertyBag{tags("LOW", "CRITICAL", "medium")}, SeverityCritical},
		"a tag wins over a score":                    {[]*sarif.PropertyBag{score("9.8"), tags("LOW")}, SeverityLow},
		"the first bag's tags win over later tags":   {[]*sarif.PropertyBag{tags("LOW"), tags("HIGH")}, SeverityLow},
		"an UNKNOWN tag is a severity":               {[]*sarif.PropertyBag{tags("UNKNOWN"), score("9.0")}, SeverityUnknown},
		"tags without a severity word fall through":  {[]*sarif.PropertyBag{tags("vulnerability", "security"), score("7.0")}, SeverityHigh},
		"a score of 9 or more is critical":           {[]*sarif.PropertyBag{score("9.0")}, SeverityCritical},
		"a score of 10 is critical":                  {[]*sarif.PropertyBag{score("10.0")}, SeverityCritical},
		"a score of 8.9 is high":                     {[]*sarif.PropertyBag{score("8.9")}, SeverityHigh},
		"a score of 7 is high":                       {[]*sarif.PropertyBag{score("7")}, SeverityHigh},
		"a score of 6.9 is medium":                   {[]*sarif.PropertyBag{score("6.9")}, SeverityMedium},
		"a score of 4 is medium":                     {[]*sarif.PropertyBag{score("4.0")}, SeverityMedium},
		"a score of 3.9 is low":                      {[]*sarif.PropertyBag{score("3.9")}, SeverityLow},
		"a score just above 0 is low":                {[]*sarif.PropertyBag{score("0.1")}, SeverityLow},
		"a score of 0 is unknown":                    {[]*sarif.PropertyBag{score("0.0")}, SeverityUnknown},
		"a numeric score counts like a string":       {[]*sarif.PropertyBag{score(7.5)}, SeverityHigh},
		"a score out of range is skipped":            {[]*sarif.PropertyBag{score("11"), score("9.5")}, SeverityCritical},
		"a negative score alone is unknown":          {[]*sarif.PropertyBag{score("-1")}, SeverityUnknown},
		"a score that is not a number is skipped":    {[]*sarif.PropertyBag{score("high"), score("9.5")}, SeverityCritical},
		"a score of another JSON type is skipped":    {[]*sarif.PropertyBag{score(true), score("4.5")}, SeverityMedium},
		"the result's score comes before the rule's": {[]*sarif.PropertyBag{score("2.0"), score("9.5")}, SeverityLow},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := severityOf(tc.bags...); got != tc.want {
				t.Errorf("severityOf = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestVulnID(t *testing.T) {
	short := func(text string) *sarif.ReportingDescriptor {
		return &sarif.ReportingDescriptor{ShortDescription: &sarif.MultiformatMessageString{Text: &text}}
	}
	tests := map[string]struct {
		rule string
		desc *sarif.ReportingDescriptor
		want string
	}{
		"a CVE id is itself":                                  {"CVE-2023-1234", nil, "CVE-2023-1234"},
		"a CVE id with a five-digit number":                   {"CVE-2023-12345", nil, "CVE-2023-12345"},
		"Grype's CVE id with a package":                       {"CVE-2023-1234-libssl3", nil, "CVE-2023-1234"},
		"Grype's CVE id with a package starting in a digit":   {"CVE-2023-1234-7zip", nil, "CVE-2023-1234"},
		"Grype's GHSA id with a package":                      {"GHSA-jfh8-c2jp-5v3q-log4j-core", nil, "GHSA-jfh8-c2jp-5v3q"},
		"Grype's other id, told by its short description":     {"ALAS-2023-1234-openssl", short("ALAS-2023-1234 high vulnerability for openssl package"), "ALAS-2023-1234"},
		"a short description not naming the rule is ignored":  {"DLA-3325-1", short("openssl: use after free"), "DLA-3325-1"},
		"a short description word without a digit is ignored": {"aws-access-key-id", short("aws access key"), "aws-access-key-id"},
		"Trivy's old severity prefix is dropped":              {"[CRITICAL] CVE-2021-44228", nil, "CVE-2021-44228"},
		"another id is itself":                                {"AVD-DS-0002", nil, "AVD-DS-0002"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := vulnID(tc.rule, tc.desc); got != tc.want {
				t.Errorf("vulnID(%q) = %q, want %q", tc.rule, got, tc.want)
			}
		})
	}
}
