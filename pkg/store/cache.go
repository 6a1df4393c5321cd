package store

import (
	"container/list"
	"sync"
	"time"
)

// lru is a least-recently-used cache with a budget in bytes. Values that
// cannot change (content keyed by digest, the descriptor a digest
// resolves to) go in without an expiry; values that may change (a tag's
// descriptor, a referrers listing) go in with one and are a miss from
// then on. A cache with a budget <= 0 stores nothing. It is safe for
// concurrent use.
type lru struct {
	mu     sync.Mutex
	budget int64
	size   int64
	order  *list.List // of *entry; front = most recently used
	items  map[string]*list.Element
}

type entry struct {
	key     string
	value   any
	size    int64
	expires time.Time // zero: never
}

func newLRU(budget int64) *lru {
	return &lru{budget: budget, order: list.New(), items: map[string]*list.Element{}}
}

// get returns the value cached under key, if it has not expired at now,
// and marks it recently used. An expired entry is dropped.
func (c *lru) get(key string, now time.Time) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*entry)
	if !e.expires.IsZero() && !now.Before(e.expires) {
		c.remove(el)
		return nil, false
	}
	c.order.MoveToFront(el)
	return e.value, true
}

// add caches value under key until expires (zero: until evicted),
// accounted as size bytes, replacing what key held, and evicts the least
// recently used entries to stay within the budget. A value larger than
// the whole budget is not cached.
func (c *lru) add(key string, value any, size int64, expires time.Time) {
	size += int64(len(key))
	c.mu.Lock()
	defer c.mu.Unlock()
	if size > c.budget {
		return
	}
	if el, ok := c.items[key]; ok {
		c.remove(el)
	}
	c.items[key] = c.order.PushFront(&entry{key: key, value: value, size: size, expires: expires})
	c.size += size
	for c.size > c.budget {
		c.remove(c.order.Back())
	}
}

// remove drops el; c.mu must be held.
func (c *lru) remove(el *list.Element) {
	e := el.Value.(*entry)
	c.order.Remove(el)
	delete(c.items, e.key)
	c.size -= e.size
}

// stats returns the number of entries and the bytes they account for.
func (c *lru) stats() (entries int, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items), c.size
}
