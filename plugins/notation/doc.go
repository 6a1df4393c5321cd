// Command notation is Assay's verifier plugin for Notary Project
// signatures (artifact type "application/vnd.cncf.notary.signature"). The
// Assay host starts it as a long-lived go-plugin process and sends it, per
// signature, the subject descriptor, the normalised repository, the
// signature manifest and its one layer: a JWS ("application/jose+json") or
// COSE ("application/cose") envelope. The plugin never contacts the
// registry; it verifies the bytes with notation-go's verifier against a
// trust policy document and in-memory trust stores given as parameters, and
// checks revocation itself (OCSP, then CRL with a cache), which is why it
// declares the needs_network capability.
//
// # Parameters
//
// See [Parameters] and README.md. The parameters are decoded strictly:
// unknown fields (also a mere case mismatch), wrong types, an invalid trust
// policy document (checked with notation-go's own rules), trust stores
// referenced but not defined, certificates that do not parse and missing
// files are errors naming the field. A parsed configuration is cached by
// the sha256 of its bytes, and rebuilt when a trust store file changes.
//
// # Outcomes
//
// Each verification ends in one of three verdicts with a reason code:
//
//   - verified, VERIFIED: every enforced check passed. Checks the trust
//     policy's level only logs (permissive, audit) are listed under the
//     "warnings" detail. Level skip is verified with a warning too.
//   - failed: the signature was evaluated and is not acceptable —
//     SIGNATURE_INVALID (malformed or altered envelope, signature for
//     another digest), SIGNATURE_UNTRUSTED (chain not anchored in the
//     policy's trust stores, or a trust store holding a bare leaf),
//     IDENTITY_MISMATCH (trusted chain, signer not among
//     trustedIdentities), CERTIFICATE_EXPIRED (expired with no trusted
//     timestamp proving the signature was made in time), SIGNATURE_EXPIRED,
//     TIMESTAMP_INVALID, CERTIFICATE_REVOKED.
//   - inconclusive: the signature could not be evaluated — CONFIG_INVALID,
//     NO_TRUST_POLICY (no statement's registryScopes covers the
//     repository: the configuration does not say what to trust, so it is
//     not the signature's fault), VERIFICATION_FAILED when a revocation
//     status is unknown (endpoint unreachable or timed out while revocation
//     is enforced) or the request ran out of time.
//
// This mirrors notation-go's VerificationFailedError versus
// VerificationInconclusiveError. Details carry signerSubject, signerIssuer,
// serialNumber (decimal), signerNotAfter, certificateExpired, signingTime,
// signatureExpiry, timestamp (the TSA's time) and timestampVerified,
// signatureMediaType, signingScheme, trustPolicy, verificationLevel and
// warnings, as far as they are known.
package main
