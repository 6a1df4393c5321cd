package store

import (
	"container/list"
	"sync"
)

// lru is a byte-budgeted least-recently-used cache of immutable content
// keyed by digest. A nil or zero-budget cache stores nothing.
type lru struct {
	mu     sync.Mutex
	budget int64
	size   int64
	order  *list.List // front = most recent
	items  map[string]*list.Element
}

type entry struct {
	key  string
	data []byte
}

func newLRU(budget int64) *lru {
	return &lru{budget: budget, order: list.New(), items: map[string]*list.Element{}}
}

func (c *lru) get(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*entry).data, true
}

func (c *lru) add(key string, data []byte) {
	n := int64(len(data))
	c.mu.Lock()
	defer c.mu.Unlock()
	if n > c.budget {
		return
	}
	if _, ok := c.items[key]; ok {
		return
	}
	c.items[key] = c.order.PushFront(&entry{key: key, data: data})
	c.size += n
	for c.size > c.budget {
		el := c.order.Back()
		e := el.Value.(*entry)
		c.order.Remove(el)
		delete(c.items, e.key)
		c.size -= int64(len(e.data))
	}
}
