package flight_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/internal/flight"
)

// waitForWaiters yields until n callers wait for the call under key.
func waitForWaiters[T any](t *testing.T, f *flight.Group[T], key string, n int) {
	t.Helper()
	for {
		got := f.Waiters(key)
		if got == n {
			return
		}
		if got > n {
			t.Fatalf("%d waiters, want %d", got, n)
		}
		runtime.Gosched()
	}
}

func TestFlight(t *testing.T) {
	t.Run("concurrent callers share one call", func(t *testing.T) {
		var f flight.Group[int]
		var runs atomic.Int64
		release := make(chan struct{})
		const n = 8
		results := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				v, err := f.Do(context.Background(), "k", func(context.Context) (int, error) {
					runs.Add(1)
					<-release
					return 42, nil
				})
				if err != nil {
					t.Error(err)
				}
				results[i] = v
			})
		}
		waitForWaiters(t, &f, "k", n)
		close(release)
		wg.Wait()
		if runs.Load() != 1 {
			t.Fatalf("fn ran %d times", runs.Load())
		}
		for i, v := range results {
			if v != 42 {
				t.Fatalf("caller %d got %d", i, v)
			}
		}
	})
	t.Run("a caller whose context ends leaves without failing the others", func(t *testing.T) {
		var f flight.Group[int]
		release := make(chan struct{})
		var callCtx context.Context
		started := make(chan struct{})
		fn := func(ctx context.Context) (int, error) {
			callCtx = ctx
			close(started)
			<-release
			return 7, nil
		}
		patient := make(chan int)
		go func() {
			v, _ := f.Do(context.Background(), "k", fn)
			patient <- v
		}()
		<-started
		impatient, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			_, err := f.Do(impatient, "k", fn)
			done <- err
		}()
		waitForWaiters(t, &f, "k", 2)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("impatient caller: %v, want context.Canceled", err)
		}
		if callCtx.Err() != nil {
			t.Fatal("the shared call was cancelled while a caller still waits")
		}
		close(release)
		if v := <-patient; v != 7 {
			t.Fatalf("patient caller got %d", v)
		}
	})
	t.Run("the call is cancelled when every caller has left, and the next caller starts a new one", func(t *testing.T) {
		var f flight.Group[int]
		var runs atomic.Int64
		cancelled := make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			_, err := f.Do(ctx, "k", func(ctx context.Context) (int, error) {
				runs.Add(1)
				<-ctx.Done()
				close(cancelled)
				return 0, ctx.Err()
			})
			done <- err
		}()
		waitForWaiters(t, &f, "k", 1)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("caller: %v", err)
		}
		<-cancelled // the shared call saw its context end
		v, err := f.Do(context.Background(), "k", func(context.Context) (int, error) { runs.Add(1); return 1, nil })
		if err != nil || v != 1 || runs.Load() != 2 {
			t.Fatalf("next call = %d, %v after %d runs", v, err, runs.Load())
		}
	})
	t.Run("the shared call keeps the first caller's values", func(t *testing.T) {
		type key struct{}
		var f flight.Group[string]
		ctx := context.WithValue(context.Background(), key{}, "logger")
		v, err := f.Do(ctx, "k", func(ctx context.Context) (string, error) { return ctx.Value(key{}).(string), nil })
		if err != nil || v != "logger" {
			t.Fatalf("got %q, %v", v, err)
		}
	})
}

func TestFlightDeadlineIsTheLatestOfItsWaiters(t *testing.T) {
	var f flight.Group[int]
	base := time.Now()
	type result struct {
		limit   time.Time
		bounded bool
	}
	seen := make(chan result)
	release := make(chan struct{})
	fn := func(ctx context.Context) (int, error) {
		<-release
		limit, bounded := flight.Deadline(ctx)
		seen <- result{limit, bounded}
		return 0, nil
	}
	join := func(ctx context.Context) {
		go func() { _, _ = f.Do(ctx, "k", fn) }()
	}
	soon, cancelSoon := context.WithDeadline(context.Background(), base.Add(time.Hour))
	defer cancelSoon()
	late, cancelLate := context.WithDeadline(context.Background(), base.Add(2*time.Hour))
	join(soon)
	waitForWaiters(t, &f, "k", 1)
	join(late)
	waitForWaiters(t, &f, "k", 2)
	cancelLate() // the later caller leaves: the call has an hour again
	for f.Waiters("k") != 1 {
		runtime.Gosched()
	}
	release <- struct{}{}
	if r := <-seen; !r.bounded || !r.limit.Equal(base.Add(time.Hour)) {
		t.Fatalf("deadline = %v, %v; want the remaining caller's %v", r.limit, r.bounded, base.Add(time.Hour))
	}

	t.Run("a waiter without a deadline leaves the call without one", func(t *testing.T) {
		var f flight.Group[int]
		release := make(chan struct{})
		seen := make(chan bool)
		fn := func(ctx context.Context) (int, error) {
			<-release
			_, bounded := flight.Deadline(ctx)
			seen <- bounded
			return 0, nil
		}
		go func() { _, _ = f.Do(soon, "k", fn) }()
		waitForWaiters(t, &f, "k", 1)
		go func() { _, _ = f.Do(context.Background(), "k", fn) }()
		waitForWaiters(t, &f, "k", 2)
		close(release)
		if <-seen {
			t.Fatal("the call has a deadline although one caller has none")
		}
	})
	t.Run("a call that waits for another follows its callers' deadlines", func(t *testing.T) {
		var outer flight.Group[int]
		var inner flight.Group[int]
		release := make(chan struct{})
		seen := make(chan time.Time)
		innerFn := func(ctx context.Context) (int, error) {
			<-release
			d, _ := flight.Deadline(ctx)
			seen <- d
			return 0, nil
		}
		outerFn := func(ctx context.Context) (int, error) { return inner.Do(ctx, "k", innerFn) }
		go func() { _, _ = outer.Do(soon, "k", outerFn) }()
		waitForWaiters(t, &inner, "k", 1)
		later, cancel := context.WithDeadline(context.Background(), base.Add(3*time.Hour))
		defer cancel()
		go func() { _, _ = outer.Do(later, "k", outerFn) }()
		waitForWaiters(t, &outer, "k", 2)
		close(release)
		if d := <-seen; !d.Equal(base.Add(3 * time.Hour)) {
			t.Fatalf("the inner call's deadline is %v, want the outer call's later caller's %v", d, base.Add(3*time.Hour))
		}
	})
}

