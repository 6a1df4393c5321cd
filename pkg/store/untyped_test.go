package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/store"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const bundleType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// A referrers tag schema index may list an artifact without its type:
// cosign v2.6.5's --new-bundle-format writes the empty config's media
// type for its bundle (corpus sample 05), and a hand-made index may give
// none. Referrers then reports the type the manifest states, fetching
// the manifest for such an entry only, into the content cache, so that a
// verifier reading it next sends nothing more. An entry with a type (the
// bundle of cosign v3, sample 06) costs no fetch.
func TestAnUntypedListingEntryTakesItsManifestsArtifactType(t *testing.T) {
	ctx := context.Background()
	srv := registrytest.StartDistribution(t)
	c := registrytest.OpenCorpus(t)

	// An index entry without artifactType, over a manifest with one.
	hand := srv.Repository(t, "store/untyped")
	img := registrytest.PushImage(t, hand, "v1")
	art := registrytest.Attach(t, hand, img, registrytest.Artifact{ArtifactType: bundleType})
	idx, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{{MediaType: art.MediaType, Digest: art.Digest, Size: art.Size}},
	})
	if err != nil {
		t.Fatal(err)
	}
	idxDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(idx), Size: int64(len(idx))}
	if err := hand.PushReference(ctx, idxDesc, bytes.NewReader(idx), img.Digest.Algorithm().String()+"-"+img.Digest.Encoded()); err != nil {
		t.Fatal(err)
	}

	tests := map[string]struct {
		repo    string
		subject ocispec.Descriptor
		// fetches is how many times listing fetches the listed manifest.
		fetches int
	}{
		"cosign v2 --new-bundle-format lists its bundle as application/vnd.oci.empty.v1+json": {
			repo: loadSample(t, c, srv, "05-cosign2-new-bundle-format"), subject: subjectOf(t, c, "05-cosign2-new-bundle-format"), fetches: 1,
		},
		"an index entry without artifactType": {
			repo: srv.RepositoryName("store/untyped"), subject: img, fetches: 1,
		},
		"cosign v3 lists its bundle with its type": {
			repo: loadSample(t, c, srv, "06-cosign3-bundle-key"), subject: subjectOf(t, c, "06-cosign3-bundle-key"), fetches: 0,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, rec := newStore(t, store.Options{Registries: plain(srv.Host()), SkipCosignSignatureTag: true})
			got, err := listAll(t, s, tc.repo, ocispec.Descriptor{Digest: tc.subject.Digest})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].ArtifactType != bundleType {
				t.Fatalf("referrers %+v, want one of type %s", got, bundleType)
			}
			listed := "/manifests/" + got[0].Digest.String()
			if n := rec.count(listed); n != tc.fetches {
				t.Errorf("listing fetched the listed manifest %d times, want %d", n, tc.fetches)
			}
			if _, err := s.Fetch(ctx, tc.repo, ocispec.Descriptor{MediaType: got[0].MediaType, Digest: got[0].Digest, Size: got[0].Size}); err != nil {
				t.Fatal(err)
			}
			if n := rec.count(listed); n != 1 {
				t.Errorf("the manifest was fetched %d times in all, want 1 (the listing's fetch is cached)", n)
			}
			// Within ReferrersTTL the corrected listing comes from the
			// cache.
			before := rec.count("")
			again, err := listAll(t, s, tc.repo, ocispec.Descriptor{Digest: tc.subject.Digest})
			if err != nil {
				t.Fatal(err)
			}
			if len(again) != 1 || again[0].ArtifactType != bundleType || rec.count("") != before {
				t.Errorf("cached listing %+v after %d requests, want the bundle type and none", again, rec.count("")-before)
			}
		})
	}
}

func loadSample(t *testing.T, c *registrytest.Corpus, srv *registrytest.Server, name string) string {
	t.Helper()
	s := c.Sample(t, name)
	c.Load(t, srv, s, true)
	return srv.RepositoryName(s.Repository)
}

func subjectOf(t *testing.T, c *registrytest.Corpus, name string) ocispec.Descriptor {
	t.Helper()
	return ocispec.Descriptor{Digest: digest.Digest(c.Sample(t, name).Subject)}
}
