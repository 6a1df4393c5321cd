// Package cache holds the backends of the executor's verdict cache: byte
// values (encoded reports) under string keys, each with its own time to
// live. It satisfies the executor's VerdictCache interface without
// importing it, and imports nothing else of Assay's.
//
// Verifying an image costs registry round trips and plugin calls; the
// same digest is admitted again and again (every replica of a
// Deployment, every restart), so a verdict is worth keeping for a while.
// The executor decides what may be cached and for how long, and puts the
// configuration's identity in every key; this package only stores bytes.
//
// # Backends
//
//   - [Memory]: one process, bounded by a byte budget, least recently
//     used first out. Fast and private to the replica.
//   - [Redis]: shared by every replica, so a verdict made by one is
//     reused by the others and outlives a restart of Assay. One attempt
//     per command and short timeouts (by default 200ms to read or write)
//     make a slow or absent Redis cost a cache miss, never the admission
//     budget.
//
// # Patterns
//
// Every method takes the request's context first and Redis honours its
// deadline. An error from a backend means the cache could not answer; the
// executor then treats it as a miss or a lost write, so a cache failure
// never fails a verification. A missing or expired key is not an error:
// Get returns ok == false and a nil error.
//
// Values are copied on the way in and out, so neither the caller nor the
// cache can change the other's bytes. A ttl <= 0 is rejected with
// [ErrInvalidTTL]: a verdict must expire, because trust material and
// signatures change under a digest that does not.
//
// Errors of Redis are *[RedisError] values naming the address and the
// operation, for errors.As; the transport error they wrap stays
// reachable with errors.Is.
package cache
