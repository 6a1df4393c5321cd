package cache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/cache"
	"github.com/assayproj/assay/pkg/executor"
)

var (
	_ executor.VerdictCache = (*cache.Memory)(nil)
	_ executor.VerdictCache = (*cache.Redis)(nil)
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newMemory returns a Memory of budget bytes on a fake clock.
func newMemory(budget int64) (*cache.Memory, *fakeClock) {
	clock := newFakeClock()
	m := cache.NewMemory(budget)
	m.Now = clock.Now
	return m, clock
}

func mustSet(t *testing.T, m *cache.Memory, key, value string, ttl time.Duration) {
	t.Helper()
	if err := m.Set(context.Background(), key, []byte(value), ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func mustGet(t *testing.T, m *cache.Memory, key string) (string, bool) {
	t.Helper()
	v, ok, err := m.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if ok && v == nil {
		t.Fatalf("Get(%q) hit with a nil value", key)
	}
	return string(v), ok
}

func TestMemory(t *testing.T) {
	const hour = time.Hour
	tests := map[string]struct {
		budget int64
		// run stores entries, reads some (which marks them recently
		// used) and moves the clock.
		run func(t *testing.T, m *cache.Memory, clock *fakeClock)
		// wantLen and wantBytes are checked after run, before any of
		// the reads below (which drop expired entries).
		wantLen   int
		wantBytes int64
		// want are the entries that must be found, with their values;
		// gone are keys that must be missed.
		want map[string]string
		gone []string
	}{
		"the least recently used entry is evicted first": {
			budget: 6, // three entries of a 1-byte key and a 1-byte value
			run: func(t *testing.T, m *cache.Memory, _ *fakeClock) {
				mustSet(t, m, "a", "1", hour)
				mustSet(t, m, "b", "2", hour)
				mustSet(t, m, "c", "3", hour)
				mustSet(t, m, "d", "4", hour)
			},
			wantLen: 3, wantBytes: 6,
			want: map[string]string{"b": "2", "c": "3", "d": "4"},
			gone: []string{"a"},
		},
		"reading an entry makes it the most recently used": {
			budget: 6,
			run: func(t *testing.T, m *cache.Memory, _ *fakeClock) {
				mustSet(t, m, "a", "1", hour)
				mustSet(t, m, "b", "2", hour)
				mustSet(t, m, "c", "3", hour)
				if _, ok := mustGet(t, m, "a"); !ok {
					t.Fatal("a missed before any eviction")
				}
				mustSet(t, m, "d", "4", hour)
			},
			wantLen: 3, wantBytes: 6,
			want: map[string]string{"a": "1", "c": "3", "d": "4"},
			gone: []string{"b"},
		},
		"setting a key again replaces its value and makes it the most recently used": {
			budget: 6,
			run: func(t *testing.T, m *cache.Memory, _ *fakeClock) {
				mustSet(t, m, "a", "1", hour)
				mustSet(t, m, "b", "2", hour)
				mustSet(t, m, "c", "3", hour)
				mustSet(t, m, "a", "9", hour)
				mustSet(t, m, "d", "4", hour)
			},
			wantLen: 3, wantBytes: 6,
			want: map[string]string{"a": "9", "c": "3", "d": "4"},
			gone: []string{"b"},
		},
		"a large entry evicts as many of the oldest entries as it needs": {
			budget: 10,
			run: func(t *testing.T, m *cache.Memory, _ *fakeClock) {
				mustSet(t, m, "a", "1", hour)
				mustSet(t, m, "b", "2", hour)
				mustSet(t, m, "c", "3", hour)
				mustSet(t, m, "d", "4567890", hour) // 8 bytes
			},
			wantLen: 2, wantBytes: 10,
			want: map[string]string{"c": "3", "d": "4567890"},
			gone: []string{"a", "b"},
		},
		"keys and values are both accounted": {
			budget: 100,
			run: func(t *testing.T, m *cache.Memory, _ *fakeClock) {
				mustSet(t, m, "key1", "value1", hour)
				mustSet(t, m, "k2", "", hour)
			},
			wantLen: 2, wantBytes: 12,
			want: map[string]string{"key1": "value1", "k2": ""},
		},
		"replacing a value accounts only the new one": {
			budget: 100,
			run: func(t *testing.T, m *cache.Memory, _ *fakeClock) {
				mustSet(t, m, "a", "a long value", hour)
				mustSet(t, m, "a", "x", hour)
			},
			wantLen: 1, wantBytes: 2,
			want: map[string]string{"a": "x"},
		},
		"an entry of exactly the budget is stored and evicts everything else": {
			budget: 10,
			run: func(t *testing.T, m *cache.Memory, _ *fakeClock) {
				mustSet(t, m, "a", "1", hour)
				mustSet(t, m, "b", "123456789", hour)
			},
			wantLen: 1, wantBytes: 10,
			want: map[string]string{"b": "123456789"},
			gone: []string{"a"},
		},
		"an entry larger than the budget is not stored and evicts nothing": {
			budget: 10,
			run: func(t *testing.T, m *cache.Memory, _ *fakeClock) {
				mustSet(t, m, "a", "1", hour)
				mustSet(t, m, "b", "1234567890", hour) // 11 bytes with its key
			},
			wantLen: 1, wantBytes: 2,
			want: map[string]string{"a": "1"},
			gone: []string{"b"},
		},
		"an entry too large to store drops the older value under its key": {
			budget: 10,
			run: func(t *testing.T, m *cache.Memory, _ *fakeClock) {
				mustSet(t, m, "a", "1", hour)
				mustSet(t, m, "a", "1234567890", hour)
			},
			wantLen: 0, wantBytes: 0,
			gone: []string{"a"},
		},
		"a budget of zero stores nothing": {
			budget: 0,
			run: func(t *testing.T, m *cache.Memory, _ *fakeClock) {
				mustSet(t, m, "", "", hour)
				mustSet(t, m, "a", "1", hour)
			},
			wantLen: 0, wantBytes: 0,
			gone: []string{"", "a"},
		},
		"a negative budget stores nothing": {
			budget: -1,
			run: func(t *testing.T, m *cache.Memory, _ *fakeClock) {
				mustSet(t, m, "a", "1", hour)
			},
			wantLen: 0, wantBytes: 0,
			gone: []string{"a"},
		},
		"an entry is served until just before its ttl": {
			budget: 100,
			run: func(t *testing.T, m *cache.Memory, clock *fakeClock) {
				mustSet(t, m, "a", "1", time.Minute)
				clock.Advance(time.Minute - time.Nanosecond)
			},
			wantLen: 1, wantBytes: 2,
			want: map[string]string{"a": "1"},
		},
		"an entry is missed from its ttl on, each entry by its own ttl": {
			budget: 100,
			run: func(t *testing.T, m *cache.Memory, clock *fakeClock) {
				mustSet(t, m, "short", "1", time.Minute)
				mustSet(t, m, "long", "2", 2*time.Minute)
				clock.Advance(time.Minute)
			},
			wantLen: 2, wantBytes: 11, // the expired entry is counted until it is dropped
			want: map[string]string{"long": "2"},
			gone: []string{"short"},
		},
		"an expired entry is dropped when it is read": {
			budget: 100,
			run: func(t *testing.T, m *cache.Memory, clock *fakeClock) {
				mustSet(t, m, "short", "1", time.Minute)
				mustSet(t, m, "long", "2", 2*time.Minute)
				clock.Advance(time.Minute)
				if _, ok := mustGet(t, m, "short"); ok {
					t.Fatal("short hit after its ttl")
				}
			},
			wantLen: 1, wantBytes: 5,
			want: map[string]string{"long": "2"},
			gone: []string{"short"},
		},
		"setting an expired key again stores it afresh": {
			budget: 100,
			run: func(t *testing.T, m *cache.Memory, clock *fakeClock) {
				mustSet(t, m, "a", "1", time.Minute)
				clock.Advance(time.Hour)
				mustSet(t, m, "a", "2", time.Minute)
			},
			wantLen: 1, wantBytes: 2,
			want: map[string]string{"a": "2"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, clock := newMemory(tc.budget)
			tc.run(t, m, clock)
			if got := m.Len(); got != tc.wantLen {
				t.Errorf("Len() = %d, want %d", got, tc.wantLen)
			}
			if got := m.Bytes(); got != tc.wantBytes {
				t.Errorf("Bytes() = %d, want %d", got, tc.wantBytes)
			}
			for key, want := range tc.want {
				got, ok := mustGet(t, m, key)
				if !ok {
					t.Errorf("Get(%q) missed, want %q", key, want)
				} else if got != want {
					t.Errorf("Get(%q) = %q, want %q", key, got, want)
				}
			}
			for _, key := range tc.gone {
				if got, ok := mustGet(t, m, key); ok {
					t.Errorf("Get(%q) = %q, want a miss", key, got)
				}
			}
		})
	}
}

func TestMemoryRejectsATTLThatIsNotPositive(t *testing.T) {
	tests := map[string]time.Duration{
		"a ttl of zero":              0,
		"a negative ttl":             -time.Second,
		"the most negative duration": time.Duration(-1 << 63),
		"minus a nanosecond":         -time.Nanosecond,
	}
	for name, ttl := range tests {
		t.Run(name, func(t *testing.T) {
			m, _ := newMemory(100)
			mustSet(t, m, "a", "old", time.Hour)
			err := m.Set(context.Background(), "a", []byte("new"), ttl)
			if !errors.Is(err, cache.ErrInvalidTTL) {
				t.Fatalf("Set with ttl %s: err = %v, want ErrInvalidTTL", ttl, err)
			}
			if got, ok := mustGet(t, m, "a"); !ok || got != "old" {
				t.Errorf("after a rejected Set, Get = %q, %v; want the old value", got, ok)
			}
		})
	}
}

func TestMemoryCopiesValuesInAndOut(t *testing.T) {
	ctx := context.Background()
	m := cache.NewMemory(100)
	in := []byte("verdict")
	if err := m.Set(ctx, "k", in, time.Hour); err != nil {
		t.Fatal(err)
	}
	in[0] = 'X' // the caller reuses its buffer

	out, ok, err := m.Get(ctx, "k")
	if err != nil || !ok {
		t.Fatalf("Get = %q, %v, %v; want a hit", out, ok, err)
	}
	if string(out) != "verdict" {
		t.Fatalf("Get = %q after the caller changed its buffer, want %q", out, "verdict")
	}
	out[0] = 'Y' // the caller changes what it was given

	again, ok, err := m.Get(ctx, "k")
	if err != nil || !ok {
		t.Fatalf("Get = %q, %v, %v; want a hit", again, ok, err)
	}
	if string(again) != "verdict" {
		t.Errorf("Get = %q after the caller changed an earlier result, want %q", again, "verdict")
	}
}

func TestMemoryStoresANilValueAsEmpty(t *testing.T) {
	ctx := context.Background()
	m := cache.NewMemory(100)
	if err := m.Set(ctx, "k", nil, time.Hour); err != nil {
		t.Fatal(err)
	}
	got, ok, err := m.Get(ctx, "k")
	if err != nil || !ok || got == nil || len(got) != 0 {
		t.Fatalf("Get = %#v, %v, %v; want a hit with an empty, non-nil value", got, ok, err)
	}
}

func TestMemoryUsesTheRealClockByDefault(t *testing.T) {
	ctx := context.Background()
	m := cache.NewMemory(100)
	if err := m.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := m.Get(ctx, "k"); err != nil || !ok {
		t.Fatalf("Get = %v, %v right after Set with a one hour ttl; want a hit", ok, err)
	}
	if err := m.Set(ctx, "gone", []byte("v"), time.Nanosecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	if _, ok, err := m.Get(ctx, "gone"); err != nil || ok {
		t.Fatalf("Get = %v, %v a millisecond after a one nanosecond ttl; want a miss", ok, err)
	}
}

// TestMemoryIsSafeForConcurrentUse is meant for the race detector: many
// goroutines set, read and expire overlapping keys in a small budget,
// and the budget and every value must hold throughout.
func TestMemoryIsSafeForConcurrentUse(t *testing.T) {
	const (
		budget     = 256
		goroutines = 8
		rounds     = 2000
		keys       = 32
	)
	ctx := context.Background()
	m, clock := newMemory(budget)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range rounds {
				key := fmt.Sprintf("key-%d", (g*7+i)%keys)
				want := []byte("value of " + key)
				if err := m.Set(ctx, key, want, time.Duration(1+i%5)*time.Second); err != nil {
					errs <- err
					return
				}
				got, ok, err := m.Get(ctx, fmt.Sprintf("key-%d", i%keys))
				if err != nil {
					errs <- err
					return
				}
				if ok && !bytes.HasPrefix(got, []byte("value of key-")) {
					errs <- fmt.Errorf("Get returned %q, which nobody stored", got)
					return
				}
				if i%100 == 0 {
					clock.Advance(time.Second)
				}
				if b := m.Bytes(); b > budget {
					errs <- fmt.Errorf("Bytes() = %d, over the budget of %d", b, budget)
					return
				}
				_ = m.Len()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if b := m.Bytes(); b > budget || b < 0 {
		t.Errorf("Bytes() = %d after the run, want 0..%d", b, budget)
	}
}

func BenchmarkMemory(b *testing.B) {
	ctx := context.Background()
	value := bytes.Repeat([]byte("r"), 2048) // about the size of a small report
	const keys = 1024
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("sha256:%064x/config", i)
	}

	b.Run("Get", func(b *testing.B) {
		m := cache.NewMemory(64 << 20)
		for _, k := range names {
			if err := m.Set(ctx, k, value, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok, err := m.Get(ctx, names[i%keys]); err != nil || !ok {
				b.Fatalf("Get: %v, %v", ok, err)
			}
			i++
		}
	})
	b.Run("Set", func(b *testing.B) {
		// A budget of about half the keys, so Sets also evict.
		m := cache.NewMemory(keys / 2 * int64(len(value)+len(names[0])))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := m.Set(ctx, names[i%keys], value, time.Hour); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("GetParallel", func(b *testing.B) {
		m := cache.NewMemory(64 << 20)
		for _, k := range names {
			if err := m.Set(ctx, k, value, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, ok, err := m.Get(ctx, names[i%keys]); err != nil || !ok {
					b.Errorf("Get: %v, %v", ok, err)
					return
				}
				i++
			}
		})
	})
}
