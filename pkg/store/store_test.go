package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/store"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
)

// TestMain points DOCKER_CONFIG at an empty directory, so that no test
// reads the docker config of the user running it.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "store-test-docker-config")
	if err != nil {
		panic(err)
	}
	os.Setenv("DOCKER_CONFIG", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// recorder is an http.RoundTripper that records the requests a store
// sends. As Options.HTTPClient's transport it is beneath the store's
// retries and concurrency limit, so every attempt counts.
type recorder struct {
	next http.RoundTripper

	mu   sync.Mutex
	reqs []string // "METHOD path"
}

func (c *recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.reqs = append(c.reqs, r.Method+" "+r.URL.Path)
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

// count returns how many requests were sent, or, with a non-empty
// pathPart, how many of them had it in their path.
func (c *recorder) count(pathPart string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.reqs {
		if strings.Contains(r, pathPart) {
			n++
		}
	}
	return n
}

// newStore returns a store built from o whose requests are recorded. It
// keeps o.HTTPClient if set.
func newStore(t testing.TB, o store.Options) (*store.Registry, *recorder) {
	t.Helper()
	rec := &recorder{next: http.DefaultTransport}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: rec}
	}
	s, err := store.New(o)
	if err != nil {
		t.Fatalf("store.New: %v", err)
	}
	return s, rec
}

func plain(host string) map[string]store.RegistryOptions {
	return map[string]store.RegistryOptions{host: {PlainHTTP: true}}
}

// listAll collects every referrer Referrers reports.
func listAll(t testing.TB, s *store.Registry, repo string, subject ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	t.Helper()
	var all []ocispec.Descriptor
	err := s.Referrers(context.Background(), repo, subject, func(page []ocispec.Descriptor) error {
		all = append(all, page...)
		return nil
	})
	return all, err
}

// artifactTypes maps the digests of descs to their artifact types.
func artifactTypes(descs []ocispec.Descriptor) map[digest.Digest]string {
	m := map[digest.Digest]string{}
	for _, d := range descs {
		m[d.Digest] = d.ArtifactType
	}
	return m
}

var registries = map[string]func(testing.TB) *registrytest.Server{
	"olareg with the referrers API":                 registrytest.NewOlareg,
	"distribution v3 with the referrers tag schema": registrytest.StartDistribution,
}

