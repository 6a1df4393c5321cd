package store

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/semaphore"
)

// DefaultMemoryBudget is the default of StackOptions.MemoryBudget:
// 16 MiB, with which `assay serve` and its plugins stay within a 256 MiB
// container (docs/deployment.md, "Memory"). An artifact larger than the
// budget fails with ErrTooLarge: Stores that allow larger blobs than
// 16 MiB need a larger budget.
const DefaultMemoryBudget = 16 << 20

// Budget bounds the bytes of registry content a process holds at once
// for verification: what is being read from a registry and what is being
// handed to a verifier plugin. Every Registry of a Stack shares the
// Stack's one Budget (Stack.Memory), so the bound holds across keys,
// jobs and configurations. The content cache (StackOptions.CacheBytes)
// is a budget of its own, not part of this one.
//
// A holder reserves bytes with Acquire before it reads them and releases
// them when it no longer holds them. Reservations are granted in the
// order they were asked for. It is safe for concurrent use.
type Budget struct {
	total int64
	sem   *semaphore.Weighted
}

// newBudget returns a Budget of total bytes (total > 0).
func newBudget(total int64) *Budget {
	return &Budget{total: total, sem: semaphore.NewWeighted(total)}
}

// Total returns the size of the budget in bytes.
func (b *Budget) Total() int64 { return b.total }

// Acquire reserves n bytes for what (named in errors, "sha256:… of
// example.com/app") and returns the function that gives them back; it
// must be called exactly once. n <= 0 reserves nothing.
//
// A reservation larger than the whole budget fails at once with an error
// wrapping ErrTooLarge (and so errdef.ErrSizeExceedsLimit). One that
// cannot be granted before ctx is done fails with an error wrapping
// ctx.Err() that names the budget:
//
//	waited for 30 MiB of the 192 MiB memory budget (memory-budget) for sha256:… of example.com/app: context deadline exceeded
//
// A caller that holds a reservation must not wait for another: reserve
// everything one piece of work holds in one call.
func (b *Budget) Acquire(ctx context.Context, n int64, what string) (release func(), err error) {
	if n <= 0 {
		return func() {}, nil
	}
	if n > b.total {
		return nil, fmt.Errorf("%s needs %s, more than the whole %s memory budget (memory-budget): %w",
			what, mebibytes(n), mebibytes(b.total), ErrTooLarge)
	}
	err = b.sem.Acquire(ctx, n)
	if err == nil && ctx.Err() != nil {
		// granted as the deadline passed (the holder gave it back at
		// its own deadline): the wait is what took the time
		b.sem.Release(n)
		err = ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("waited for %s of the %s memory budget (memory-budget) for %s: %w",
			mebibytes(n), mebibytes(b.total), what, err)
	}
	return sync.OnceFunc(func() { b.sem.Release(n) }), nil
}

// mebibytes formats n bytes for a message: "30 MiB", or "1.5 MiB", or
// "4096 bytes" below one MiB.
func mebibytes(n int64) string {
	switch {
	case n < 1<<20:
		return fmt.Sprintf("%d bytes", n)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
