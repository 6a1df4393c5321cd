// Package plugin is the contract between Assay and its verifier plugins,
// and both ends of it: Serve for a plugin's main function, Host for Assay.
//
// A verifier plugin (notation, cosign, vulnreport, ...) is a separate,
// long-lived executable. Assay starts it once with hashicorp/go-plugin,
// talks to it over gRPC, and hands it everything it needs for each
// verification: the Verifier object's parameters, the subject and artifact
// descriptors, the artifact's manifest and blobs with their bytes. Plugins
// never contact the registry and never see registry credentials; a plugin
// that needs the network for anything else (CRL, OCSP, TUF) declares
// CapabilityNetwork in its Metadata.
//
// This package imports nothing else of Assay's: only go-plugin, gRPC,
// protobuf and the OCI image-spec. The generated protocol code lives in
// internal/pb and is not reachable from plugins, which use the Go types of
// this package.
//
// # Writing a plugin
//
// Implement Verifier and call Serve from main:
//
//	func main() { plugin.Serve(&verifier{}) }
//
// Metadata must return the binary's own file name as Name, a non-empty
// Version and at least one artifact type, or the host refuses the plugin;
// SignatureTypes names those of its artifact types that are signatures.
// Verify answers with a verdict: VerdictFailed when the artifact was
// evaluated and does not satisfy the configuration, VerdictInconclusive
// or an error when it could not be evaluated, and a reason code, a
// constant of package reason (github.com/assayproj/assay/pkg/reason, the
// closed set shared with the host). The configuration arrives with every
// call, so a restarted plugin needs no replay; parse it through a
// ConfigCache, which keeps each distinct configuration parsed once. Honour
// ctx: it carries the host's deadline. Details must be JSON-compatible.
// Log to os.Stderr; the lines reach the host's logger. Starting the binary
// by hand only prints a notice: it runs under a host.
//
// Serve owns the plugin side of the boundary: it answers a malformed
// Verify request (VerifyRequest.Validate) with the protocol's
// INVALID_REQUEST status before the plugin sees it, and recovers a panic
// in any method as PLUGIN_PANIC, so a plugin checks neither.
//
// # Protocol and versioning
//
// The wire protocol is the proto package assay.verifier.v1
// (internal/pb/verifier/v1/verifier.proto): GetMetadata, ValidateConfig and
// Verify. Published protos change additively only. A breaking change gets a
// new proto package and a new go-plugin protocol version, and is served
// beside v1 through go-plugin's VersionedPlugins, so hosts and plugins of
// different ages keep working during an upgrade. ProtocolVersion is the
// version this package speaks; MagicCookieKey and MagicCookieValue never
// change.
//
// Transport: gRPC only, with go-plugin's AutoMTLS (a fresh certificate pair
// per process), and messages up to MaxMessageSize (64 MiB) in both
// directions because blobs travel inside VerifyRequest. The host's
// deadline crosses the process boundary both as gRPC's timeout and as an
// absolute deadline in request metadata, so a plugin never outlives its
// caller's budget.
//
// # Host
//
// NewHost takes a directory of plugin binaries and its SHA256SUMS file.
// A plugin is started only when the file lists it with the binary's
// sha256, on first use, once however many callers arrive together; it then
// stays up and serves all calls. If its process dies, the calls in flight
// return ErrCrashed at once and the next call starts a new process. A
// process that has calls in flight, answers none of them for
// HostOptions.HealthCheckAfter and then misses a gRPC health check is
// killed the same way: its calls return ErrUnresponsive. A plugin
// process exits when its host dies, killed or not: on Linux through a
// parent-death signal, everywhere through Serve's watch on its parent
// pid.
// Errors are *Error values wrapping a sentinel (ErrNotFound, ErrNotListed,
// ErrChecksumMismatch, ErrStart, ErrInvalidMetadata, ErrProtocol,
// ErrCrashed, ErrUnresponsive, ErrPanicked, ErrRemote, ErrMessageTooLarge,
// ErrClosed) or
// context.DeadlineExceeded / context.Canceled. All of them mean "could not
// evaluate": a caller reports them as inconclusive, never as failed. So is
// VerdictUnspecified, which Host passes through unchanged.
package plugin
