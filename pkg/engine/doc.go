// Package engine is Assay's serving runtime: what one process holds to
// verify images under a configuration that changes while it runs.
//
// A Runtime owns, for the life of the process:
//
//   - one registry stack (store.Stack) shared by every configuration and
//     every namespace: one content cache by digest, one cache of tag
//     resolutions and referrer listings, one token cache per credential
//     set, one limit on requests per registry host, one connection pool;
//   - one plugin host, started when a configuration first has a
//     Verifier, whose processes start when a Verifier first needs them;
//   - the verdict cache;
//   - the configuration snapshot: one immutable value holding the
//     cluster-wide Engine and those of the namespaces with objects of
//     their own, swapped atomically. A request loads the snapshot once
//     and uses the Engine it picks throughout.
//
// An Engine is one configuration's verifiers and Policy over a view of
// the registry stack with that configuration's credentials and limits.
// A configuration change builds new Engines and never touches the
// registry stack, so content already fetched stays cached.
//
// The same function, Runtime.Build, makes the Engines of the CLI (from a
// --config file), of a file-mode `assay serve` (LoadFile, WatchFile) and
// of a cluster-mode one (Apply, called by pkg/controller through its
// Target interface). Runtime implements the provider's Verifier and
// Resolver: a request flows provider → runtime → executor → store →
// plugins, and never back.
//
// Pod credentials (the imagePullSecrets of the Pod a key names) are a
// store view of their own, passed to the executor explicitly
// (executor.With), not a value carried in a context.
package engine
