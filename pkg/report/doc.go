// Package report defines Assay's verification report: the versioned JSON
// document returned for every image, read by Rego and by people.
//
// The schema is identified by [MediaType]. Keys are lowerCamel; the
// golden tests in this package pin the encoding. Verdicts have three
// states ([Verified], [Failed], [Inconclusive]) and every non-success
// carries a [Reason] from a closed set with a default remediation.
//
// The reason codes themselves live in the leaf package reason, which the
// verifier plugins import too; [Reason] is an alias of reason.Code.
//
// The package depends only on the standard library and package reason so
// that every layer, and tools outside Assay, can read reports.
package report
