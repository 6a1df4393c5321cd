package cache

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"
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

	mu     sync.Mutex
	budget int64
	size   int64
	order  *list.List // of *memEntry; front = most recently used
	items  map[string]*list.Element
}

type memEntry struct {
	key     string
	value   []byte
	expires time.Time
}

func (e *memEntry) size() int64 { return int64(len(e.key) + len(e.value)) }

// NewMemory returns a Memory holding at most maxBytes of keys and values.
// If maxBytes <= 0, nothing is stored: every Set succeeds and every Get
// is a miss.
func NewMemory(maxBytes int64) *Memory {
	return &Memory{budget: maxBytes, order: list.New(), items: map[string]*list.Element{}}
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
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.items[key]
	if !ok {
		return nil, false, nil
	}
	e := el.Value.(*memEntry)
	if !now.Before(e.expires) {
		m.remove(el)
		return nil, false, nil
	}
	m.order.MoveToFront(el)
	return clone(e.value), true, nil
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
	e := &memEntry{key: key, value: clone(value), expires: m.now().Add(ttl)}
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[key]; ok {
		m.remove(el)
	}
	if m.budget <= 0 || e.size() > m.budget {
		return nil
	}
	m.items[key] = m.order.PushFront(e)
	m.size += e.size()
	for m.size > m.budget {
		m.remove(m.order.Back())
	}
	return nil
}

// remove drops el; m.mu must be held.
func (m *Memory) remove(el *list.Element) {
	e := m.order.Remove(el).(*memEntry)
	delete(m.items, e.key)
	m.size -= e.size()
}

// Len returns the number of entries held, including expired ones not yet
// dropped.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items)
}

// Bytes returns the bytes of keys and values held, including expired
// entries not yet dropped. It never exceeds the budget.
func (m *Memory) Bytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.size
}

// clone returns a copy of b that shares no memory with it. It is never
// nil: a nil value stored reads back as an empty one.
func clone(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return append(make([]byte, 0, len(b)), b...)
}
