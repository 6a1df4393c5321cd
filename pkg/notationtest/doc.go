// Package notationtest builds real Notary Project signatures and the
// infrastructure around them for tests, end-to-end runs and demos: a test
// PKI made with crypto/x509, signatures made with notation-go's signer, a
// local RFC 3161 timestamping authority, CRL and OCSP responders, a helper
// that pushes a signature as an OCI referrer the way notation does, and
// ready-made trust material for the notation verifier plugin.
//
// Nothing here is a fake: the certificates satisfy the Notary Project
// certificate requirements (see notation-core-go's x509 package), the
// envelopes are JWS or COSE produced by notation-go/notation-core-go, the
// timestamp tokens are CMS SignedData that tspclient-go verifies, and the
// CRLs and OCSP responses are signed by the issuing CA.
//
// Constructors return errors; the Must… wrappers take a testing.TB, call
// t.Helper, fail the test on error and register t.Cleanup for servers.
//
// # Servers
//
// The TSA, CRL and OCSP servers listen on 127.0.0.1 on a random port
// (net/http/httptest) and must be closed by the caller (the Must… wrappers
// do it through t.Cleanup). Each also implements http.Handler so it can be
// mounted elsewhere.
//
// # Signing in the past
//
// notation-go's signer.GenericSigner always signs at time.Now and refuses
// a certificate that is not valid then. To produce a signature made while a
// now-expired certificate was still valid, set [SignOptions.SigningTime]:
// the envelope is then built with notation-core-go's signature package
// (the library GenericSigner itself calls) at that time, with the same
// payload and signed attributes. Pair it with a [TSA] whose
// [TSAOptions.Now] returns the same instant to get a trusted timestamp
// made while the certificate was valid. No test needs to sleep.
package notationtest
