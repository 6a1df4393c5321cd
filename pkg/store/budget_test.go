package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/store"
	"oras.land/oras-go/v2/errdef"
)

// The Stack's one memory budget is what every Registry on it reserves
// in: a reservation waits while others hold the bytes, gives up at its
// deadline naming the budget, and one larger than the whole budget fails
// at once as a limit.
func TestRegistriesOnOneStackShareItsMemoryBudget(t *testing.T) {
	st, err := store.NewStack(store.StackOptions{MemoryBudget: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.Registry(store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.Registry(store.Options{MaxBlobBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if a.Memory() != st.Memory() || b.Memory() != st.Memory() {
		t.Fatal("the Registries of a Stack have budgets of their own")
	}
	if got := st.Memory().Total(); got != 64<<20 {
		t.Fatalf("Total() = %d, want %d", got, 64<<20)
	}

	release, err := a.Memory().Acquire(context.Background(), 40<<20, "first")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = b.Memory().Acquire(ctx, 30<<20, "sha256:abc of example.com/app")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a reservation beyond what is left: got %v, want context.DeadlineExceeded", err)
	}
	want := "waited for 30 MiB of the 64 MiB memory budget (memory-budget) for sha256:abc of example.com/app"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}

	// Released, the bytes serve the next reservation.
	release()
	release() // a second call gives nothing back twice
	r2, err := b.Memory().Acquire(context.Background(), 30<<20, "second")
	if err != nil {
		t.Fatal(err)
	}
	r3, err := a.Memory().Acquire(context.Background(), 34<<20, "third")
	if err != nil {
		t.Fatalf("30 + 34 MiB of 64 MiB: %v (the first reservation was given back twice?)", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, err := a.Memory().Acquire(ctx2, 1, "one byte more"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("one byte beyond a full budget: got %v, want context.DeadlineExceeded", err)
	}
	r2()
	r3()

	_, err = a.Memory().Acquire(context.Background(), 65<<20, "artifact sha256:big of example.com/app")
	if !errors.Is(err, store.ErrTooLarge) || !errors.Is(err, errdef.ErrSizeExceedsLimit) {
		t.Fatalf("a reservation above the whole budget: got %v, want ErrTooLarge", err)
	}
	want = "artifact sha256:big of example.com/app needs 65 MiB, more than the whole 64 MiB memory budget (memory-budget)"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

func TestNewStackRefusesANegativeMemoryBudget(t *testing.T) {
	_, err := store.NewStack(store.StackOptions{MemoryBudget: -1})
	if err == nil || !strings.Contains(err.Error(), "MemoryBudget must not be negative") {
		t.Fatalf("got %v, want an error naming MemoryBudget", err)
	}
	st, err := store.NewStack(store.StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Memory().Total(); got != store.DefaultMemoryBudget {
		t.Errorf("default budget %d, want DefaultMemoryBudget %d", got, store.DefaultMemoryBudget)
	}
}
