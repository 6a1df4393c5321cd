package registrytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
)

// Media types of cosign's classic signature layout.
const (
	// CosignSimpleSigningMediaType is the media type of the layers of a
	// manifest under cosign's "sha256-<hex>.sig" tag.
	CosignSimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// CosignSignatureAnnotation holds a layer's base64 signature.
	CosignSignatureAnnotation = "dev.cosignproject.cosign/signature"
)

// Blob is content to push as a layer of a manifest.
type Blob struct {
	// MediaType of the layer. If empty, "application/octet-stream".
	MediaType string
	// Data is the content.
	Data []byte
	// Annotations of the layer's descriptor, if any.
	Annotations map[string]string
}

// Artifact describes a manifest to push as a referrer.
type Artifact struct {
	// ArtifactType is the manifest's artifactType. Required.
	ArtifactType string
	// Blobs become the manifest's layers, in order. If empty, the
	// manifest has the single empty layer OCI 1.1 prescribes.
	Blobs []Blob
	// Annotations of the manifest. oras-go adds
	// "org.opencontainers.image.created" (now) when it is missing.
	Annotations map[string]string
}

// PushImage pushes a small image with random content (an OCI config, one
// layer, a manifest) to target, tags it tag, and returns the manifest's
// descriptor. Each call pushes a different image.
func PushImage(t testing.TB, target oras.Target, tag string) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	layer := push(t, target, Blob{MediaType: ocispec.MediaTypeImageLayer, Data: []byte(rand.Text())})
	cfg, err := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{Architecture: "amd64", OS: "linux"},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layer.Digest}},
	})
	if err != nil {
		t.Fatalf("encode image config: %v", err)
	}
	config := push(t, target, Blob{MediaType: ocispec.MediaTypeImageConfig, Data: cfg})
	desc, err := oras.PackManifest(ctx, target, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{
		ConfigDescriptor: &config,
		Layers:           []ocispec.Descriptor{layer},
	})
	if err != nil {
		t.Fatalf("push image manifest: %v", err)
	}
	if err := target.Tag(ctx, desc, tag); err != nil {
		t.Fatalf("tag image %s as %s: %v", desc.Digest, tag, err)
	}
	return desc
}

// Attach pushes a as an artifact manifest whose subject is subject and
// returns its descriptor, with ArtifactType and Annotations set as a
// referrers listing reports them. On a registry without the referrers
// API, oras-go also updates the referrers tag index (see the package
// documentation for concurrency).
func Attach(t testing.TB, target oras.Target, subject ocispec.Descriptor, a Artifact) ocispec.Descriptor {
	t.Helper()
	if a.ArtifactType == "" {
		t.Fatalf("attach to %s: an artifact type is required", subject.Digest)
	}
	layers := make([]ocispec.Descriptor, 0, len(a.Blobs))
	for _, b := range a.Blobs {
		layers = append(layers, push(t, target, b))
	}
	desc, err := oras.PackManifest(context.Background(), target, oras.PackManifestVersion1_1, a.ArtifactType, oras.PackManifestOptions{
		Subject:             &subject,
		Layers:              layers,
		ManifestAnnotations: a.Annotations,
	})
	if err != nil {
		t.Fatalf("attach %s to %s: %v", a.ArtifactType, subject.Digest, err)
	}
	return desc
}

// PushCosignSignatureTag pushes a manifest in cosign's classic signature
// layout, tagged "sha256-<hex>.sig" after subject's digest, and returns
// its descriptor. The manifest has no subject and no artifact type; its
// layers are blobs, or, if none are given, one simple-signing payload for
// subject with an empty signature annotation. Nothing here signs: the
// caller provides real signatures in blobs when it needs them.
func PushCosignSignatureTag(t testing.TB, target oras.Target, subject ocispec.Descriptor, blobs ...Blob) ocispec.Descriptor {
	t.Helper()
	if len(blobs) == 0 {
		payload, err := json.Marshal(map[string]any{
			"critical": map[string]any{
				"identity": map[string]string{"docker-reference": ""},
				"image":    map[string]string{"docker-manifest-digest": subject.Digest.String()},
				"type":     "cosign container image signature",
			},
			"optional": nil,
		})
		if err != nil {
			t.Fatalf("encode cosign payload: %v", err)
		}
		blobs = []Blob{{MediaType: CosignSimpleSigningMediaType, Data: payload, Annotations: map[string]string{CosignSignatureAnnotation: ""}}}
	}
	layers := make([]ocispec.Descriptor, 0, len(blobs))
	diffIDs := make([]digest.Digest, 0, len(blobs))
	for _, b := range blobs {
		d := push(t, target, b)
		layers = append(layers, d)
		diffIDs = append(diffIDs, d.Digest)
	}
	cfg, err := json.Marshal(ocispec.Image{RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}})
	if err != nil {
		t.Fatalf("encode cosign config: %v", err)
	}
	config := push(t, target, Blob{MediaType: ocispec.MediaTypeImageConfig, Data: cfg})
	ctx := context.Background()
	desc, err := oras.PackManifest(ctx, target, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{
		ConfigDescriptor: &config,
		Layers:           layers,
	})
	if err != nil {
		t.Fatalf("push cosign signature manifest: %v", err)
	}
	tag := CosignSignatureTag(subject.Digest)
	if err := target.Tag(ctx, desc, tag); err != nil {
		t.Fatalf("tag cosign signature as %s: %v", tag, err)
	}
	return desc
}

// CosignSignatureTag returns cosign's classic signature tag for a
// subject digest: "sha256-<hex>.sig".
func CosignSignatureTag(subject digest.Digest) string {
	return subject.Algorithm().String() + "-" + subject.Encoded() + ".sig"
}

// push pushes b and returns its descriptor with b's annotations; content
// already present is not an error.
func push(t testing.TB, target oras.Target, b Blob) ocispec.Descriptor {
	t.Helper()
	mediaType := b.MediaType
	if mediaType == "" {
		mediaType = "application/octet-stream"
	}
	desc := content.NewDescriptorFromBytes(mediaType, b.Data)
	err := target.Push(context.Background(), desc, bytes.NewReader(b.Data))
	if err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		t.Fatalf("push %s blob: %v", mediaType, err)
	}
	desc.Annotations = b.Annotations
	return desc
}
