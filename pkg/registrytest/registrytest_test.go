package registrytest

import (
	"context"
	"testing"

	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"
)

func TestBothRegistriesAcceptPushesAndServeThemBack(t *testing.T) {
	for name, start := range map[string]func(testing.TB) *Server{
		"olareg":       NewOlareg,
		"distribution": StartDistribution,
	} {
		t.Run(name, func(t *testing.T) {
			s := start(t)
			repo, err := remote.NewRepository(s.Host() + "/check/app")
			if err != nil {
				t.Fatal(err)
			}
			repo.PlainHTTP = true
			ctx := context.Background()
			desc, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.test", oras.PackManifestOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := repo.Tag(ctx, desc, "v1"); err != nil {
				t.Fatal(err)
			}
			got, err := repo.Resolve(ctx, "v1")
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest != desc.Digest {
				t.Fatalf("resolved %s, pushed %s", got.Digest, desc.Digest)
			}
		})
	}
}
