package provider_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/provider"
	"github.com/assayproj/assay/pkg/report"
)

// cachedVerifier answers every key at once with a copy of one report, as
// the executor does on a verdict cache hit.
type cachedVerifier struct{ rep *report.Report }

var (
	_ provider.Verifier = cachedVerifier{}
	_ provider.Resolver = cachedVerifier{}
)

func (c cachedVerifier) Verify(_ context.Context, k provider.Key) (*report.Report, error) {
	cp := *c.rep
	cp.Reference = k.Reference
	return &cp, nil
}

func (c cachedVerifier) Resolve(context.Context, provider.Key) (string, error) {
	return digestA, nil
}

// cachedReport is a passing report of the size `assay serve` returns for
// an image with one verified Notary Project signature.
func cachedReport() *report.Report {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const sig = "application/vnd.cncf.notary.signature"
	return &report.Report{
		MediaType: report.MediaType,
		Subject:   "registry.example/team/app@" + digestA,
		IsSuccess: true,
		Reason:    report.ReasonVerified,
		Message:   "1 of 1 application/vnd.cncf.notary.signature verified (mode any)",
		Policy: &report.PolicyResult{Name: "signed-images", Rules: []report.RuleResult{{
			ArtifactType: sig, Mode: "any", Required: true, Satisfied: true, Found: 1, Verified: 1, Reason: report.ReasonVerified,
		}}},
		Artifacts: []report.Artifact{{
			ArtifactType: sig,
			Digest:       "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
			MediaType:    "application/vnd.oci.image.manifest.v1+json",
			Results: []report.Result{{
				Verifier: "notation", Type: "notation", Verdict: report.Verified, Reason: report.ReasonVerified,
				Message: "signature verified",
				Details: map[string]any{
					"signingTime": at.Format(time.RFC3339),
					"issuer":      "CN=Assay Test CA,O=Assay Test",
					"subject":     "CN=signer,O=Assay Test",
					"mediaType":   "application/jose+json",
				},
			}},
		}},
		Warnings:  []report.Warning{{Reason: report.ReasonTagResolved, Message: `tag "v1" resolved to ` + digestA}},
		Timestamp: at,
	}
}

// BenchmarkHandler measures what the handler adds to a verdict cache hit:
// decoding the ProviderRequest, parsing the keys, the bounded fan-out and
// encoding the reports (or, for Ratify's endpoint, converting them), with
// a Verifier that answers at once. No network: ServeHTTP is called
// directly.
func BenchmarkHandler(b *testing.B) {
	h, err := provider.New(provider.Options{Verifier: cachedVerifier{cachedReport()}, Resolver: cachedVerifier{}})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name, path string
		keys       int
	}{
		{"verify", provider.PathVerify, 1},
		{"verify", provider.PathVerify, 16},
		{"verify", provider.PathVerify, 128},
		{"ratify-verify", provider.PathRatifyVerify, 1},
		{"mutate", provider.PathMutate, 1},
	} {
		keys := make([]string, bc.keys)
		for i := range keys {
			keys[i] = fmt.Sprintf("registry.example/team/app-%d:v1", i)
		}
		body := []byte(request(keys...))
		b.Run(fmt.Sprintf("%s/keys=%d", bc.name, bc.keys), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				rec := httptest.NewRecorder()
				req, err := http.NewRequest(http.MethodPost, "https://assay.example"+bc.path, bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*bc.keys), "ns/key")
		})
	}
}
