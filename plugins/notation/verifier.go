package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/notaryproject/notation-core-go/signature"
	"github.com/notaryproject/notation-core-go/signature/cose"
	"github.com/notaryproject/notation-core-go/signature/jws"
	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	"github.com/notaryproject/tspclient-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/plugin/params"
	"github.com/assayproj/assay/pkg/reason"
)

// Name is the plugin's name, equal to its binary name.
const Name = "notation"

// ArtifactType is the Notary Project signature artifact type this plugin
// verifies.
const ArtifactType = "application/vnd.cncf.notary.signature"

const (
	defaultCRLCacheSize    = 256
	detailsTimeLayout      = time.RFC3339
	tsaStorePrefix         = string(truststore.TypeTSA) + ":"
	signatureMediaTypeJWS  = jws.MediaTypeEnvelope
	signatureMediaTypeCOSE = cose.MediaTypeEnvelope
)

// Remediations shared by several outcomes.
const (
	remediationConfigInvalid    = "Fix the Verifier's parameters; the message names the field."
	remediationNoTrustPolicy    = "Add a trust policy statement whose registryScopes include this repository (or \"*\")."
	remediationReSign           = "Re-sign the image and push the signature again; the signature does not match the image or was altered."
	remediationRetry            = "Retry; check that the revocation endpoints (CRL or OCSP) named in the certificates are reachable from the plugin, or raise revocation.timeout."
	remediationIdentity         = "Sign with a trusted identity, or add the signer's subject to the trust policy's trustedIdentities."
	remediationSignatureExpired = "Re-sign the image; the signature has passed its expiry."
)

// Options configures NewVerifier.
type Options struct {
	// Version is the plugin version reported by Metadata. If empty, the
	// main module's version from the build info is used, or "devel".
	Version string
	// MaxConfigs is how many parsed configurations are kept (each keyed by
	// the sha256 of its bytes). If <= 0, plugin.DefaultConfigCacheSize
	// (currently 16) is used.
	MaxConfigs int
	// CRLCacheSize is how many CRLs the shared "memory" CRL cache keeps.
	// If <= 0, a default (currently 256) is used.
	CRLCacheSize int
	// Now returns the current time, used only to classify failures (was a
	// certificate expired at verification?). notation-go itself reads the
	// system clock. If nil, time.Now is used.
	Now func() time.Time
}

// Verifier verifies Notary Project signatures (JWS and COSE envelopes)
// with notation-go against a trust policy and in-memory trust stores. It
// implements plugin.Verifier and is safe for concurrent use.
type Verifier struct {
	version  string
	now      func() time.Time
	crlCache *memoryCRLCache
	configs  *plugin.ConfigCache[*config]
}

var _ plugin.Verifier = (*Verifier)(nil)

// NewVerifier returns a Verifier with opts' defaults applied.
func NewVerifier(opts Options) *Verifier {
	v := &Verifier{version: opts.Version, now: opts.Now}
	if v.version == "" {
		v.version = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.version = bi.Main.Version
		}
	}
	if v.now == nil {
		v.now = time.Now
	}
	size := opts.CRLCacheSize
	if size <= 0 {
		size = defaultCRLCacheSize
	}
	v.crlCache = newMemoryCRLCache(size)
	v.configs = plugin.NewConfigCache(opts.MaxConfigs, func(raw []byte) *config { return parseConfig(raw, v.crlCache) })
	return v
}

// Metadata describes the plugin. It declares plugin.CapabilityNetwork: the
// plugin fetches CRLs and asks OCSP responders itself. Its one artifact
// type is a signature.
func (v *Verifier) Metadata(context.Context) (plugin.Metadata, error) {
	return plugin.Metadata{
		Name:           Name,
		Version:        v.version,
		ArtifactTypes:  []string{ArtifactType},
		Capabilities:   []string{plugin.CapabilityNetwork},
		SignatureTypes: []string{ArtifactType},
	}, nil
}

// ValidateConfig decodes and checks parameters and returns every problem
// found as a diagnostic naming its field. It never returns an error.
func (v *Verifier) ValidateConfig(_ context.Context, raw []byte) ([]plugin.Diagnostic, error) {
	return append([]plugin.Diagnostic(nil), v.configs.Get(raw).diags...), nil
}