func TestRealRegistries(t *testing.T) {
	for name, start := range registries {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			srv := start(t)
			repoName := srv.RepositoryName("store/app")
			push := srv.Repository(t, "store/app")
			image := registrytest.PushImage(t, push, "v1")
			lonely := registrytest.PushImage(t, push, "lonely")
			sig := registrytest.Attach(t, push, image, registrytest.Artifact{
				ArtifactType: "application/vnd.cncf.notary.signature",
				Blobs:        []registrytest.Blob{{MediaType: "application/jose+json", Data: []byte("envelope")}},
			})
			sarif := registrytest.Attach(t, push, image, registrytest.Artifact{
				ArtifactType: "application/sarif+json",
				Blobs:        []registrytest.Blob{{MediaType: "application/sarif+json", Data: []byte(`{"version":"2.1.0"}`)}},
			})
			sarifSig := registrytest.Attach(t, push, sarif, registrytest.Artifact{ArtifactType: "application/vnd.cncf.notary.signature"})
			cosign := registrytest.PushCosignSignatureTag(t, push, image)

			s, rec := newStore(t, store.Options{Registries: plain(srv.Host())})

			t.Run("a tag resolves to the image", func(t *testing.T) {
				got, err := s.Resolve(ctx, repoName, "v1")
				if err != nil {
					t.Fatal(err)
				}
				if got.Digest != image.Digest || got.Size != image.Size || got.MediaType != ocispec.MediaTypeImageManifest {
					t.Fatalf("resolve v1 = %+v, want %+v", got, image)
				}
			})
			t.Run("a digest resolves to the image, the second time from the cache", func(t *testing.T) {
				got, err := s.Resolve(ctx, repoName, image.Digest.String())
				if err != nil || got.Digest != image.Digest {
					t.Fatalf("resolve by digest = %s, %v; want %s", got.Digest, err, image.Digest)
				}
				before := rec.count("")
				again, err := s.Resolve(ctx, repoName, image.Digest.String())
				if err != nil || again.Digest != got.Digest || again.Size != got.Size || again.MediaType != got.MediaType {
					t.Fatalf("resolve again = %+v, %v; want %+v", again, err, got)
				}
				if n := rec.count("") - before; n != 0 {
					t.Fatalf("a digest resolved before sent %d requests", n)
				}
			})
			t.Run("an unknown tag is not found", func(t *testing.T) {
				_, err := s.Resolve(ctx, repoName, "missing")
				if !errors.Is(err, errdef.ErrNotFound) {
					t.Fatalf("error = %v, want errdef.ErrNotFound", err)
				}
			})
			t.Run("referrers of the image are the attached artifacts and the cosign signature tag", func(t *testing.T) {
				got, err := listAll(t, s, repoName, image)
				if err != nil {
					t.Fatal(err)
				}
				want := map[digest.Digest]string{
					sig.Digest:    "application/vnd.cncf.notary.signature",
					sarif.Digest:  "application/sarif+json",
					cosign.Digest: store.CosignSignatureArtifactType,
				}
				if types := artifactTypes(got); len(got) != len(want) || !equalMaps(types, want) {
					t.Fatalf("referrers = %v, want %v", types, want)
				}
				if last := got[len(got)-1]; last.Digest != cosign.Digest || last.MediaType != ocispec.MediaTypeImageManifest || last.Size != cosign.Size {
					t.Errorf("the cosign signature is reported as %+v, want last and %+v", last, cosign)
				}
			})
			t.Run("referrers of an artifact are its nested artifacts, without probing the cosign tag", func(t *testing.T) {
				before := rec.count(".sig")
				got, err := listAll(t, s, repoName, sarif)
				if err != nil {
					t.Fatal(err)
				}
				if want := map[digest.Digest]string{sarifSig.Digest: "application/vnd.cncf.notary.signature"}; !equalMaps(artifactTypes(got), want) {
					t.Fatalf("referrers = %v, want %v", artifactTypes(got), want)
				}
				if n := rec.count(".sig") - before; n != 0 {
					t.Errorf("%d requests for a cosign tag of an artifact", n)
				}
			})
			t.Run("an image without referrers has none", func(t *testing.T) {
				got, err := listAll(t, s, repoName, lonely)
				if err != nil || len(got) != 0 {
					t.Fatalf("referrers = %v, %v; want none", got, err)
				}
			})
			t.Run("an error from fn stops the listing and is returned as is", func(t *testing.T) {
				errStop := errors.New("stop")
				calls := 0
				err := s.Referrers(ctx, repoName, image, func([]ocispec.Descriptor) error {
					calls++
					return errStop
				})
				if err != errStop || calls != 1 {
					t.Fatalf("error = %v after %d calls, want errStop after 1", err, calls)
				}
			})
			t.Run("a manifest and a blob are fetched, then served from the cache", func(t *testing.T) {
				m, err := s.Fetch(ctx, repoName, sig)
				if err != nil {
					t.Fatal(err)
				}
				var man ocispec.Manifest
				if err := json.Unmarshal(m, &man); err != nil || len(man.Layers) != 1 || man.Subject == nil || man.Subject.Digest != image.Digest {
					t.Fatalf("signature manifest %s: %v", m, err)
				}
				blob, err := s.Fetch(ctx, repoName, man.Layers[0])
				if err != nil || string(blob) != "envelope" {
					t.Fatalf("blob = %q, %v", blob, err)
				}
				before := rec.count("")
				for _, d := range []ocispec.Descriptor{sig, man.Layers[0]} {
					if _, err := s.Fetch(ctx, repoName, d); err != nil {
						t.Fatal(err)
					}
				}
				if n := rec.count("") - before; n != 0 {
					t.Errorf("cached fetches sent %d requests", n)
				}
			})
			t.Run("cached content asked for with another size is invalid, as it is uncached", func(t *testing.T) {
				if _, err := s.Fetch(ctx, repoName, sig); err != nil {
					t.Fatal(err)
				}
				wrong := sig
				wrong.Size++
				if _, err := s.Fetch(ctx, repoName, wrong); !errors.Is(err, store.ErrInvalidContent) {
					t.Fatalf("error = %v, want ErrInvalidContent", err)
				}
				fresh, _ := newStore(t, store.Options{Registries: plain(srv.Host())})
				if _, err := fresh.Fetch(ctx, repoName, wrong); !errors.Is(err, store.ErrInvalidContent) {
					t.Fatalf("uncached: error = %v, want ErrInvalidContent", err)
				}
			})
			t.Run("fetched bytes are the caller's own", func(t *testing.T) {
				first, err := s.Fetch(ctx, repoName, sig)
				if err != nil {
					t.Fatal(err)
				}
				want := bytes.Clone(first)
				clear(first)
				again, err := s.Fetch(ctx, repoName, sig)
				if err != nil || !bytes.Equal(again, want) {
					t.Fatalf("after the caller changed its bytes, fetch = %q, %v", again, err)
				}
			})
			t.Run("missing content is not found", func(t *testing.T) {
				for _, mediaType := range []string{ocispec.MediaTypeImageManifest, "application/octet-stream"} {
					missing := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromString("missing " + mediaType), Size: 10}
					if _, err := s.Fetch(ctx, repoName, missing); !errors.Is(err, errdef.ErrNotFound) {
						t.Errorf("fetch of a missing %s: %v, want errdef.ErrNotFound", mediaType, err)
					}
				}
			})
		})
	}
}

