// Package budget counts the registry requests of a cold verification
// against real registries and holds them to design §7's floor: for an
// image by digest with a Notary Project signature, a cosign classic
// ".sig" signature and a SARIF vulnerability report, 8 requests in 3
// sequential round trips (the referrers listing beside the ".sig" tag
// HEAD; the three artifact manifests; their blobs).
//
// The requests are counted, never timed. The middleware in front of the
// registry delays every request by the same amount before serving it, so
// that requests the client sends together overlap, and records the order
// in which requests start and are served. A request's round trip is one
// more than the latest round trip of any request served before it
// started; the number of sequential round trips is the largest.
package budget

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/cosigntest"
	"github.com/assayproj/assay/pkg/executor"
	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/report"
	"github.com/assayproj/assay/pkg/store"
	"github.com/assayproj/assay/pkg/verifier"
	"github.com/google/go-cmp/cmp"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	notarySignature = notationtest.ArtifactType
	sarifType       = "application/sarif+json"
	path            = "budget/app"

	// delay is how long the middleware holds every request before
	// serving it: long enough that requests sent together overlap, so
	// that the round trips counted are the client's, not the scheduler's.
	delay = 50 * time.Millisecond
)

// request is one registry request as the middleware saw it.
type request struct {
	class string // method and what was asked: "GET manifest of the notation signature", "HEAD manifest tag v1"
	round int    // its sequential round trip, from 1
}

// counter is a middleware that records the requests passing through it.
type counter struct {
	mu     sync.Mutex
	names  map[string]string // digest or tag → what it is, for the classes
	served []int             // round trip of each request served so far
	log    []request
}

func newCounter() *counter { return &counter{names: map[string]string{}} }

// name makes requests for ref (a digest or a tag) read as what.
func (c *counter) name(ref, what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.names[ref] = what
}

// reset forgets the requests recorded so far.
func (c *counter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.served, c.log = nil, nil
}

// requests returns the requests recorded since the last reset.
func (c *counter) requests() []request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.log)
}

