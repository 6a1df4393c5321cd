package main

import (
	"context"
	"testing"

	"oras.land/oras-go/v2/content/memory"

	"github.com/assayproj/assay/pkg/cosigntest"
	"github.com/assayproj/assay/pkg/plugin"
)

// BenchmarkVerify measures Verify on one signature in the steady state of
// a long-lived plugin process: the parameters are parsed by a first call
// before the loop and come from the config cache afterwards, so each
// iteration is the signature verification alone (decoding the layers,
// sigstore-go's checks, the identity and the verdict). "key/classic" is a
// classic simple-signing layer signed with an ECDSA P-256 key;
// "keyless/classic" is a classic layer with a Fulcio certificate, a Rekor
// bundle and a timestamp from the local Sigstore, the log required;
// "keyless/bundle" is a Sigstore bundle v0.3 with a DSSE statement from
// the same Sigstore.
func BenchmarkVerify(b *testing.B) {
	subject, _ := cosigntest.MustPushImage(b, memory.New(), "v1")
	k := cosigntest.MustKey(b, cosigntest.ECDSA)
	// The Sigstore's certificates are valid for ten minutes from now.
	s := cosigntest.MustSigstore(b)
	keyless := cosigntest.MustJSON(b, s.MustKeylessParams(b, testRepo, "", ""))
	for _, tc := range []struct {
		name string
		req  *plugin.VerifyRequest
	}{
		{"key/classic", cosigntest.MustClassicRequest(b, cosigntest.MustJSON(b, cosigntest.KeyParams(testRepo, k)), testRepo, subject,
			cosigntest.MustSignClassic(b, k, subject, cosigntest.SignOptions{}))},
		{"keyless/classic", cosigntest.MustClassicRequest(b, keyless, testRepo, subject,
			s.MustSignClassic(b, subject, cosigntest.KeylessOptions{}))},
		{"keyless/bundle", cosigntest.MustBundleRequest(b, keyless, testRepo, subject,
			s.MustSignBundle(b, subject, cosigntest.BundleOptions{Repository: testRepo}))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			v := NewVerifier(Options{})
			ctx := context.Background()
			verify := func() {
				resp, err := v.Verify(ctx, tc.req)
				if err != nil {
					b.Fatalf("Verify: %v", err)
				}
				if resp.Verdict != plugin.VerdictVerified {
					b.Fatalf("verdict %v %s: %s", resp.Verdict, resp.Reason, resp.Message)
				}
			}
			verify() // parses the parameters into the config cache
			warm := v.configs.Get(tc.req.Config)
			b.ReportAllocs()
			for b.Loop() {
				verify()
			}
			if v.configs.Get(tc.req.Config) != warm {
				b.Fatal("the parameters were parsed again inside the loop")
			}
		})
	}
}