func equalMaps(a, b map[digest.Digest]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func BenchmarkFetch(b *testing.B) {
	srv := registrytest.NewOlareg(b)
	repo := srv.RepositoryName("bench/app")
	image := registrytest.PushImage(b, srv.Repository(b, "bench/app"), "v1")
	ctx := context.Background()
	opts := store.Options{Registries: plain(srv.Host())}
	b.Run("cold", func(b *testing.B) {
		cold := opts
		cold.CacheBytes = -1 // nothing cached: every fetch goes to the registry
		s, _ := newStore(b, cold)
		for b.Loop() {
			if _, err := s.Fetch(ctx, repo, image); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm", func(b *testing.B) {
		s, _ := newStore(b, opts)
		if _, err := s.Fetch(ctx, repo, image); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.Fetch(ctx, repo, image); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestReferrersSourceSaysHowTheListingWasMade(t *testing.T) {
	tests := map[string]struct {
		start func(testing.TB) *registrytest.Server
		want  store.ReferrersSource
	}{
		"olareg answers the referrers API":                  {start: registrytest.NewOlareg, want: store.ReferrersAPI},
		"distribution v3 has the referrers tag schema only": {start: registrytest.StartDistribution, want: store.ReferrersTagSchema},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			srv := tc.start(t)
			repoName := srv.RepositoryName("store/source")
			push := srv.Repository(t, "store/source")
			image := registrytest.PushImage(t, push, "v1")
			sig := registrytest.Attach(t, push, image, registrytest.Artifact{ArtifactType: "application/vnd.cncf.notary.signature"})
			s, rec := newStore(t, store.Options{Registries: plain(srv.Host())})

			if got := s.ReferrersSource(repoName); got != store.ReferrersNotListed {
				t.Fatalf("before any listing: %q, want not listed", got)
			}
			if _, err := listAll(t, s, repoName, image); err != nil {
				t.Fatal(err)
			}
			before := rec.count("")
			if got := s.ReferrersSource(repoName); got != tc.want {
				t.Errorf("after a listing: %q, want %q", got, tc.want)
			}
			if n := rec.count("") - before; n != 0 {
				t.Errorf("ReferrersSource sent %d requests", n)
			}
			_, listed, err := s.ReferrersTagIndex(ctx, repoName, image.Digest)
			switch tc.want {
			case store.ReferrersTagSchema:
				if err != nil || len(listed) != 1 || listed[0].Digest != sig.Digest {
					t.Errorf("the tag schema index lists %v, %v; want the signature %s", listed, err, sig.Digest)
				}
			case store.ReferrersAPI:
				if !errors.Is(err, errdef.ErrNotFound) {
					t.Errorf("no tag schema index: %v, want errdef.ErrNotFound", err)
				}
			}
		})
	}
}

// TestReferrersTagIndexIsReadWhereTheAPIDoesNotListIt pushes, to a
// registry with the referrers API, an index under the tag schema tag
// listing a manifest that has no subject field (so the API does not list
// it), as a client forcing the tag schema can leave behind.
func TestReferrersTagIndexIsReadWhereTheAPIDoesNotListIt(t *testing.T) {
	ctx := context.Background()
	srv := registrytest.NewOlareg(t)
	repoName := srv.RepositoryName("store/forced")
	push := srv.Repository(t, "store/forced")
	image := registrytest.PushImage(t, push, "v1")
	orphan := registrytest.PushImage(t, push, "orphan")
	orphan.ArtifactType = "application/vnd.cncf.notary.signature"
	index, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{orphan},
	})
	if err != nil {
		t.Fatal(err)
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(index), Size: int64(len(index))}
	if err := push.PushReference(ctx, desc, bytes.NewReader(index), store.ReferrersTag(image.Digest)); err != nil {
		t.Fatal(err)
	}
	s, _ := newStore(t, store.Options{Registries: plain(srv.Host())})
	got, err := listAll(t, s, repoName, image)
	if err != nil || len(got) != 0 || s.ReferrersSource(repoName) != store.ReferrersAPI {
		t.Fatalf("the referrers API lists %v, %v (source %q); want nothing", got, err, s.ReferrersSource(repoName))
	}
	gotDesc, listed, err := s.ReferrersTagIndex(ctx, repoName, image.Digest)
	if err != nil || gotDesc.Digest != desc.Digest || len(listed) != 1 || listed[0].Digest != orphan.Digest {
		t.Fatalf("tag index %s lists %v, %v; want %s listing %s", gotDesc.Digest, listed, err, desc.Digest, orphan.Digest)
	}
	if _, _, err := s.ReferrersTagIndex(ctx, repoName, "sha256:nothex"); !errors.Is(err, errdef.ErrInvalidDigest) {
		t.Errorf("an invalid digest: %v, want errdef.ErrInvalidDigest", err)
	}
}
