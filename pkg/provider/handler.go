package provider

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/assayproj/assay/pkg/report"
	"github.com/distribution/reference"
)

// Paths served by the Handler.
const (
	PathVerify       = "/v1/verify"
	PathMutate       = "/v1/mutate"
	PathRatifyVerify = "/ratify/gatekeeper/v1/verify"
	PathRatifyMutate = "/ratify/gatekeeper/v1/mutate"
)

// Defaults for Options.
const (
	DefaultVerifyTimeout  = 3 * time.Second
	DefaultMutateTimeout  = 1 * time.Second
	DefaultMargin         = 300 * time.Millisecond
	DefaultKeyConcurrency = 16
	DefaultMaxInFlight    = 128
	DefaultMaxRequests    = 1000
	DefaultMaxBodyBytes   = 1 << 20
	DefaultMaxKeys        = 1024
)

// ErrSaturated starts the systemError of a request refused because
// Options.MaxRequests requests are being answered.
var ErrSaturated = errors.New("provider saturated")

// Verifier verifies one image. It returns a report in every case; the
// report's reason says why it is not a success. The error is non-nil
// only when the subject could not be pinned to a digest.
type Verifier interface {
	Verify(ctx context.Context, key Key) (*report.Report, error)
}

// Resolver pins one image reference to the digest of its manifest. An
// error with the methods Reason() report.Reason and Message() string (as
// executor.ResolveError has) is answered with that reason and message,
// so that the mutate endpoints say what the verify endpoints say of the
// same reference; any other error is REGISTRY_ERROR, or
// DEADLINE_EXCEEDED once the request's budget has run out.
type Resolver interface {
	Resolve(ctx context.Context, key Key) (digest string, err error)
}

// Options configure a Handler.
type Options struct {
	// Verifier answers the verify endpoints. Required.
	Verifier Verifier
	// Resolver answers the mutate endpoints. Required.
	Resolver Resolver
	// VerifyTimeout and MutateTimeout are the timeouts of the Gatekeeper
	// Providers that call the verify and mutate endpoints (the
	// Provider's spec.timeout). If 0, DefaultVerifyTimeout (Gatekeeper's
	// validating webhook timeout) and DefaultMutateTimeout (its mutating
	// webhook timeout).
	VerifyTimeout time.Duration
	MutateTimeout time.Duration
	// Margin is kept back from each timeout for encoding the answer and
	// the network, so the budget of a request is the timeout minus the
	// margin. If 0, DefaultMargin. It must be shorter than both timeouts.
	// Under load the margin grows to three times the scheduling delay
	// measured over the last 5 seconds (a ticker's lateness), at most
	// half the timeout, so answers still leave before the timeout.
	Margin time.Duration
	// KeyConcurrency bounds the keys of one request verified at once. If
	// 0, DefaultKeyConcurrency.
	KeyConcurrency int
	// MaxInFlight bounds the keys verified at once across all requests;
	// a key that cannot start before the budget runs out is reported
	// with DEADLINE_EXCEEDED. If 0, DefaultMaxInFlight.
	MaxInFlight int
	// MaxRequests bounds the requests answered at once, across
	// endpoints; a request beyond it is answered at once with a
	// systemError saying the provider is saturated (Gatekeeper caches
	// no systemError, so the next call tries again). If 0,
	// DefaultMaxRequests.
	MaxRequests int
	// MaxBodyBytes bounds a request body. If 0, DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxKeys bounds the distinct keys of one request. If 0,
	// DefaultMaxKeys.
	MaxKeys int
	// Logger receives one line per request at debug level, problems at
	// warn level, and, for PathRatifyVerify, one line per key at info
	// level with the request's traceID, the image and the outcome. If
	// nil, nothing is logged.
	Logger *slog.Logger
	// Metrics records request outcomes. If nil, nothing is recorded.
	Metrics *Metrics
	// Now returns the current time, for Ratify's timestamps (the time of
	// the request). If nil, time.Now.
	Now func() time.Time
}

// Handler serves the provider endpoints. Create it with New.
type Handler struct {
	opts     Options
	inFlight chan struct{}
	requests chan struct{}
	lag      lagMonitor
	mux      *http.ServeMux
}

