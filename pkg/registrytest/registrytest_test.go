package registrytest_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

var registries = map[string]func(testing.TB) *registrytest.Server{
	"olareg with the referrers API":          registrytest.NewOlareg,
	"distribution without the referrers API": registrytest.StartDistribution,
}

func TestContentPushedToEitherRegistryIsServedBack(t *testing.T) {
	for name, start := range registries {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := start(t)
			push := s.Repository(t, "fixtures/app")
			image := registrytest.PushImage(t, push, "v1")
			sbom := registrytest.Attach(t, push, image, registrytest.Artifact{
				ArtifactType: "application/spdx+json",
				Blobs:        []registrytest.Blob{{MediaType: "application/spdx+json", Data: []byte(`{}`)}},
				Annotations:  map[string]string{ocispec.AnnotationCreated: "2026-01-02T03:04:05Z"},
			})
			sig := registrytest.Attach(t, push, sbom, registrytest.Artifact{ArtifactType: "application/vnd.cncf.notary.signature"})
			cosign := registrytest.PushCosignSignatureTag(t, push, image)

			// A fresh repository value knows nothing of the registry's
			// referrers capability and has to detect it.
			read := s.Repository(t, "fixtures/app")
			if got, err := read.Resolve(ctx, "v1"); err != nil || got.Digest != image.Digest {
				t.Fatalf("resolve v1 = %s, %v; want %s", got.Digest, err, image.Digest)
			}
			if got, err := read.Resolve(ctx, registrytest.CosignSignatureTag(image.Digest)); err != nil || got.Digest != cosign.Digest {
				t.Fatalf("resolve the cosign tag = %s, %v; want %s", got.Digest, err, cosign.Digest)
			}
			tests := map[string]struct {
				subject ocispec.Descriptor
				want    ocispec.Descriptor
			}{
				"the image has the SBOM as a referrer":     {subject: image, want: sbom},
				"the SBOM has the signature as a referrer": {subject: sbom, want: sig},
			}
			for name, tc := range tests {
				t.Run(name, func(t *testing.T) {
					var got []ocispec.Descriptor
					err := read.Referrers(ctx, tc.subject, "", func(page []ocispec.Descriptor) error {
						got = append(got, page...)
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
					if len(got) != 1 || got[0].Digest != tc.want.Digest || got[0].ArtifactType != tc.want.ArtifactType {
						t.Fatalf("referrers = %+v, want %s of type %s", got, tc.want.Digest, tc.want.ArtifactType)
					}
				})
			}
		})
	}
}

func TestHelpersPushToAnyTarget(t *testing.T) {
	ctx := context.Background()
	m := memory.New()
	image := registrytest.PushImage(t, m, "v1")
	other := registrytest.PushImage(t, m, "v2")
	if image.Digest == other.Digest {
		t.Fatal("two images pushed with PushImage are the same")
	}
	art := registrytest.Attach(t, m, image, registrytest.Artifact{ArtifactType: "application/x.test"})
	preds, err := m.Predecessors(ctx, image)
	if err != nil {
		t.Fatal(err)
	}
	if len(preds) != 1 || preds[0].Digest != art.Digest {
		t.Fatalf("predecessors of the image = %v, want %s", preds, art.Digest)
	}
	if tag := registrytest.CosignSignatureTag(digest.Digest("sha256:abc")); tag != "sha256-abc.sig" {
		t.Fatalf("cosign tag = %q", tag)
	}
}

