package cosigntest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/errdef"

	"github.com/assayproj/assay/pkg/plugin"
)

// SignatureTag returns cosign's classic signature tag for a subject
// digest: "sha256-<hex>.sig".
func SignatureTag(subject digest.Digest) string {
	return subject.Algorithm().String() + "-" + subject.Encoded() + ".sig"
}

// PushClassic pushes layers as one manifest in cosign's classic layout
// and tags it SignatureTag(subject.Digest), as cosign v2 does: an OCI
// image manifest without subject or artifact type whose config lists the
// layers' digests, one simple-signing layer per signature. It returns the
// manifest's descriptor with ArtifactType set to SignatureArtifactType,
// as Assay's store reports it. A second push replaces the tag; to keep
// several signatures, push them together.
func PushClassic(ctx context.Context, target oras.Target, subject ocispec.Descriptor, layers ...*Layer) (ocispec.Descriptor, error) {
	desc, err := packClassic(ctx, target, layers)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := target.Tag(ctx, desc, SignatureTag(subject.Digest)); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("cosigntest: tag %s: %w", SignatureTag(subject.Digest), err)
	}
	desc.ArtifactType = SignatureArtifactType
	return desc, nil
}

func packClassic(ctx context.Context, target oras.Target, layers []*Layer) (ocispec.Descriptor, error) {
	if len(layers) == 0 {
		return ocispec.Descriptor{}, errors.New("cosigntest: no signature layers")
	}
	descs := make([]ocispec.Descriptor, 0, len(layers))
	diffIDs := make([]digest.Digest, 0, len(layers))
	for _, l := range layers {
		if l == nil {
			return ocispec.Descriptor{}, errors.New("cosigntest: nil layer")
		}
		ann, err := l.Annotations()
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		d, err := pushBlob(ctx, target, SimpleSigningMediaType, l.Payload)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		d.Annotations = ann
		descs = append(descs, d)
		diffIDs = append(diffIDs, d.Digest)
	}
	cfg, err := json.Marshal(ocispec.Image{RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("cosigntest: encode config: %w", err)
	}
	config, err := pushBlob(ctx, target, ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc, err := oras.PackManifest(ctx, target, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{
		ConfigDescriptor: &config,
		Layers:           descs,
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("cosigntest: push signature manifest: %w", err)
	}
	return desc, nil
}

// PushBundle pushes b as an OCI 1.1 referrer of subject, as cosign v3
// does (cosign specs/BUNDLE_SPEC.md): artifact type and layer media type
// BundleArtifactType, the empty config, the bundle as the one layer, and
// the content, predicate type and creation annotations. On a registry
// without the referrers API, oras-go updates the referrers tag index.
func PushBundle(ctx context.Context, target oras.Target, subject ocispec.Descriptor, b *Bundle) (ocispec.Descriptor, error) {
	if b == nil {
		return ocispec.Descriptor{}, errors.New("cosigntest: nil bundle")
	}
	layer, err := pushBlob(ctx, target, BundleArtifactType, b.JSON)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	layer.Annotations = map[string]string{ocispec.AnnotationTitle: layer.Digest.Algorithm().String() + "-" + layer.Digest.Encoded() + ".sigstore.json"}
	ann := map[string]string{
		AnnotationBundleContent:   b.Content,
		ocispec.AnnotationCreated: time.Now().UTC().Format(time.RFC3339),
	}
	if b.PredicateType != "" {
		ann[AnnotationBundlePredicateType] = b.PredicateType
	}
	desc, err := oras.PackManifest(ctx, target, oras.PackManifestVersion1_1, BundleArtifactType, oras.PackManifestOptions{
		Subject:             &subject,
		Layers:              []ocispec.Descriptor{layer},
		ManifestAnnotations: ann,
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("cosigntest: push bundle manifest for %s: %w", subject.Digest, err)
	}
	desc.ArtifactType = BundleArtifactType
	desc.Annotations = ann
	return desc, nil
}

func pushBlob(ctx context.Context, target oras.Target, mediaType string, data []byte) (ocispec.Descriptor, error) {
	desc := content.NewDescriptorFromBytes(mediaType, data)
	if err := target.Push(ctx, desc, bytes.NewReader(data)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return ocispec.Descriptor{}, fmt.Errorf("cosigntest: push %s blob: %w", mediaType, err)
	}
	return desc, nil
}

// ClassicRequest builds the request the Assay host sends the cosign
// plugin for a classic signature manifest of layers attached to subject
// in repository: the manifest and its layers are made as PushClassic
// makes them, in memory. config is the plugin's parameters as JSON.
func ClassicRequest(ctx context.Context, config []byte, repository string, subject ocispec.Descriptor, layers ...*Layer) (*plugin.VerifyRequest, error) {
	store := memory.New()
	desc, err := PushClassic(ctx, store, subject, layers...)
	if err != nil {
		return nil, err
	}
	return request(ctx, store, config, repository, subject, desc)
}

// BundleRequest builds the request the Assay host sends the cosign
// plugin for bundle b attached to subject in repository, made as
// PushBundle makes it, in memory.
func BundleRequest(ctx context.Context, config []byte, repository string, subject ocispec.Descriptor, b *Bundle) (*plugin.VerifyRequest, error) {
	store := memory.New()
	desc, err := PushBundle(ctx, store, subject, b)
	if err != nil {
		return nil, err
	}
	return request(ctx, store, config, repository, subject, desc)
}

func request(ctx context.Context, store *memory.Store, config []byte, repository string, subject, desc ocispec.Descriptor) (*plugin.VerifyRequest, error) {
	raw, err := content.FetchAll(ctx, store, desc)
	if err != nil {
		return nil, fmt.Errorf("cosigntest: fetch manifest: %w", err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("cosigntest: decode manifest: %w", err)
	}
	req := &plugin.VerifyRequest{Config: config, Subject: subject, Repository: repository, Artifact: desc, ArtifactManifest: raw}
	for _, l := range m.Layers {
		data, err := content.FetchAll(ctx, store, l)
		if err != nil {
			return nil, fmt.Errorf("cosigntest: fetch layer: %w", err)
		}
		req.Blobs = append(req.Blobs, plugin.Blob{Descriptor: l, Data: data})
	}
	return req, nil
}

// PushImage pushes a small random image to target, tags it tag (unless
// empty) and returns its descriptor and manifest bytes.
func PushImage(ctx context.Context, target oras.Target, tag string) (ocispec.Descriptor, []byte, error) {
	layer, err := pushBlob(ctx, target, ocispec.MediaTypeImageLayer, []byte(time.Now().String()+randomText()))
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	cfg, err := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{Architecture: "amd64", OS: "linux"},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layer.Digest}},
	})
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	config, err := pushBlob(ctx, target, ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	desc, err := oras.PackManifest(ctx, target, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{
		ConfigDescriptor: &config,
		Layers:           []ocispec.Descriptor{layer},
	})
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("cosigntest: push image: %w", err)
	}
	if tag != "" {
		if err := target.Tag(ctx, desc, tag); err != nil {
			return ocispec.Descriptor{}, nil, fmt.Errorf("cosigntest: tag image: %w", err)
		}
	}
	raw, err := content.FetchAll(ctx, target, desc)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("cosigntest: fetch image manifest: %w", err)
	}
	return desc, raw, nil
}
