package plugin

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by Host, always inside an *Error. Test for them
// with errors.Is. Every one of them means "the plugin could not evaluate";
// a caller reports it as inconclusive, never as failed.
var (
	// ErrInvalidName: the plugin name is not a plain file name (it is empty,
	// contains a path separator, "..", or starts with a dot).
	ErrInvalidName = errors.New("invalid plugin name")
	// ErrNotFound: there is no such binary in HostOptions.Dir.
	ErrNotFound = errors.New("plugin not found")
	// ErrNotListed: the binary exists but Dir/SHA256SUMS has no line for it.
	// Unlisted binaries are never started.
	ErrNotListed = errors.New("plugin not listed in SHA256SUMS")
	// ErrChecksumMismatch: the binary's sha256 differs from SHA256SUMS.
	ErrChecksumMismatch = errors.New("plugin checksum mismatch")
	// ErrStart: the process did not complete the go-plugin handshake (it is
	// not an Assay plugin, exited at once, or missed HostOptions.StartTimeout).
	ErrStart = errors.New("plugin failed to start")
	// ErrInvalidMetadata: GetMetadata answered something the host refuses
	// (name not equal to the binary name, empty version, no artifact type,
	// a signature type that is not one of the artifact types).
	ErrInvalidMetadata = errors.New("invalid plugin metadata")
	// ErrProtocol: the plugin broke the protocol (wrong negotiated version,
	// unimplemented RPC, undecodable message).
	ErrProtocol = errors.New("plugin protocol violation")
	// ErrCrashed: the plugin process died, or its connection broke, before
	// or during the call. The host starts a new process on the next call.
	ErrCrashed = errors.New("plugin process crashed")
	// ErrUnresponsive: the plugin process stopped answering: a call had
	// waited HostOptions.HealthCheckAfter without an answer and the
	// process then missed a health check. The host killed it; the calls
	// in flight on it return this at once and the next call starts a new
	// process.
	ErrUnresponsive = errors.New("plugin process stopped answering health checks and was replaced")
	// ErrPanicked: the plugin panicked while handling the call. The panic was
	// recovered inside the plugin, which keeps serving.
	ErrPanicked = errors.New("plugin panicked")
	// ErrRemote: the plugin's Verifier returned an error (it could not
	// evaluate the request). The plugin's message follows the sentinel.
	ErrRemote = errors.New("plugin returned an error")
	// ErrMessageTooLarge: a request or response exceeded MaxMessageSize.
	ErrMessageTooLarge = errors.New("plugin message too large")
	// ErrClosed: the Host was closed.
	ErrClosed = errors.New("plugin host closed")
)

// ErrNoDir is returned by NewHost (not inside an *Error) when
// HostOptions.Dir does not exist.
var ErrNoDir = errors.New("plugin directory does not exist")

// Error is the error type of every Host method: which plugin, which
// operation, and why. Err wraps one of the sentinels above, or
// context.DeadlineExceeded / context.Canceled when the caller's context
// ended first (also when it ended while the plugin was still starting).
type Error struct {
	// Plugin is the plugin (binary) name.
	Plugin string
	// Op is the host operation: "metadata", "validate config" or "verify".
	Op string
	// Err is the cause.
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("plugin %s: %s: %v", e.Plugin, e.Op, e.Err)
}

// Unwrap returns the cause, for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }
