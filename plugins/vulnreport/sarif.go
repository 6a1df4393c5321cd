package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"

	"github.com/assayproj/assay/pkg/plugin/params"
)

// Severities, from the most to the least severe. Every finding has exactly
// one of them.
const (
	SeverityCritical = "CRITICAL"
	SeverityHigh     = "HIGH"
	SeverityMedium   = "MEDIUM"
	SeverityLow      = "LOW"
	SeverityUnknown  = "UNKNOWN"
)

// severities lists every severity, most severe first.
var severities = []string{SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow, SeverityUnknown}

// sarifVersion is the only SARIF version the plugin reads.
const sarifVersion = "2.1.0"

// utf8BOM is dropped from the start of a log; some Windows tools write it.
var utf8BOM = []byte("\xef\xbb\xbf")

// securitySeverityKey is the property GitHub code scanning, Trivy and
// Grype use for a rule's CVSS-like score, as a string from "0.0" to "10.0".
const securitySeverityKey = "security-severity"

// Errors of readSARIF. Both mean the report cannot be used; the verifier
// fails the artifact with the wrapped message.
var (
	// ErrMalformedReport: the bytes are not a SARIF 2.1.0 log of the shape
	// the plugin needs.
	ErrMalformedReport = errors.New("malformed SARIF report")
	// ErrIncompleteScan: the log says, or implies, that the scan did not
	// complete, so its findings cannot be trusted to be complete.
	ErrIncompleteScan = errors.New("incomplete scan")
)

// scan is what the plugin takes from a SARIF log.
type scan struct {
	// scanners are the tool driver names of the runs, as written, in run
	// order, without duplicates. There is at least one.
	scanners []string
	// version is the first run's driver version (version, else
	// semanticVersion), or "".
	version  string
	findings []finding
}

// finding is one SARIF result.
type finding struct {
	// id is the vulnerability id (for example "CVE-2023-1234"), derived
	// from the rule id as described on vulnID.
	id string
	// rule is the SARIF rule id as written (Grype appends the package name).
	rule string
	// severity is one of severities.
	severity string
}

// readSARIF decodes a SARIF 2.1.0 log as written by Trivy and Grype (and
// any tool following the same conventions) and returns its findings. Every
// result is a finding, except those whose kind is "pass" or
// "notApplicable"; suppressions are not honoured (allowlistCVEs is the way
// to accept a finding). Errors wrap ErrMalformedReport or
// ErrIncompleteScan. readSARIF never panics.
func readSARIF(data []byte) (*scan, error) {
	var log sarif.Report
	if err := json.Unmarshal(bytes.TrimPrefix(data, utf8BOM), &log); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrMalformedReport, describeJSONError(err))
	}
	if log.Version != sarifVersion {
		if log.Version == "" {
			return nil, fmt.Errorf("%w: no version: not a SARIF log (want version %q)", ErrMalformedReport, sarifVersion)
		}
		return nil, fmt.Errorf("%w: version %q is not SARIF %s", ErrMalformedReport, log.Version, sarifVersion)
	}
	if len(log.Runs) == 0 {
		return nil, fmt.Errorf("%w: the log has no runs, so it reports no scan", ErrMalformedReport)
	}
	s := &scan{}
	for i, run := range log.Runs {
		if err := s.addRun(i, run); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *scan) addRun(i int, run *sarif.Run) error {
	at := fmt.Sprintf("runs[%d]", i)
	if run == nil {
		return fmt.Errorf("%w: %s is null", ErrMalformedReport, at)
	}
	if run.Tool == nil || run.Tool.Driver == nil || run.Tool.Driver.Name == nil || strings.TrimSpace(*run.Tool.Driver.Name) == "" {
		return fmt.Errorf("%w: %s.tool.driver.name is missing: the log does not say which scanner wrote it", ErrMalformedReport, at)
	}
	driver := run.Tool.Driver
	name := strings.TrimSpace(*driver.Name)
	if !containsFold(s.scanners, name) {
		s.scanners = append(s.scanners, name)
	}
	if i == 0 {
		switch {
		case driver.Version != nil:
			s.version = *driver.Version
		case driver.SemanticVersion != nil:
			s.version = *driver.SemanticVersion
		}
	}
	for j, inv := range run.Invocations {
		if inv != nil && inv.ExecutionSuccessful != nil && !*inv.ExecutionSuccessful {
			return fmt.Errorf("%w: %s.invocations[%d].executionSuccessful is false: %s says its run failed", ErrIncompleteScan, at, j, name)
		}
	}
	// SARIF 2.1.0 §3.14.23: an absent results array means the tool failed
	// to run or its results could not be computed; no findings is [].
	if run.Results == nil {
		return fmt.Errorf("%w: %s.results is missing, which in SARIF means %s did not complete the scan (a clean scan has \"results\": [])", ErrIncompleteScan, at, name)
	}

	rules := map[string]*sarif.ReportingDescriptor{}
	components := append([]*sarif.ToolComponent{driver}, run.Tool.Extensions...)
	for _, c := range components {
		if c == nil {
			continue
		}
		for _, r := range c.Rules {
			if r == nil || r.ID == nil {
				continue
			}
			if _, dup := rules[*r.ID]; !dup {
				rules[*r.ID] = r
			}
		}
	}

	for j, res := range run.Results {
		rat := fmt.Sprintf("%s.results[%d]", at, j)
		if res == nil {
			return fmt.Errorf("%w: %s is null", ErrMalformedReport, rat)
		}
		if res.Kind == "pass" || res.Kind == "notApplicable" {
			continue
		}
		ruleID := ""
		switch {
		case res.RuleID != nil:
			ruleID = *res.RuleID
		case res.Rule != nil && res.Rule.ID != nil:
			ruleID = *res.Rule.ID
		}
		ruleID = strings.TrimSpace(ruleID)
		if ruleID == "" {
			return fmt.Errorf("%w: %s has no ruleId, so its vulnerability cannot be told", ErrMalformedReport, rat)
		}
		rule := rules[ruleID]
		s.findings = append(s.findings, finding{
			id:       vulnID(ruleID, rule),
			rule:     ruleID,
			severity: severityOf(res.Properties, rulePropertiesOf(rule)),
		})
	}
	return nil
}

