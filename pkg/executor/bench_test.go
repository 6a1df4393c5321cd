package executor_test

import (
	"context"
	"testing"

	"github.com/assayproj/assay/pkg/cache"
	"github.com/assayproj/assay/pkg/executor"
)

// BenchmarkVerify measures one verification of a signed image through
// the executor with in-memory fakes for the registry and the verifier:
// "uncached" verifies every time (discovery, the job pool, the policy),
// "cached" answers from the in-memory verdict cache after pinning. It
// reports the size of one cached verdict (key and encoded report).
func BenchmarkVerify(b *testing.B) {
	st := newFakeStore()
	img := st.pushImage(b, "v1")
	for _, name := range []string{"a", "b"} {
		st.attach(b, img, notary, name)
	}
	pol := policy(executor.Rule{ArtifactType: notary, Required: true})
	for _, tc := range []struct {
		name     string
		verdicts *cache.Memory
	}{
		{"uncached", nil},
		{"cached", cache.NewMemory(64 << 20)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			opts := executor.Options{Store: st, Verifiers: []executor.Verifier{newFakeVerifier("notation", notary)}, Policy: pol, ConfigID: "bench"}
			if tc.verdicts != nil {
				opts.Verdicts = tc.verdicts
			}
			e, err := executor.New(opts)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				rep, err := e.Verify(ctx, ref)
				if err != nil || !rep.IsSuccess {
					b.Fatalf("%v %s %s", err, rep.Reason, rep.Message)
				}
			}
			if tc.verdicts != nil && tc.verdicts.Len() > 0 {
				b.ReportMetric(float64(tc.verdicts.Bytes())/float64(tc.verdicts.Len()), "B/verdict")
			}
		})
	}
}