// Verify verifies the signature envelope carried by req against the
// subject. A signature that is bad, untrusted, expired or revoked is a
// VerdictFailed response; a configuration problem, a trust policy that does
// not cover the repository, or a revocation status that could not be
// determined is VerdictInconclusive. It never returns an error. Serve
// has validated req (subject digest, repository, config) and recovers a
// panic in notation's parsers of the untrusted envelope, which the host
// reports as inconclusive.
func (v *Verifier) Verify(ctx context.Context, req *plugin.VerifyRequest) (*plugin.VerifyResponse, error) {
	cfg := v.configs.Get(req.Config)
	if d := cfg.invalid(); d != nil {
		return &plugin.VerifyResponse{Verdict: plugin.VerdictInconclusive, Reason: reason.ConfigInvalid, Message: params.InvalidMessage(d), Remediation: remediationConfigInvalid}, nil
	}

	ref := req.Repository + "@" + req.Subject.Digest.String()
	policy, err := cfg.doc.GetApplicableTrustPolicy(ref)
	if err != nil {
		return &plugin.VerifyResponse{
			Verdict:     plugin.VerdictInconclusive,
			Reason:      reason.NoTrustPolicy,
			Message:     fmt.Sprintf("no trust policy applies to repository %q: %v", req.Repository, err),
			Remediation: remediationNoTrustPolicy,
			Details:     map[string]any{"repository": req.Repository},
		}, nil
	}
	j := &judge{
		now:     v.now(),
		subject: req.Subject,
		policy:  policy,
		details: map[string]any{
			"trustPolicy":       policy.Name,
			"verificationLevel": policy.SignatureVerification.VerificationLevel,
		},
	}

	blob, resp := signatureBlob(req)
	if resp != nil {
		resp.Details = j.details
		return resp, nil
	}
	j.details["signatureMediaType"] = blob.Descriptor.MediaType

	j.codeSign = &recordingValidator{inner: cfg.codeSign}
	j.timestamp = &recordingValidator{inner: cfg.timestamp}
	nv, err := verifier.NewWithOptions(cfg.doc, cfg.store, nil, verifier.VerifierOptions{
		RevocationCodeSigningValidator:  j.codeSign,
		RevocationTimestampingValidator: j.timestamp,
	})
	if err != nil {
		return &plugin.VerifyResponse{Verdict: plugin.VerdictInconclusive, Reason: reason.ConfigInvalid, Message: "notation verifier cannot be built: " + err.Error(), Remediation: remediationConfigInvalid, Details: j.details}, nil
	}
	outcome, verr := nv.Verify(ctx, req.Subject, blob.Data, notation.VerifierVerifyOptions{
		ArtifactReference:  ref,
		SignatureMediaType: blob.Descriptor.MediaType,
	})
	return j.decide(ctx, outcome, verr), nil
}

// signatureBlob picks the envelope out of the request: a notation
// signature manifest has exactly one layer, the envelope. A response is
// returned when the request's blobs cannot be a notation signature.
func signatureBlob(req *plugin.VerifyRequest) (plugin.Blob, *plugin.VerifyResponse) {
	fail := func(msg string) *plugin.VerifyResponse {
		return &plugin.VerifyResponse{Verdict: plugin.VerdictFailed, Reason: reason.SignatureInvalid, Message: msg, Remediation: remediationReSign}
	}
	if len(req.Blobs) != 1 {
		return plugin.Blob{}, fail(fmt.Sprintf("a notation signature manifest has exactly one layer (the envelope), this one has %d", len(req.Blobs)))
	}
	blob := req.Blobs[0]
	switch blob.Descriptor.MediaType {
	case signatureMediaTypeJWS, signatureMediaTypeCOSE:
	default:
		return plugin.Blob{}, fail(fmt.Sprintf("signature envelope media type %q is not supported (want %q or %q)", blob.Descriptor.MediaType, signatureMediaTypeJWS, signatureMediaTypeCOSE))
	}
	if blob.Descriptor.Digest != "" {
		if err := blob.Descriptor.Digest.Validate(); err != nil {
			return plugin.Blob{}, fail(fmt.Sprintf("signature envelope descriptor has an invalid digest: %v", err))
		}
		if blob.Descriptor.Digest.Algorithm().FromBytes(blob.Data) != blob.Descriptor.Digest || (blob.Descriptor.Size != 0 && blob.Descriptor.Size != int64(len(blob.Data))) {
			return plugin.Blob{}, fail("signature envelope bytes do not match their descriptor")
		}
	}
	return blob, nil
}

