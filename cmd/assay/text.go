package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/assayproj/assay/pkg/report"
)

// textWriter writes indented lines and remembers the first write error.
type textWriter struct {
	w   io.Writer
	err error
}

func (t *textWriter) line(format string, args ...any) {
	if t.err != nil {
		return
	}
	_, t.err = fmt.Fprintf(t.w, format+"\n", args...)
}

// writeVerify prints one verification report for people.
func writeVerify(t *textWriter, r *report.Report) {
	status := "PASS"
	if !r.IsSuccess {
		status = "FAIL"
	}
	t.line("%s  %s", status, r.Reference)
	if r.Subject != "" {
		t.line("  subject  %s", r.Subject)
	}
	t.line("  result   %s: %s", r.Reason, r.Message)
	if !r.IsSuccess {
		if fix := remediation(r); fix != "" {
			t.line("  fix      %s", fix)
		}
	}
	for _, w := range r.Warnings {
		t.line("  warning  %s: %s", w.Reason, w.Message)
	}
	if r.Policy != nil {
		t.line("  policy   %q", r.Policy.Name)
		for _, rule := range r.Policy.Rules {
			mark := "ok  "
			if !rule.Satisfied {
				mark = "FAIL"
			}
			req := ""
			if rule.Required {
				req = ", required"
			}
			types := rule.ArtifactType
			if len(rule.ArtifactTypes) > 0 {
				types = "one of " + strings.Join(rule.ArtifactTypes, ", ")
			}
			t.line("    %s %s (%s%s): %s", mark, types, rule.Mode, req, rule.Message)
		}
	}
	if len(r.Artifacts) > 0 {
		t.line("  artifacts")
		writeArtifacts(t, r.Artifacts, "    ", true)
	}
	if r.Coverage != nil {
		t.line("  platforms  %s (multiArch %s)", r.Coverage.Message, r.Coverage.Mode)
		for _, p := range r.Platforms {
			mark := "ok  "
			if !p.IsSuccess {
				mark = "FAIL"
			}
			t.line("    %s %s  %s: %s", mark, p.Platform, p.Digest, oneLine(p.Reason, p.Message))
			writeArtifacts(t, p.Artifacts, "      ", true)
		}
	}
}

// writeDiscover prints the referrer tree of one subject.
func writeDiscover(t *textWriter, r *report.Report) {
	t.line("%s", r.Reference)
	if r.Subject != "" {
		t.line("  subject  %s", r.Subject)
	}
	for _, w := range r.Warnings {
		t.line("  warning  %s: %s", w.Reason, w.Message)
	}
	if r.Reason != "" {
		// The walk stopped: what it found is not the whole tree, so the
		// failure is all there is to say.
		t.line("  error    %s: %s", r.Reason, r.Message)
		if fix := r.Reason.Remediation(); fix != "" {
			t.line("  fix      %s", fix)
		}
		return
	}
	t.line("  found    %s", report.Count(countArtifacts(r.Artifacts), "artifact", "artifacts"))
	if len(r.Sources) > 0 {
		t.line("  looked in")
		for _, s := range r.Sources {
			t.line("    %s", s.Message)
		}
	}
	writeArtifacts(t, r.Artifacts, "  ", false)
}

func countArtifacts(arts []report.Artifact) int {
	n := len(arts)
	for _, a := range arts {
		n += countArtifacts(a.Artifacts)
	}
	return n
}

func writeArtifacts(t *textWriter, arts []report.Artifact, indent string, results bool) {
	for _, a := range arts {
		t.line("%s└─ %s  %s", indent, a.ArtifactType, a.Digest)
		if results {
			for _, res := range a.Results {
				name := res.Verifier
				if name == "" {
					name = "(none)"
				}
				t.line("%s     %s %s: %s", indent, name, res.Verdict, oneLine(res.Reason, res.Message))
				writeDetails(t, indent+"       ", res.Details)
			}
		}
		writeArtifacts(t, a.Artifacts, indent+"   ", results)
	}
}

func oneLine(reason report.Reason, msg string) string {
	if msg == "" {
		return string(reason)
	}
	return string(reason) + " — " + strings.ReplaceAll(msg, "\n", " ")
}

// remediation returns the report's advice, else the first failing
// rule's, else the reason's.
func remediation(r *report.Report) string {
	if r.Remediation != "" {
		return r.Remediation
	}
	if r.Policy != nil {
		for _, rule := range r.Policy.Rules {
			if !rule.Satisfied && rule.Remediation != "" {
				return rule.Remediation
			}
		}
	}
	return r.Reason.Remediation()
}

// writeDetails prints a result's details as sorted "key: value" lines,
// a nested map or list indented below its key and a list's items after
// "- ", as YAML does. Details are JSON values (maps, lists, strings,
// numbers, booleans); other Go values are read as their JSON encoding.
func writeDetails(t *textWriter, indent string, details map[string]any) {
	if b, err := json.Marshal(details); err == nil {
		var m map[string]any
		if json.Unmarshal(b, &m) == nil {
			details = m
		}
	}
	writeMap(t, indent, "", details)
}

// writeMap prints m's entries, the first after first (a list item's
// "- "), the others indented to match.
func writeMap(t *textWriter, indent, first string, m map[string]any) {
	for i, k := range sortedKeys(m) {
		lead := indent + strings.Repeat(" ", len(first))
		if i == 0 {
			lead = indent + first
		}
		writeValue(t, lead, indent+strings.Repeat(" ", len(first))+"  ", k+":", m[k])
	}
}

// writeValue prints label and v on a line starting with lead; what is
// nested below is indented by inner.
func writeValue(t *textWriter, lead, inner, label string, v any) {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 0 {
			t.line("%s%s (none)", lead, label)
			return
		}
		t.line("%s%s", lead, label)
		writeMap(t, inner, "", v)
	case []any:
		if len(v) == 0 {
			t.line("%s%s (none)", lead, label)
			return
		}
		t.line("%s%s", lead, label)
		for _, item := range v {
			if m, ok := item.(map[string]any); ok && len(m) > 0 {
				writeMap(t, inner, "- ", m)
				continue
			}
			writeValue(t, inner+"- ", inner+"  ", "", item)
		}
	default:
		if label == "" {
			t.line("%s%s", lead, scalar(v))
			return
		}
		t.line("%s%s %s", lead, label, scalar(v))
	}
}

// scalar renders a JSON scalar: a whole number without a decimal point,
// a string on one line.
func scalar(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return strings.ReplaceAll(v, "\n", " ")
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
