// Package lru is a least-recently-used cache with a budget in bytes and
// an optional expiry per entry, shared by the registry store (content by
// digest, tag resolutions, referrer listings) and the in-memory verdict
// cache.
package lru

import (
	"container/list"
	"sync"
	"time"
)

// Cache holds values of type V under string keys within a budget in
// bytes, least recently used first out. An entry goes in with an expiry
// or without one (zero: it stays until evicted); from its expiry on it
// is a miss, and it is dropped when it is next looked up, or earlier
// when it is the least recently used. The caller passes the current
// time to Get, so the cache has no clock of its own.
//
// The budget accounts the size given to Add plus the key's length, not
// the bookkeeping around them (roughly a hundred bytes per entry). A
// Cache with a budget <= 0 stores nothing; so does the zero Cache. It is
// safe for concurrent use.
type Cache[V any] struct {
	mu     sync.Mutex
	budget int64
	size   int64
	order  list.List // of *entry[V]; front = most recently used
	items  map[string]*list.Element
}

type entry[V any] struct {
	key     string
	value   V
	size    int64
	expires time.Time // zero: never
}

// New returns a Cache holding at most budget bytes. If budget <= 0,
// nothing is stored: every Add is dropped and every Get is a miss.
func New[V any](budget int64) *Cache[V] {
	return &Cache[V]{budget: budget}
}

// Get returns the value cached under key, if it has not expired at now,
// and marks it recently used. An expired entry is dropped.
func (c *Cache[V]) Get(key string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	el, ok := c.items[key]
	if !ok {
		return zero, false
	}
	e := el.Value.(*entry[V])
	if !e.expires.IsZero() && !now.Before(e.expires) {
		c.remove(el)
		return zero, false
	}
	c.order.MoveToFront(el)
	return e.value, true
}

// Add caches value under key until expires (zero: until evicted),
// accounted as size bytes plus the key's length, and evicts the least
// recently used entries to stay within the budget. Whatever key held
// before is dropped, even when value is not stored because it is larger
// than the whole budget, so a Get never answers with a value that an Add
// has replaced. It reports whether value was stored.
func (c *Cache[V]) Add(key string, value V, size int64, expires time.Time) (kept bool) {
	size += int64(len(key))
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.remove(el)
	}
	if c.budget <= 0 || size > c.budget {
		return false
	}
	if c.items == nil {
		c.items = map[string]*list.Element{}
	}
	c.items[key] = c.order.PushFront(&entry[V]{key: key, value: value, size: size, expires: expires})
	c.size += size
	for c.size > c.budget {
		c.remove(c.order.Back())
	}
	return true
}

// remove drops el; c.mu must be held.
func (c *Cache[V]) remove(el *list.Element) {
	e := c.order.Remove(el).(*entry[V])
	delete(c.items, e.key)
	c.size -= e.size
}

// Stats returns the number of entries held and the bytes they account
// for, expired entries not yet dropped included. The bytes never exceed
// the budget.
func (c *Cache[V]) Stats() (entries int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items), c.size
}