// judge turns notation-go's outcome into a verdict, a reason code, a
// message and details.
type judge struct {
	now       time.Time
	subject   ocispec.Descriptor
	policy    *trustpolicy.TrustPolicy
	codeSign  *recordingValidator
	timestamp *recordingValidator
	details   map[string]any
}

// decide maps notation-go's outcome to a response. notation-go checks, in
// order: integrity, authenticity (trust store, then trusted identity),
// expiry, authentic timestamp, revocation; it stops at the first check
// whose action is "enforce" and that fails. Failures of "log" checks are
// reported as warnings on a verified response.
func (j *judge) decide(ctx context.Context, o *notation.VerificationOutcome, verr error) *plugin.VerifyResponse {
	if o != nil && o.EnvelopeContent != nil {
		j.signerDetails(&o.EnvelopeContent.SignerInfo)
	}
	if verr == nil {
		return j.verified(o)
	}
	if ctx.Err() != nil {
		return j.inconclusive(reason.VerificationFailed, fmt.Sprintf("verification did not finish before the request ended (%v): %v", ctx.Err(), verr), remediationRetry)
	}
	var noPolicy notation.NoApplicableTrustPolicyError
	if errors.As(verr, &noPolicy) {
		return j.inconclusive(reason.NoTrustPolicy, noPolicy.Error(), remediationNoTrustPolicy)
	}
	if o == nil {
		return j.inconclusive(reason.VerificationFailed, "notation could not verify the signature: "+verr.Error(), "Inspect the message; the plugin could not evaluate the signature.")
	}
	var failed *notation.ValidationResult
	for _, r := range o.VerificationResults {
		if r != nil && r.Error != nil && r.Action == trustpolicy.ActionEnforce {
			failed = r
		}
	}
	if failed == nil {
		return j.outsideChecks(o, verr)
	}
	switch failed.Type {
	case trustpolicy.TypeIntegrity:
		return j.integrityFailure(failed.Error)
	case trustpolicy.TypeAuthenticity:
		return j.authenticityFailure(failed.Error)
	case trustpolicy.TypeExpiry:
		return j.failed(reason.SignatureExpired, "the signature has expired: "+failed.Error.Error(), remediationSignatureExpired)
	case trustpolicy.TypeAuthenticTimestamp:
		return j.timestampFailure(o, failed.Error)
	case trustpolicy.TypeRevocation:
		return j.revocationFailure(failed.Error)
	default:
		return j.failed(reason.VerificationFailed, fmt.Sprintf("%s check failed: %v", failed.Type, failed.Error), "Inspect the message and the verifier's details.")
	}
}

func (j *judge) verified(o *notation.VerificationOutcome) *plugin.VerifyResponse {
	if o != nil && o.VerificationLevel != nil && o.VerificationLevel.Name == trustpolicy.LevelSkip.Name {
		j.details["warnings"] = []any{"signature verification skipped: trust policy level is skip"}
		return &plugin.VerifyResponse{
			Verdict: plugin.VerdictVerified,
			Reason:  reason.Verified,
			Message: fmt.Sprintf("signature not verified: trust policy %q has level skip", j.policy.Name),
			Details: j.details,
		}
	}
	var warnings []any
	if o != nil {
		for _, r := range o.VerificationResults {
			if r != nil && r.Error != nil && r.Action == trustpolicy.ActionLog {
				warnings = append(warnings, fmt.Sprintf("%s: %v", r.Type, r.Error))
			}
		}
	}
	msg := fmt.Sprintf("signature verified by trust policy %q (level %s)", j.policy.Name, j.policy.SignatureVerification.VerificationLevel)
	if _, ok := j.details["timestamp"]; ok && j.timestampVerified() {
		j.details["timestampVerified"] = true
		msg += fmt.Sprintf(", with a trusted timestamp at %s", j.details["timestamp"])
	}
	if len(warnings) > 0 {
		j.details["warnings"] = warnings
		msg += fmt.Sprintf("; %d check(s) failed but the level only logs them: %s", len(warnings), warnings[0])
		if len(warnings) > 1 {
			msg += ", ..."
		}
	}
	return &plugin.VerifyResponse{Verdict: plugin.VerdictVerified, Reason: reason.Verified, Message: msg, Details: j.details}
}

