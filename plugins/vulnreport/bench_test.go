package main

import (
	"context"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/plugin"
)

// benchReports are the reports the benchmarks judge: Trivy's with seven
// findings, which the strict parameters refuse for its CRITICAL and HIGH
// ones (so the violations and the message are built too), and Grype's
// clean one, which they accept.
var benchReports = []struct {
	name, file string
	verdict    plugin.Verdict
}{
	{"trivy-findings", "trivy-findings.sarif.json", plugin.VerdictFailed},
	{"grype-clean", "grype-clean.sarif.json", plugin.VerdictVerified},
}

// BenchmarkVerify measures Verify on one SARIF report under the strict
// parameters, in the steady state of a long-lived plugin process: a first
// call before the loop parses the parameters into the config cache, so
// each iteration decodes the manifest and the report and judges it.
// Bytes per second are of the SARIF layer.
func BenchmarkVerify(b *testing.B) {
	for _, tc := range benchReports {
		b.Run(tc.name, func(b *testing.B) {
			sarif := readTestdata(b, tc.file)
			req := report{sarif: sarif, created: ago(3 * time.Hour)}.request(b, strict)
			v := testVerifier(Options{})
			ctx := context.Background()
			verify := func() {
				resp, err := v.Verify(ctx, req)
				if err != nil {
					b.Fatalf("Verify: %v", err)
				}
				if resp.Verdict != tc.verdict {
					b.Fatalf("verdict %v %s (%s), want %v", resp.Verdict, resp.Reason, resp.Message, tc.verdict)
				}
			}
			verify() // parses the parameters into the config cache
			warm := v.configs.Get(req.Config)
			b.ReportAllocs()
			b.SetBytes(int64(len(sarif)))
			for b.Loop() {
				verify()
			}
			if v.configs.Get(req.Config) != warm {
				b.Fatal("the parameters were parsed again inside the loop")
			}
		})
	}
}

// BenchmarkReadSARIF measures decoding a SARIF log into findings alone,
// the part of Verify that grows with the report.
func BenchmarkReadSARIF(b *testing.B) {
	for _, tc := range benchReports {
		b.Run(tc.name, func(b *testing.B) {
			sarif := readTestdata(b, tc.file)
			b.ReportAllocs()
			b.SetBytes(int64(len(sarif)))
			for b.Loop() {
				if _, err := readSARIF(sarif); err != nil {
					b.Fatalf("readSARIF: %v", err)
				}
			}
		})
	}
}
