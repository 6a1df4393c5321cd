// Package verifier adapts a Verifier object and its plugin process to the
// executor: it fetches the artifact's manifest and layers through the
// host's store (so plugins never touch the registry or its credentials),
// calls the plugin with the request deadline, and maps the plugin's
// answer, or its failure, onto a report.Result.
package verifier
