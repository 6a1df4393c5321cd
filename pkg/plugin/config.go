package plugin

import (
	"crypto/sha256"
	"sync"
)

// DefaultConfigCacheSize is how many parsed configurations a ConfigCache
// keeps when NewConfigCache is given a size <= 0.
const DefaultConfigCacheSize = 16

// ConfigCache keeps a plugin's parsed configurations. The host sends the
// Verifier object's parameters with every call (so a restarted plugin
// needs no replay); a plugin parses them once per distinct value through
// a ConfigCache instead of on every call:
//
//	type Verifier struct{ configs *plugin.ConfigCache[*config] }
//
//	v := &Verifier{configs: plugin.NewConfigCache(0, parseConfig)}
//	cfg := v.configs.Get(req.Config) // in ValidateConfig and Verify
//
// Entries are keyed by the sha256 of the bytes, so equal parameters share
// one entry however many Verifier objects use them. When the cache is
// full the entry added first is dropped. A parsed value that implements
// Stale (for example one that read trust material from files) is parsed
// again from the same bytes once its Stale method reports true.
//
// T is usually a pointer to the plugin's parsed form, holding its
// diagnostics too: parse cannot fail, it records what is wrong. Callers
// must not modify a value Get returns; it is shared. A ConfigCache is safe
// for concurrent use.
type ConfigCache[T any] struct {
	parse func(config []byte) T
	size  int

	mu      sync.Mutex
	entries map[[sha256.Size]byte]T
	order   [][sha256.Size]byte // insertion order, oldest first
}

// Stale is implemented by a parsed configuration that can go out of date
// although the bytes it was parsed from did not; ConfigCache.Get parses
// the bytes again when Stale reports true.
type Stale interface {
	Stale() bool
}

// NewConfigCache returns a cache that parses with parse and keeps up to
// size configurations. If size <= 0, DefaultConfigCacheSize is used. It
// panics if parse is nil.
func NewConfigCache[T any](size int, parse func(config []byte) T) *ConfigCache[T] {
	if parse == nil {
		panic("plugin: NewConfigCache called with a nil parse function")
	}
	if size <= 0 {
		size = DefaultConfigCacheSize
	}
	return &ConfigCache[T]{parse: parse, size: size, entries: make(map[[sha256.Size]byte]T)}
}

// Get returns the parsed form of config: the cached one when the same
// bytes were parsed before and the result is not Stale, otherwise a new
// parse, which it caches. Concurrent first calls for the same bytes may
// each parse; one result is kept.
func (c *ConfigCache[T]) Get(config []byte) T {
	key := sha256.Sum256(config)
	c.mu.Lock()
	v, ok := c.entries[key]
	c.mu.Unlock()
	if ok && !isStale(v) {
		return v
	}
	v = c.parse(config)

	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok {
		if len(c.order) >= c.size {
			delete(c.entries, c.order[0])
			c.order = c.order[1:]
		}
		c.order = append(c.order, key)
	}
	c.entries[key] = v
	return v
}

// Len returns how many configurations the cache holds.
func (c *ConfigCache[T]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func isStale(v any) bool {
	s, ok := v.(Stale)
	return ok && s.Stale()
}
