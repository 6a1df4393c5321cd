package e2e

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/assayproj/assay/pkg/executor"
	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/store"
	"github.com/assayproj/assay/pkg/verifier"
)

// countingTransport counts registry requests.
type countingTransport struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// BenchmarkVerify measures the verify path of one signed image against the
// in-process olareg registry with the real notation plugin process:
// "cold" builds a new store per iteration (empty content cache, so every
// manifest and blob is fetched), "warm" reuses one store (content, tag
// resolutions and referrer listings served from its caches, so no
// registry request within their 10 s lifetime). Neither uses a verdict
// cache: the plugin verifies the signature every time. The plugin process
// is started once, before timing, in both.
// It reports registry requests per verification.
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	srv := registrytest.NewOlareg(b)
	ca := notationtest.MustCA(b, notationtest.CAOptions{})
	leaf := notationtest.MustLeaf(b, ca, notationtest.LeafOptions{})
	repo := mustRepo(b, srv.Host()+"/bench/app")
	subject := notationtest.MustPushImage(b, repo, "bench", "v1")
	notationtest.MustPushSignature(b, repo, subject, notationtest.MustSign(b, leaf, subject, notationtest.SignOptions{}))
	params := notationtest.MustJSON(b, notationtest.NewParams(repo.Reference.String(), ca, nil))
	ref := repo.Reference.String() + ":v1"

	host, err := plugin.NewHost(plugin.HostOptions{Dir: pluginDir})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(host.Close)
	v, err := verifier.New(verifier.Options{
		Name: "notation", Plugin: "notation", Plugins: host,
		ArtifactTypes: []string{notarySignature}, Parameters: params,
	})
	if err != nil {
		b.Fatal(err)
	}
	counter := &countingTransport{next: http.DefaultTransport}
	newExecutor := func(b *testing.B) *executor.Executor {
		b.Helper()
		st, err := store.New(store.Options{
			Registries: map[string]store.RegistryOptions{srv.Host(): {PlainHTTP: true}},
			HTTPClient: &http.Client{Transport: counter},
		})
		if err != nil {
			b.Fatal(err)
		}
		e, err := executor.New(executor.Options{
			Store: st, Verifiers: []executor.Verifier{v},
			Policy: &executor.Policy{Name: "p", Rules: []executor.Rule{{ArtifactType: notarySignature, Required: true}}},
		})
		if err != nil {
			b.Fatal(err)
		}
		return e
	}
	check := func(b *testing.B, e *executor.Executor) {
		rep, err := e.Verify(ctx, ref)
		if err != nil || !rep.IsSuccess {
			b.Fatalf("verify: %v %+v", err, rep)
		}
	}
	check(b, newExecutor(b)) // start the plugin outside the timings

	b.Run("cold", func(b *testing.B) {
		counter.n.Store(0)
		for b.Loop() {
			b.StopTimer()
			e := newExecutor(b)
			b.StartTimer()
			check(b, e)
		}
		b.ReportMetric(float64(counter.n.Load())/float64(b.N), "requests/op")
	})
	b.Run("warm", func(b *testing.B) {
		e := newExecutor(b)
		check(b, e)
		counter.n.Store(0)
		for b.Loop() {
			check(b, e)
		}
		b.ReportMetric(float64(counter.n.Load())/float64(b.N), "requests/op")
	})
}
