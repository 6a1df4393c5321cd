// Package cosigntest builds real Sigstore signatures for tests, end-to-end
// runs and demos of the cosign verifier plugin: signing keys (ECDSA P-256,
// RSA, Ed25519), signatures in cosign's classic layout (simple-signing
// payloads under the "sha256-<hex>.sig" tag, with the signature,
// certificate, Rekor bundle and RFC 3161 timestamp annotations cosign
// writes), Sigstore bundles v0.3 stored as OCI 1.1 referrers (cosign v3),
// a local Sigstore (sigstore-go's VirtualSigstore: a Fulcio CA issuing
// certificates for an identity, a Rekor log, a CT log and a timestamping
// authority) with its trusted_root.json, and parameters for the plugin.
//
// Nothing here is a fake: signatures are made with
// github.com/sigstore/sigstore's signers and the DSSE library sigstore-go
// uses, certificates, Rekor entries, signed entry timestamps, inclusion
// proofs and timestamps come from sigstore-go's testing CA, and
// sigstore-go's verifier accepts them.
//
// Constructors return errors; the Must… wrappers take a testing.TB, call
// t.Helper and fail the test on error.
//
// # Time
//
// The VirtualSigstore issues each certificate valid from now for ten
// minutes, and its timestamping authority's certificate is valid from five
// minutes before it was created to five minutes after. Signatures made
// with a Sigstore verify only within those windows: create the Sigstore in
// the test that uses it.
package cosigntest
