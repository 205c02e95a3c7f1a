package tiles

import (
	"container/list"
	"strings"
	"sync"
)

// Cache is an LRU of encoded tiles bounded by total bytes. Keys embed the
// versions of the layers a tile was made from, so a new version can never
// hit an old entry; DropLayer only frees memory early.
type Cache struct {
	mu       sync.Mutex
	maxBytes int64
	bytes    int64
	ll       *list.List
	items    map[string]*list.Element

	// OnEvict is told how many bytes each eviction freed (for metrics).
	OnEvict func(bytes int)
}

type cacheEntry struct {
	key    string
	layers []string
	tile   *Tile
}

// entryOverhead approximates the bookkeeping per entry (map slot, list
// element, key), so that millions of tiny empty tiles are bounded too.
const entryOverhead = 200

// NewCache returns a cache of at most maxBytes; 0 disables caching.
func NewCache(maxBytes int64) *Cache {
	return &Cache{maxBytes: maxBytes, ll: list.New(), items: map[string]*list.Element{}}
}

func (t *Tile) size(key string) int64 {
	return int64(len(t.Gzip)+len(t.Raw)+len(key)) + entryOverhead
}

// Get returns the tile for key.
func (c *Cache) Get(key string) (*Tile, bool) {
	if c == nil || c.maxBytes <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*cacheEntry).tile, true
	}
	return nil, false
}

// Add stores a tile made from layers; tiles bigger than the whole cache are not stored.
func (c *Cache) Add(key string, layers []string, t *Tile) {
	if c == nil || c.maxBytes <= 0 {
		return
	}
	size := t.size(key)
	if size > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.ll.MoveToFront(e)
		return
	}
	c.items[key] = c.ll.PushFront(&cacheEntry{key: key, layers: layers, tile: t})
	c.bytes += size
	for c.bytes > c.maxBytes {
		c.removeLocked(c.ll.Back(), true)
	}
}

func (c *Cache) removeLocked(e *list.Element, evicted bool) {
	ent := e.Value.(*cacheEntry)
	c.ll.Remove(e)
	delete(c.items, ent.key)
	size := ent.tile.size(ent.key)
	c.bytes -= size
	if evicted && c.OnEvict != nil {
		c.OnEvict(int(size))
	}
}

// DropLayer removes every tile that contains layer ("" drops everything).
func (c *Cache) DropLayer(layer string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.ll.Front(); e != nil; {
		next := e.Next()
		ent := e.Value.(*cacheEntry)
		if layer == "" || containsString(ent.layers, layer) {
			c.removeLocked(e, false)
		}
		e = next
	}
}

// Stats returns the entry count and bytes in use.
func (c *Cache) Stats() (entries int, bytes int64) {
	if c == nil {
		return 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len(), c.bytes
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
