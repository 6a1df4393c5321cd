package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/assayproj/assay/pkg/reason"
)

// Verdict is a plugin's answer about one artifact. The zero value is
// VerdictUnspecified, which the host treats as inconclusive (fail closed).
type Verdict int

const (
	// VerdictUnspecified means the plugin said nothing useful; the host
	// reports it as inconclusive.
	VerdictUnspecified Verdict = iota
	// VerdictVerified means the artifact satisfied the verifier's configuration.
	VerdictVerified
	// VerdictFailed means the artifact was evaluated and does not satisfy
	// the configuration (bad signature, untrusted signer, revoked, ...).
	VerdictFailed
	// VerdictInconclusive means the plugin could not evaluate the artifact
	// (bad configuration, unreachable revocation endpoint, ...).
	VerdictInconclusive
)

// String returns the lower-case name used in reports.
func (v Verdict) String() string {
	switch v {
	case VerdictVerified:
		return "verified"
	case VerdictFailed:
		return "failed"
	case VerdictInconclusive:
		return "inconclusive"
	default:
		return "unspecified"
	}
}

// Metadata describes a plugin. The host calls GetMetadata once per process
// start and checks that Name matches the binary it launched.
type Metadata struct {
	// Name is the plugin's name, equal to its binary name (for example "notation").
	Name string
	// Version is the plugin's own version, free-form.
	Version string
	// ArtifactTypes lists the OCI artifact types the plugin can verify.
	ArtifactTypes []string
	// Capabilities lists what the plugin needs beyond the bytes it is
	// handed, for example CapabilityNetwork for CRL or OCSP fetches.
	Capabilities []string
	// SignatureTypes lists which of ArtifactTypes are signatures (for
	// example "application/vnd.cncf.notary.signature"). The host reports a
	// required artifact type that is a signature and is missing as
	// NO_SIGNATURE rather than ARTIFACT_MISSING, and counts only these
	// types as the signature of an artifact whose Verifier requires one.
	// Each must be one of ArtifactTypes (the host refuses the metadata
	// otherwise). Empty for a plugin that verifies no signatures.
	SignatureTypes []string
}

// CapabilityNetwork declares that the plugin makes network calls of its own
// (revocation checks, TUF refreshes). It never receives registry credentials.
const CapabilityNetwork = "needs_network"

// Blob is a blob referenced by the artifact's manifest, with its bytes.
type Blob struct {
	Descriptor ocispec.Descriptor
	Data       []byte
}

// VerifyRequest carries everything a plugin needs to verify one artifact
// attached to one subject. The host fetched every byte; plugins never
// contact the registry.
type VerifyRequest struct {
	// Config is the Verifier object's spec.parameters as JSON. It is sent
	// with every call so a restarted plugin needs no replay; plugins may
	// cache the parsed form keyed by its sha256.
	Config []byte
	// Subject is the descriptor of the image being verified.
	Subject ocispec.Descriptor
	// Repository is the normalised repository of the subject, for example
	// "docker.io/library/nginx" or "localhost:5000/app".
	Repository string
	// Artifact is the descriptor of the referrer being verified (for
	// example a notation signature manifest).
	Artifact ocispec.Descriptor
	// ArtifactManifest is the raw manifest of Artifact.
	ArtifactManifest []byte
	// Blobs are the layers of ArtifactManifest with their bytes, in
	// manifest order.
	Blobs []Blob
}

// ErrInvalidRequest: a VerifyRequest lacks something every request of the
// protocol carries (see VerifyRequest.Validate). Serve answers such a
// request with the protocol's INVALID_REQUEST status without calling the
// plugin's Verify; on the host it arrives wrapped in ErrProtocol too.
var ErrInvalidRequest = errors.New("invalid verify request")

// Validate reports whether r is a well-formed request: config bytes that
// are one JSON value, a subject and an artifact descriptor each with a
// media type and a valid digest, a repository and the artifact's manifest
// bytes. The error wraps ErrInvalidRequest and names what is wrong. It
// does not judge the artifact: blobs whose bytes do not match their
// descriptors, or a manifest that is not what its type promises, are the
// plugin's to fail.
func (r *VerifyRequest) Validate() error {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
	}
	switch {
	case r == nil:
		return invalid("no request")
	case len(bytes.TrimSpace(r.Config)) == 0:
		return invalid("no config (the Verifier's parameters, at least {})")
	case !json.Valid(r.Config):
		return invalid("config is not a JSON value")
	case r.Subject.MediaType == "":
		return invalid("subject descriptor has no media type")
	case r.Repository == "":
		return invalid("no repository")
	case r.Artifact.MediaType == "":
		return invalid("artifact descriptor has no media type")
	case len(r.ArtifactManifest) == 0:
		return invalid("no artifact manifest")
	}
	if err := r.Subject.Digest.Validate(); err != nil {
		return invalid("subject digest %q: %v", r.Subject.Digest, err)
	}
	if err := r.Artifact.Digest.Validate(); err != nil {
		return invalid("artifact digest %q: %v", r.Artifact.Digest, err)
	}
	return nil
}

// VerifyResponse is a plugin's verdict on one artifact.
type VerifyResponse struct {
	Verdict Verdict
	// Reason is a code of the closed set, a constant of package reason
	// (for example reason.SignatureUntrusted; docs/reasons.md lists them).
	// The host replaces a code outside the set with the verdict's generic
	// one (reason.ForVerdict) and keeps the verdict.
	Reason reason.Code
	// Message is a one-line human explanation.
	Message string
	// Remediation says what an operator should do about a failure.
	Remediation string
	// Details are structured facts for Rego (signer subject, issuer,
	// signing time, timestamp, ...). Values must be JSON-compatible.
	Details map[string]any
}

// Severity of a Diagnostic.
type Severity int

const (
	SeverityError Severity = iota + 1
	SeverityWarning
)

// Diagnostic is one problem found by ValidateConfig.
type Diagnostic struct {
	Severity Severity
	// Field is the JSON path of the offending parameter, for example
	// "trustStores.ca.acme".
	Field   string
	Summary string
	Detail  string
}

// Verifier is what a plugin implements and hands to Serve.
//
// Serve calls Verify only with a request that passed
// VerifyRequest.Validate, so Verify need not check for a missing
// descriptor, digest, repository or config. Verify returns an error only
// when the request could not be evaluated at all; the host reports such
// an error as inconclusive. A bad signature is a VerifyResponse with
// VerdictFailed, not an error. Serve recovers a panic in any method (see
// Serve); a plugin need not recover its own.
//
// Parse the config bytes through a ConfigCache rather than on every call.
type Verifier interface {
	Metadata(ctx context.Context) (Metadata, error)
	ValidateConfig(ctx context.Context, config []byte) ([]Diagnostic, error)
	Verify(ctx context.Context, req *VerifyRequest) (*VerifyResponse, error)
}
