package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/assayproj/assay/pkg/executor"
	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/report"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
)

// fakePlugins records the request and answers with resp or err.
type fakePlugins struct {
	resp *plugin.VerifyResponse
	err  error
	got  *plugin.VerifyRequest
	name string
}

var _ Plugins = (*fakePlugins)(nil)

func (f *fakePlugins) Verify(ctx context.Context, name string, req *plugin.VerifyRequest) (*plugin.VerifyResponse, error) {
	f.got, f.name = req, name
	return f.resp, f.err
}

// fakeFetcher serves content by digest and fails for digests in errs.
type fakeFetcher struct {
	content map[digest.Digest][]byte
	errs    map[digest.Digest]error
}

func (f *fakeFetcher) Fetch(_ context.Context, _ string, d ocispec.Descriptor) ([]byte, error) {
	if err := f.errs[d.Digest]; err != nil {
		return nil, err
	}
	b, ok := f.content[d.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: %w", d.Digest, errdef.ErrNotFound)
	}
	return b, nil
}

func (f *fakeFetcher) add(t *testing.T, mediaType string, data []byte) ocispec.Descriptor {
	t.Helper()
	d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	f.content[d.Digest] = data
	return d
}

// signatureJob builds a signature artifact with nLayers envelope layers.
func signatureJob(t *testing.T, nLayers int) (executor.Job, *fakeFetcher, []ocispec.Descriptor) {
	t.Helper()
	f := &fakeFetcher{content: map[digest.Digest][]byte{}, errs: map[digest.Digest]error{}}
	subject := f.add(t, ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2}`))
	var layers []ocispec.Descriptor
	for i := range nLayers {
		layers = append(layers, f.add(t, "application/jose+json", []byte(fmt.Sprintf(`{"envelope":%d}`, i))))
	}
	m := ocispec.Manifest{
		Versioned:    ocispec.Manifest{}.Versioned,
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.cncf.notary.signature",
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       layers,
		Subject:      &subject,
	}
	m.SchemaVersion = 2
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	art := f.add(t, ocispec.MediaTypeImageManifest, raw)
	art.ArtifactType = m.ArtifactType
	return executor.Job{Repository: "localhost:5000/app", Subject: subject, Artifact: art, Fetcher: f}, f, layers
}

func newVerifier(t *testing.T, p Plugins) *Verifier {
	t.Helper()
	v, err := New(Options{
		Name: "sig", Plugin: "notation", Plugins: p,
		ArtifactTypes: []string{"application/vnd.cncf.notary.signature"},
		Parameters:    []byte(`{"a":1}`),
		MaxBlobs:      2,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifyHandsThePluginTheBytesItNeeds(t *testing.T) {
	job, f, layers := signatureJob(t, 2)
	p := &fakePlugins{resp: &plugin.VerifyResponse{Verdict: plugin.VerdictVerified, Reason: "VERIFIED", Details: map[string]any{"signerSubject": "CN=x"}}}
	res, err := newVerifier(t, p).Verify(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != report.Verified || res.Reason != report.ReasonVerified || res.Verifier != "sig" || res.Type != "notation" {
		t.Fatalf("result = %+v", res)
	}
	if res.Details["signerSubject"] != "CN=x" {
		t.Errorf("details not carried: %v", res.Details)
	}
	if p.name != "notation" {
		t.Errorf("plugin called = %q", p.name)
	}
	req := p.got
	if string(req.Config) != `{"a":1}` || req.Repository != job.Repository || req.Subject.Digest != job.Subject.Digest || req.Artifact.Digest != job.Artifact.Digest {
		t.Errorf("request = %+v", req)
	}
	if string(req.ArtifactManifest) != string(f.content[job.Artifact.Digest]) {
		t.Error("artifact manifest bytes not passed")
	}
	if len(req.Blobs) != 2 {
		t.Fatalf("blobs = %d, want 2", len(req.Blobs))
	}
	for i, b := range req.Blobs {
		if b.Descriptor.Digest != layers[i].Digest || string(b.Data) != string(f.content[layers[i].Digest]) {
			t.Errorf("blob %d = %s %q", i, b.Descriptor.Digest, b.Data)
		}
	}
}

func TestVerifyMapsEveryOutcome(t *testing.T) {
	deadlineCtx, cancel := context.WithCancel(context.Background())
	cancel()
	tests := map[string]struct {
		ctx        context.Context
		resp       *plugin.VerifyResponse
		err        error
		layers     int
		fetchErr   error
		badJSON    bool
		verdict    report.Verdict
		reason     report.Reason
		wantAdvice bool
		// wantMessage is a part the result's message must hold.
		wantMessage string
	}{
		"a failed verdict keeps the plugin's reason": {
			resp: &plugin.VerifyResponse{Verdict: plugin.VerdictFailed, Reason: "SIGNATURE_UNTRUSTED", Message: "untrusted"}, layers: 1,
			verdict: report.Failed, reason: report.ReasonSignatureUntrusted, wantAdvice: true,
		},
		"an unknown reason code becomes a generic failure": {
			resp: &plugin.VerifyResponse{Verdict: plugin.VerdictFailed, Reason: "MADE_UP"}, layers: 1,
			verdict: report.Failed, reason: report.ReasonVerificationFailed, wantAdvice: true,
		},
		"a failed verdict cannot claim VERIFIED": {
			resp: &plugin.VerifyResponse{Verdict: plugin.VerdictFailed, Reason: "VERIFIED"}, layers: 1,
			verdict: report.Failed, reason: report.ReasonVerificationFailed, wantAdvice: true,
		},
		"an unspecified verdict is inconclusive": {
			resp: &plugin.VerifyResponse{}, layers: 1,
			verdict: report.Inconclusive, reason: report.ReasonPluginError, wantAdvice: true,
		},
		"a nil response is inconclusive": {
			layers: 1, verdict: report.Inconclusive, reason: report.ReasonPluginError, wantAdvice: true,
		},
		"a crashed plugin is unavailable": {
			err: fmt.Errorf("verify: %w", plugin.ErrCrashed), layers: 1,
			verdict: report.Inconclusive, reason: report.ReasonPluginUnavailable, wantAdvice: true,
		},
		"a plugin that stopped answering and was replaced is unavailable": {
			err: fmt.Errorf("verify: %w: process 7 answered nothing", plugin.ErrUnresponsive), layers: 1,
			verdict: report.Inconclusive, reason: report.ReasonPluginUnavailable, wantAdvice: true, wantMessage: "stopped answering health checks and was replaced",
		},
		"a missing plugin is unavailable": {
			err: fmt.Errorf("start: %w", plugin.ErrNotFound), layers: 1,
			verdict: report.Inconclusive, reason: report.ReasonPluginUnavailable, wantAdvice: true,
		},
		"a plugin error is inconclusive": {
			err: errors.New("boom"), layers: 1,
			verdict: report.Inconclusive, reason: report.ReasonPluginError, wantAdvice: true,
		},
		"a plugin past the deadline is inconclusive with DEADLINE_EXCEEDED": {
			err: fmt.Errorf("verify: %w", context.DeadlineExceeded), layers: 1,
			verdict: report.Inconclusive, reason: report.ReasonDeadlineExceeded, wantAdvice: true,
		},
		"an expired context while fetching is DEADLINE_EXCEEDED": {
			ctx: deadlineCtx, fetchErr: context.Canceled, layers: 1,
			verdict: report.Inconclusive, reason: report.ReasonDeadlineExceeded, wantAdvice: true,
		},
		"more layers than the cap is LIMIT_EXCEEDED": {
			layers: 3, verdict: report.Inconclusive, reason: report.ReasonLimitExceeded, wantAdvice: true,
		},
		"a blob over the store's size limit is LIMIT_EXCEEDED": {
			fetchErr: fmt.Errorf("fetch: %w", errdef.ErrSizeExceedsLimit), layers: 1,
			verdict: report.Inconclusive, reason: report.ReasonLimitExceeded, wantAdvice: true,
		},
		"a registry error while fetching is REGISTRY_ERROR": {
			fetchErr: errors.New("connection refused"), layers: 1,
			verdict: report.Inconclusive, reason: report.ReasonRegistryError, wantAdvice: true,
		},
		"a manifest that is not JSON is REGISTRY_ERROR": {
			badJSON: true, layers: 1,
			verdict: report.Inconclusive, reason: report.ReasonRegistryError, wantAdvice: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			job, f, layers := signatureJob(t, tc.layers)
			if tc.fetchErr != nil {
				f.errs[layers[0].Digest] = tc.fetchErr
			}
			if tc.badJSON {
				f.content[job.Artifact.Digest] = []byte("{not json")
			}
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			p := &fakePlugins{resp: tc.resp, err: tc.err}
			res, err := newVerifier(t, p).Verify(ctx, job)
			if err != nil {
				t.Fatalf("Verify returned error %v; failures must be results", err)
			}
			if res.Verdict != tc.verdict || res.Reason != tc.reason {
				t.Fatalf("got %s/%s (%s), want %s/%s", res.Verdict, res.Reason, res.Message, tc.verdict, tc.reason)
			}
			if !strings.Contains(res.Message, tc.wantMessage) {
				t.Errorf("message %q does not say %q", res.Message, tc.wantMessage)
			}
			if tc.wantAdvice && res.Remediation == "" {
				t.Error("no remediation on a non-verified result")
			}
			if res.Verdict == report.Inconclusive && res.Message == "" {
				t.Error("an inconclusive result without a message")
			}
		})
	}
}

func TestNewRejectsIncompleteOptions(t *testing.T) {
	p := &fakePlugins{}
	tests := map[string]Options{
		"no name":                 {Plugin: "notation", ArtifactTypes: []string{"a"}, Plugins: p},
		"no plugin":               {Name: "n", ArtifactTypes: []string{"a"}, Plugins: p},
		"no artifact types":       {Name: "n", Plugin: "notation", Plugins: p},
		"no plugin host":          {Name: "n", Plugin: "notation", ArtifactTypes: []string{"a"}},
		"parameters not JSON":     {Name: "n", Plugin: "notation", ArtifactTypes: []string{"a"}, Plugins: p, Parameters: []byte("{")},
		"an empty signature type": {Name: "n", Plugin: "notation", ArtifactTypes: []string{"a"}, Plugins: p, SignatureTypes: []string{""}},
	}
	for name, o := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := New(o); err == nil {
				t.Fatal("New accepted incomplete options")
			}
		})
	}
}

// The Verifier hands the executor the signature types its plugin
// declares, through the executor's optional SignatureTyper capability.
func TestSignatureTypesComeFromTheOptions(t *testing.T) {
	sigs := []string{"application/vnd.dev.cosign.artifact.sig.v1+json", "application/vnd.dev.sigstore.bundle.v0.3+json"}
	v, err := New(Options{Name: "cosign", Plugin: "cosign", ArtifactTypes: sigs[:1], Plugins: &fakePlugins{}, SignatureTypes: sigs})
	if err != nil {
		t.Fatal(err)
	}
	var ev executor.Verifier = v
	st, ok := ev.(executor.SignatureTyper)
	if !ok {
		t.Fatal("the Verifier does not implement executor.SignatureTyper")
	}
	want := slices.Clone(sigs)
	sigs[0] = "changed by the caller"
	if diff := cmp.Diff(want, st.SignatureTypes()); diff != "" {
		t.Errorf("SignatureTypes (-want +got):\n%s", diff)
	}
	none, err := New(Options{Name: "reports", Plugin: "vulnreport", ArtifactTypes: []string{"application/sarif+json"}, Plugins: &fakePlugins{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := none.SignatureTypes(); len(got) != 0 {
		t.Errorf("a plugin without signature types: %q", got)
	}
}

// fakeBudget records reservations and whether they were given back.
type fakeBudget struct {
	held       int64 // bytes reserved and not given back
	reserved   []int64
	heldAtCall int64 // held when the plugin was called
	err        error
}

func (b *fakeBudget) Acquire(_ context.Context, n int64, _ string) (func(), error) {
	if b.err != nil {
		return nil, b.err
	}
	b.reserved = append(b.reserved, n)
	b.held += n
	return func() { b.held -= n }, nil
}

// budgetPlugins records how much of the budget was held when it was called.
type budgetPlugins struct {
	fakePlugins
	b *fakeBudget
}

func (p *budgetPlugins) Verify(ctx context.Context, name string, req *plugin.VerifyRequest) (*plugin.VerifyResponse, error) {
	p.b.heldAtCall = p.b.held
	return p.fakePlugins.Verify(ctx, name, req)
}

// The manifest is reserved while it is read, then the manifest, the
// parameters and every layer in one piece, held until the plugin answers.
func TestVerifyHoldsTheBytesInTheMemoryBudgetUntilThePluginAnswers(t *testing.T) {
	job, f, layers := signatureJob(t, 2)
	b := &fakeBudget{}
	p := &budgetPlugins{fakePlugins: fakePlugins{resp: &plugin.VerifyResponse{Verdict: plugin.VerdictVerified, Reason: "VERIFIED"}}, b: b}
	v, err := New(Options{
		Name: "sig", Plugin: "notation", Plugins: p, Memory: b,
		ArtifactTypes: []string{"application/vnd.cncf.notary.signature"}, Parameters: []byte(`{"a":1}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := v.Verify(context.Background(), job); res.Verdict != report.Verified {
		t.Fatalf("result %+v", res)
	}
	all := int64(len(f.content[job.Artifact.Digest])) + int64(len(`{"a":1}`)) + layers[0].Size + layers[1].Size
	if want := []int64{job.Artifact.Size, all}; !slices.Equal(b.reserved, want) {
		t.Errorf("reserved %v, want the manifest then everything: %v", b.reserved, want)
	}
	if b.heldAtCall != all {
		t.Errorf("held %d bytes while the plugin ran, want %d", b.heldAtCall, all)
	}
	if b.held != 0 {
		t.Errorf("%d bytes not given back", b.held)
	}

	// A budget that refuses is the reason of the result.
	b.err = fmt.Errorf("waited for the memory budget (memory-budget): %w", context.DeadlineExceeded)
	res, _ := v.Verify(context.Background(), job)
	if res.Reason != report.ReasonDeadlineExceeded || !strings.Contains(res.Message, "memory-budget") {
		t.Errorf("refused by the budget: %s %s", res.Reason, res.Message)
	}
	b.err = fmt.Errorf("more than the whole memory budget (memory-budget): %w", errdef.ErrSizeExceedsLimit)
	if res, _ := v.Verify(context.Background(), job); res.Reason != report.ReasonLimitExceeded {
		t.Errorf("larger than the budget: %s %s", res.Reason, res.Message)
	}
}

