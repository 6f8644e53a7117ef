package evidence

import (
	"os"
	"sync"
	"syscall"
)

// fileKey identifies one version of a file: a rewrite, a rename over it or
// a touch changes it.
type fileKey struct {
	dev, ino         uint64
	size             int64
	mtimeNs, ctimeNs int64
}

func keyOf(st os.FileInfo) fileKey {
	k := fileKey{size: st.Size(), mtimeNs: st.ModTime().UnixNano()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		k.dev, k.ino = uint64(sys.Dev), sys.Ino
		k.ctimeNs = ctimeNs(sys)
	}
	return k
}

type cacheEntry struct {
	key    fileKey
	origin string
	result *Result
}

// FileCache remembers the results of record files by path and file
// version. Results are immutable once cached.
type FileCache struct {
	mu      sync.Mutex
	entries map[string]cacheEntry
	seen    map[string]bool
}

// NewFileCache returns an empty cache.
func NewFileCache() *FileCache { return &FileCache{entries: map[string]cacheEntry{}} }

func (c *FileCache) begin() {
	c.mu.Lock()
	c.seen = map[string]bool{}
	c.mu.Unlock()
}

// prune drops the entries of files not seen since begin (deleted records).
func (c *FileCache) prune() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p := range c.entries {
		if !c.seen[p] {
			delete(c.entries, p)
		}
	}
}

func (c *FileCache) get(path, origin string, key fileKey) *Result {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen != nil {
		c.seen[path] = true
	}
	e, ok := c.entries[path]
	if !ok || e.key != key || e.origin != origin {
		return nil
	}
	return e.result
}

func (c *FileCache) put(path, origin string, key fileKey, r *Result) {
	// A result that depends on the clock (a date in the future) is read
	// again next time.
	if c == nil || r.clockDependent {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[path] = cacheEntry{key: key, origin: origin, result: r}
}
