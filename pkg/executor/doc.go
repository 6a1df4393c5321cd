// Package executor verifies one subject: it pins the reference to a
// digest, discovers the referrer graph, runs every (artifact, verifier)
// job through one bounded pool and assembles the report under the Policy.
//
// # Patterns
//
// Discovery is breadth-first with depth and node limits. Each level's
// artifacts are handed to the job pool as soon as they are found, so
// verifying an artifact overlaps with listing its referrers; the
// referrers of an artifact are listed only when a job's verdict depends
// on them (a Verifier that requires the artifact's own signature).
//
// The jobs of one manifest run through one pool limited by
// [Options.Concurrency], beside the listings, which have a limit of
// their own. The pool's tasks never wait for one another while holding
// a slot (a job that needs something another task learns is handed to
// the pool only once it is known), so the pool cannot deadlock the way
// nested limited groups can, and one slow or crashed verifier never
// cancels its siblings: its job becomes inconclusive with a reason.
// Under a multiArch Policy each platform manifest of an index gets a
// pool of its own, and up to Concurrency of them run at once.
//
// A key with a digest costs no request before discovery: the referrers
// of the digest are listed at once, and the subject's descriptor comes
// from the artifact manifests the verifiers read anyway (see
// [Executor.Verify]).
//
// Concurrent verifications of one digest-pinned subject share one
// (package internal/flight): it runs in a goroutine of its own until the
// latest deadline of the requests waiting for it and stops when none
// waits, while each request returns by its own deadline (see
// [Executor.Verify]).
//
// The executor declares what it consumes ([Store], [Verifier]) and
// imports only package report and the building blocks of pkg/internal.
package executor
