package store

import (
	"context"
	"slices"
	"sync"
	"time"
)

// flight deduplicates concurrent calls with the same key, like
// golang.org/x/sync/singleflight, with two differences that matter for
// requests bounded by a deadline:
//
//   - every caller returns as soon as its own context is done, whatever
//     the shared call is doing;
//   - the shared call runs with a context that keeps the first caller's
//     values but not its deadline, and is cancelled only when every
//     caller waiting for it has gone. One caller with a short deadline
//     therefore never fails the others, and a call nobody waits for any
//     more stops at once.
//
// Without the first caller's deadline, the shared call still knows the
// time it has: deadline(ctx) of its context is the latest deadline of
// the callers still waiting, so that the retries beneath it do not sleep
// past it (or none when one of them has no deadline).
//
// A call that ends is forgotten, so the next caller starts a new one.
type flight[T any] struct {
	mu    sync.Mutex
	calls map[string]*call[T]
}

type call[T any] struct {
	done    chan struct{} // closed when val and err are set
	val     T
	err     error
	waiters int // guarded by flight.mu
	cancel  context.CancelFunc

	// The deadlines of the waiters that have one, and how many have
	// none; guarded by flight.mu.
	deadlines []time.Time
	unbounded int
}

// deadlineKey is the context key under which a shared call finds the
// deadline of the callers waiting for it, a func() (time.Time, bool).
type deadlineKey struct{}

// deadline returns the time by which the work for ctx must be done: the
// earlier of ctx's own deadline and, within a flight's shared call, the
// latest deadline of the callers still waiting for it.
func deadline(ctx context.Context) (time.Time, bool) {
	d, ok := ctx.Deadline()
	if waiters, has := ctx.Value(deadlineKey{}).(func() (time.Time, bool)); has {
		if w, bounded := waiters(); bounded && (!ok || w.Before(d)) {
			d, ok = w, true
		}
	}
	return d, ok
}

// do returns the result of fn for key, sharing a call already in flight.
// When ctx is done first, do returns ctx.Err().
func (f *flight[T]) do(ctx context.Context, key string, fn func(context.Context) (T, error)) (T, error) {
	limit, bounded := deadline(ctx)
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]*call[T]{}
	}
	c, ok := f.calls[key]
	if !ok {
		callCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c = &call[T]{done: make(chan struct{}), cancel: cancel}
		callCtx = context.WithValue(callCtx, deadlineKey{}, func() (time.Time, bool) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if c.unbounded > 0 || len(c.deadlines) == 0 {
				return time.Time{}, false
			}
			return slices.MaxFunc(c.deadlines, time.Time.Compare), true
		})
		f.calls[key] = c
		go func() {
			defer cancel()
			val, err := fn(callCtx)
			f.mu.Lock()
			if f.calls[key] == c {
				delete(f.calls, key)
			}
			f.mu.Unlock()
			c.val, c.err = val, err
			close(c.done)
		}()
	}
	c.waiters++
	if bounded {
		c.deadlines = append(c.deadlines, limit)
	} else {
		c.unbounded++
	}
	f.mu.Unlock()

	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		f.mu.Lock()
		c.waiters--
		if bounded {
			i := slices.IndexFunc(c.deadlines, limit.Equal)
			c.deadlines = slices.Delete(c.deadlines, i, i+1)
		} else {
			c.unbounded--
		}
		if c.waiters == 0 {
			c.cancel()
			if f.calls[key] == c {
				delete(f.calls, key)
			}
		}
		f.mu.Unlock()
		var zero T
		return zero, ctx.Err()
	}
}
