package store

import (
	"container/list"
	"sync"
)

// lru is a least-recently-used cache of immutable values with a budget in
// bytes. Only values that cannot change may go in: content keyed by
// digest, and the descriptor a digest resolves to. A cache with a budget
// <= 0 stores nothing. It is safe for concurrent use.
type lru struct {
	mu     sync.Mutex
	budget int64
	size   int64
	order  *list.List // of *entry; front = most recently used
	items  map[string]*list.Element
}

type entry struct {
	key   string
	value any
	size  int64
}

func newLRU(budget int64) *lru {
	return &lru{budget: budget, order: list.New(), items: map[string]*list.Element{}}
}

// get returns the value cached under key and marks it recently used.
func (c *lru) get(key string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*entry).value, true
}

// add caches value under key, accounted as size bytes, evicting the least
// recently used entries to stay within the budget. A value larger than
// the whole budget is not cached.
func (c *lru) add(key string, value any, size int64) {
	size += int64(len(key))
	c.mu.Lock()
	defer c.mu.Unlock()
	if size > c.budget {
		return
	}
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.items[key] = c.order.PushFront(&entry{key: key, value: value, size: size})
	c.size += size
	for c.size > c.budget {
		el := c.order.Back()
		e := el.Value.(*entry)
		c.order.Remove(el)
		delete(c.items, e.key)
		c.size -= e.size
	}
}

// stats returns the number of entries and the bytes they account for.
func (c *lru) stats() (entries int, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items), c.size
}
