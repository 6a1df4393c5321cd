// Package flight deduplicates concurrent calls with the same key for
// callers bounded by deadlines. The registry store shares its registry
// calls through it and the executor its verifications, so both agree on
// whose deadline counts: every caller's own, for itself, and the latest
// of them for the shared call.
package flight

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// Group deduplicates concurrent calls with the same key, like
// golang.org/x/sync/singleflight, with differences that matter for
// requests bounded by a deadline:
//
//   - every caller returns as soon as its own context is done, whatever
//     the shared call is doing (but see LastCollects);
//   - the shared call runs in a goroutine of its own with a context that
//     keeps the first caller's values but not its deadline, and that is
//     done as soon as no caller waits for it any more: when the last one
//     has left, or when the contexts of all that still wait are done.
//     One caller with a short deadline therefore never fails the others,
//     and a call nobody waits for any more stops at once.
//
// Without the first caller's deadline, the shared call still knows the
// time it has: [Deadline] of its context is the latest deadline of the
// callers still waiting, so that the work beneath it (retries, a plugin
// call) does not plan past it, or no deadline when one of them has none.
// As callers come and go, it changes.
//
// A call that ends is forgotten, so the next caller starts a new one. A
// panic in the shared call is not recovered: it runs in a goroutine of
// its own, not the callers'.
//
// The zero Group is ready to use; set its fields before it is first
// used. It is safe for concurrent use.
type Group[T any] struct {
	// Joined, if not nil, is called each time a caller joins a call
	// already in flight instead of starting one, before it waits.
	Joined func()
	// LastCollects, when true, makes the caller whose leaving leaves a
	// call without waiters end the call's context and then wait for the
	// call to return, and return what it returned: a call that stops at
	// its deadline reports what it found to the last caller, instead of
	// only its context's error. fn must then return soon after its
	// context is done. When false, every caller returns at once.
	LastCollects bool

	mu    sync.Mutex
	calls map[string]*call[T]
}

type call[T any] struct {
	ctx     *callContext
	done    chan struct{} // closed when val and err are set
	val     T
	err     error
	waiters []*waiter // guarded by Group.mu
}

// waiter is a caller waiting for a call. It holds the caller's context
// (against the rule that a context is never stored) for as long as the
// caller waits, no longer: the shared call's context is done when every
// waiter's is, and its deadline is the latest of theirs.
type waiter struct {
	ctx context.Context
}

// Do returns the result of fn for key, sharing a call already in flight.
// When ctx is done first, Do returns ctx.Err() (unless LastCollects
// applies).
func (g *Group[T]) Do(ctx context.Context, key string, fn func(context.Context) (T, error)) (T, error) {
	w := &waiter{ctx: ctx}
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*call[T]{}
	}
	c, joined := g.calls[key]
	if joined && c.ctx.ended() != nil {
		// Every caller of c is done but has not left yet: c is stopping.
		joined = false
	}
	if !joined {
		c = &call[T]{done: make(chan struct{})}
		c.ctx = &callContext{
			Context: context.WithoutCancel(ctx),
			done:    make(chan struct{}),
			waiters: func() []*waiter {
				g.mu.Lock()
				defer g.mu.Unlock()
				return slices.Clone(c.waiters)
			},
		}
		g.calls[key] = c
		go g.run(key, c, fn)
	}
	c.waiters = append(c.waiters, w)
	g.mu.Unlock()
	if joined && g.Joined != nil {
		g.Joined()
	}

	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
	}
	g.mu.Lock()
	c.waiters = slices.DeleteFunc(c.waiters, func(o *waiter) bool { return o == w })
	last := len(c.waiters) == 0
	if last {
		// Under g.mu, so that the call's context is never seen without
		// waiters before it has ended.
		c.ctx.end(ctx.Err())
		if g.calls[key] == c {
			delete(g.calls, key)
		}
	}
	g.mu.Unlock()
	if last && g.LastCollects {
		<-c.done
		return c.val, c.err
	}
	var zero T
	return zero, ctx.Err()
}

// run runs fn for c and hands its result to c's waiters.
func (g *Group[T]) run(key string, c *call[T], fn func(context.Context) (T, error)) {
	defer c.ctx.end(context.Canceled)
	val, err := fn(c.ctx)
	g.mu.Lock()
	if g.calls[key] == c {
		delete(g.calls, key)
	}
	g.mu.Unlock()
	c.val, c.err = val, err
	close(c.done)
}

// Waiters returns the number of callers waiting for the call under key,
// 0 when none is in flight.
func (g *Group[T]) Waiters(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.calls[key]; ok {
		return len(c.waiters)
	}
	return 0
}

// Deadline returns the time by which the work for ctx must be done: the
// earlier of ctx's own deadline and, within a Group's shared call, the
// latest deadline of the callers still waiting for it. Within calls
// nested in one another (a shared call that waits for another), the
// callers' deadlines are followed as they change.
func Deadline(ctx context.Context) (time.Time, bool) {
	d, ok := ctx.Deadline()
	if c, has := ctx.Value(callKey{}).(*callContext); has {
		if w, bounded := c.latest(); bounded && (!ok || w.Before(d)) {
			d, ok = w, true
		}
	}
	return d, ok
}

// callKey is the context key under which a shared call's context finds
// itself.
type callKey struct{}

// callContext is the context of a shared call: the first caller's values
// without its deadline or cancellation, done when none of its callers
// waits any more.
type callContext struct {
	context.Context                  // the first caller's values
	waiters         func() []*waiter // a copy, taken under the Group's lock
	done            chan struct{}

	// mu is taken with or without the Group's lock held, never the
	// other way round.
	mu  sync.Mutex
	err error // set once, when done is closed
}

// Deadline reports no deadline: the call's deadline changes as callers
// come and go, which a Context's Deadline must not do. See [Deadline].
func (c *callContext) Deadline() (time.Time, bool) { return time.Time{}, false }

func (c *callContext) Done() <-chan struct{} { return c.done }

// Err returns nil while a caller waits. It looks at the callers' own
// contexts rather than waiting for them to leave, so that work the call
// starts after every caller's deadline has passed sees that at once: the
// call's context ends with context.DeadlineExceeded if a caller's
// deadline has passed, context.Canceled otherwise.
func (c *callContext) Err() error {
	if err := c.ended(); err != nil {
		return err
	}
	ws := c.waiters()
	if len(ws) == 0 {
		// The last caller ends the call's context as it leaves, under
		// the lock waiters takes: with none left, it has ended (unless
		// the call is still being set up).
		return c.ended()
	}
	var err error
	for _, w := range ws {
		switch e := w.ctx.Err(); {
		case e == nil:
			return nil
		case err == nil || errors.Is(e, context.DeadlineExceeded):
			err = e
		}
	}
	c.end(err)
	return c.ended()
}

func (c *callContext) Value(key any) any {
	if key == (callKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// end ends the call's context with err, unless it has ended.
func (c *callContext) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
		close(c.done)
	}
}

// ended returns the error the call's context ended with, or nil.
func (c *callContext) ended() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// latest returns the latest deadline of the callers waiting, or false
// when one of them has none or none waits.
func (c *callContext) latest() (time.Time, bool) {
	ws := c.waiters()
	if len(ws) == 0 {
		return time.Time{}, false
	}
	var latest time.Time
	for _, w := range ws {
		d, ok := Deadline(w.ctx)
		if !ok {
			return time.Time{}, false
		}
		if d.After(latest) {
			latest = d
		}
	}
	return latest, true
}
