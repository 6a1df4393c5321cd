package store

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/assayproj/assay/pkg/internal/flight"
	"oras.land/oras-go/v2/registry/remote/retry"
)

// The retry policy of every Registry; Options.HTTPClient documents it.
const (
	retryMax        = 4                      // retries after the first attempt
	retryBase       = 100 * time.Millisecond // the first backoff
	retryMaxBackoff = 2 * time.Second        // the longest backoff
	retryJitter     = 0.2                    // each backoff is within ±20%
	// maxRetryAfter is the longest Retry-After the store waits for; a
	// registry asking for more fails the request with ErrThrottled.
	maxRetryAfter = time.Minute
	// drainBytes is how much of a retried answer's body is read so that
	// its connection can be reused.
	drainBytes = 4 << 10
)

// newHTTPClient returns the client under the auth client: base's
// settings with its transport (or a transport of the store's own when
// base is nil) wrapped in the token realm routing, the Content-Type
// checks of answerCheck, retries and, beneath
// them, the per-host limit, so that each attempt takes a slot and no
// slot is held during a backoff. Its redirects follow checkRedirect,
// then base's CheckRedirect.
func newHTTPClient(base *http.Client, maxConcurrent int) *http.Client {
	var inner http.RoundTripper
	c := &http.Client{CheckRedirect: checkRedirect(nil)}
	if base != nil {
		c.CheckRedirect, c.Jar, c.Timeout = checkRedirect(base.CheckRedirect), base.Jar, base.Timeout
		inner = base.Transport
		if inner == nil {
			inner = http.DefaultTransport
		}
	} else if t, ok := http.DefaultTransport.(*http.Transport); ok {
		t = t.Clone()
		// Keep as many idle connections per host as may be busy at once,
		// instead of net/http's 2, so that a burst does not redial.
		t.MaxIdleConnsPerHost = maxConcurrent
		inner = t
	} else {
		inner = http.DefaultTransport
	}
	c.Transport = newRealmRouter(&answerCheck{next: &retrier{
		next:    &limiter{next: inner, max: maxConcurrent, hosts: map[string]*slots{}},
		backoff: retry.ExponentialBackoff(retryBase, 2, retryJitter),
	}})
	return c
}

// limiter is an http.RoundTripper that lets at most max requests to one
// host be in flight at once. A request holds its slot from before it is
// sent until its response body is closed or read to the end, or its
// context is done; one that finds no free slot waits for one until its
// context is done.
type limiter struct {
	next http.RoundTripper
	max  int

	mu    sync.Mutex
	hosts map[string]*slots // by request host; present while in use
}

type slots struct {
	busy  chan struct{} // holds a value per request in flight
	users int           // requests holding or waiting for a slot; guarded by limiter.mu
}

func (l *limiter) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Host
	s := l.join(host)
	ctx := req.Context()
	select {
	case s.busy <- struct{}{}:
	default:
		select {
		case s.busy <- struct{}{}:
		case <-ctx.Done():
			l.leave(host, s)
			return nil, fmt.Errorf("wait for one of the %d request slots of registry %s: %w", l.max, host, ctx.Err())
		}
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			<-s.busy
			l.leave(host, s)
		})
	}
	resp, err := l.next.RoundTrip(req)
	if err != nil {
		release()
		return nil, err
	}
	// A body nobody closes must not keep its slot forever: the slot is
	// also released when the request's context is done.
	stop := context.AfterFunc(ctx, release)
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: func() { stop(); release() }}
	return resp, nil
}

// join returns the slots of host, created on first use, counting the
// caller as one of their users.
func (l *limiter) join(host string) *slots {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.hosts[host]
	if !ok {
		s = &slots{busy: make(chan struct{}, l.max)}
		l.hosts[host] = s
	}
	s.users++
	return s
}

// leave forgets the slots of host once their last user has gone.
func (l *limiter) leave(host string, s *slots) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s.users--
	if s.users == 0 {
		delete(l.hosts, host)
	}
}

