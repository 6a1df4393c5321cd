// Package servetest runs `assay serve` as a real process for tests, the
// demo and the load harness, with the TLS material Gatekeeper and Assay
// use: a CA, a serving certificate for 127.0.0.1 and localhost, and a
// client certificate like Gatekeeper's webhook certificate, signed by a
// CA of its own.
//
// Start builds nothing: give it the path of an assay binary and a plugin
// directory (test/e2e builds both in its TestMain; `make build` writes
// bin/assay and bin/plugins). The process listens on random loopback
// ports; Start reads them from the process's "serving" log line.
package servetest
