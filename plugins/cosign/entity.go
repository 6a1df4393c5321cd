package main

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Annotation keys and types of cosign's classic layout (cosign
// pkg/oci/static, pkg/cosign/bundle).
const (
	annotationSignature   = "dev.cosignproject.cosign/signature"
	annotationCertificate = "dev.sigstore.cosign/certificate"
	annotationBundle      = "dev.sigstore.cosign/bundle"
	annotationTimestamp   = "dev.sigstore.cosign/rfc3161timestamp"
	simpleSigningType     = "cosign container image signature"
	maxPayloadSize        = 1 << 20
)

// errMalformed marks classic signature content that cannot be read.
var errMalformed = errors.New("malformed cosign signature")

// simpleSigning is the part of cosign's simple-signing payload the
// plugin checks.
type simpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
}

// parsePayload reads a simple-signing payload and returns the digest it
// signs. It rejects what cosign rejects: not JSON, another type, no
// digest.
func parsePayload(data []byte) (*simpleSigning, error) {
	if len(data) > maxPayloadSize {
		return nil, fmt.Errorf("%w: payload is larger than %d bytes", errMalformed, maxPayloadSize)
	}
	var p simpleSigning
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%w: payload is not a simple-signing JSON document: %v", errMalformed, err)
	}
	if p.Critical.Type != simpleSigningType {
		return nil, fmt.Errorf("%w: payload critical.type is %q, not %q", errMalformed, p.Critical.Type, simpleSigningType)
	}
	if p.Critical.Image.DockerManifestDigest == "" {
		return nil, fmt.Errorf("%w: payload has no critical.image.docker-manifest-digest", errMalformed)
	}
	return &p, nil
}

// classicEntity is one classic signature layer as a sigstore-go signed
// entity: a message signature over the payload, verified with a trusted
// key or the layer's certificate, with the Rekor bundle and RFC 3161
// timestamp annotations as its log entry and timestamps.
type classicEntity struct {
	payload   []byte
	sig       []byte
	cert      *x509.Certificate
	key       *trustedKey // key mode: the key the entity claims
	entries   []*tlog.Entry
	timestamp [][]byte
}

var _ verify.SignedEntity = (*classicEntity)(nil)

// classicParts decodes a layer's annotations. The Rekor bundle and the
// timestamp are decoded only when wanted (a policy that skips them does
// not fail on their shape).
type classicParts struct {
	payload    []byte
	sig        []byte
	cert       *x509.Certificate
	entries    []*tlog.Entry
	timestamps [][]byte
}

func decodeClassic(payload []byte, ann map[string]string, wantTlog, wantTimestamps bool) (*classicParts, error) {
	p := &classicParts{payload: payload}
	b64, ok := ann[annotationSignature]
	if !ok || b64 == "" {
		return nil, fmt.Errorf("%w: the layer has no %s annotation", errMalformed, annotationSignature)
	}
	sig, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not base64: %v", errMalformed, annotationSignature, err)
	}
	p.sig = sig
	if pemText, ok := ann[annotationCertificate]; ok && pemText != "" {
		certs, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(pemText))
		if err != nil || len(certs) == 0 {
			return nil, fmt.Errorf("%w: %s holds no certificate: %v", errMalformed, annotationCertificate, err)
		}
		p.cert = certs[0]
	}
	if raw, ok := ann[annotationBundle]; ok && wantTlog {
		e, err := decodeRekorBundle([]byte(raw))
		if err != nil {
			return nil, err
		}
		p.entries = []*tlog.Entry{e}
	}
	if raw, ok := ann[annotationTimestamp]; ok && wantTimestamps {
		var ts struct{ SignedRFC3161Timestamp []byte }
		if err := json.Unmarshal([]byte(raw), &ts); err != nil || len(ts.SignedRFC3161Timestamp) == 0 {
			return nil, fmt.Errorf("%w: %s is not a cosign RFC 3161 timestamp: %v", errMalformed, annotationTimestamp, err)
		}
		p.timestamps = [][]byte{ts.SignedRFC3161Timestamp}
	}
	return p, nil
}