// New validates opts and applies the documented defaults.
func New(opts Options) (*Handler, error) {
	if opts.Verifier == nil || opts.Resolver == nil {
		return nil, errors.New("provider: a Verifier and a Resolver are required")
	}
	if opts.VerifyTimeout == 0 {
		opts.VerifyTimeout = DefaultVerifyTimeout
	}
	if opts.MutateTimeout == 0 {
		opts.MutateTimeout = DefaultMutateTimeout
	}
	if opts.Margin == 0 {
		opts.Margin = DefaultMargin
	}
	if opts.KeyConcurrency == 0 {
		opts.KeyConcurrency = DefaultKeyConcurrency
	}
	if opts.MaxInFlight == 0 {
		opts.MaxInFlight = DefaultMaxInFlight
	}
	if opts.MaxRequests == 0 {
		opts.MaxRequests = DefaultMaxRequests
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxKeys == 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	if opts.Margin < 0 || opts.Margin >= opts.VerifyTimeout || opts.Margin >= opts.MutateTimeout {
		errs = append(errs, fmt.Errorf("margin %s must be positive and shorter than the verify timeout %s and the mutate timeout %s", opts.Margin, opts.VerifyTimeout, opts.MutateTimeout))
	}
	for name, v := range map[string]int64{
		"key concurrency": int64(opts.KeyConcurrency), "max in flight": int64(opts.MaxInFlight), "max requests": int64(opts.MaxRequests),
		"max body bytes": opts.MaxBodyBytes, "max keys": int64(opts.MaxKeys),
	} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, got %d", name, v))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("provider: %w", err)
	}
	h := &Handler{opts: opts, inFlight: make(chan struct{}, opts.MaxInFlight), requests: make(chan struct{}, opts.MaxRequests), mux: http.NewServeMux()}
	h.mux.HandleFunc(PathVerify, h.endpoint(endpoint{name: "verify", answer: h.verifyKey, late: h.lateReport, timeout: opts.VerifyTimeout}))
	h.mux.HandleFunc(PathMutate, h.endpoint(endpoint{name: "mutate", answer: h.mutateKey, late: lateError, timeout: opts.MutateTimeout}))
	h.mux.HandleFunc(PathRatifyVerify, h.endpoint(endpoint{name: "ratify-verify", answer: h.ratifyVerifyKey, late: h.lateRatify, record: h.logRatify, timeout: opts.VerifyTimeout, ratify: true}))
	h.mux.HandleFunc(PathRatifyMutate, h.endpoint(endpoint{name: "ratify-mutate", answer: h.mutateKey, late: lateError, timeout: opts.MutateTimeout, ratify: true}))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.opts.Metrics.request("unknown", outcomeRejected)
		writeJSON(w, http.StatusNotFound, systemError(APIVersion, fmt.Sprintf(
			"no endpoint %s; Assay serves POST %s, %s, %s and %s", r.URL.Path, PathVerify, PathMutate, PathRatifyVerify, PathRatifyMutate)))
	})
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Budget returns the time a request to the verify (or, with mutate true,
// the mutate) endpoints is given when idle: the timeout minus the
// margin. Under load the margin grows (see Options.Margin).
func (h *Handler) Budget(mutate bool) time.Duration {
	if mutate {
		return h.opts.MutateTimeout - h.opts.Margin
	}
	return h.opts.VerifyTimeout - h.opts.Margin
}

// margin is the margin kept back from timeout for a request arriving at
// now: Options.Margin, or lagFactor times the measured scheduling
// delay when larger, at most half the timeout.
func (h *Handler) margin(timeout time.Duration, now time.Time) time.Duration {
	return min(max(h.opts.Margin, lagFactor*h.lag.lag(now)), timeout/2)
}

// call is what the answers to one request share.
type call struct {
	// budget is the time the request was given and margin what was kept
	// back from the timeout, for messages.
	budget, margin time.Duration
	// traceID identifies the request in Ratify's answers and the logs.
	traceID string
	// at is when the request arrived, the timestamp of Ratify's answers.
	at time.Time
}

// answerFunc answers one key.
type answerFunc func(ctx context.Context, c *call, key string) Item

// lateFunc answers a key whose answer did not come within the budget.
type lateFunc func(c *call, key, msg string) Item

type endpoint struct {
	name   string
	answer answerFunc
	late   lateFunc
	// record, when set, is called with every item of the answer.
	record  func(c *call, it Item)
	timeout time.Duration
	ratify  bool
}

// outcomes recorded per request.
const (
	outcomeOK       = "ok"
	outcomeRejected = "rejected"
	outcomeDeadline = "deadline"
)

func (h *Handler) endpoint(ep endpoint) http.HandlerFunc {
	apiVersion := APIVersion
	if ep.ratify {
		apiVersion = RatifyAPIVersion
	}
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		margin := h.margin(ep.timeout, start)
		budget := ep.timeout - margin
		reject := func(status int, msg string) {
			h.opts.Metrics.request(ep.name, outcomeRejected)
			h.opts.Logger.Warn("provider request rejected", "endpoint", ep.name, "remote", r.RemoteAddr, "error", msg)
			writeJSON(w, status, systemError(apiVersion, msg))
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			reject(http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed: send a ProviderRequest with POST", r.Method))
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "" {
			if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
				reject(http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q is not application/json", ct))
				return
			}
		}
		select {
		case h.requests <- struct{}{}:
			defer func() { <-h.requests }()
		default:
			h.opts.Metrics.saturation()
			reject(http.StatusServiceUnavailable, fmt.Sprintf(
				"%s: Assay is answering its maximum of %d requests at once (serve.max-requests); this request was not verified, retry it", ErrSaturated, h.opts.MaxRequests))
			return
		}
		keys, err := h.decode(w, r)
		if err != nil {
			status := http.StatusBadRequest
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				status = http.StatusRequestEntityTooLarge
			}
			reject(status, err.Error())
			return
		}
		// Verifications stop at the budget; the answers are collected for
		// a little longer, so that a verification that stops at its
		// deadline reports what it found itself. Only one that overruns
		// its deadline is answered for by the handler.
		ctx, cancel := context.WithTimeout(r.Context(), budget)
		defer cancel()
		collect, stop := context.WithTimeout(r.Context(), budget+grace(margin))
		defer stop()
		c := &call{budget: budget, margin: margin, traceID: newTraceID(), at: h.opts.Now().UTC()}
		items, late := h.answerAll(ctx, collect, c, keys, ep)
		if ep.record != nil {
			for _, it := range items {
				ep.record(c, it)
			}
		}
		outcome := outcomeOK
		if late > 0 {
			outcome = outcomeDeadline
		}
		h.opts.Metrics.request(ep.name, outcome)
		h.opts.Metrics.duration(ep.name, time.Since(start))
		h.opts.Logger.Debug("provider request", "endpoint", ep.name, "traceID", c.traceID, "keys", len(keys), "late", late, "duration", time.Since(start))
		writeJSON(w, http.StatusOK, ProviderResponse{
			APIVersion: apiVersion,
			Kind:       KindResponse,
			Response:   Response{Idempotent: true, Items: items},
		})
	}
}

// decode reads and checks a ProviderRequest and returns its distinct keys
// in order of first appearance.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request) ([]string, error) {
	body := http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes)
	data, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("request body larger than the limit of %d bytes: %w", h.opts.MaxBodyBytes, err)
		}
		return nil, fmt.Errorf("read request body: %w", err)
	}
	var req ProviderRequest
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("request body is not a ProviderRequest: %w", err)
	}
	if dec.More() {
		return nil, errors.New("request body is not a ProviderRequest: data after the JSON object")
	}
	if req.Kind != "" && req.Kind != KindRequest {
		return nil, fmt.Errorf("request kind is %q, not %s", req.Kind, KindRequest)
	}
	if req.APIVersion != "" && !strings.HasPrefix(req.APIVersion, "externaldata.gatekeeper.sh/") {
		return nil, fmt.Errorf("request apiVersion is %q, not %s", req.APIVersion, APIVersion)
	}
	seen := make(map[string]bool, len(req.Request.Keys))
	keys := make([]string, 0, len(req.Request.Keys))
	for _, k := range req.Request.Keys {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	if len(keys) > h.opts.MaxKeys {
		return nil, fmt.Errorf("request has %d distinct keys, more than the limit of %d", len(keys), h.opts.MaxKeys)
	}
	return keys, nil
}

