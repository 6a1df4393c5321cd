// Package reason holds Assay's closed set of reason codes: the
// machine-readable explanation of every verdict and policy outcome in a
// report, each with its documentation and a default remediation.
//
// It is the one source of the codes. The report schema (package report,
// whose Reason is an alias of [Code]), the host, and the verifier
// plugins through the plugin SDK all use these constants, so a plugin
// cannot restate a code differently from the host. docs/reasons.md is
// generated from this package's doc comments (go test ./pkg/reason
// -update) and a test keeps it current.
//
// The package depends only on the standard library, so plugins can import
// it without pulling in any host code.
package reason