// expiringCtx is a context that is done when the test calls expire.
type expiringCtx struct {
	context.Context
	done chan struct{}
}

func newExpiringCtx() *expiringCtx {
	return &expiringCtx{Context: context.Background(), done: make(chan struct{})}
}

func (c *expiringCtx) expire()                     { close(c.done) }
func (c *expiringCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *expiringCtx) Done() <-chan struct{}       { return c.done }
func (c *expiringCtx) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// The call's context ends as soon as every caller's context has, before
// the callers have left: work the call starts then sees it at once.
func TestTheCallEndsAsSoonAsEveryCallersContextHas(t *testing.T) {
	g := flight.Group[error]{LastCollects: true}
	ctx := newExpiringCtx()
	got, err := g.Do(ctx, "k", func(callCtx context.Context) (error, error) {
		ctx.expire()
		return callCtx.Err(), nil
	})
	if err != nil || !errors.Is(got, context.DeadlineExceeded) {
		t.Fatalf("the call's context after its only caller's deadline: %v (%v), want context.DeadlineExceeded", got, err)
	}
}

func TestTheLastCallerCollectsWhatTheCallFound(t *testing.T) {
	g := flight.Group[string]{LastCollects: true}
	release := make(chan struct{})
	fn := func(ctx context.Context) (string, error) {
		<-ctx.Done()
		<-release
		return "partial", ctx.Err()
	}
	first, cancelFirst := context.WithCancel(context.Background())
	second, cancelSecond := context.WithCancel(context.Background())
	results := make(chan string, 2)
	errs := make(chan error, 2)
	for i, ctx := range []context.Context{first, second} {
		go func() {
			v, err := g.Do(ctx, "k", fn)
			results <- v
			errs <- err
		}()
		waitForWaiters(t, &g, "k", i+1)
	}
	cancelFirst()
	if v, err := <-results, <-errs; v != "" || !errors.Is(err, context.Canceled) {
		t.Fatalf("a caller that is not the last got %q, %v; want its context's error at once", v, err)
	}
	cancelSecond()
	close(release)
	if v, err := <-results, <-errs; v != "partial" || !errors.Is(err, context.Canceled) {
		t.Fatalf("the last caller got %q, %v; want what the call returned", v, err)
	}
}

func TestJoinedCountsTheCallersThatShare(t *testing.T) {
	var joined atomic.Int64
	g := flight.Group[int]{Joined: func() { joined.Add(1) }}
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			_, _ = g.Do(context.Background(), "k", func(context.Context) (int, error) { <-release; return 0, nil })
		})
	}
	waitForWaiters(t, &g, "k", 3)
	if n := joined.Load(); n != 2 {
		t.Fatalf("Joined called %d times before the call ended, want 2", n)
	}
	close(release)
	wg.Wait()
}

func TestACallWithoutWaitersHasEnded(t *testing.T) {
	var g flight.Group[error]
	ctx, cancel := context.WithCancel(context.Background())
	seen := make(chan error)
	go func() {
		_, _ = g.Do(ctx, "k", func(callCtx context.Context) (error, error) {
			for g.Waiters("k") != 0 {
				runtime.Gosched()
			}
			seen <- callCtx.Err()
			return nil, nil
		})
	}()
	waitForWaiters(t, &g, "k", 1)
	cancel()
	if err := <-seen; !errors.Is(err, context.Canceled) {
		t.Fatalf("the call's context once its caller has left: %v, want context.Canceled", err)
	}
}