// answerAll answers every key, at most KeyConcurrency at once and
// MaxInFlight across requests; the verifications run under ctx. When
// collect is done it returns at once: keys not answered by then are
// reported with DEADLINE_EXCEEDED, and late counts them. The goroutines
// of those keys end on their own, as ctx is done, and write to buffered
// channels nobody reads.
func (h *Handler) answerAll(ctx, collect context.Context, c *call, keys []string, ep endpoint) ([]Item, int) {
	items := make([]Item, len(keys))
	done := make([]chan Item, len(keys))
	perRequest := make(chan struct{}, h.opts.KeyConcurrency)
	for i := range keys {
		done[i] = make(chan Item, 1)
	}
	go func() {
		for i, key := range keys {
			select {
			case perRequest <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case h.inFlight <- struct{}{}:
			case <-ctx.Done():
				<-perRequest
				return
			}
			go func() {
				defer func() { <-h.inFlight; <-perRequest }()
				done[i] <- h.safeAnswer(ctx, c, key, ep.answer)
			}()
		}
	}()
	late := 0
	for i, key := range keys {
		select {
		case items[i] = <-done[i]:
			continue
		case <-collect.Done():
		}
		// The budget ran out: take what has finished, mark the rest.
		select {
		case items[i] = <-done[i]:
		default:
			late++
			h.opts.Metrics.deadline()
			items[i] = ep.late(c, key, fmt.Sprintf(
				"verification of %q did not finish within the provider's budget of %s (the Provider's timeout of %s minus a margin of %s)",
				key, c.budget, c.budget+c.margin, c.margin))
		}
	}
	return items, late
}