func (c *counter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		// Every request served before this one started may be what it
		// waited for.
		round := 1
		for _, s := range c.served {
			round = max(round, s+1)
		}
		i := len(c.log)
		c.log = append(c.log, request{class: c.classify(r), round: round})
		c.mu.Unlock()
		time.Sleep(delay)
		// Served from here: the client can send a request that depends
		// on this one only after this point.
		c.mu.Lock()
		c.served = append(c.served, c.log[i].round)
		c.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// classify names a request by method and what it asks for. The caller
// holds c.mu.
func (c *counter) classify(r *http.Request) string {
	p := r.URL.Path
	const prefix = "/v2/" + path + "/"
	if !strings.HasPrefix(p, prefix) {
		return r.Method + " " + p
	}
	kind, ref, _ := strings.Cut(strings.TrimPrefix(p, prefix), "/")
	what := c.names[ref]
	if what == "" {
		what = ref
	}
	if !strings.HasPrefix(what, "tag ") {
		what = "of " + what
	}
	switch kind {
	case "referrers":
		return r.Method + " referrers " + what
	case "manifests":
		return r.Method + " manifest " + what
	case "blobs":
		return r.Method + " blob " + what
	}
	return r.Method + " " + p
}

// rounds is the number of sequential round trips of reqs.
func rounds(reqs []request) int {
	n := 0
	for _, r := range reqs {
		n = max(n, r.round)
	}
	return n
}

// byRound lists the classes of reqs per round trip, sorted.
func byRound(reqs []request) [][]string {
	out := make([][]string, rounds(reqs))
	for _, r := range reqs {
		out[r.round-1] = append(out[r.round-1], r.class)
	}
	for _, classes := range out {
		slices.Sort(classes)
	}
	return out
}

// image is the subject and its three artifacts in one registry.
type image struct {
	srv  *registrytest.Server
	repo string // normalised repository name
	desc ocispec.Descriptor
}

// push pushes an image tagged v1 with a real Notary Project signature, a
// real cosign classic signature and a SARIF report, and names their
// requests in c.
func push(t *testing.T, srv *registrytest.Server, c *counter) image {
	t.Helper()
	target := srv.Repository(t, path)
	img := registrytest.PushImage(t, target, "v1")

	ca := notationtest.MustCA(t, notationtest.CAOptions{})
	leaf := notationtest.MustLeaf(t, ca, notationtest.LeafOptions{})
	sig := notationtest.MustSign(t, leaf, img, notationtest.SignOptions{})
	notary := notationtest.MustPushSignature(t, target, img, sig)

	key := cosigntest.MustKey(t, cosigntest.ECDSA)
	cosign := cosigntest.MustPushClassic(t, target, img, cosigntest.MustSignClassic(t, key, img, cosigntest.SignOptions{}))

	sarif, err := os.ReadFile(filepath.Join("..", "..", "plugins", "vulnreport", "testdata", "trivy-clean.sarif.json"))
	if err != nil {
		t.Fatal(err)
	}
	scan := registrytest.Attach(t, target, img, registrytest.Artifact{
		ArtifactType: sarifType,
		Blobs:        []registrytest.Blob{{MediaType: sarifType, Data: sarif}},
		Annotations:  map[string]string{ocispec.AnnotationCreated: time.Now().UTC().Format(time.RFC3339)},
	})

	c.name(img.Digest.String(), "the image")
	c.name("v1", "tag v1")
	c.name(cosigntest.SignatureTag(img.Digest), "tag sha256-<hex>.sig")
	c.name(strings.TrimSuffix(cosigntest.SignatureTag(img.Digest), ".sig"), "tag sha256-<hex> (referrers tag schema)")
	for what, d := range map[string]ocispec.Descriptor{"notation signature": notary, "cosign signature": cosign, "SARIF report": scan} {
		c.name(d.Digest.String(), "the "+what)
		c.name(strings.TrimSuffix(cosigntest.SignatureTag(d.Digest), ".sig"), "tag sha256-<hex> of the "+what+" (referrers tag schema)")
		raw, err := target.Fetch(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		var m ocispec.Manifest
		err = json.NewDecoder(raw).Decode(&m)
		raw.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range m.Layers {
			c.name(l.Digest.String(), "the "+what)
		}
	}
	return image{srv: srv, repo: srv.RepositoryName(path), desc: img}
}

// plugins answers every request verified and records it.
type plugins struct {
	mu   sync.Mutex
	reqs map[string][]*plugin.VerifyRequest // by plugin
}

func (p *plugins) Verify(_ context.Context, name string, req *plugin.VerifyRequest) (*plugin.VerifyResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reqs == nil {
		p.reqs = map[string][]*plugin.VerifyRequest{}
	}
	p.reqs[name] = append(p.reqs[name], req)
	return &plugin.VerifyResponse{Verdict: plugin.VerdictVerified, Message: name + " says verified"}, nil
}

// clock is the store's clock, moved by the test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newStore(t *testing.T, img image, now *clock) *store.Registry {
	t.Helper()
	reg, err := store.New(store.Options{
		Registries: map[string]store.RegistryOptions{img.srv.Host(): {PlainHTTP: true}},
		// An empty docker config: no credentials, whatever the machine has.
		DockerConfigs: [][]byte{[]byte(`{"auths":{}}`)},
		Now:           now.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// newExecutor builds the verification as a configuration does: the real
// host adapter for each Verifier over p, and a Policy requiring all three
// artifacts. No verdict cache.
func newExecutor(t *testing.T, reg *store.Registry, p *plugins) *executor.Executor {
	t.Helper()
	var vs []executor.Verifier
	for _, o := range []verifier.Options{
		{Name: "notation", Plugin: "notation", ArtifactTypes: []string{notarySignature}},
		{Name: "cosign", Plugin: "cosign", ArtifactTypes: []string{store.CosignSignatureArtifactType}},
		{Name: "reports", Plugin: "vulnreport", ArtifactTypes: []string{sarifType}},
	} {
		o.Plugins = p
		v, err := verifier.New(o)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	e, err := executor.New(executor.Options{
		Store:     reg,
		Verifiers: vs,
		Policy: &executor.Policy{Name: "all three", Rules: []executor.Rule{
			{ArtifactType: notarySignature, Required: true},
			{ArtifactType: store.CosignSignatureArtifactType, Required: true},
			{ArtifactType: sarifType, Required: true},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// verify verifies ref and checks that it passed with the plugins seeing
// the subject's whole descriptor.
func verify(t *testing.T, e *executor.Executor, p *plugins, img image, ref string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := e.Verify(ctx, ref)
	if err != nil {
		t.Fatalf("Verify(%s): %v", ref, err)
	}
	if !rep.IsSuccess || rep.Reason != report.ReasonVerified {
		t.Fatalf("Verify(%s): %s %s", ref, rep.Reason, rep.Message)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, name := range []string{"notation", "cosign", "vulnreport"} {
		reqs := p.reqs[name]
		if len(reqs) == 0 {
			t.Fatalf("plugin %s was not asked", name)
		}
		// notation-go checks the signed target's media type, digest and
		// size against this descriptor.
		req := reqs[len(reqs)-1]
		if s := req.Subject; s.Digest != img.desc.Digest || s.MediaType != img.desc.MediaType || s.Size != img.desc.Size {
			t.Errorf("plugin %s got subject %+v, want %+v", name, s, img.desc)
		}
		if len(req.Blobs) != 1 {
			t.Errorf("plugin %s got %d blobs, want 1", name, len(req.Blobs))
		}
	}
}

// The requests of the floor, by round trip: what every cold
// verification of a digest must ask, and nothing else.
var (
	listImage = "GET referrers of the image"
	sigTag    = "HEAD manifest tag sha256-<hex>.sig"
	manifests = []string{
		"GET manifest of the SARIF report",
		"GET manifest of the cosign signature",
		"GET manifest of the notation signature",
	}
	blobs = []string{
		"GET blob of the SARIF report",
		"GET blob of the cosign signature",
		"GET blob of the notation signature",
	}
)

func TestColdVerificationAtTheFloor(t *testing.T) {
	tests := map[string]struct {
		start func(t testing.TB, wrap func(http.Handler) http.Handler) *registrytest.Server
		// discovery is the first round trip(s) of a cold digest: the
		// listing, and the ".sig" tag HEAD beside it.
		discovery [][]string
		// relisted is what a listing past ReferrersTTL asks, the
		// manifests and blobs being cached by digest.
		relisted [][]string
	}{
		"olareg, with the referrers API": {
			start:     registrytest.NewOlaregBehind,
			discovery: [][]string{{listImage, sigTag}},
			relisted:  [][]string{{listImage, sigTag}},
		},
		// Without the referrers API the store's first listing in a
		// repository asks the API (404: not supported, which oras-go
		// remembers for the repository) and then reads the referrers tag
		// schema's index ("sha256-<hex>"), one after the other, beside
		// the ".sig" HEAD: 9 requests in 4 round trips. Later listings
		// read the tag index only.
		"distribution, with the referrers tag schema": {
			start: registrytest.StartDistributionBehind,
			discovery: [][]string{
				{listImage, sigTag},
				{"GET manifest tag sha256-<hex> (referrers tag schema)"},
			},
			relisted: [][]string{{"GET manifest tag sha256-<hex> (referrers tag schema)", sigTag}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCounter()
			img := push(t, tc.start(t, c.wrap), c)
			byDigest := img.repo + "@" + img.desc.Digest.String()
			cold := append(slices.Clone(tc.discovery), manifests, blobs)

			t.Run("a digest, cold, costs the floor", func(t *testing.T) {
				now := &clock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
				reg := newStore(t, img, now)
				p := &plugins{}
				c.reset()
				verify(t, newExecutor(t, reg, p), p, img, byDigest)
				got := c.requests()
				if diff := cmp.Diff(cold, byRound(got)); diff != "" {
					t.Errorf("requests by round trip (-want +got):\n%s", diff)
				}
				t.Logf("%d requests in %d sequential round trips", len(got), rounds(got))

				// A configuration change: a new executor over the same
				// store, no verdict cache. Manifests and blobs are
				// cached by digest and the listing for ReferrersTTL:
				// nothing is asked.
				c.reset()
				verify(t, newExecutor(t, reg, p), p, img, byDigest)
				if got := c.requests(); len(got) != 0 {
					t.Errorf("a second verification within ReferrersTTL sent %v, want nothing", byRound(got))
				}

				// Past ReferrersTTL the referrers are listed again; the
				// artifacts are still cached by digest.
				now.add(store.DefaultReferrersTTL + time.Second)
				c.reset()
				verify(t, newExecutor(t, reg, p), p, img, byDigest)
				if diff := cmp.Diff(tc.relisted, byRound(c.requests())); diff != "" {
					t.Errorf("past ReferrersTTL, requests by round trip (-want +got):\n%s", diff)
				}
			})

			t.Run("a tag, cold, costs one HEAD more", func(t *testing.T) {
				now := &clock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
				reg := newStore(t, img, now)
				p := &plugins{}
				c.reset()
				verify(t, newExecutor(t, reg, p), p, img, img.repo+":v1")
				want := append([][]string{{"HEAD manifest tag v1"}}, cold...)
				if diff := cmp.Diff(want, byRound(c.requests())); diff != "" {
					t.Errorf("requests by round trip (-want +got):\n%s", diff)
				}
				// Within TagTTL and ReferrersTTL, nothing again.
				c.reset()
				verify(t, newExecutor(t, reg, p), p, img, img.repo+":v1")
				if got := c.requests(); len(got) != 0 {
					t.Errorf("a second verification within TagTTL sent %v, want nothing", byRound(got))
				}
			})
		})
	}
}

// An entry of a referrers tag schema index that gives no artifact type,
// or the empty config's (cosign v2.6.5's --new-bundle-format writes
// "application/vnd.oci.empty.v1+json" for its bundle: corpus sample 05),
// makes the store read the type from the manifest while listing. That
// fetch is the one the verifier would make next, which the content cache
// then answers: the untyped entry costs what a typed one does (cosign
// v3's bundle, sample 06), no request and no round trip more.
func TestAnUntypedReferrerCostsNoRequestMore(t *testing.T) {
	const bundleType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	corpus := registrytest.OpenCorpus(t)
	want := [][]string{
		{listImage, sigTag},
		{"GET manifest tag sha256-<hex> (referrers tag schema)"},
		{"GET manifest of the bundle"},
		{"GET blob of the bundle"},
	}
	for name, sample := range map[string]string{
		"the entry has the bundle's type (cosign v3)":                           "06-cosign3-bundle-key",
		"the entry has the empty config's type (cosign v2 --new-bundle-format)": "05-cosign2-new-bundle-format",
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c := newCounter()
			srv := registrytest.StartDistributionBehind(t, c.wrap)
			s := corpus.Sample(t, sample)
			// The sample under the repository the counter names.
			target := srv.Repository(t, path)
			if err := registrytest.LoadLayout(ctx, corpus.Path(s.Layout), target, true); err != nil {
				t.Fatal(err)
			}
			// LoadLayout told target the registry has the referrers API;
			// read through a fresh repository value.
			target = srv.Repository(t, path)
			subject, err := target.Resolve(ctx, s.Subject)
			if err != nil {
				t.Fatal(err)
			}
			var bundles []ocispec.Descriptor
			if err := target.Referrers(ctx, subject, "", func(page []ocispec.Descriptor) error {
				bundles = append(bundles, page...)
				return nil
			}); err != nil || len(bundles) != 1 {
				t.Fatalf("referrers of the sample %v: %v, want the one bundle", bundles, err)
			}
			c.name(subject.Digest.String(), "the image")
			c.name(cosigntest.SignatureTag(subject.Digest), "tag sha256-<hex>.sig")
			c.name(strings.TrimSuffix(cosigntest.SignatureTag(subject.Digest), ".sig"), "tag sha256-<hex> (referrers tag schema)")
			c.name(bundles[0].Digest.String(), "the bundle")
			raw, err := target.Fetch(ctx, bundles[0])
			if err != nil {
				t.Fatal(err)
			}
			var m ocispec.Manifest
			err = json.NewDecoder(raw).Decode(&m)
			raw.Close()
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range m.Layers {
				c.name(l.Digest.String(), "the bundle")
			}

			now := &clock{now: time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)}
			img := image{srv: srv, repo: srv.RepositoryName(path), desc: subject}
			p := &plugins{}
			v, err := verifier.New(verifier.Options{Name: "cosign", Plugin: "cosign", ArtifactTypes: []string{bundleType}, Plugins: p})
			if err != nil {
				t.Fatal(err)
			}
			e, err := executor.New(executor.Options{
				Store:     newStore(t, img, now),
				Verifiers: []executor.Verifier{v},
				Policy:    &executor.Policy{Name: "bundle", Rules: []executor.Rule{{ArtifactType: bundleType, Required: true}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			c.reset()
			rep, err := e.Verify(ctx, img.repo+"@"+subject.Digest.String())
			if err != nil {
				t.Fatal(err)
			}
			if !rep.IsSuccess {
				t.Fatalf("%s %s", rep.Reason, rep.Message)
			}
			if n := len(p.reqs["cosign"]); n != 1 {
				t.Fatalf("the cosign plugin was asked %d times, want 1", n)
			}
			got := c.requests()
			if diff := cmp.Diff(want, byRound(got)); diff != "" {
				t.Errorf("requests by round trip (-want +got):\n%s", diff)
			}
			t.Logf("%d requests in %d sequential round trips", len(got), rounds(got))
		})
	}
}
