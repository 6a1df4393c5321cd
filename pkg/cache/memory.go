package cache

import (
	"context"
	"fmt"
	"time"

	"github.com/assayproj/assay/pkg/internal/lru"
)

// Memory is an in-process verdict cache with a budget in bytes, least
// recently used first out. Every entry has its own time to live; an
// expired entry is a miss and is dropped when it is next looked up, or
// earlier when it is the least recently used. It is safe for concurrent
// use.
//
// The budget accounts the bytes of keys and values, not the bookkeeping
// around them (roughly a hundred bytes per entry).
type Memory struct {
	// Now returns the current time, for expiry. If nil, time.Now is
	// used. Set it before the Memory is first used (tests inject a fake
	// clock here); it must not change afterwards.
	Now func() time.Time

	entries *lru.Cache[[]byte]
}

// NewMemory returns a Memory holding at most maxBytes of keys and values.
// If maxBytes <= 0, nothing is stored: every Set succeeds and every Get
// is a miss.
func NewMemory(maxBytes int64) *Memory {
	return &Memory{entries: lru.New[[]byte](maxBytes)}
}

func (m *Memory) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Get returns a copy of the value stored under key and true, or false
// when there is none or it has expired. It marks the entry recently used.
// The error is always nil.
func (m *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	v, ok := m.entries.Get(key, m.now())
	if !ok {
		return nil, false, nil
	}
	return clone(v), true, nil
}

// Set stores a copy of value under key for ttl, replacing what was there,
// and evicts the least recently used entries to stay within the budget.
// An entry larger than the whole budget is not stored, and any older
// value under key is dropped, so a Get never answers with a value that a
// Set has replaced. It returns ErrInvalidTTL when ttl <= 0, and no other
// error.
func (m *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("set: ttl %s: %w", ttl, ErrInvalidTTL)
	}
	m.entries.Add(key, clone(value), int64(len(value)), m.now().Add(ttl))
	return nil
}

// Len returns the number of entries held, including expired ones not yet
// dropped.
func (m *Memory) Len() int {
	n, _ := m.entries.Stats()
	return n
}

// Bytes returns the bytes of keys and values held, including expired
// entries not yet dropped. It never exceeds the budget.
func (m *Memory) Bytes() int64 {
	_, size := m.entries.Stats()
	return size
}

// clone returns a copy of b that shares no memory with it. It is never
// nil: a nil value stored reads back as an empty one.
func clone(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return append(make([]byte, 0, len(b)), b...)
}
