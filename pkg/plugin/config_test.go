package plugin_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/assayproj/assay/pkg/plugin"
)

// parsed is a parsed configuration that counts its parses and can be
// marked stale.
type parsed struct {
	raw   string
	n     int64
	stale atomic.Bool
}

func (p *parsed) Stale() bool { return p.stale.Load() }

var _ plugin.Stale = (*parsed)(nil)

func counting() (func([]byte) *parsed, *atomic.Int64) {
	var n atomic.Int64
	return func(raw []byte) *parsed { return &parsed{raw: string(raw), n: n.Add(1)} }, &n
}

func TestConfigCacheParsesEachDistinctConfigOnce(t *testing.T) {
	parse, n := counting()
	c := plugin.NewConfigCache(0, parse)
	a1 := c.Get([]byte(`{"a":1}`))
	a2 := c.Get([]byte(`{"a":1}`))
	b := c.Get([]byte(`{"b":2}`))
	if a1 != a2 {
		t.Error("the same bytes gave two parses")
	}
	if a1 == b || b.raw != `{"b":2}` {
		t.Errorf("different bytes shared a parse: %+v %+v", a1, b)
	}
	if got := n.Load(); got != 2 {
		t.Errorf("parsed %d times, want 2", got)
	}
	// Equal JSON in other bytes is another entry: the key is the bytes.
	if c.Get([]byte(`{ "a": 1 }`)) == a1 {
		t.Error("bytes that differ shared an entry")
	}
}

func TestConfigCacheDropsTheOldestEntryWhenFull(t *testing.T) {
	parse, n := counting()
	c := plugin.NewConfigCache(2, parse)
	first := c.Get([]byte("1"))
	c.Get([]byte("2"))
	c.Get([]byte("1")) // a hit does not reorder
	c.Get([]byte("3")) // drops "1", the oldest added
	if got := c.Len(); got != 2 {
		t.Fatalf("Len() = %d, want 2", got)
	}
	before := n.Load()
	if c.Get([]byte("2")); n.Load() != before {
		t.Error(`"2" was dropped instead of "1"`)
	}
	if again := c.Get([]byte("1")); again == first || n.Load() != before+1 {
		t.Error(`"1" was kept although it was the oldest`)
	}
}

func TestConfigCacheDefaultSize(t *testing.T) {
	parse, _ := counting()
	c := plugin.NewConfigCache(-1, parse)
	for i := range plugin.DefaultConfigCacheSize + 5 {
		c.Get(fmt.Appendf(nil, "%d", i))
	}
	if got := c.Len(); got != plugin.DefaultConfigCacheSize {
		t.Errorf("Len() = %d, want the default %d", got, plugin.DefaultConfigCacheSize)
	}
}

func TestConfigCacheParsesAStaleEntryAgain(t *testing.T) {
	parse, n := counting()
	c := plugin.NewConfigCache(0, parse)
	old := c.Get([]byte("{}"))
	old.stale.Store(true) // a file it read changed
	fresh := c.Get([]byte("{}"))
	if fresh == old || n.Load() != 2 {
		t.Fatal("a stale entry was returned instead of a new parse")
	}
	if c.Get([]byte("{}")) != fresh || c.Len() != 1 {
		t.Error("the new parse did not replace the stale entry")
	}
}

func TestConfigCacheIsSafeForConcurrentUse(t *testing.T) {
	parse, _ := counting()
	c := plugin.NewConfigCache(4, parse)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				raw := fmt.Appendf(nil, "%d", (g+i)%7)
				if got := c.Get(raw); got.raw != string(raw) {
					t.Errorf("Get(%s) = %q", raw, got.raw)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := c.Len(); got > 4 {
		t.Errorf("Len() = %d, more than the size 4", got)
	}
}

func TestNewConfigCachePanicsWithoutAParser(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewConfigCache(0, nil) did not panic")
		}
	}()
	plugin.NewConfigCache[*parsed](0, nil)
}
