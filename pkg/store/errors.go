package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// Sentinel errors. Every error of a Registry wraps one of these, an
// oras-go errdef error (ErrNotFound, ErrInvalidReference,
// ErrInvalidDigest), a context error (context.DeadlineExceeded,
// context.Canceled), or a transport error; the ones about size also wrap
// errdef.ErrSizeExceedsLimit so a caller that knows only oras-go can
// classify them. Registry answers other than success keep their
// *errcode.ErrorResponse (status code and registry error codes) for
// errors.As.
var (
	// ErrTooManyReferrers means a subject has more referrers than
	// Options.MaxReferrers, or its listing has more than
	// MaxReferrerPages pages. It wraps errdef.ErrSizeExceedsLimit.
	ErrTooManyReferrers = fmt.Errorf("too many referrers: %w", errdef.ErrSizeExceedsLimit)
	// ErrTooLarge means a manifest or blob is larger than its limit
	// (Options.MaxManifestBytes or Options.MaxBlobBytes), by its
	// descriptor. It wraps errdef.ErrSizeExceedsLimit. Content whose
	// descriptor is within the limit but whose body is larger fails with
	// ErrInvalidContent instead, after reading at most the descriptor's
	// size plus one byte.
	ErrTooLarge = fmt.Errorf("content too large: %w", errdef.ErrSizeExceedsLimit)
	// ErrInvalidContent means the registry answered with content that
	// does not match what was asked for: bytes not matching the
	// descriptor's digest or size, a manifest that is not JSON, a
	// response whose headers contradict the descriptor, or a referrers
	// listing that is not an image index.
	ErrInvalidContent = errors.New("invalid content")
	// ErrUnauthorized means the registry refused the request (HTTP 401 or
	// 403), or asked for basic credentials when none are configured. The
	// registry's *errcode.ErrorResponse stays available to errors.As.
	ErrUnauthorized = errors.New("registry refused access")
	// ErrThrottled means the registry answered 429 Too Many Requests or
	// 503 Service Unavailable and the store gave up on it: the wait it
	// asked for (its Retry-After, or the store's backoff) would pass the
	// deadline of the request's context, or is longer than a minute, or
	// the retries ran out. In the first two cases the store fails at once
	// instead of sleeping, so ctx is not yet done and the message names
	// the status, the Retry-After and the time left:
	//
	//	registry 127.0.0.1:5000 throttled the request (429 Too Many Requests, Retry-After 30s) and the deadline is in 1.2s
	//
	// When the retries ran out, the registry's *errcode.ErrorResponse
	// stays available to errors.As.
	// https://www.rfc-editor.org/rfc/rfc6585#section-4
	ErrThrottled = errors.New("registry throttled the request")
	// ErrDockerConfig means a docker config file of
	// Options.DockerConfigPaths (or the default one) is missing or does
	// not parse; the message names the file. A missing file also wraps
	// fs.ErrNotExist.
	ErrDockerConfig = errors.New("unusable docker config file")
	// ErrPlainHTTP means the registry answered an HTTPS request in plain
	// HTTP (it wraps http.ErrSchemeMismatch): it serves HTTP only. The
	// error has a Remediation method that names the Store setting for
	// the registry's host.
	ErrPlainHTTP = errors.New("registry serves plain HTTP, not HTTPS")
)

// plainHTTPError is ErrPlainHTTP for one registry host.
type plainHTTPError struct {
	host string
	err  error
}

func (e *plainHTTPError) Error() string   { return fmt.Sprintf("%v: %v", ErrPlainHTTP, e.err) }
func (e *plainHTTPError) Unwrap() []error { return []error{ErrPlainHTTP, e.err} }

// Remediation says how to let Assay talk plain HTTP to the host.
func (e *plainHTTPError) Remediation() string {
	return fmt.Sprintf("The registry %s serves plain HTTP only: list it in the Store's spec.registries as {host: %q, plainHTTP: true}, and only if it is on a network you trust.", e.host, e.host)
}

// probeError is the failure of an optional discovery source of
// Referrers (cosign's signature tag), reported after every referrer the
// listing found was passed to fn: what is missing is at most an
// artifact of artifactType, which MissedArtifactType names so that a
// caller whose decision cannot depend on such an artifact may carry on.
type probeError struct {
	tag, artifactType string
	err               error
}

func (e *probeError) Error() string {
	return fmt.Sprintf("probe cosign signature tag %s: %v", e.tag, e.err)
}
func (e *probeError) Unwrap() error { return e.err }

// MissedArtifactType is the artifact type of what the failed probe
// would have found.
func (e *probeError) MissedArtifactType() string { return e.artifactType }

// classify adds this package's sentinels to an error from oras-go.
func classify(err error) error {
	var resp *errcode.ErrorResponse
	if errors.As(err, &resp) {
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%w: %w", ErrUnauthorized, err)
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			return fmt.Errorf("%w: %w", ErrThrottled, err)
		case http.StatusNotFound:
			if !errors.Is(err, errdef.ErrNotFound) {
				return fmt.Errorf("%w: %w", errdef.ErrNotFound, err)
			}
		}
		return err
	}
	if errors.Is(err, http.ErrSchemeMismatch) {
		host := "the registry"
		var ue *url.Error
		if errors.As(err, &ue) {
			if u, perr := url.Parse(ue.URL); perr == nil {
				host = u.Host
			}
		}
		return &plainHTTPError{host: host, err: err}
	}
	if errors.Is(err, auth.ErrBasicCredentialNotFound) {
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	if errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData) || isJSONError(err) {
		return fmt.Errorf("%w: %w", ErrInvalidContent, err)
	}
	return err
}

func isJSONError(err error) bool {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return errors.As(err, &syntax) || errors.As(err, &typ)
}

// OpError is every error a Registry method returns: the operation
// ("resolve", "list referrers of", "fetch"), what it was about
// ("host/repo:tag" or "host/repo@sha256:…") and the cause. Its message
// is "<op> <target>: <cause>"; a caller that names the target itself
// reports Cause() alone instead of trimming the message.
type OpError struct {
	Op     string
	Target string
	Err    error
}

func opError(op, target string, err error) error { return &OpError{Op: op, Target: target, Err: err} }

func (e *OpError) Error() string { return e.Op + " " + e.Target + ": " + e.Err.Error() }
func (e *OpError) Unwrap() error { return e.Err }

// Cause returns the error without the operation and target.
func (e *OpError) Cause() error { return e.Err }
