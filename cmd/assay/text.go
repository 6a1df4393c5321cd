package main

import (
	"fmt"
	"io"
	"sort"
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
	if r.Reason != "" {
		t.line("  error    %s: %s", r.Reason, r.Message)
	}
	for _, w := range r.Warnings {
		t.line("  warning  %s: %s", w.Reason, w.Message)
	}
	if len(r.Artifacts) == 0 {
		t.line("  no artifacts attached")
		return
	}
	writeArtifacts(t, r.Artifacts, "  ", false)
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
				for _, k := range sortedKeys(res.Details) {
					t.line("%s       %s: %v", indent, k, res.Details[k])
				}
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

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
