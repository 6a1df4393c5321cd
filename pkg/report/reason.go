package report

import "github.com/assayproj/assay/pkg/reason"

// Reason is a machine-readable code explaining a verdict or a policy
// outcome. It is an alias of [reason.Code]: the closed set, its
// documentation (docs/reasons.md) and its remediations live in package
// reason, which the verifier plugins import too. Reason's methods Valid
// and Remediation are reason.Code's.
type Reason = reason.Code

// The codes of the closed set under the names the report schema has
// always used. Each is the constant of package reason with the same name
// without the "Reason" prefix, where it is documented.
const (
	ReasonVerified           = reason.Verified
	ReasonSignatureInvalid   = reason.SignatureInvalid
	ReasonSignatureUntrusted = reason.SignatureUntrusted
	ReasonIdentityMismatch   = reason.IdentityMismatch
	ReasonCertificateExpired = reason.CertificateExpired
	ReasonCertificateRevoked = reason.CertificateRevoked
	ReasonSignatureExpired   = reason.SignatureExpired
	ReasonTimestampInvalid   = reason.TimestampInvalid
	ReasonNoTrustPolicy      = reason.NoTrustPolicy
	ReasonVerificationFailed = reason.VerificationFailed
	ReasonNoSignature        = reason.NoSignature
	ReasonArtifactMissing    = reason.ArtifactMissing
	ReasonNoVerifier         = reason.NoVerifier
	ReasonNoPolicy           = reason.NoPolicy
	ReasonPolicyNotSatisfied = reason.PolicyNotSatisfied
	ReasonTagResolved        = reason.TagResolved
	ReasonConfigInvalid      = reason.ConfigInvalid
	ReasonPluginUnavailable  = reason.PluginUnavailable
	ReasonPluginError        = reason.PluginError
	ReasonDeadlineExceeded   = reason.DeadlineExceeded
	ReasonRegistryError      = reason.RegistryError
	ReasonLimitExceeded      = reason.LimitExceeded
	ReasonSubjectNotFound    = reason.SubjectNotFound
	ReasonInvalidReference   = reason.InvalidReference
)

// Reasons returns every documented code (unordered).
func Reasons() []Reason { return reason.All() }
