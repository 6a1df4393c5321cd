// Command cosign is Assay's verifier plugin for Sigstore signatures made
// by cosign, in both layouts: the classic one (artifact type
// "application/vnd.dev.cosign.artifact.sig.v1+json", Assay's name for a
// manifest under the "sha256-<hex>.sig" tag, whose layers are
// simple-signing payloads with their signature, certificate, Rekor bundle
// and RFC 3161 timestamp as annotations) and cosign v3's Sigstore bundle
// v0.3 stored as an OCI 1.1 referrer (artifact type
// "application/vnd.dev.sigstore.bundle.v0.3+json"). The Assay host hands
// it the manifest and its layers; the plugin never contacts a registry
// and makes no network call at all: keys, identities and the Sigstore
// trusted root (Fulcio CAs, Rekor and CT log keys, TSAs) are parameters,
// so it works air-gapped.
//
// Verification is sigstore-go's (pkg/verify): a classic layer becomes a
// sigstore-go signed entity (a message signature over the payload, the
// Rekor bundle as a log entry with its signed entry timestamp, the
// timestamp annotation as a signed timestamp); a bundle is one already.
// The plugin adds what is cosign's: the payload or statement must name
// the subject's digest, and the trust policy is picked by repository.
//
// # Parameters
//
// See [Parameters] and README.md. Decoding is strict: unknown fields
// (also a mere case mismatch), wrong types, scopes that overlap, keys and
// trusted roots that do not parse, missing files and contradictory
// settings are errors naming the field. A parsed configuration is cached
// by the sha256 of its bytes and rebuilt when a key or trusted root file
// changes.
//
// # Outcomes
//
//   - verified, VERIFIED: a signature satisfied the trust policy (for a
//     classic manifest with several layers: any one of them).
//   - failed: SIGNATURE_INVALID (malformed, altered, or for another
//     digest), SIGNATURE_UNTRUSTED (no trusted key verifies it, the
//     certificate does not chain to the trusted root, a required log entry
//     or SCT is missing or untrusted), IDENTITY_MISMATCH (trusted
//     certificate, other identity), CERTIFICATE_EXPIRED (observed outside
//     the certificate's validity), TIMESTAMP_INVALID (the timestamps
//     required are missing or untrusted), VERIFICATION_FAILED (a DSSE
//     attestation of a predicate type not accepted as a signature, or a
//     refusal no check explains).
//   - inconclusive: CONFIG_INVALID, NO_TRUST_POLICY (no scope covers the
//     repository: the configuration does not say what to trust, as in the
//     notation plugin).
//
// Details carry trustPolicy, signatureFormat, the key (key,
// keyFingerprint, keyType) or identity (subject, issuer,
// certificateIssuer) that verified, tlogVerified, integratedTime,
// logIndex, timestampVerified and timestamps, bundleContent and
// predicateType for bundles, and for classic manifests a signatures list
// with each layer's verdict, reason and message.
package main
