// Package provider is Assay's OPA Gatekeeper external data provider: an
// http.Handler that answers Gatekeeper's ProviderRequests with one
// verification report (or one digest-pinned reference, for mutation) per
// key.
//
// # Endpoints
//
//   - POST /v1/verify: each key's value is Assay's report
//     (application/vnd.assay.verification-report.v1+json, see package
//     report).
//   - POST /v1/mutate: each key's value is the reference pinned to its
//     digest ("name@sha256:…"); an already pinned reference maps to
//     itself.
//   - POST /ratify/gatekeeper/v1/verify and /ratify/gatekeeper/v1/mutate:
//     the same answers in Ratify v1.4's shapes, so templates written for
//     Ratify keep working: Ratify's verifier type names, the time of the
//     request as timestamp, and a traceID that the log's info line for
//     each image of the request repeats (see ToRatify).
//
// The wire format is Gatekeeper's external data API
// (https://open-policy-agent.github.io/gatekeeper/website/docs/externaldata):
// Gatekeeper never checks the HTTP status, so every answer is a
// ProviderResponse; problems with the request as a whole are its
// systemError, problems with one key are that item's error.
//
// # Patterns
//
// Every key of a request is answered exactly once, in the order of first
// appearance; a key repeated in the request is verified once. Keys are
// verified concurrently, bounded per request and across requests. The
// request's budget is the Provider's timeout minus a margin: when it runs
// out the handler answers at once with what has finished and reports
// every other key as inconclusive with reason DEADLINE_EXCEEDED, so that
// Gatekeeper never times out (its default on timeout is to admit).
//
// Only an invalid reference and an image the registry does not have are
// reported as an item's error; every other outcome, including registry
// failures and deadlines, is a report whose isSuccess is false and whose
// reason says why.
package provider
