package executor_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/executor"
	"github.com/assayproj/assay/pkg/report"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/errdef"
)

// tagSignatureStore adds to the referrers of one subject a signature
// whose manifest has no subject field, the way the real store reports
// cosign's classic "sha256-<hex>.sig" tag.
type tagSignatureStore struct {
	*fakeStore
	subject ocispec.Descriptor
	sig     ocispec.Descriptor
}

var _ executor.Store = tagSignatureStore{}

func (s tagSignatureStore) Referrers(ctx context.Context, repository string, subject ocispec.Descriptor, fn func([]ocispec.Descriptor) error) error {
	if err := s.fakeStore.Referrers(ctx, repository, subject, fn); err != nil {
		return err
	}
	if subject.Digest == s.subject.Digest {
		return fn([]ocispec.Descriptor{s.sig})
	}
	return nil
}

// pushTagSignature pushes a manifest without a subject field (cosign's
// classic signature layout) and returns it as a listing reports it.
func (s *fakeStore) pushTagSignature(t *testing.T, name string) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	layer, err := oras.PushBytes(ctx, s.mem, "application/vnd.dev.cosign.simplesigning.v1+json", []byte(`{"critical":{},"name":"`+name+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := oras.PushBytes(ctx, s.mem, ocispec.MediaTypeImageConfig, []byte(`{"name":"`+name+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := oras.PackManifest(ctx, s.mem, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{ConfigDescriptor: &cfg, Layers: []ocispec.Descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	s.tag(t, d, "")
	d.ArtifactType = cosignSig
	return d
}

func TestADigestIsNotResolvedBeforeItsReferrersAreListed(t *testing.T) {
	tests := map[string]struct {
		attached    bool // a Notary Project signature with a subject field
		tagSig      bool // a cosign signature without one
		concurrency int
		// resolved: the subject was asked for once (no manifest named
		// it), else never.
		resolved bool
	}{
		"the signature manifest's subject field gives the subject's descriptor": {
			attached: true,
		},
		"a signature without a subject field gets the descriptor its sibling's manifest gives": {
			attached: true, tagSig: true,
		},
		"one slot is enough for a job that waits for its sibling's manifest": {
			attached: true, tagSig: true, concurrency: 1,
		},
		"with no manifest naming the subject it is asked for once, for every job": {
			tagSig: true, resolved: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := newFakeStore()
			image := s.pushImage(t, "v1")
			var st executor.Store = s
			if tc.attached {
				s.attach(t, image, notary, "sig")
			}
			if tc.tagSig {
				st = tagSignatureStore{fakeStore: s, subject: image, sig: s.pushTagSignature(t, "tag sig")}
			}
			rules := []executor.Rule{}
			if tc.attached {
				rules = append(rules, executor.Rule{ArtifactType: notary, Required: true})
			}
			if tc.tagSig {
				rules = append(rules, executor.Rule{ArtifactType: cosignSig, Required: true})
			}
			// Two Verifiers for cosign signatures: two jobs that need the
			// subject, one request for it.
			verifiers := []*fakeVerifier{newFakeVerifier("notation", notary).WithSignatureTypes(notary), newFakeVerifier("cosign", cosignSig).WithSignatureTypes(cosignSig), newFakeVerifier("cosign-too", cosignSig).WithSignatureTypes(cosignSig)}
			opts := executor.Options{Policy: policy(rules...), Concurrency: tc.concurrency}
			for _, v := range verifiers {
				opts.Verifiers = append(opts.Verifiers, v)
			}
			ref := repo + "@" + image.Digest.String()
			rep := verify(t, st, opts, ref)
			if !rep.IsSuccess {
				t.Fatalf("%s: %s", rep.Reason, rep.Message)
			}
			var want []string
			if tc.resolved {
				want = []string{repo + " " + image.Digest.String()}
			}
			if got := s.resolutions(); !slices.Equal(got, want) {
				t.Errorf("resolved %v, want %v", got, want)
			}
			ran := 0
			for _, v := range verifiers {
				for _, j := range v.ran() {
					ran++
					if j.Subject.Digest != image.Digest || j.Subject.MediaType != image.MediaType || j.Subject.Size != image.Size {
						t.Errorf("%s's job on %s has subject %+v, want %+v", v.name, j.Artifact.Digest, j.Subject, image)
					}
				}
			}
			jobs := 0
			if tc.attached {
				jobs++ // notation's
			}
			if tc.tagSig {
				jobs += 2 // cosign's and cosign-too's
			}
			if ran != jobs {
				t.Errorf("ran %d jobs, want %d", ran, jobs)
			}
		})
	}
}

func TestADigestWithoutReferrersIsResolvedThen(t *testing.T) {
	s := newFakeStore()
	image := s.pushImage(t, "v1")
	missing := s.pushImage(t, "gone")
	// A store that does not have the digest: nothing refers to it, and
	// resolving it fails.
	s.WithResolve(func(_ context.Context, _, reference string) error {
		if reference == missing.Digest.String() {
			return errdef.ErrNotFound
		}
		return nil
	})
	opts := executor.Options{
		Verifiers: []executor.Verifier{newFakeVerifier("notation", notary).WithSignatureTypes(notary)},
		Policy:    policy(executor.Rule{ArtifactType: notary, Required: true}),
		Verdicts:  newMapCache(),
	}

	t.Run("an unsigned image is pinned and fails its Policy", func(t *testing.T) {
		ref := repo + "@" + image.Digest.String()
		rep := verify(t, s, opts, ref)
		if rep.IsSuccess || rep.Reason != report.ReasonNoSignature || rep.Subject != ref {
			t.Errorf("report %s %s %q, want NO_SIGNATURE for %s", rep.Subject, rep.Reason, rep.Message, ref)
		}
	})

	for name, run := range map[string]func(e *executor.Executor, ref string) (*report.Report, error){
		"Verify": func(e *executor.Executor, ref string) (*report.Report, error) {
			return e.Verify(context.Background(), ref)
		},
		"Discover": func(e *executor.Executor, ref string) (*report.Report, error) {
			return e.Discover(context.Background(), ref)
		},
	} {
		t.Run(name+" reports a digest the registry does not have as SUBJECT_NOT_FOUND", func(t *testing.T) {
			before := len(s.resolutions())
			ref := repo + "@" + missing.Digest.String()
			e := newExecutor(t, s, opts)
			for range 2 { // the second time, nothing came from the verdict cache
				rep, err := run(e, ref)
				if !errors.Is(err, executor.ErrResolve) || !errors.Is(err, errdef.ErrNotFound) {
					t.Fatalf("err = %v, want ErrResolve wrapping ErrNotFound", err)
				}
				checkWellFormed(t, rep, ref)
				if rep.IsSuccess || rep.Reason != report.ReasonSubjectNotFound || rep.Subject != "" || len(rep.Artifacts) != 0 || rep.Policy != nil {
					t.Errorf("report = %+v, want SUBJECT_NOT_FOUND and no subject", rep)
				}
			}
			if got := len(s.resolutions()) - before; got != 2 {
				t.Errorf("resolved %d times, want once per call", got)
			}
			if st := e.CacheStats(); st.Stored != 0 {
				t.Errorf("cache stats %+v: a subject that was not found was cached", st)
			}
		})
	}
}

func TestAMultiArchPolicyResolvesADigestBesideTheListing(t *testing.T) {
	st := newFakeStore()
	amd := platform(st.pushImage(t, "amd64"), "linux", "amd64")
	st.attach(t, amd, notary, "amd-sig")
	index := st.pushIndex(t, "multi", amd)
	st.attach(t, index, notary, "index-sig")
	// The HEAD of the index answers only once its referrers are being
	// listed: had it been sent first, it would wait for ever.
	listing := make(chan struct{})
	var once sync.Once
	st.WithReferrers(func(_ context.Context, subject ocispec.Descriptor) error {
		if subject.Digest == index.Digest {
			once.Do(func() { close(listing) })
		}
		return nil
	})
	st.WithResolve(func(ctx context.Context, _, _ string) error {
		select {
		case <-listing:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("the subject was resolved before its referrers were listed")
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	pol := policy(executor.Rule{ArtifactType: notary, Required: true})
	pol.MultiArch = executor.MultiArchPlatforms
	rep := verify(t, st, executor.Options{Verifiers: []executor.Verifier{newFakeVerifier("notation", notary).WithSignatureTypes(notary)}, Policy: pol}, repo+"@"+index.Digest.String())
	if !rep.IsSuccess || rep.Coverage == nil || rep.Coverage.Platforms != 1 {
		t.Fatalf("%s: %s (coverage %+v), want the index and its platform verified", rep.Reason, rep.Message, rep.Coverage)
	}
	if got := st.resolutions(); len(got) != 1 {
		t.Errorf("resolved %v, want the index once", got)
	}
}
