package store

import (
	"context"
	"sync"
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
}

// do returns the result of fn for key, sharing a call already in flight.
// When ctx is done first, do returns ctx.Err().
func (f *flight[T]) do(ctx context.Context, key string, fn func(context.Context) (T, error)) (T, error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]*call[T]{}
	}
	c, ok := f.calls[key]
	if !ok {
		callCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c = &call[T]{done: make(chan struct{}), cancel: cancel}
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
	f.mu.Unlock()

	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		f.mu.Lock()
		c.waiters--
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
