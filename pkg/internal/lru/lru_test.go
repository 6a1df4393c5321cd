package lru_test

import (
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/internal/lru"
)

func TestLRU(t *testing.T) {
	tests := map[string]struct {
		budget int64
		adds   []string // each value is its own key; size = len(key)*2
		get    string   // touched after the adds, before extra
		extra  string
		want   []string
		absent []string
	}{
		"entries within the budget stay": {
			budget: 100, adds: []string{"aa", "bb"}, want: []string{"aa", "bb"},
		},
		"the least recently used entry is evicted first": {
			budget: 12, adds: []string{"aa", "bb", "cc"}, get: "aa", extra: "dd",
			want: []string{"aa", "cc", "dd"}, absent: []string{"bb"},
		},
		"a value larger than the budget is not cached": {
			budget: 4, adds: []string{"toolarge"}, absent: []string{"toolarge"},
		},
		"a zero budget caches nothing": {
			budget: 0, adds: []string{"a"}, absent: []string{"a"},
		},
		"a negative budget caches nothing": {
			budget: -1, adds: []string{"a"}, absent: []string{"a"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := lru.New[string](tc.budget)
			add := func(k string) { c.Add(k, k, int64(len(k)), time.Time{}) }
			for _, k := range tc.adds {
				add(k)
			}
			if tc.get != "" {
				c.Get(tc.get, time.Now())
			}
			if tc.extra != "" {
				add(tc.extra)
			}
			for _, k := range tc.want {
				if v, ok := c.Get(k, time.Now()); !ok || v != k {
					t.Errorf("%q: got %v, %v", k, v, ok)
				}
			}
			for _, k := range tc.absent {
				if _, ok := c.Get(k, time.Now()); ok {
					t.Errorf("%q is cached", k)
				}
			}
			if _, size := c.Stats(); size > max(tc.budget, 0) {
				t.Errorf("size %d over the budget %d", size, tc.budget)
			}
		})
	}
}

func TestLRUExpiry(t *testing.T) {
	c := lru.New[string](1 << 10)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c.Add("tag", "v1", 10, now.Add(time.Second))
	c.Add("digest", "content", 10, time.Time{})
	if v, ok := c.Get("tag", now.Add(time.Second-1)); !ok || v != "v1" {
		t.Fatalf("before its expiry: %v, %v", v, ok)
	}
	if _, ok := c.Get("tag", now.Add(time.Second)); ok {
		t.Fatal("served at its expiry")
	}
	if n, _ := c.Stats(); n != 1 {
		t.Fatalf("%d entries after the expired one was asked for, want 1", n)
	}
	if _, ok := c.Get("digest", now.Add(1000*time.Hour)); !ok {
		t.Fatal("an entry without expiry expired")
	}
	c.Add("tag", "v2", 10, now.Add(2*time.Second))
	c.Add("tag", "v3", 20, now.Add(3*time.Second))
	if v, ok := c.Get("tag", now); !ok || v != "v3" {
		t.Fatalf("after a replacement: %v, %v; want v3", v, ok)
	}
	if n, size := c.Stats(); n != 2 || size != 10+int64(len("digest"))+20+int64(len("tag")) {
		t.Fatalf("after a replacement: %d entries of %d bytes", n, size)
	}
}

func TestAReplacementTooLargeToCacheDropsTheOldValue(t *testing.T) {
	c := lru.New[string](16)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c.Add("tag", "v1", 4, time.Time{})
	c.Add("tag", "v2", 64, time.Time{})
	if v, ok := c.Get("tag", now); ok {
		t.Fatalf("got %q, the value the larger one replaced", v)
	}
	if n, size := c.Stats(); n != 0 || size != 0 {
		t.Fatalf("%d entries of %d bytes, want none", n, size)
	}
}

func TestTheZeroCacheStoresNothing(t *testing.T) {
	var c lru.Cache[int]
	c.Add("k", 1, 0, time.Time{})
	if _, ok := c.Get("k", time.Now()); ok {
		t.Fatal("the zero Cache stored a value")
	}
}