// decodeRekorBundle reads cosign's Rekor bundle annotation:
// {"SignedEntryTimestamp": base64, "Payload": {"body": base64,
// "integratedTime", "logIndex", "logID": hex}}.
func decodeRekorBundle(raw []byte) (e *tlog.Entry, err error) {
	var b struct {
		SignedEntryTimestamp []byte
		Payload              struct {
			Body           string `json:"body"`
			IntegratedTime int64  `json:"integratedTime"`
			LogIndex       int64  `json:"logIndex"`
			LogID          string `json:"logID"`
		}
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("%w: %s is not a Rekor bundle: %v", errMalformed, annotationBundle, err)
	}
	body, err := base64.StdEncoding.DecodeString(b.Payload.Body)
	if err != nil || len(body) == 0 {
		return nil, fmt.Errorf("%w: the Rekor bundle's body is not base64: %v", errMalformed, err)
	}
	logID, err := hex.DecodeString(b.Payload.LogID)
	if err != nil || len(logID) == 0 {
		return nil, fmt.Errorf("%w: the Rekor bundle's logID is not hex: %v", errMalformed, err)
	}
	if len(b.SignedEntryTimestamp) == 0 || b.Payload.IntegratedTime <= 0 || b.Payload.LogIndex < 0 {
		return nil, fmt.Errorf("%w: the Rekor bundle lacks its signed entry timestamp, integrated time or log index", errMalformed)
	}
	defer func() {
		// The Rekor type registry parses the body; it must not take the
		// plugin down on hostile input.
		if r := recover(); r != nil {
			e, err = nil, fmt.Errorf("%w: the Rekor bundle's body cannot be parsed: %v", errMalformed, r)
		}
	}()
	entry, err := tlog.NewEntry(body, b.Payload.IntegratedTime, b.Payload.LogIndex, logID, b.SignedEntryTimestamp, nil) //nolint:staticcheck // the classic layout carries a Rekor v1 entry
	if err != nil {
		return nil, fmt.Errorf("%w: the Rekor bundle's body is not a Rekor entry: %v", errMalformed, err)
	}
	return entry, nil
}

func (e *classicEntity) HasInclusionPromise() bool { return len(e.entries) > 0 }
func (e *classicEntity) HasInclusionProof() bool   { return false }
func (e *classicEntity) Version() (string, error)  { return "v0.1", nil }
func (e *classicEntity) Timestamps() ([][]byte, error) {
	return e.timestamp, nil
}
func (e *classicEntity) TlogEntries() ([]*tlog.Entry, error) { return e.entries, nil }

func (e *classicEntity) SignatureContent() (verify.SignatureContent, error) {
	sum := sha256.Sum256(e.payload)
	return bundle.NewMessageSignature(sum[:], "SHA2_256", e.sig), nil
}

func (e *classicEntity) VerificationContent() (verify.VerificationContent, error) {
	if e.key != nil {
		return &keyContent{key: e.key}, nil
	}
	if e.cert == nil {
		return nil, errors.New("the signature has no certificate")
	}
	return bundle.NewCertificate(e.cert), nil
}

// keyContent is the verification content of a signature made with a
// trusted key: the key's name is the hint by which keyMaterial finds it.
type keyContent struct {
	key *trustedKey
}

var _ verify.VerificationContent = (*keyContent)(nil)

func (k *keyContent) CompareKey(key any, _ root.TrustedMaterial) bool {
	switch v := key.(type) {
	case *x509.Certificate:
		return cryptoutils.EqualKeys(k.key.public, v.PublicKey) == nil
	case crypto.PublicKey:
		return cryptoutils.EqualKeys(k.key.public, v) == nil
	}
	return false
}
func (k *keyContent) ValidAtTime(time.Time, root.TrustedMaterial) bool { return true }
func (k *keyContent) Certificate() *x509.Certificate                   { return nil }
func (k *keyContent) Intermediates() []*x509.Certificate               { return nil }
func (k *keyContent) PublicKey() verify.PublicKeyProvider              { return k }
func (k *keyContent) Hint() string                                     { return k.key.fingerprint }

// keyMaterial is trusted material that trusts exactly one key (whatever
// hint a signature carries) plus, when given, a trusted root's logs and
// timestamping authorities.
func keyMaterial(k *trustedKey, tr *root.TrustedRoot) root.TrustedMaterial {
	km := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
		return root.NewExpiringKey(k.verifier, time.Time{}, time.Time{}), nil
	})
	if tr == nil {
		return km
	}
	return root.TrustedMaterialCollection{tr, km}
}

// bundleKeyEntity makes a key-signed bundle claim the given key (the
// bundle's hint is informational).
type bundleKeyEntity struct {
	*bundle.Bundle
	key *trustedKey
}

func (b *bundleKeyEntity) VerificationContent() (verify.VerificationContent, error) {
	return &keyContent{key: b.key}, nil
}