// Layers are checked by descriptor before any is read: against their
// artifact type's limit (signature types default to
// DefaultMaxSignatureBytes, a Store may set any type's), and together
// against what one plugin request may carry.
func TestVerifyRefusesLayersByDescriptor(t *testing.T) {
	const sigType = "application/vnd.cncf.notary.signature"
	big := func(t *testing.T, size int64, n int) executor.Job {
		job, f, _ := signatureJob(t, 0)
		m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: sigType, Config: ocispec.DescriptorEmptyJSON}
		m.SchemaVersion = 2
		for i := range n {
			m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: "application/jose+json", Digest: digest.FromString(fmt.Sprint(i)), Size: size})
		}
		raw, _ := json.Marshal(m)
		job.Artifact = f.add(t, ocispec.MediaTypeImageManifest, raw)
		job.Artifact.ArtifactType = sigType
		return job
	}
	for name, tc := range map[string]struct {
		signatureTypes []string
		perType        map[string]int64
		size           int64
		layers         int
		want           string
	}{
		"a signature type's default": {
			signatureTypes: []string{sigType}, size: DefaultMaxSignatureBytes + 1, layers: 1,
			want: `has 262145 bytes, more than the limit of 262144 for that type (the default for the signature type of plugin "notation"`,
		},
		"a Store's limit for the type": {
			signatureTypes: []string{sigType}, perType: map[string]int64{sigType: 1024}, size: 1025, layers: 1,
			want: "more than the limit of 1024 for that type (spec.limits.maxBytesPerArtifactType of the Store)",
		},
		"the plugin request": {
			perType: map[string]int64{sigType: 32 << 20}, size: 32 << 20, layers: 16,
			want: "more than the 66060288 one plugin request may carry",
		},
	} {
		t.Run(name, func(t *testing.T) {
			p := &fakePlugins{resp: &plugin.VerifyResponse{Verdict: plugin.VerdictVerified}}
			v, err := New(Options{
				Name: "sig", Plugin: "notation", Plugins: p, ArtifactTypes: []string{sigType},
				SignatureTypes: tc.signatureTypes, MaxBytesPerArtifactType: tc.perType,
			})
			if err != nil {
				t.Fatal(err)
			}
			res, _ := v.Verify(context.Background(), big(t, tc.size, tc.layers))
			if res.Verdict != report.Inconclusive || res.Reason != report.ReasonLimitExceeded || !strings.Contains(res.Message, tc.want) {
				t.Errorf("result %s %s: %s\nwant LIMIT_EXCEEDED saying %q", res.Verdict, res.Reason, res.Message, tc.want)
			}
			if p.got != nil {
				t.Error("the plugin was called")
			}
		})
	}
	// A layer within its type's limit is read (here: not found, so
	// REGISTRY_ERROR, not LIMIT_EXCEEDED); a type with no limit of its
	// own is left to the store.
	v, err := New(Options{Name: "sig", Plugin: "notation", Plugins: &fakePlugins{}, ArtifactTypes: []string{sigType}})
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := v.Verify(context.Background(), big(t, 30<<20, 1)); res.Reason != report.ReasonRegistryError {
		t.Errorf("no signature type, 30 MiB layer: %s %s, want the fetch attempted", res.Reason, res.Message)
	}
}

func TestNewRefusesANonPositiveTypeLimit(t *testing.T) {
	_, err := New(Options{
		Name: "sig", Plugin: "notation", Plugins: &fakePlugins{}, ArtifactTypes: []string{"a"},
		MaxBytesPerArtifactType: map[string]int64{"a": 0},
	})
	if err == nil || !strings.Contains(err.Error(), `the size limit of artifact type "a" must be positive`) {
		t.Fatalf("got %v", err)
	}
}
