package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/plugin/params"
)

// Parameters is the vulnreport verifier's configuration: the Verifier
// object's spec.parameters. Every field is optional; see README.md.
type Parameters struct {
	// MaxAge is the oldest a report may be, as a Go duration ("24h",
	// "168h" for a week; Go durations have no days). The age is measured
	// from the report artifact's org.opencontainers.image.created
	// annotation. If empty, any age is accepted.
	MaxAge string `json:"maxAge,omitempty"`
	// DisallowedSeverities fails a report with any finding of these
	// severities: CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN, in any case.
	DisallowedSeverities []string `json:"disallowedSeverities,omitempty"`
	// DenylistCVEs fails a report with a finding of one of these
	// vulnerability ids ("CVE-2021-44228", "GHSA-jfh8-c2jp-5v3q"), compared
	// case-insensitively, whatever its severity.
	DenylistCVEs []string `json:"denylistCVEs,omitempty"`
	// AllowlistCVEs are vulnerability ids whose findings are ignored: not
	// counted and never violations. An id may not be in both lists.
	AllowlistCVEs []string `json:"allowlistCVEs,omitempty"`
	// AllowedScanners, when set, are the only scanners (SARIF
	// runs[].tool.driver.name, compared case-insensitively, for example
	// "Trivy" and "grype") whose reports are accepted.
	AllowedScanners []string `json:"allowedScanners,omitempty"`
}

// config is a decoded and validated Parameters, normalised for matching.
type config struct {
	diags                []plugin.Diagnostic
	maxAge               time.Duration // 0: no limit
	disallowedSeverities map[string]bool
	denylist             map[string]bool // upper-case ids
	allowlist            map[string]bool // upper-case ids
	allowedScanners      []string
}

// invalid returns the first error diagnostic, or nil.
func (c *config) invalid() *plugin.Diagnostic { return params.FirstError(c.diags) }

// parseConfig decodes and validates raw. It never fails: problems are
// diagnostics, and a config with an error diagnostic must not be used to
// verify. Empty parameters (nothing, "null" or "{}") are valid and check
// only that the report is well formed and dated.
func parseConfig(raw []byte) *config {
	c := &config{
		disallowedSeverities: map[string]bool{},
		denylist:             map[string]bool{},
		allowlist:            map[string]bool{},
	}
	p := decodeParameters(raw, &c.diags)
	if p == nil {
		return c
	}
	if p.MaxAge != "" {
		d, err := time.ParseDuration(strings.TrimSpace(p.MaxAge))
		switch {
		case err != nil:
			c.diags = append(c.diags, params.Error("maxAge", fmt.Sprintf("invalid duration %q", p.MaxAge), `Use a Go duration such as "24h" or "168h" (a week); Go durations have no days.`))
		case d <= 0:
			c.diags = append(c.diags, params.Error("maxAge", fmt.Sprintf("maxAge %q must be positive", p.MaxAge), "Omit maxAge to accept reports of any age."))
		default:
			c.maxAge = d
		}
	}
	for i, s := range p.DisallowedSeverities {
		field := fmt.Sprintf("disallowedSeverities[%d]", i)
		sev := strings.ToUpper(strings.TrimSpace(s))
		switch {
		case !slices.Contains(severities, sev):
			c.diags = append(c.diags, params.Error(field, fmt.Sprintf("unknown severity %q", s), "Use CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN (any case)."))
		case c.disallowedSeverities[sev]:
			c.diags = append(c.diags, params.Warning(field, fmt.Sprintf("severity %q is listed twice", s), ""))
		default:
			c.disallowedSeverities[sev] = true
		}
	}
	readIDs("denylistCVEs", p.DenylistCVEs, c.denylist, &c.diags)
	readIDs("allowlistCVEs", p.AllowlistCVEs, c.allowlist, &c.diags)
	for i, id := range p.AllowlistCVEs {
		if c.denylist[strings.ToUpper(strings.TrimSpace(id))] {
			c.diags = append(c.diags, params.Error(fmt.Sprintf("allowlistCVEs[%d]", i), fmt.Sprintf("%q is in both allowlistCVEs and denylistCVEs", id), "Remove it from one of the lists."))
		}
	}
	for i, s := range p.AllowedScanners {
		field := fmt.Sprintf("allowedScanners[%d]", i)
		name := strings.TrimSpace(s)
		switch {
		case name == "":
			c.diags = append(c.diags, params.Error(field, "scanner name is empty", `Use the name a scanner writes in runs[].tool.driver.name, for example "Trivy" or "grype".`))
		case containsFold(c.allowedScanners, name):
			c.diags = append(c.diags, params.Warning(field, fmt.Sprintf("scanner %q is listed twice", s), ""))
		default:
			c.allowedScanners = append(c.allowedScanners, name)
		}
	}
	if c.invalid() == nil && c.maxAge == 0 && len(c.disallowedSeverities) == 0 && len(c.denylist) == 0 {
		c.diags = append(c.diags, params.Warning("", "no rule is configured",
			"Every well-formed, dated report is verified whatever it finds. Set maxAge, disallowedSeverities or denylistCVEs, or leave the decision to the AssayVulnerabilityReport template."))
	}
	return c
}

