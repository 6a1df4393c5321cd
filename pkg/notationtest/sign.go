package notationtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/notaryproject/notation-core-go/signature"
	"github.com/notaryproject/notation-core-go/signature/cose"
	"github.com/notaryproject/notation-core-go/signature/jws"
	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/signer"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Envelope media types (Notary Project signature specification).
const (
	// MediaTypeJWS is the JWS JSON serialization envelope.
	MediaTypeJWS = jws.MediaTypeEnvelope // "application/jose+json"
	// MediaTypeCOSE is the COSE_Sign1 envelope.
	MediaTypeCOSE = cose.MediaTypeEnvelope // "application/cose"
)

// payloadContentType is the Notary Project payload media type notation-go
// signs (notation-go internal/envelope.MediaTypePayloadV1).
const payloadContentType = "application/vnd.cncf.notary.payload.v1+json"

// signingAgent is the signing agent written by SignOptions.SigningTime
// signatures, the one notation-go's GenericSigner writes.
const signingAgent = "notation-go/1.3.2"

var errNilLeaf = errors.New("notationtest: nil leaf")

// SignOptions configures Sign.
type SignOptions struct {
	// MediaType is the envelope format: MediaTypeJWS or MediaTypeCOSE. If
	// empty, MediaTypeJWS is used.
	MediaType string
	// TSA, if set, adds an RFC 3161 timestamp countersignature from this
	// TSA (through tspclient-go's HTTP timestamper, trusting TSA.Root).
	TSA *TSA
	// Expiry, if > 0, sets the signature's expiry to signing time plus
	// Expiry.
	Expiry time.Duration
	// SigningTime, if set, signs "in the past" at that instant instead of
	// now. notation-go's signer.GenericSigner has no clock, so the envelope
	// is then built with notation-core-go's signature.Envelope.Sign, the
	// call GenericSigner makes, with the same payload, signing scheme
	// (notary.x509) and signing agent. The leaf chain must be valid at
	// SigningTime. If zero, notation-go's GenericSigner signs now.
	SigningTime time.Time
}

// Signature is a signature envelope made by Sign.
type Signature struct {
	// Envelope is the envelope bytes, the blob notation pushes as the
	// signature manifest's only layer.
	Envelope []byte
	// MediaType is the envelope media type (MediaTypeJWS or MediaTypeCOSE).
	MediaType string
	// SignerInfo is the envelope's parsed signer information (certificate
	// chain, signing time, timestamp).
	SignerInfo *signature.SignerInfo
}

// Sign signs desc, the descriptor of the subject manifest, with leaf and
// returns the envelope.
func Sign(ctx context.Context, leaf *Leaf, desc ocispec.Descriptor, opts SignOptions) (*Signature, error) {
	if leaf == nil {
		return nil, errNilLeaf
	}
	mediaType := opts.MediaType
	if mediaType == "" {
		mediaType = MediaTypeJWS
	}
	signOpts := notation.SignerSignOptions{
		SignatureMediaType: mediaType,
		ExpiryDuration:     opts.Expiry,
	}
	if opts.TSA != nil {
		ts, err := opts.TSA.Timestamper()
		if err != nil {
			return nil, err
		}
		signOpts.Timestamper = ts
		signOpts.TSARootCAs = opts.TSA.RootPool()
	}
	if !opts.SigningTime.IsZero() {
		return signAt(ctx, leaf, desc, signOpts, opts.SigningTime)
	}
	s, err := signer.NewGenericSigner(leaf.Key, leaf.Chain)
	if err != nil {
		return nil, fmt.Errorf("notationtest: new signer: %w", err)
	}
	env, info, err := s.Sign(ctx, desc, signOpts)
	if err != nil {
		return nil, fmt.Errorf("notationtest: sign %s: %w", desc.Digest, err)
	}
	return &Signature{Envelope: env, MediaType: mediaType, SignerInfo: info}, nil
}

// signAt mirrors notation-go's GenericSigner.Sign with a caller-chosen
// signing time.
func signAt(ctx context.Context, leaf *Leaf, desc ocispec.Descriptor, opts notation.SignerSignOptions, at time.Time) (*Signature, error) {
	payload := struct {
		TargetArtifact ocispec.Descriptor `json:"targetArtifact"`
	}{TargetArtifact: ocispec.Descriptor{
		MediaType:   desc.MediaType,
		Digest:      desc.Digest,
		Size:        desc.Size,
		Annotations: desc.Annotations,
	}}
	content, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("notationtest: marshal payload: %w", err)
	}
	local, err := signature.NewLocalSigner(leaf.Chain, leaf.Key)
	if err != nil {
		return nil, fmt.Errorf("notationtest: new signer: %w", err)
	}
	req := &signature.SignRequest{
		Payload:       signature.Payload{ContentType: payloadContentType, Content: content},
		Signer:        local,
		SigningTime:   at,
		SigningScheme: signature.SigningSchemeX509,
		SigningAgent:  signingAgent,
		Timestamper:   opts.Timestamper,
		TSARootCAs:    opts.TSARootCAs,
	}
	if opts.ExpiryDuration > 0 {
		req.Expiry = at.Add(opts.ExpiryDuration)
	}
	req = req.WithContext(ctx)
	env, err := signature.NewEnvelope(opts.SignatureMediaType)
	if err != nil {
		return nil, fmt.Errorf("notationtest: envelope %q: %w", opts.SignatureMediaType, err)
	}
	sig, err := env.Sign(req)
	if err != nil {
		return nil, fmt.Errorf("notationtest: sign %s at %s: %w", desc.Digest, at.Format(time.RFC3339), err)
	}
	content2, err := env.Verify()
	if err != nil {
		return nil, fmt.Errorf("notationtest: generated signature failed verification: %w", err)
	}
	return &Signature{Envelope: sig, MediaType: opts.SignatureMediaType, SignerInfo: &content2.SignerInfo}, nil
}