// timestampVerified reports whether notation-go verified the timestamp
// countersignature for this (passing) signature: it does so when the
// policy has a tsa trust store and verifyTimestamp is "always", or
// "afterCertExpiry" and the chain has expired.
func (j *judge) timestampVerified() bool {
	if !j.policyHasTSA() {
		return false
	}
	if j.policy.SignatureVerification.VerifyTimestamp == trustpolicy.OptionAfterCertExpiry {
		expired, _ := j.details["certificateExpired"].(bool)
		return expired
	}
	return true
}

func (j *judge) policyHasTSA() bool {
	for _, s := range j.policy.TrustStores {
		if strings.HasPrefix(s, tsaStorePrefix) {
			return true
		}
	}
	return false
}

// outsideChecks handles a failure after the five checks passed: the
// signature is for another artifact, or notation-go could not proceed.
func (j *judge) outsideChecks(o *notation.VerificationOutcome, verr error) *plugin.VerifyResponse {
	if o.EnvelopeContent != nil {
		var payload struct {
			TargetArtifact ocispec.Descriptor `json:"targetArtifact"`
		}
		if err := json.Unmarshal(o.EnvelopeContent.Payload.Content, &payload); err != nil {
			return j.failed(reason.SignatureInvalid, "the signature payload is not a Notary Project payload: "+err.Error(), remediationReSign)
		}
		t := payload.TargetArtifact
		if t.Digest != j.subject.Digest || t.MediaType != j.subject.MediaType || t.Size != j.subject.Size {
			j.details["signedDigest"] = t.Digest.String()
			return j.failed(reason.SignatureInvalid, fmt.Sprintf("the signature is for %s (%s, %d bytes), not for the subject %s (%s, %d bytes)",
				t.Digest, t.MediaType, t.Size, j.subject.Digest, j.subject.MediaType, j.subject.Size), remediationReSign)
		}
	}
	var inconclusive notation.VerificationInconclusiveError
	if errors.As(verr, &inconclusive) {
		return j.inconclusive(reason.VerificationFailed, "notation could not evaluate the signature: "+verr.Error(), "The signature may require a notation verification plugin, which Assay does not run; inspect the message.")
	}
	return j.failed(reason.VerificationFailed, "signature verification failed: "+verr.Error(), "Inspect the message and the verifier's details.")
}

func (j *judge) integrityFailure(err error) *plugin.VerifyResponse {
	var inconclusive notation.VerificationInconclusiveError
	if errors.As(err, &inconclusive) {
		return j.inconclusive(reason.VerificationFailed, "the signature envelope could not be checked: "+err.Error(), "Inspect the message; the envelope uses something notation cannot evaluate.")
	}
	return j.failed(reason.SignatureInvalid, "the signature envelope is malformed or altered: "+err.Error(), remediationReSign)
}

func (j *judge) authenticityFailure(err error) *plugin.VerifyResponse {
	var (
		notTrusted   *signature.SignatureAuthenticityError
		inconclusive notation.VerificationInconclusiveError
		storeErr     truststore.TrustStoreError
		certErr      truststore.CertificateError
	)
	stores := strings.Join(j.policy.TrustStores, ", ")
	switch {
	case errors.As(err, &notTrusted):
		return j.failed(reason.SignatureUntrusted,
			fmt.Sprintf("the signing certificate chain does not lead to a certificate in trust stores %s of trust policy %q", stores, j.policy.Name),
			"Sign with a certificate issued by a trusted CA, or add the signer's root CA to the trust store.")
	case errors.As(err, &certErr):
		return j.failed(reason.SignatureUntrusted,
			fmt.Sprintf("trust policy %q cannot trust the signature: %v", j.policy.Name, err),
			"Put the issuing root CA (not the signing certificate) in the trust store; notation trusts CA or self-signed certificates only.")
	case errors.As(err, &storeErr):
		return j.inconclusive(reason.ConfigInvalid, fmt.Sprintf("trust policy %q refers to an unusable trust store: %v", j.policy.Name, err), remediationConfigInvalid)
	case errors.As(err, &inconclusive):
		return j.inconclusive(reason.SignatureUntrusted,
			fmt.Sprintf("trust policy %q has no trust store for this signature's signing scheme (%v): %v", j.policy.Name, j.details["signingScheme"], err),
			"Add a trust store of the matching type (ca for notary.x509, signingAuthority for notary.x509.signingAuthority) to the trust policy.")
	default:
		// The chain is trusted; the trusted identity check failed.
		return j.failed(reason.IdentityMismatch,
			fmt.Sprintf("signer %q is not a trusted identity of trust policy %q: %v", j.details["signerSubject"], j.policy.Name, err),
			remediationIdentity)
	}
}