// readIDs adds the vulnerability ids of list (field names the parameter)
// to set, upper-cased.
func readIDs(field string, list []string, set map[string]bool, diags *[]plugin.Diagnostic) {
	for i, raw := range list {
		f := fmt.Sprintf("%s[%d]", field, i)
		id := strings.ToUpper(strings.TrimSpace(raw))
		switch {
		case id == "":
			*diags = append(*diags, params.Error(f, "vulnerability id is empty", `Use an id such as "CVE-2021-44228".`))
		case strings.IndexFunc(id, unicode.IsSpace) >= 0:
			*diags = append(*diags, params.Error(f, fmt.Sprintf("vulnerability id %q contains white space", raw), "Give one id per list entry."))
		case set[id]:
			*diags = append(*diags, params.Warning(f, fmt.Sprintf("%q is listed twice", raw), ""))
		default:
			set[id] = true
		}
	}
}

// decodeParameters decodes raw strictly: unknown fields (also a mere case
// mismatch, which encoding/json would accept) and values of the wrong type
// are errors naming the field. Every field is checked, so all problems show
// at once: the fields that decode are returned for validation; nil means
// nothing could be decoded.
func decodeParameters(raw []byte, diags *[]plugin.Diagnostic) *Parameters {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return &Parameters{}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &obj); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			*diags = append(*diags, params.Error("", fmt.Sprintf("parameters must be a JSON object, not %s", typeErr.Value), ""))
		} else {
			*diags = append(*diags, params.Error("", "parameters are not valid JSON", params.DescribeJSONError(err)))
		}
		return nil
	}
	var p Parameters
	fields := params.Fields(reflect.TypeFor[Parameters]())
	names := slices.Sorted(maps.Keys(fields))
	pv := reflect.ValueOf(&p).Elem()
	for _, key := range slices.Sorted(maps.Keys(obj)) {
		f, known := fields[key]
		if !known {
			detail := params.Suggest(key, names)
			if detail == "" {
				detail = "Remove it; the parameters are " + strings.Join(names, ", ") + "."
			}
			*diags = append(*diags, params.Error(params.JoinPath("", key), fmt.Sprintf("unknown field %q", key), detail))
			continue
		}
		switch dst := pv.FieldByIndex(f.Index).Addr().Interface().(type) {
		case *string:
			if err := json.Unmarshal(obj[key], dst); err != nil {
				*diags = append(*diags, params.Error(key, "must be a JSON string, not "+params.ValueKind(obj[key]), ""))
			}
		case *[]string:
			var list []json.RawMessage
			if err := json.Unmarshal(obj[key], &list); err != nil {
				*diags = append(*diags, params.Error(key, "must be a JSON array of strings, not "+params.ValueKind(obj[key]), ""))
				continue
			}
			for i, item := range list {
				var s string
				if err := json.Unmarshal(item, &s); err != nil {
					*diags = append(*diags, params.Error(fmt.Sprintf("%s[%d]", key, i), "must be a JSON string, not "+params.ValueKind(item), ""))
					continue
				}
				*dst = append(*dst, s)
			}
		}
	}
	return &p
}