// releasingBody releases a limiter slot when the body is read to its end
// or closed.
type releasingBody struct {
	io.ReadCloser
	release func() // idempotent
}

func (b *releasingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.release()
	}
	return n, err
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

// retrier is an http.RoundTripper that retries GET and HEAD requests
// with exponential backoff, honouring Retry-After and the deadline of
// the request's context (see deadline): a wait that would pass it is not
// slept. oras-go's retry.Transport cannot do this, as its Policy sees
// neither the request nor its context; its predicate and backoff are
// reused.
type retrier struct {
	next    http.RoundTripper
	backoff retry.Backoff
}

func (t *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead || req.Body != nil && req.Body != http.NoBody {
		return t.next.RoundTrip(req)
	}
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		resp, err := t.next.RoundTrip(req)
		if attempt == retryMax || ctx.Err() != nil || !retryable(resp, err) {
			return resp, err
		}
		wait := min(t.backoff(attempt, nil), retryMaxBackoff)
		var (
			throttled  = resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable)
			retryAfter time.Duration
			told       bool // the answer had a usable Retry-After
		)
		if throttled {
			retryAfter, told = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
			wait = max(wait, retryAfter)
		}
		limit, bounded := flight.Deadline(ctx)
		remaining := time.Until(limit)
		switch {
		case throttled && told && retryAfter > maxRetryAfter:
			discard(resp)
			return nil, &throttledError{host: req.URL.Host, status: resp.StatusCode, retryAfter: retryAfter, told: true, wait: wait, remaining: -1}
		case bounded && wait >= remaining:
			if !throttled {
				return resp, err // the last answer is the error
			}
			discard(resp)
			return nil, &throttledError{host: req.URL.Host, status: resp.StatusCode, retryAfter: retryAfter, told: told, wait: wait, remaining: remaining}
		}
		if resp != nil {
			discard(resp)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}

// retryable reports whether an attempt's outcome is worth another:
// oras-go's retry.DefaultPredicate (408, 429, 5xx, dial timeouts,
// connection resets, unexpected EOF) without 501 Not Implemented, which
// no retry changes.
func retryable(resp *http.Response, err error) bool {
	if err == nil && resp.StatusCode == http.StatusNotImplemented {
		return false
	}
	ok, _ := retry.DefaultPredicate(resp, err)
	return ok
}

// parseRetryAfter reads a Retry-After header, delay-seconds or an
// HTTP-date, as the wait it asks for at now. A date in the past asks for
// no wait. It returns false for an absent or malformed header.
// https://www.rfc-editor.org/rfc/rfc9110#name-retry-after
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(min(s, math.MaxInt64/int64(time.Second))) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// discard drains a little of an answer that is not returned, so that its
// connection can be reused, and closes it.
func discard(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, drainBytes)
	_ = resp.Body.Close()
}

// throttledError is a 429 or 503 answer the store gave up on without
// sleeping. It wraps ErrThrottled.
type throttledError struct {
	host       string
	status     int
	retryAfter time.Duration // what the answer asked for, if told
	told       bool
	wait       time.Duration // the wait that was not slept
	remaining  time.Duration // until the deadline; < 0 when it was not the reason
}

func (e *throttledError) Error() string {
	what := fmt.Sprintf("registry %s throttled the request (%d %s", e.host, e.status, http.StatusText(e.status))
	if e.told {
		what += ", Retry-After " + short(e.retryAfter) + ")"
	} else {
		what += ", no Retry-After, next try in " + short(e.wait) + ")"
	}
	if e.remaining < 0 {
		return what + fmt.Sprintf(", longer than the store waits (%s)", maxRetryAfter)
	}
	return what + " and the deadline is in " + short(e.remaining)
}

func (e *throttledError) Unwrap() error { return ErrThrottled }

// short rounds d for a message: to 100 ms from a second up, else to the
// millisecond.
func short(d time.Duration) string {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}
