package cosigntest

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
	"google.golang.org/protobuf/encoding/protojson"
)

// InTotoPayloadType is the DSSE payload type of an in-toto statement.
const InTotoPayloadType = "application/vnd.in-toto+json"

// Bundle is a Sigstore bundle v0.3 as JSON, with what the OCI manifest
// annotations say about it.
type Bundle struct {
	// JSON is the serialized bundle (protojson), the referrer's one layer.
	JSON []byte
	// Content is "dsse-envelope" or "message-signature".
	Content string
	// PredicateType is the statement's predicate type of a DSSE bundle.
	PredicateType string
}

// BundleOptions tunes a bundle.
type BundleOptions struct {
	// Repository is the statement subject's name. Optional.
	Repository string
	// PredicateType of the statement. If empty, SignPredicateType.
	PredicateType string
	// Statement replaces the in-toto statement Statement builds.
	Statement []byte
	// MessageSignature signs Manifest (whose sha256 must be the subject
	// digest) as a message signature instead of a DSSE statement, as
	// `cosign sign-blob` does.
	MessageSignature bool
	// Manifest is the subject's manifest bytes, for MessageSignature.
	Manifest []byte
	// WithoutTlog leaves out the tlog entry (keyless only; key bundles
	// never have one).
	WithoutTlog bool
	// WithoutTimestamp leaves out the RFC 3161 timestamp (keyless only).
	WithoutTimestamp bool
	// Identity and Issuer of a keyless certificate; if empty,
	// DefaultIdentity and DefaultIssuer.
	Identity, Issuer string
}

// Statement returns cosign v3's image signature statement for subject:
// an in-toto v1 statement whose one subject is the image digest.
func Statement(repository string, subject ocispec.Descriptor, predicateType string) []byte {
	if predicateType == "" {
		predicateType = SignPredicateType
	}
	b, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": repository, "digest": map[string]string{subject.Digest.Algorithm().String(): subject.Digest.Encoded()}}},
		"predicateType": predicateType,
		"predicate":     map[string]any{},
	})
	if err != nil {
		panic(fmt.Sprintf("cosigntest: marshal statement: %v", err))
	}
	return b
}

func (o BundleOptions) statement(subject ocispec.Descriptor) []byte {
	if o.Statement != nil {
		return o.Statement
	}
	return Statement(o.Repository, subject, o.PredicateType)
}

func (o BundleOptions) predicateType() string {
	if o.PredicateType == "" {
		return SignPredicateType
	}
	return o.PredicateType
}

// SignBundle signs subject keyless into a Sigstore bundle v0.3, as cosign
// v3 `cosign sign` does: a DSSE envelope of the statement (or a message
// signature), the Fulcio certificate, a Rekor entry with its signed entry
// timestamp and inclusion proof, and an RFC 3161 timestamp.
func (s *Sigstore) SignBundle(subject ocispec.Descriptor, opts BundleOptions) (*Bundle, error) {
	id, iss := KeylessOptions{Identity: opts.Identity, Issuer: opts.Issuer}.identity()
	b := &protobundle.Bundle{MediaType: BundleArtifactType, VerificationMaterial: &protobundle.VerificationMaterial{}}
	out := &Bundle{}
	var parts *entityParts
	if opts.MessageSignature {
		if err := checkManifest(subject, opts.Manifest); err != nil {
			return nil, err
		}
		te, err := s.vs.SignAtTime(id, iss, opts.Manifest, integratedTime())
		if err != nil {
			return nil, fmt.Errorf("cosigntest: keyless sign: %w", err)
		}
		if parts, err = s.parts(te); err != nil {
			return nil, err
		}
		b.Content = messageSignature(subject, parts.sig)
		out.Content = "message-signature"
	} else {
		te, err := s.vs.AttestAtTime(id, iss, opts.statement(subject), integratedTime(), false)
		if err != nil {
			return nil, fmt.Errorf("cosigntest: keyless attest: %w", err)
		}
		if parts, err = s.parts(te); err != nil {
			return nil, err
		}
		sc, err := te.SignatureContent()
		if err != nil {
			return nil, err
		}
		env, err := envelopeToProto(sc.EnvelopeContent().RawEnvelope())
		if err != nil {
			return nil, err
		}
		b.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: env}
		out.Content, out.PredicateType = "dsse-envelope", opts.predicateType()
	}
	b.VerificationMaterial.Content = &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: parts.cert.Raw}}
	if !opts.WithoutTlog {
		tle, err := s.logEntry(parts.entry)
		if err != nil {
			return nil, err
		}
		b.VerificationMaterial.TlogEntries = []*protorekor.TransparencyLogEntry{tle}
	}
	if !opts.WithoutTimestamp && parts.timestamp != nil {
		b.VerificationMaterial.TimestampVerificationData = &protobundle.TimestampVerificationData{
			Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: parts.timestamp}},
		}
	}
	return out.finish(b)
}