// timestampFailure classifies an authentic timestamp failure: the chain
// expired (or is not yet valid) with no trusted timestamp to prove the
// signature was made in time, or the timestamp itself is not trustworthy.
func (j *judge) timestampFailure(o *notation.VerificationOutcome, err error) *plugin.VerifyResponse {
	if o.EnvelopeContent == nil {
		return j.failed(reason.TimestampInvalid, "timestamp check failed: "+err.Error(), "Re-sign with a timestamp from a TSA in the verifier's tsa trust store.")
	}
	si := &o.EnvelopeContent.SignerInfo
	if si.SignedAttributes.SigningScheme == signature.SigningSchemeX509SigningAuthority {
		return j.failed(reason.CertificateExpired, "a certificate was not valid at the authentic signing time: "+err.Error(), "Re-sign with a valid certificate.")
	}
	if s := j.timestamp.state(); s.checked {
		switch {
		case s.revoked != "":
			return j.failed(reason.TimestampInvalid, fmt.Sprintf("the timestamping certificate %q is revoked (%s)", s.revoked, s.revokedBy), "Re-sign with a timestamp from a TSA whose certificate is not revoked.")
		case s.err != nil || s.unknown != "":
			return j.inconclusive(reason.TimestampInvalid, "the revocation status of the timestamping certificate could not be determined: "+err.Error(), remediationRetry)
		}
	}
	expired, notYet := j.chainState(si.CertificateChain)
	token := si.UnsignedAttributes.TimestampSignature
	const timestampRemedy = "Re-sign with a timestamp from a TSA in the verifier's tsa trust store."
	const expiredRemedy = "Re-sign with a valid certificate, or sign with an RFC 3161 timestamp from a trusted TSA while the certificate is valid."
	switch {
	case notYet != nil:
		return j.failed(reason.VerificationFailed, fmt.Sprintf("certificate %q is not valid before %s", notYet.Subject, notYet.NotBefore.UTC().Format(detailsTimeLayout)), "Check the signer's certificate validity and the clock of the machine running Assay.")
	case expired == nil:
		// Valid chain: verifyTimestamp "always" demanded a timestamp that
		// is missing or not trustworthy.
		return j.failed(reason.TimestampInvalid, "the trust policy requires a trusted timestamp: "+err.Error(), timestampRemedy)
	case len(token) == 0:
		return j.failed(reason.CertificateExpired, fmt.Sprintf("certificate %q expired on %s and the signature carries no RFC 3161 timestamp", expired.Subject, expired.NotAfter.UTC().Format(detailsTimeLayout)), expiredRemedy)
	case !j.policyHasTSA():
		return j.failed(reason.CertificateExpired, fmt.Sprintf("certificate %q expired on %s; the signature carries a timestamp but trust policy %q has no tsa trust store, so it is not considered", expired.Subject, expired.NotAfter.UTC().Format(detailsTimeLayout), j.policy.Name), "Add the TSA's root to a tsa trust store referenced by the trust policy, or re-sign with a valid certificate.")
	}
	if ts, ok := timestampOf(token, si.Signature); ok {
		for _, c := range si.CertificateChain {
			if ts.After(c.NotAfter) || ts.Before(c.NotBefore) {
				return j.failed(reason.CertificateExpired, fmt.Sprintf("the timestamp (%s) shows the signature was made outside the validity of certificate %q (%s to %s)",
					ts.UTC().Format(detailsTimeLayout), c.Subject, c.NotBefore.UTC().Format(detailsTimeLayout), c.NotAfter.UTC().Format(detailsTimeLayout)), expiredRemedy)
			}
		}
	}
	return j.failed(reason.TimestampInvalid, fmt.Sprintf("certificate %q has expired and its timestamp cannot be trusted: %v", expired.Subject, err), timestampRemedy)
}

