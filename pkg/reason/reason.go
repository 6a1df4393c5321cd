package reason

// Code is a machine-readable code explaining a verdict or a policy
// outcome. The set is closed: every code is a constant of this package,
// listed in docs/reasons.md, and Rego may match on them. The zero value
// "" is not a code.
type Code string

const (
	// Verified: the artifact passed its verifier.
	Verified Code = "VERIFIED"

	// SignatureInvalid: the signature does not match the content
	// (tampered envelope, wrong digest, malformed envelope).
	SignatureInvalid Code = "SIGNATURE_INVALID"
	// SignatureUntrusted: the signature is intact but its certificate
	// chain does not lead to a configured trust anchor.
	SignatureUntrusted Code = "SIGNATURE_UNTRUSTED"
	// IdentityMismatch: the chain is trusted but the signer is not one
	// of the trusted identities.
	IdentityMismatch Code = "IDENTITY_MISMATCH"
	// CertificateExpired: the signing certificate expired and no
	// trusted timestamp proves the signature was made while it was valid.
	CertificateExpired Code = "CERTIFICATE_EXPIRED"
	// CertificateRevoked: the signing certificate (or one above it) is revoked.
	CertificateRevoked Code = "CERTIFICATE_REVOKED"
	// SignatureExpired: the signature's own expiry has passed.
	SignatureExpired Code = "SIGNATURE_EXPIRED"
	// TimestampInvalid: a timestamp was required or present and could
	// not be verified against the configured TSA trust store.
	TimestampInvalid Code = "TIMESTAMP_INVALID"
	// NoTrustPolicy: no trust policy applies to the subject's
	// repository, so the verifier cannot decide.
	NoTrustPolicy Code = "NO_TRUST_POLICY"
	// VerificationFailed: a verifier failed the artifact without a
	// more specific code.
	VerificationFailed Code = "VERIFICATION_FAILED"

	// NoSignature: the Policy requires an artifact type and the
	// subject has no artifact of that type.
	NoSignature Code = "NO_SIGNATURE"
	// ArtifactMissing: the Policy requires an artifact type that is
	// not a signature and the subject has none.
	ArtifactMissing Code = "ARTIFACT_MISSING"
	// NoVerifier: an artifact was found that no Verifier handles.
	NoVerifier Code = "NO_VERIFIER"
	// NoPolicy: no Policy is configured, so nothing defines success.
	NoPolicy Code = "NO_POLICY"
	// PolicyNotSatisfied: the Policy's any/all rule for a type is not met.
	PolicyNotSatisfied Code = "POLICY_NOT_SATISFIED"

	// TagResolved (warning): the subject was given by tag and pinned
	// to a digest; the tag may move.
	TagResolved Code = "TAG_RESOLVED"

	// ConfigInvalid: the verifier's parameters are invalid.
	ConfigInvalid Code = "CONFIG_INVALID"
	// PluginUnavailable: the plugin process could not be started,
	// crashed, or failed its checksum.
	PluginUnavailable Code = "PLUGIN_UNAVAILABLE"
	// PluginError: the plugin returned an error or an unspecified verdict.
	PluginError Code = "PLUGIN_ERROR"
	// DeadlineExceeded: the request's time budget ran out first.
	DeadlineExceeded Code = "DEADLINE_EXCEEDED"
	// RegistryError: the registry could not be reached or answered
	// with an error or malformed content.
	RegistryError Code = "REGISTRY_ERROR"
	// LimitExceeded: content exceeded a configured limit (manifest or
	// blob size, referrer count, graph depth or nodes).
	LimitExceeded Code = "LIMIT_EXCEEDED"
	// SubjectNotFound: the image reference does not exist.
	SubjectNotFound Code = "SUBJECT_NOT_FOUND"
	// InvalidReference: the image reference cannot be parsed.
	InvalidReference Code = "INVALID_REFERENCE"
)

// remediations maps each code to the default remediation shown to
// operators; its keys are the closed set.
var remediations = map[Code]string{
	Verified:           "",
	SignatureInvalid:   "Re-sign the image; the signature does not match the image or was altered.",
	SignatureUntrusted: "Sign with a certificate issued by a trusted CA, or add the signer's root CA to the verifier's trust store.",
	IdentityMismatch:   "Sign with a trusted identity, or add the signer's identity to the trust policy's trustedIdentities.",
	CertificateExpired: "Re-sign with a valid certificate, or sign with an RFC 3161 timestamp from a trusted TSA.",
	CertificateRevoked: "Re-sign with a certificate that is not revoked.",
	SignatureExpired:   "Re-sign the image; the signature has passed its expiry.",
	TimestampInvalid:   "Re-sign with a timestamp from a TSA in the verifier's tsa trust store.",
	NoTrustPolicy:      "Add a trust policy whose registryScopes include this repository.",
	VerificationFailed: "Inspect the message and the verifier's details.",
	NoSignature:        "Sign the image and push the signature to the same repository.",
	ArtifactMissing:    "Attach the required artifact to the image as an OCI referrer.",
	NoVerifier:         "Configure a Verifier for this artifact type, or drop the type from the Policy.",
	NoPolicy:           "Create a Policy object that names the artifact types you require.",
	PolicyNotSatisfied: "See the per-artifact results for the failures that break the policy.",
	TagResolved:        "Refer to images by digest so the verified content cannot change.",
	ConfigInvalid:      "Fix the Verifier's parameters; the message names the field.",
	PluginUnavailable:  "Check the plugin binary, its checksum in SHA256SUMS and the Assay logs; the verification is retried on the next request.",
	PluginError:        "Check the Assay and plugin logs; the plugin could not evaluate the artifact.",
	DeadlineExceeded:   "Retry; if it persists, raise the timeout or check the registry's latency.",
	RegistryError:      "Check that the registry is reachable and the credentials are valid.",
	LimitExceeded:      "Inspect the artifact; raise the Store's limit only if the content is expected.",
	SubjectNotFound:    "Check the image reference; the registry has no such tag or digest.",
	InvalidReference:   "Use a reference of the form registry/repository:tag or registry/repository@sha256:<hex>.",
}

// Valid reports whether c is one of the documented codes.
func (c Code) Valid() bool {
	_, ok := remediations[c]
	return ok
}

// Remediation returns the default advice for c, or "" when there is none
// (for Verified and for a code outside the set).
func (c Code) Remediation() string { return remediations[c] }

// All returns every documented code (unordered).
func All() []Code {
	out := make([]Code, 0, len(remediations))
	for c := range remediations {
		out = append(out, c)
	}
	return out
}

// ForVerdict returns the code to report with a verdict: c itself when it
// is in the closed set and fits the verdict, otherwise the generic code
// for the verdict. verdict is spelled as in reports: "verified", "failed"
// or "inconclusive"; any other value (a plugin's unspecified verdict) is
// treated as inconclusive.
//
//	verdict        c outside the set   c is Verified
//	verified       Verified            Verified
//	failed         VerificationFailed  VerificationFailed
//	inconclusive   PluginError         PluginError
//
// A valid code other than Verified is kept whatever the verdict, so a
// verifier that passes with a warning code keeps it. This is the one
// place the rule lives; the host applies it to every plugin response and
// to every Verifier's result.
func ForVerdict(verdict string, c Code) Code {
	switch {
	case verdict == "verified" && !c.Valid():
		return Verified
	case verdict == "verified":
		return c
	case c.Valid() && c != Verified:
		return c
	case verdict == "failed":
		return VerificationFailed
	default:
		return PluginError
	}
}