func rulePropertiesOf(r *sarif.ReportingDescriptor) *sarif.PropertyBag {
	if r == nil {
		return nil
	}
	return r.Properties
}

// severityOf applies the severity rule to a result's and its rule's
// property bags:
//
//  1. a severity word (critical, high, medium, low, unknown; any case)
//     among the tags of the result, else of the rule (Trivy writes
//     "tags": ["vulnerability", "security", "HIGH"]); if a bag holds
//     several, the most severe;
//  2. else the numeric "security-severity" of the result, else of the
//     rule (a CVSS score as a string, as Trivy and Grype write it, or a
//     number): >= 9.0 CRITICAL, >= 7.0 HIGH, >= 4.0 MEDIUM, > 0 LOW;
//  3. else UNKNOWN, also for a score of 0. A score that is not a number
//     from 0 to 10 is ignored.
//
// The SARIF level (error, warning, note) is not a severity and is ignored.
func severityOf(bags ...*sarif.PropertyBag) string {
	for _, b := range bags {
		if sev, ok := severityFromTags(b); ok {
			return sev
		}
	}
	for _, b := range bags {
		if sev, ok := severityFromScore(b); ok {
			return sev
		}
	}
	return SeverityUnknown
}

func severityFromTags(b *sarif.PropertyBag) (string, bool) {
	if b == nil {
		return "", false
	}
	best := -1
	for _, tag := range b.Tags {
		for rank, sev := range severities {
			if strings.EqualFold(strings.TrimSpace(tag), sev) && (best < 0 || rank < best) {
				best = rank
			}
		}
	}
	if best < 0 {
		return "", false
	}
	return severities[best], true
}

func severityFromScore(b *sarif.PropertyBag) (string, bool) {
	if b == nil {
		return "", false
	}
	var score float64
	switch v := b.Properties[securitySeverityKey].(type) {
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return "", false
		}
		score = f
	case float64:
		score = v
	default:
		return "", false
	}
	switch {
	case math.IsNaN(score) || score < 0 || score > 10:
		return "", false
	case score >= 9:
		return SeverityCritical, true
	case score >= 7:
		return SeverityHigh, true
	case score >= 4:
		return SeverityMedium, true
	case score > 0:
		return SeverityLow, true
	default:
		return SeverityUnknown, true
	}
}

// knownID matches the vulnerability ids whose shape is fixed: CVE ids and
// GitHub advisory ids.
var knownID = regexp.MustCompile(`^(?i:CVE-[0-9]{4}-[0-9]{4,}|GHSA(?:-[23456789cfghjmpqrvwx]{4}){3})`)

// severityPrefix matches the "[HIGH] " prefix of rule ids written by
// Trivy's old SARIF template (contrib/sarif.tpl).
var severityPrefix = regexp.MustCompile(`^\[[A-Za-z]+\]\s+`)

// vulnID derives the vulnerability id of a finding from its rule id:
//
//   - Trivy uses the vulnerability id itself ("CVE-2023-1234",
//     "GHSA-xxxx-xxxx-xxxx", "DLA-3325-1"); its old template prefixed the
//     severity ("[HIGH] CVE-2023-1234"), which is dropped;
//   - Grype appends the package name ("CVE-2023-1234-libssl3"): a leading
//     CVE or GHSA id is taken, and for other ids (for example
//     "ALAS-2023-1234-openssl") the first word of the rule's short
//     description, where Grype writes the id, when the rule id starts with
//     it and it holds a digit;
//   - otherwise the rule id is the id.
func vulnID(ruleID string, rule *sarif.ReportingDescriptor) string {
	id := severityPrefix.ReplaceAllString(ruleID, "")
	if m := knownID.FindString(id); m != "" {
		return m
	}
	if rule != nil && rule.ShortDescription != nil && rule.ShortDescription.Text != nil {
		if words := strings.Fields(*rule.ShortDescription.Text); len(words) > 0 {
			w := words[0]
			if strings.ContainsAny(w, "0123456789") && (id == w || strings.HasPrefix(id, w+"-")) {
				return w
			}
		}
	}
	return id
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// describeJSONError names where a decoding error happened.
func describeJSONError(err error) string {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("not valid JSON: %v (at byte %d)", syntaxErr, syntaxErr.Offset)
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return fmt.Sprintf("field %s is a JSON %s where SARIF wants a %s (at byte %d)", typeErr.Field, typeErr.Value, jsonKind(typeErr.Type), typeErr.Offset)
	case errors.As(err, &typeErr):
		return fmt.Sprintf("the log must be a JSON object, not %s", typeErr.Value)
	default:
		return err.Error()
	}
}

// jsonKind names the JSON kind that decodes into t, saying "array of
// strings" where SARIF wants one.
func jsonKind(t reflect.Type) string {
	if (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && t.Elem().Kind() == reflect.String {
		return "array of strings"
	}
	return params.Kind(t)
}
