package walk

import "sync"

// dirKey identifies a directory's listing: adding, removing or renaming an
// entry changes mtime and ctime; replacing the directory changes the inode.
type dirKey struct {
	dev, ino     uint64
	mtime, ctime int64 // nanoseconds since the epoch
}

// entry is what a rescan reuses for an unchanged directory: the totals of its
// non-directory entries and the names of its subdirectories (NUL-separated,
// one string instead of a slice of them, to keep the cache small).
type entry struct {
	key      dirKey
	own      Totals
	children string
	gen      uint64 // the last scan that saw this directory
}

// cache maps directory paths to entries, bounded in size. Entries not seen
// by a completed scan are dropped at its end, so deleted directories do not
// linger.
type cache struct {
	mu  sync.Mutex
	m   map[string]*entry
	max int
	gen uint64 // the last completed scan; 0 before the first
}

func newCache(max int) *cache {
	return &cache{m: map[string]*entry{}, max: max}
}

// get returns the entry for path if its key still matches, and marks it seen
// by scan gen.
func (c *cache) get(path string, key dirKey, gen uint64) (Totals, string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[path]
	if !ok || e.key != key {
		return Totals{}, "", false
	}
	e.gen = gen
	return e.own, e.children, true
}

// put stores an entry unless the cache is full.
func (c *cache) put(path string, e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[path]; !ok && len(c.m) >= c.max {
		return
	}
	c.m[path] = e
}

// finish drops the entries that scan gen did not see and records gen as the
// last completed scan.
func (c *cache) finish(gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p, e := range c.m {
		if e.gen != gen {
			delete(c.m, p)
		}
	}
	c.gen = gen
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
