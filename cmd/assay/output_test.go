package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/report"
	"github.com/google/go-cmp/cmp"
)

func TestDetailsAreSortedKeyValueLinesWithNestingIndented(t *testing.T) {
	var out bytes.Buffer
	tw := &textWriter{w: &out}
	writeArtifacts(tw, []report.Artifact{{
		ArtifactType: "application/sarif+json",
		Digest:       "sha256:1111",
		Results: []report.Result{{
			Verifier: "reports", Verdict: report.Failed, Reason: report.ReasonVerificationFailed, Message: "2 findings",
			Details: map[string]any{
				"totalFindings":    2,
				"scanner":          "trivy",
				"countsBySeverity": map[string]any{"HIGH": 2, "CRITICAL": 0, "LOW": 0.5},
				"violations": []any{
					map[string]any{"id": "CVE-2026-1", "severity": "HIGH", "locations": []string{"a", "b"}},
				},
				"allowlisted": []string{},
				"scanners":    []any{"trivy", "grype"},
			},
		}},
	}}, "", true)
	want := `└─ application/sarif+json  sha256:1111
     reports failed: VERIFICATION_FAILED — 2 findings
       allowlisted: (none)
       countsBySeverity:
         CRITICAL: 0
         HIGH: 2
         LOW: 0.5
       scanner: trivy
       scanners:
         - trivy
         - grype
       totalFindings: 2
       violations:
         - id: CVE-2026-1
           locations:
             - a
             - b
           severity: HIGH
`
	if tw.err != nil {
		t.Fatal(tw.err)
	}
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("details (-want +got):\n%s", diff)
	}
	if strings.Contains(out.String(), "map[") {
		t.Errorf("a Go map was printed:\n%s", out.String())
	}
}

// TestVerifyPrintsEachReportInInputOrderAsSoonAsEarlierOnesAre
// verifies three images: the third finishes first, and the second only
// once the first has been printed, which it could not be if output
// waited for the last image.
func TestVerifyPrintsEachReportInInputOrderAsSoonAsEarlierOnesAre(t *testing.T) {
	firstPrinted := make(chan struct{})
	thirdDone := make(chan struct{})
	verify := func(ctx context.Context, ref string) *report.Report {
		switch ref {
		case "a":
			<-thirdDone
		case "b":
			select {
			case <-firstPrinted:
			case <-time.After(10 * time.Second):
				t.Error("b: a was not printed before b finished")
			}
		case "c":
			close(thirdDone)
		}
		return &report.Report{Reference: ref, IsSuccess: ref != "b"}
	}
	var mu sync.Mutex
	var printed []string
	verifyEach(context.Background(), 3, []string{"a", "b", "c"}, verify, func(r *report.Report) {
		mu.Lock()
		printed = append(printed, r.Reference)
		mu.Unlock()
		if r.Reference == "a" {
			close(firstPrinted)
		}
	})
	if diff := cmp.Diff([]string{"a", "b", "c"}, printed); diff != "" {
		t.Errorf("printed order (-want +got):\n%s", diff)
	}
}

func TestJSONOutputIsAnArrayWhateverTheNumberOfReports(t *testing.T) {
	for _, n := range []int{0, 1, 3} {
		var out bytes.Buffer
		w := newReportWriter(&out, "json", writeVerify)
		for i := range n {
			w.write(&report.Report{MediaType: report.MediaType, Reference: string(rune('a' + i)), Artifacts: []report.Artifact{}})
		}
		if err := w.close(); err != nil {
			t.Fatal(err)
		}
		var got []report.Report
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%d reports: not a JSON array: %v\n%s", n, err, out.String())
		}
		if len(got) != n || (n > 0 && got[n-1].Reference != string(rune('a'+n-1))) {
			t.Errorf("%d reports: decoded %+v", n, got)
		}
	}
}

func TestProgressIsShownOnATerminalForSeveralImagesOnly(t *testing.T) {
	var out bytes.Buffer
	if p := newProgress(&out, 3, false); p != nil {
		t.Error("progress on a stderr that is not a terminal")
	}
	if p := newProgress(&out, 1, true); p != nil {
		t.Error("progress for a single image")
	}
	p := newProgress(&out, 3, true)
	p.finished(true)
	p.finished(false)
	p.clear()
	want := "\r\033[Kverified 1/3, 0 failed\r\033[Kverified 2/3, 1 failed\r\033[K"
	if out.String() != want {
		t.Errorf("progress wrote %q, want %q", out.String(), want)
	}
	var none *progress // what newProgress returns off a terminal
	none.finished(true)
	none.clear()
}

func TestDiscoverTextAfterAFailureShowsTheFailureOnly(t *testing.T) {
	var out bytes.Buffer
	tw := &textWriter{w: &out}
	writeDiscover(tw, &report.Report{
		Reference: "localhost:5000/app:v1",
		Subject:   "localhost:5000/app@sha256:1111",
		Reason:    report.ReasonRegistryError,
		Message:   "discovery of referrers of sha256:1111 failed, the artifacts found may be incomplete: connection refused",
		Artifacts: []report.Artifact{},
	})
	got := out.String()
	if !strings.Contains(got, "error    REGISTRY_ERROR: discovery of referrers") || !strings.Contains(got, "fix      "+report.ReasonRegistryError.Remediation()) {
		t.Errorf("the failure and its fix are not shown:\n%s", got)
	}
	for _, bad := range []string{"no artifacts", "  found    ", "looked in"} {
		if strings.Contains(got, bad) {
			t.Errorf("after a failure the output says %q:\n%s", bad, got)
		}
	}

	out.Reset()
	writeDiscover(tw, &report.Report{
		Reference: "localhost:5000/app:v1",
		Subject:   "localhost:5000/app@sha256:1111",
		Artifacts: []report.Artifact{{ArtifactType: "a", Digest: "sha256:2222", Artifacts: []report.Artifact{{ArtifactType: "b", Digest: "sha256:3333"}}}},
		Sources:   []report.Source{{Name: report.SourceReferrersAPI, Found: 2, Message: "referrers API: 2 artifacts"}},
	})
	for _, want := range []string{"  found    2 artifacts\n", "  looked in\n    referrers API: 2 artifacts\n", "└─ a  sha256:2222"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("discover output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestVerifyWithoutConfigSaysSoAndHowToGiveOne(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want bool
	}{
		"at the default log level": {args: []string{"verify", "localhost:1/none:v1"}, want: true},
		"with --log-level error":   {args: []string{"--log-level", "error", "verify", "localhost:1/none:v1"}, want: false},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"--timeout", "2s"}, tc.args...), &stdout, &stderr)
			if code != exitFailed {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailed, stdout.String(), stderr.String())
			}
			said := strings.Contains(stderr.String(), "note: no --config given") && strings.Contains(stderr.String(), "give --config <file>")
			if said != tc.want {
				t.Errorf("note shown %v, want %v; stderr:\n%s", said, tc.want, stderr.String())
			}
			if strings.Contains(stdout.String(), "no --config") {
				t.Errorf("the note went to stdout:\n%s", stdout.String())
			}
		})
	}
}
