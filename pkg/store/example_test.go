package store_test

import (
	"context"
	"fmt"
	"log"
	"slices"
	"strings"

	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/store"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"
)

// Pin a tag to a digest, list the image's referrers and fetch one of
// them, from a registry on loopback.
func Example() {
	srv, err := registrytest.StartOlareg()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	repo := srv.RepositoryName("demo/app")
	ctx := context.Background()
	push, err := remote.NewRepository(repo)
	if err != nil {
		log.Fatal(err)
	}
	push.PlainHTTP = true
	image, err := oras.PackManifest(ctx, push, oras.PackManifestVersion1_1, "application/vnd.example.image", oras.PackManifestOptions{})
	if err != nil {
		log.Fatal(err)
	}
	if err := push.Tag(ctx, image, "v1"); err != nil {
		log.Fatal(err)
	}
	for _, artifactType := range []string{"application/vnd.cncf.notary.signature", "application/sarif+json"} {
		if _, err := oras.PackManifest(ctx, push, oras.PackManifestVersion1_1, artifactType, oras.PackManifestOptions{Subject: &image}); err != nil {
			log.Fatal(err)
		}
	}

	s, err := store.New(store.Options{
		Registries: map[string]store.RegistryOptions{srv.Host(): {PlainHTTP: true}},
	})
	if err != nil {
		log.Fatal(err)
	}
	subject, err := s.Resolve(ctx, repo, "v1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pinned:", subject.Digest == image.Digest)
	var referrers []ocispec.Descriptor
	err = s.Referrers(ctx, repo, subject, func(page []ocispec.Descriptor) error {
		referrers = append(referrers, page...)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	slices.SortFunc(referrers, func(a, b ocispec.Descriptor) int { return strings.Compare(a.ArtifactType, b.ArtifactType) })
	for _, d := range referrers {
		fmt.Println("referrer:", d.ArtifactType)
	}
	manifest, err := s.Fetch(ctx, repo, referrers[0])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("manifest bytes match the descriptor:", int64(len(manifest)) == referrers[0].Size)
	// Output:
	// pinned: true
	// referrer: application/sarif+json
	// referrer: application/vnd.cncf.notary.signature
	// manifest bytes match the descriptor: true
}
