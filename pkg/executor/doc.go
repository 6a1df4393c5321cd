// Package executor verifies one subject: it pins the reference to a
// digest, discovers the referrer graph, runs every (artifact, verifier)
// job through one bounded pool and assembles the report under the Policy.
//
// # Patterns
//
// Discovery comes first and is breadth-first with depth and node limits;
// verification second, as a flat pool limited by [Options.Concurrency].
// A flat pool cannot deadlock the way nested limited groups can, and one
// slow or crashed verifier never cancels its siblings: its job becomes
// inconclusive with a reason.
//
// The executor declares what it consumes ([Store], [Verifier]) and
// imports only package report.
package executor
