package cosigntest

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Media types, artifact types and annotation keys of cosign's two
// layouts, as cosign v2.6 and v3 write them (cosign pkg/oci/static and
// specs/BUNDLE_SPEC.md).
const (
	// SignatureArtifactType is the artifact type Assay's store gives a
	// manifest found under cosign's classic "sha256-<hex>.sig" tag.
	SignatureArtifactType = "application/vnd.dev.cosign.artifact.sig.v1+json"
	// SimpleSigningMediaType is the media type of a classic layer: a
	// simple-signing payload.
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// BundleArtifactType is the artifact type (and layer media type) of a
	// Sigstore bundle v0.3 stored as an OCI 1.1 referrer.
	BundleArtifactType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// SignPredicateType is the in-toto predicate type of cosign v3's
	// image signature statements.
	SignPredicateType = "https://sigstore.dev/cosign/sign/v1"
	// SimpleSigningType is critical.type of a classic payload.
	SimpleSigningType = "cosign container image signature"

	AnnotationSignature   = "dev.cosignproject.cosign/signature"
	AnnotationCertificate = "dev.sigstore.cosign/certificate"
	AnnotationChain       = "dev.sigstore.cosign/chain"
	AnnotationBundle      = "dev.sigstore.cosign/bundle"
	AnnotationTimestamp   = "dev.sigstore.cosign/rfc3161timestamp"

	AnnotationBundleContent       = "dev.sigstore.bundle.content"
	AnnotationBundlePredicateType = "dev.sigstore.bundle.predicateType"
)

// Payload is cosign's simple-signing payload for an image.
type Payload struct {
	Critical PayloadCritical `json:"critical"`
	Optional map[string]any  `json:"optional"`
}

// PayloadCritical is the payload's "critical" section.
type PayloadCritical struct {
	Identity struct {
		DockerReference string `json:"docker-reference"`
	} `json:"identity"`
	Image struct {
		DockerManifestDigest string `json:"docker-manifest-digest"`
	} `json:"image"`
	Type string `json:"type"`
}

// NewPayload returns the simple-signing payload cosign signs for subject
// in repository (the docker-reference, for example "localhost:5000/app").
func NewPayload(repository string, subject ocispec.Descriptor) []byte {
	var p Payload
	p.Critical.Identity.DockerReference = repository
	p.Critical.Image.DockerManifestDigest = subject.Digest.String()
	p.Critical.Type = SimpleSigningType
	b, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("cosigntest: marshal payload: %v", err)) // plain strings always marshal
	}
	return b
}

// Layer is one layer of a classic signature manifest: a payload and the
// annotations cosign puts on its descriptor.
type Layer struct {
	// Payload is the signed simple-signing payload.
	Payload []byte
	// Signature is the raw signature over Payload (base64-encoded into
	// the signature annotation).
	Signature []byte
	// Certificate is the signing certificate of a keyless signature.
	Certificate *x509.Certificate
	// Chain holds the certificates above Certificate (intermediates, root).
	Chain []*x509.Certificate
	// RekorBundle is the Rekor bundle annotation's JSON, if any.
	RekorBundle []byte
	// Timestamp is the DER RFC 3161 timestamp response over Signature, if any.
	Timestamp []byte
}

// Annotations returns the layer descriptor's annotations as cosign writes them.
func (l *Layer) Annotations() (map[string]string, error) {
	a := map[string]string{AnnotationSignature: base64.StdEncoding.EncodeToString(l.Signature)}
	if l.Certificate != nil {
		b, err := cryptoutils.MarshalCertificateToPEM(l.Certificate)
		if err != nil {
			return nil, fmt.Errorf("cosigntest: marshal certificate: %w", err)
		}
		a[AnnotationCertificate] = string(b)
	}
	if len(l.Chain) > 0 {
		b, err := cryptoutils.MarshalCertificatesToPEM(l.Chain)
		if err != nil {
			return nil, fmt.Errorf("cosigntest: marshal chain: %w", err)
		}
		a[AnnotationChain] = string(b)
	}
	if l.RekorBundle != nil {
		a[AnnotationBundle] = string(l.RekorBundle)
	}
	if l.Timestamp != nil {
		b, err := json.Marshal(struct{ SignedRFC3161Timestamp []byte }{l.Timestamp})
		if err != nil {
			return nil, fmt.Errorf("cosigntest: marshal timestamp: %w", err)
		}
		a[AnnotationTimestamp] = string(b)
	}
	return a, nil
}

// SignOptions tunes a classic signature.
type SignOptions struct {
	// Repository is the payload's docker-reference. Optional.
	Repository string
	// Payload replaces the simple-signing payload NewPayload builds (to
	// sign something else, for example a payload naming another digest).
	Payload []byte
}

func (o SignOptions) payload(subject ocispec.Descriptor) []byte {
	if o.Payload != nil {
		return o.Payload
	}
	return NewPayload(o.Repository, subject)
}

// SignClassic signs subject with key in cosign's classic layout, as
// `cosign sign --key --tlog-upload=false` does: no certificate, no Rekor
// bundle.
func SignClassic(key *Key, subject ocispec.Descriptor, opts SignOptions) (*Layer, error) {
	if key == nil {
		return nil, errors.New("cosigntest: nil key")
	}
	payload := opts.payload(subject)
	sig, err := key.Sign(payload)
	if err != nil {
		return nil, err
	}
	return &Layer{Payload: payload, Signature: sig}, nil
}

// rekorBundle is cosign's Rekor bundle annotation (cosign
// pkg/cosign/bundle.RekorBundle).
type rekorBundle struct {
	SignedEntryTimestamp []byte
	Payload              tlog.RekorPayload
}

// encodeRekorBundle writes the Rekor bundle annotation for entry, with
// set as its signed entry timestamp.
func encodeRekorBundle(entry *tlog.Entry, set []byte) ([]byte, error) {
	tle := entry.TransparencyLogEntry()
	b, err := json.Marshal(rekorBundle{
		SignedEntryTimestamp: set,
		Payload: tlog.RekorPayload{
			Body:           base64.StdEncoding.EncodeToString(tle.GetCanonicalizedBody()),
			IntegratedTime: tle.GetIntegratedTime(),
			LogIndex:       tle.GetLogIndex(),
			LogID:          hex.EncodeToString(tle.GetLogId().GetKeyId()),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("cosigntest: marshal rekor bundle: %w", err)
	}
	return b, nil
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