// SignBundleWithKey signs subject with key into a Sigstore bundle v0.3,
// as `cosign sign --key` of cosign v3 does without a transparency log: a
// DSSE envelope of the statement (or a message signature over Manifest)
// and the key's fingerprint as public key hint.
func SignBundleWithKey(key *Key, subject ocispec.Descriptor, opts BundleOptions) (*Bundle, error) {
	if key == nil {
		return nil, errors.New("cosigntest: nil key")
	}
	b := &protobundle.Bundle{MediaType: BundleArtifactType, VerificationMaterial: &protobundle.VerificationMaterial{
		Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: key.Fingerprint()}},
	}}
	out := &Bundle{}
	if opts.MessageSignature {
		if err := checkManifest(subject, opts.Manifest); err != nil {
			return nil, err
		}
		sig, err := key.Sign(opts.Manifest)
		if err != nil {
			return nil, err
		}
		b.Content = messageSignature(subject, sig)
		out.Content = "message-signature"
	} else {
		signer, err := dsse.NewEnvelopeSigner(&sigdsse.SignerAdapter{SignatureSigner: key.signer, Pub: key.Public()})
		if err != nil {
			return nil, fmt.Errorf("cosigntest: dsse signer: %w", err)
		}
		env, err := signer.SignPayload(context.Background(), InTotoPayloadType, opts.statement(subject))
		if err != nil {
			return nil, fmt.Errorf("cosigntest: dsse sign: %w", err)
		}
		penv, err := envelopeToProto(env)
		if err != nil {
			return nil, err
		}
		b.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: penv}
		out.Content, out.PredicateType = "dsse-envelope", opts.predicateType()
	}
	return out.finish(b)
}

func (out *Bundle) finish(b *protobundle.Bundle) (*Bundle, error) {
	raw, err := protojson.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("cosigntest: marshal bundle: %w", err)
	}
	// What a verifier will do first: the bundle must be valid.
	var check bundle.Bundle
	if err := check.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("cosigntest: made an invalid bundle: %w", err)
	}
	out.JSON = raw
	return out, nil
}

func checkManifest(subject ocispec.Descriptor, manifest []byte) error {
	if len(manifest) == 0 {
		return errors.New("cosigntest: a message signature needs the subject's manifest bytes")
	}
	if subject.Digest.Algorithm().FromBytes(manifest) != subject.Digest {
		return fmt.Errorf("cosigntest: manifest bytes do not hash to %s", subject.Digest)
	}
	return nil
}

func messageSignature(subject ocispec.Descriptor, sig []byte) *protobundle.Bundle_MessageSignature {
	d, err := hex.DecodeString(subject.Digest.Encoded())
	if err != nil {
		panic(fmt.Sprintf("cosigntest: subject digest: %v", err)) // checked by checkManifest
	}
	return &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
		MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: d},
		Signature:     sig,
	}}
}

func envelopeToProto(env *dsse.Envelope) (*protodsse.Envelope, error) {
	if env == nil {
		return nil, errors.New("cosigntest: no envelope")
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("cosigntest: envelope payload: %w", err)
	}
	out := &protodsse.Envelope{Payload: payload, PayloadType: env.PayloadType}
	for _, s := range env.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err != nil {
			return nil, fmt.Errorf("cosigntest: envelope signature: %w", err)
		}
		out.Signatures = append(out.Signatures, &protodsse.Signature{Sig: sig, Keyid: s.KeyID})
	}
	return out, nil
}

// logEntry turns a VirtualSigstore entry into a bundle's tlog entry with
// a signed entry timestamp and an inclusion proof.
func (s *Sigstore) logEntry(entry *tlog.Entry) (*protorekor.TransparencyLogEntry, error) {
	tle := entry.TransparencyLogEntry()
	body := tle.GetCanonicalizedBody()
	var kv struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
	}
	if err := json.Unmarshal(body, &kv); err != nil {
		return nil, fmt.Errorf("cosigntest: log entry body: %w", err)
	}
	set, err := s.signedEntryTimestamp(entry)
	if err != nil {
		return nil, err
	}
	proof, err := s.vs.GetInclusionProof(body)
	if err != nil {
		return nil, fmt.Errorf("cosigntest: inclusion proof: %w", err)
	}
	rootHash, err := hex.DecodeString(*proof.RootHash)
	if err != nil {
		return nil, err
	}
	hashes := make([][]byte, 0, len(proof.Hashes))
	for _, h := range proof.Hashes {
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, err
		}
		hashes = append(hashes, b)
	}
	return &protorekor.TransparencyLogEntry{
		LogIndex:          tle.GetLogIndex(),
		LogId:             &protocommon.LogId{KeyId: tle.GetLogId().GetKeyId()},
		KindVersion:       &protorekor.KindVersion{Kind: kv.Kind, Version: kv.APIVersion},
		IntegratedTime:    tle.GetIntegratedTime(),
		InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: set},
		CanonicalizedBody: body,
		InclusionProof: &protorekor.InclusionProof{
			LogIndex:   *proof.LogIndex,
			RootHash:   rootHash,
			TreeSize:   *proof.TreeSize,
			Hashes:     hashes,
			Checkpoint: &protorekor.Checkpoint{Envelope: *proof.Checkpoint},
		},
	}, nil
}