// safeAnswer turns a panic into an item error rather than a crash.
func (h *Handler) safeAnswer(ctx context.Context, c *call, key string, answer answerFunc) (item Item) {
	defer func() {
		if p := recover(); p != nil {
			h.opts.Logger.Error("provider panic", "key", key, "panic", p)
			item = Item{Key: key, Error: fmt.Sprintf("%s: internal error verifying %q: %v", report.ReasonPluginError, key, p)}
		}
	}()
	return answer(ctx, c, key)
}

// lateReport answers a late key of /v1/verify: an inconclusive report.
func (h *Handler) lateReport(_ *call, key, msg string) Item {
	return Item{Key: key, Value: &report.Report{
		MediaType:   report.MediaType,
		Reference:   key,
		Reason:      report.ReasonDeadlineExceeded,
		Message:     msg,
		Remediation: report.ReasonDeadlineExceeded.Remediation(),
		Artifacts:   []report.Artifact{},
		Timestamp:   h.opts.Now().UTC(),
	}}
}

// lateError answers a late key of the mutate endpoints: an error, so the
// reference is left as it is.
func lateError(_ *call, key, msg string) Item {
	return Item{Key: key, Error: fmt.Sprintf("%s: %s", report.ReasonDeadlineExceeded, msg)}
}

// verifyKey answers one key of /v1/verify with Assay's report.
func (h *Handler) verifyKey(ctx context.Context, _ *call, raw string) Item {
	k, err := ParseKey(raw)
	if err != nil {
		return Item{Key: raw, Error: fmt.Sprintf("%s: %v", report.ReasonInvalidReference, err)}
	}
	rep, err := h.opts.Verifier.Verify(ctx, k)
	if rep == nil {
		return Item{Key: raw, Error: fmt.Sprintf("%s: no report for %q: %v", report.ReasonPluginError, raw, err)}
	}
	if isKeyError(rep.Reason) {
		return Item{Key: raw, Error: keyError(rep.Reason, rep.Message)}
	}
	return Item{Key: raw, Value: rep}
}

// isKeyError tells the outcomes reported as an item's error: the key
// names no image, so no report about an image can be made.
func isKeyError(r report.Reason) bool {
	return r == report.ReasonInvalidReference || r == report.ReasonSubjectNotFound
}

// keyError is the item error for a key that got no answer: the reason,
// then the message.
func keyError(r report.Reason, message string) string {
	return fmt.Sprintf("%s: %s", r, message)
}

// reasoned is a Resolver error that says what a verification of the
// same reference reports (see Resolver).
type reasoned interface {
	error
	Reason() report.Reason
	Message() string
}

// mutateKey answers one key of the mutate endpoints with the reference
// pinned to its digest.
func (h *Handler) mutateKey(ctx context.Context, _ *call, raw string) Item {
	k, err := ParseKey(raw)
	if err != nil {
		return Item{Key: raw, Error: fmt.Sprintf("%s: %v", report.ReasonInvalidReference, err)}
	}
	pinned, err := h.pin(ctx, k)
	if err != nil {
		return Item{Key: raw, Error: err.Error()}
	}
	return Item{Key: raw, Value: pinned}
}

// pin returns k.Reference as "name@digest", keeping the name as written
// and dropping the tag. A reference with a digest maps to itself.
func (h *Handler) pin(ctx context.Context, k Key) (string, error) {
	named, err := reference.ParseNormalizedNamed(k.Reference)
	if err != nil {
		return "", fmt.Errorf("%s: %q is not a valid image reference: %v", report.ReasonInvalidReference, k.Reference, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return k.Reference, nil
	}
	name := k.Reference
	if tagged, ok := named.(reference.Tagged); ok {
		name = strings.TrimSuffix(name, ":"+tagged.Tag())
	}
	dgst, err := h.opts.Resolver.Resolve(ctx, k)
	if err != nil {
		var r reasoned
		if errors.As(err, &r) {
			return "", errors.New(keyError(r.Reason(), r.Message()))
		}
		reason := report.ReasonRegistryError
		if ctx.Err() != nil {
			reason = report.ReasonDeadlineExceeded
		}
		return "", errors.New(keyError(reason, fmt.Sprintf("cannot pin %q to a digest: %v", k.Reference, err)))
	}
	return name + "@" + dgst, nil
}

// grace is how long after the budget the answers are still collected: a
// third of the margin, at most 100ms.
func grace(margin time.Duration) time.Duration {
	return min(margin/3, 100*time.Millisecond)
}

// newTraceID returns 16 random bytes in hex.
func newTraceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func systemError(apiVersion, msg string) ProviderResponse {
	return ProviderResponse{
		APIVersion: apiVersion,
		Kind:       KindResponse,
		Response:   Response{Idempotent: true, Items: []Item{}, SystemError: msg},
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