func TestAuthMiddlewares(t *testing.T) {
	bearer := registrytest.BearerAuthOptions{AccessToken: "at", Username: "user", Password: "pass", RefreshToken: "rt"}
	tests := map[string]struct {
		wrap       func(http.Handler) http.Handler
		credential auth.Credential
		ok         bool
	}{
		"basic auth with the right password":         {wrap: registrytest.BasicAuth("user", "pass"), credential: auth.Credential{Username: "user", Password: "pass"}, ok: true},
		"basic auth with a wrong password":           {wrap: registrytest.BasicAuth("user", "pass"), credential: auth.Credential{Username: "user", Password: "nope"}},
		"a bearer token for a username and password": {wrap: registrytest.BearerAuth(bearer), credential: auth.Credential{Username: "user", Password: "pass"}, ok: true},
		"a bearer token for a refresh token":         {wrap: registrytest.BearerAuth(bearer), credential: auth.Credential{RefreshToken: "rt"}, ok: true},
		"the access token itself":                    {wrap: registrytest.BearerAuth(bearer), credential: auth.Credential{AccessToken: "at"}, ok: true},
		"no bearer token for a wrong password":       {wrap: registrytest.BearerAuth(bearer), credential: auth.Credential{Username: "user", Password: "nope"}},
		"no bearer token for a wrong refresh token":  {wrap: registrytest.BearerAuth(bearer), credential: auth.Credential{RefreshToken: "nope"}},
		"a wrong access token is refused":            {wrap: registrytest.BearerAuth(bearer), credential: auth.Credential{AccessToken: "nope"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := registrytest.NewOlaregBehind(t, tc.wrap)
			repo := s.Repository(t, "auth/app")
			repo.Client = &auth.Client{Credential: auth.StaticCredential(s.Host(), tc.credential)}
			_, err := repo.Resolve(context.Background(), "missing")
			if tc.ok {
				// Let in: olareg itself answers that the tag is unknown.
				if !errors.Is(err, errdef.ErrNotFound) {
					t.Fatalf("error = %v, want olareg's not found", err)
				}
				return
			}
			var resp *errcode.ErrorResponse
			if !errors.As(err, &resp) || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("error = %v, want a 401 answer", err)
			}
		})
	}
}

func TestDistributionBinaryFromTheEnvironmentMustExist(t *testing.T) {
	t.Setenv("ASSAY_DISTRIBUTION_BIN", filepath.Join(t.TempDir(), "missing"))
	if _, err := registrytest.DistributionBinary(); err == nil {
		t.Fatal("a missing binary was accepted")
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	s, err := registrytest.StartOlareg()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close()
}

func TestStartOlaregBehindPassesEveryRequestThroughTheMiddleware(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string
	)
	s, err := registrytest.StartOlaregBehind(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.Method+" "+r.URL.Path)
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	repo := s.Repository(t, "behind/app")
	image := registrytest.PushImage(t, repo, "v1")
	mu.Lock()
	seen = nil
	mu.Unlock()
	got, err := repo.Resolve(context.Background(), "v1")
	if err != nil || got.Digest != image.Digest {
		t.Fatalf("resolve v1 = %s, %v; want %s", got.Digest, err, image.Digest)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"HEAD /v2/behind/app/manifests/v1"}; !slices.Equal(seen, want) {
		t.Fatalf("the middleware saw %q, want %q", seen, want)
	}
}

func TestCorpusSamplesLoadIntoBothRegistries(t *testing.T) {
	c := registrytest.OpenCorpus(t)
	if len(c.Samples) < 15 {
		t.Fatalf("corpus has %d samples, want at least 15", len(c.Samples))
	}
	s := c.Sample(t, "05-cosign2-new-bundle-format")
	for _, tc := range []struct {
		name string
		srv  *registrytest.Server
		tags bool
	}{
		{"olareg", registrytest.NewOlareg(t), false},
		{"distribution", registrytest.StartDistribution(t), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := c.Load(t, tc.srv, s, tc.tags)
			repo := tc.srv.Repository(t, s.Repository)
			d, err := repo.Resolve(context.Background(), s.Tag)
			if err != nil {
				t.Fatal(err)
			}
			if d.Digest.String() != s.Subject || !strings.HasSuffix(ref, "@"+s.Subject) {
				t.Fatalf("tag %s resolves to %s (ref %s), want %s", s.Tag, d.Digest, ref, s.Subject)
			}
			n := 0
			if err := repo.Referrers(context.Background(), d, "", func(refs []ocispec.Descriptor) error {
				n += len(refs)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Fatalf("%d referrers of the subject, want the one bundle", n)
			}
		})
	}
}