func (j *judge) revocationFailure(err error) *plugin.VerifyResponse {
	s := j.codeSign.state()
	switch {
	case s.revoked != "":
		return j.failed(reason.CertificateRevoked, fmt.Sprintf("certificate %q is revoked (%s)", s.revoked, s.revokedBy), "Re-sign with a certificate that is not revoked.")
	case s.err != nil:
		return j.inconclusive(reason.VerificationFailed, "the revocation status could not be checked: "+s.err.Error(), "Inspect the message; the certificate chain could not be checked for revocation.")
	case s.unknown != "":
		why := ""
		if len(s.unknownWhy) > 0 {
			why = ": " + strings.Join(s.unknownWhy, "; ")
		}
		return j.inconclusive(reason.VerificationFailed, fmt.Sprintf("the revocation status of certificate %q could not be determined%s", s.unknown, why), remediationRetry)
	default:
		return j.inconclusive(reason.VerificationFailed, "the revocation check failed: "+err.Error(), remediationRetry)
	}
}

// chainState returns the first certificate expired at j.now and the first
// not yet valid, if any.
func (j *judge) chainState(chain []*x509.Certificate) (expired, notYet *x509.Certificate) {
	for _, c := range chain {
		if expired == nil && j.now.After(c.NotAfter) {
			expired = c
		}
		if notYet == nil && j.now.Before(c.NotBefore) {
			notYet = c
		}
	}
	return expired, notYet
}

// signerDetails records the facts Rego may use from a parsed envelope.
func (j *judge) signerDetails(si *signature.SignerInfo) {
	j.details["signingScheme"] = string(si.SignedAttributes.SigningScheme)
	if t := si.SignedAttributes.SigningTime; !t.IsZero() {
		j.details["signingTime"] = t.UTC().Format(detailsTimeLayout)
	}
	if t := si.SignedAttributes.Expiry; !t.IsZero() {
		j.details["signatureExpiry"] = t.UTC().Format(detailsTimeLayout)
	}
	if len(si.CertificateChain) > 0 {
		leaf := si.CertificateChain[0]
		j.details["signerSubject"] = leaf.Subject.String()
		j.details["signerIssuer"] = leaf.Issuer.String()
		j.details["serialNumber"] = leaf.SerialNumber.String()
		j.details["signerNotAfter"] = leaf.NotAfter.UTC().Format(detailsTimeLayout)
		expired, _ := j.chainState(si.CertificateChain)
		j.details["certificateExpired"] = expired != nil
	}
	if ts, ok := timestampOf(si.UnsignedAttributes.TimestampSignature, si.Signature); ok {
		j.details["timestamp"] = ts.UTC().Format(detailsTimeLayout)
	}
}

// timestampOf reads the time of an RFC 3161 timestamp token over sig,
// without judging its trust (notation-go does that).
func timestampOf(token, sig []byte) (time.Time, bool) {
	if len(token) == 0 {
		return time.Time{}, false
	}
	signed, err := tspclient.ParseSignedToken(token)
	if err != nil {
		return time.Time{}, false
	}
	info, err := signed.Info()
	if err != nil {
		return time.Time{}, false
	}
	ts, err := info.Validate(sig)
	if err != nil {
		return time.Time{}, false
	}
	return ts.Value, true
}

func (j *judge) failed(code reason.Code, msg, remediation string) *plugin.VerifyResponse {
	return &plugin.VerifyResponse{Verdict: plugin.VerdictFailed, Reason: code, Message: msg, Remediation: remediation, Details: j.details}
}

func (j *judge) inconclusive(code reason.Code, msg, remediation string) *plugin.VerifyResponse {
	return &plugin.VerifyResponse{Verdict: plugin.VerdictInconclusive, Reason: code, Message: msg, Remediation: remediation, Details: j.details}
}
