package notationtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/notaryproject/notation-go/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/assayproj/assay/pkg/plugin"
)

// ArtifactType is the Notary Project signature artifact type
// (notation-go registry.ArtifactTypeNotation).
const ArtifactType = registry.ArtifactTypeNotation

// AnnotationX509ChainThumbprint is the signature manifest annotation listing
// the SHA-256 thumbprints of the signing certificate chain, as notation
// writes it (notation-go internal/envelope.AnnotationX509ChainThumbprint).
const AnnotationX509ChainThumbprint = "io.cncf.notary.x509chain.thumbprint#S256"

var errNilSignature = errors.New("notationtest: nil signature")

// Annotations returns the manifest annotations notation writes on a
// signature manifest: the chain thumbprints and org.opencontainers.image.created
// set to the signing time.
func Annotations(sig *Signature) (map[string]string, error) {
	if sig == nil || sig.SignerInfo == nil {
		return nil, errNilSignature
	}
	thumbprints := make([]string, 0, len(sig.SignerInfo.CertificateChain))
	for _, c := range sig.SignerInfo.CertificateChain {
		sum := sha256.Sum256(c.Raw)
		thumbprints = append(thumbprints, hex.EncodeToString(sum[:]))
	}
	val, err := json.Marshal(thumbprints)
	if err != nil {
		return nil, fmt.Errorf("notationtest: marshal thumbprints: %w", err)
	}
	return map[string]string{
		AnnotationX509ChainThumbprint: string(val),
		ocispec.AnnotationCreated:     sig.SignerInfo.SignedAttributes.SigningTime.Format(time.RFC3339),
	}, nil
}

// PushSignature pushes sig as an OCI 1.1 referrer of subject to target,
// exactly as notation does: notation-go's registry.Repository.PushSignature
// pushes the envelope blob, the empty config with media type
// "application/vnd.cncf.notary.signature" and an image manifest whose
// subject is subject, with the annotations from Annotations. target is
// typically a *remote.Repository (set PlainHTTP for a loopback registry) or
// an oras memory store. It returns the signature manifest descriptor.
func PushSignature(ctx context.Context, target oras.GraphTarget, subject ocispec.Descriptor, sig *Signature) (ocispec.Descriptor, error) {
	annotations, err := Annotations(sig)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	_, manifest, err := registry.NewRepository(target).PushSignature(ctx, sig.MediaType, sig.Envelope, subject, annotations)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("notationtest: push signature for %s: %w", subject.Digest, err)
	}
	return manifest, nil
}

// VerifyRequest builds the request the Assay host sends a verifier plugin
// for sig attached to subject in repository (for example
// "localhost:5000/app"): the signature manifest and its envelope blob are
// made the way PushSignature makes them, in memory. config is the plugin's
// parameters as JSON.
func VerifyRequest(ctx context.Context, config []byte, repository string, subject ocispec.Descriptor, sig *Signature) (*plugin.VerifyRequest, error) {
	store := memory.New()
	manifestDesc, err := PushSignature(ctx, store, subject, sig)
	if err != nil {
		return nil, err
	}
	manifest, err := content.FetchAll(ctx, store, manifestDesc)
	if err != nil {
		return nil, fmt.Errorf("notationtest: fetch signature manifest: %w", err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, fmt.Errorf("notationtest: decode signature manifest: %w", err)
	}
	// What a referrers listing reports: the artifact type is the config
	// media type when the manifest has no artifactType.
	manifestDesc.ArtifactType = m.Config.MediaType
	manifestDesc.Annotations = m.Annotations
	blobs := make([]plugin.Blob, 0, len(m.Layers))
	for _, layer := range m.Layers {
		data, err := content.FetchAll(ctx, store, layer)
		if err != nil {
			return nil, fmt.Errorf("notationtest: fetch signature blob: %w", err)
		}
		blobs = append(blobs, plugin.Blob{Descriptor: layer, Data: data})
	}
	return &plugin.VerifyRequest{
		Config:           config,
		Subject:          subject,
		Repository:       repository,
		Artifact:         manifestDesc,
		ArtifactManifest: manifest,
		Blobs:            blobs,
	}, nil
}

// PushImage pushes a minimal OCI image (a config and one layer whose
// content is derived from name, so different names give different digests)
// to target, tags it with tag if tag is not empty, and returns its manifest
// descriptor, the subject to sign.
func PushImage(ctx context.Context, target oras.Target, name, tag string) (ocispec.Descriptor, error) {
	layer := []byte("assay notationtest layer: " + name + "\n")
	layerDesc, err := oras.PushBytes(ctx, target, ocispec.MediaTypeImageLayer, layer)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("notationtest: push layer: %w", err)
	}
	config, err := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{Architecture: "amd64", OS: "linux"},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layerDesc.Digest}},
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("notationtest: marshal image config: %w", err)
	}
	configDesc, err := oras.PushBytes(ctx, target, ocispec.MediaTypeImageConfig, config)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("notationtest: push image config: %w", err)
	}
	desc, err := oras.PackManifest(ctx, target, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{
		Layers:              []ocispec.Descriptor{layerDesc},
		ConfigDescriptor:    &configDesc,
		ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "2026-01-01T00:00:00Z"},
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("notationtest: pack image manifest: %w", err)
	}
	if tag != "" {
		if err := target.Tag(ctx, desc, tag); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("notationtest: tag %q: %w", tag, err)
		}
	}
	return desc, nil
}
