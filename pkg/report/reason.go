package report

// Reason is a machine-readable code explaining a verdict or a policy
// outcome. The set is closed: every code is listed here and in
// docs/reasons.md, and Rego may match on them.
type Reason string

const (
	// ReasonVerified: the artifact passed its verifier.
	ReasonVerified Reason = "VERIFIED"

	// ReasonSignatureInvalid: the signature does not match the content
	// (tampered envelope, wrong digest, malformed envelope).
	ReasonSignatureInvalid Reason = "SIGNATURE_INVALID"
	// ReasonSignatureUntrusted: the signature is intact but its certificate
	// chain does not lead to a configured trust anchor.
	ReasonSignatureUntrusted Reason = "SIGNATURE_UNTRUSTED"
	// ReasonIdentityMismatch: the chain is trusted but the signer is not one
	// of the trusted identities.
	ReasonIdentityMismatch Reason = "IDENTITY_MISMATCH"
	// ReasonCertificateExpired: the signing certificate expired and no
	// trusted timestamp proves the signature was made while it was valid.
	ReasonCertificateExpired Reason = "CERTIFICATE_EXPIRED"
	// ReasonCertificateRevoked: the signing certificate (or one above it) is revoked.
	ReasonCertificateRevoked Reason = "CERTIFICATE_REVOKED"
	// ReasonSignatureExpired: the signature's own expiry has passed.
	ReasonSignatureExpired Reason = "SIGNATURE_EXPIRED"
	// ReasonTimestampInvalid: a timestamp was required or present and could
	// not be verified against the configured TSA trust store.
	ReasonTimestampInvalid Reason = "TIMESTAMP_INVALID"
	// ReasonNoTrustPolicy: no trust policy applies to the subject's
	// repository, so the verifier cannot decide.
	ReasonNoTrustPolicy Reason = "NO_TRUST_POLICY"
	// ReasonVerificationFailed: a verifier failed the artifact without a
	// more specific code.
	ReasonVerificationFailed Reason = "VERIFICATION_FAILED"

	// ReasonNoSignature: the Policy requires an artifact type and the
	// subject has no artifact of that type.
	ReasonNoSignature Reason = "NO_SIGNATURE"
	// ReasonArtifactMissing: the Policy requires an artifact type that is
	// not a signature and the subject has none.
	ReasonArtifactMissing Reason = "ARTIFACT_MISSING"
	// ReasonNoVerifier: an artifact was found that no Verifier handles.
	ReasonNoVerifier Reason = "NO_VERIFIER"
	// ReasonNoPolicy: no Policy is configured, so nothing defines success.
	ReasonNoPolicy Reason = "NO_POLICY"
	// ReasonPolicyNotSatisfied: the Policy's any/all rule for a type is not met.
	ReasonPolicyNotSatisfied Reason = "POLICY_NOT_SATISFIED"

	// ReasonTagResolved (warning): the subject was given by tag and pinned
	// to a digest; the tag may move.
	ReasonTagResolved Reason = "TAG_RESOLVED"

	// ReasonConfigInvalid: the verifier's parameters are invalid.
	ReasonConfigInvalid Reason = "CONFIG_INVALID"
	// ReasonPluginUnavailable: the plugin process could not be started,
	// crashed, or failed its checksum.
	ReasonPluginUnavailable Reason = "PLUGIN_UNAVAILABLE"
	// ReasonPluginError: the plugin returned an error or an unspecified verdict.
	ReasonPluginError Reason = "PLUGIN_ERROR"
	// ReasonDeadlineExceeded: the request's time budget ran out first.
	ReasonDeadlineExceeded Reason = "DEADLINE_EXCEEDED"
	// ReasonRegistryError: the registry could not be reached or answered
	// with an error or malformed content.
	ReasonRegistryError Reason = "REGISTRY_ERROR"
	// ReasonLimitExceeded: content exceeded a configured limit (manifest or
	// blob size, referrer count, graph depth or nodes).
	ReasonLimitExceeded Reason = "LIMIT_EXCEEDED"
	// ReasonSubjectNotFound: the image reference does not exist.
	ReasonSubjectNotFound Reason = "SUBJECT_NOT_FOUND"
	// ReasonInvalidReference: the image reference cannot be parsed.
	ReasonInvalidReference Reason = "INVALID_REFERENCE"
)

// reasons maps each code to the default remediation shown to operators.
var reasons = map[Reason]string{
	ReasonVerified:           "",
	ReasonSignatureInvalid:   "Re-sign the image; the signature does not match the image or was altered.",
	ReasonSignatureUntrusted: "Sign with a certificate issued by a trusted CA, or add the signer's root CA to the verifier's trust store.",
	ReasonIdentityMismatch:   "Sign with a trusted identity, or add the signer's identity to the trust policy's trustedIdentities.",
	ReasonCertificateExpired: "Re-sign with a valid certificate, or sign with an RFC 3161 timestamp from a trusted TSA.",
	ReasonCertificateRevoked: "Re-sign with a certificate that is not revoked.",
	ReasonSignatureExpired:   "Re-sign the image; the signature has passed its expiry.",
	ReasonTimestampInvalid:   "Re-sign with a timestamp from a TSA in the verifier's tsa trust store.",
	ReasonNoTrustPolicy:      "Add a trust policy whose registryScopes include this repository.",
	ReasonVerificationFailed: "Inspect the message and the verifier's details.",
	ReasonNoSignature:        "Sign the image and push the signature to the same repository.",
	ReasonArtifactMissing:    "Attach the required artifact to the image as an OCI referrer.",
	ReasonNoVerifier:         "Configure a Verifier for this artifact type, or drop the type from the Policy.",
	ReasonNoPolicy:           "Create a Policy object that names the artifact types you require.",
	ReasonPolicyNotSatisfied: "See the per-artifact results for the failures that break the policy.",
	ReasonTagResolved:        "Refer to images by digest so the verified content cannot change.",
	ReasonConfigInvalid:      "Fix the Verifier's parameters; the message names the field.",
	ReasonPluginUnavailable:  "Check the plugin binary, its checksum in SHA256SUMS and the Assay logs; the verification is retried on the next request.",
	ReasonPluginError:        "Check the Assay and plugin logs; the plugin could not evaluate the artifact.",
	ReasonDeadlineExceeded:   "Retry; if it persists, raise the timeout or check the registry's latency.",
	ReasonRegistryError:      "Check that the registry is reachable and the credentials are valid.",
	ReasonLimitExceeded:      "Inspect the artifact; raise the Store's limit only if the content is expected.",
	ReasonSubjectNotFound:    "Check the image reference; the registry has no such tag or digest.",
	ReasonInvalidReference:   "Use a reference of the form registry/repository:tag or registry/repository@sha256:<hex>.",
}

// Valid reports whether r is one of the documented codes.
func (r Reason) Valid() bool {
	_, ok := reasons[r]
	return ok
}

// Remediation returns the default advice for r, or "" when there is none.
func (r Reason) Remediation() string { return reasons[r] }

// Reasons returns every documented code (unordered).
func Reasons() []Reason {
	out := make([]Reason, 0, len(reasons))
	for r := range reasons {
		out = append(out, r)
	}
	return out
}
