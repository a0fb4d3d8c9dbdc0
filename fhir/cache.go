package fhir

import (
	"container/list"
	"sync"
)

// binaryCache is a byte-bounded LRU of Binary contents. A Binary id always
// names the same bytes, so entries never go stale. Safe for concurrent use.
type binaryCache struct {
	max, maxEntry int64

	mu    sync.Mutex
	size  int64
	ll    *list.List
	items map[string]*list.Element
}

type cacheEntry struct {
	id string
	v  cachedBinary
}

func newBinaryCache(max, maxEntry int64) *binaryCache {
	if max < 0 {
		max = 0
	}
	if maxEntry > max {
		maxEntry = max
	}
	return &binaryCache{max: max, maxEntry: maxEntry, ll: list.New(), items: map[string]*list.Element{}}
}

// fits reports whether a Binary of size bytes may be cached.
func (c *binaryCache) fits(size int64) bool { return size > 0 && size <= c.maxEntry }

func (c *binaryCache) get(id string) (cachedBinary, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[id]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*cacheEntry).v, true
	}
	return cachedBinary{}, false
}

func (c *binaryCache) put(id string, v cachedBinary) {
	if !c.fits(int64(len(v.data))) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[id]; ok {
		return
	}
	c.items[id] = c.ll.PushFront(&cacheEntry{id: id, v: v})
	c.size += int64(len(v.data))
	for c.size > c.max {
		e := c.ll.Back()
		ent := e.Value.(*cacheEntry)
		c.ll.Remove(e)
		delete(c.items, ent.id)
		c.size -= int64(len(ent.v.data))
	}
}
