// Package walk measures a directory tree the way du and find do, fast and
// with bounded memory: a pool of workers reads directories with raw
// getdents64 and stats every entry with statx(AT_SYMLINK_NOFOLLOW) relative to
// the open directory, so there is no per-entry path building, no per-entry
// allocation and no per-file state.
//
// Totals match `du -sb --apparent-size` (Bytes), `du -sB1` (Allocated),
// `find -type f | wc -l` (Files) and `find -type d | wc -l` (Dirs): every
// entry counts once per inode (hard links once, as du does), symlinks are
// measured but never followed, and the root directory itself is included.
//
// A Scanner can rescan incrementally: it remembers, per directory, the
// totals of its non-directory entries and the names of its subdirectories,
// keyed by the directory's (device, inode, mtime, ctime). Adding, removing or
// renaming an entry changes the directory's mtime, so an unchanged directory
// need not be read again; only its subdirectories are visited (one lstat
// each). This is right for trees whose files are never rewritten in place,
// such as Gitea's content-addressed package blobs; a periodic full scan
// (Options.FullScanInterval) bounds the staleness for anything else.
package walk

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"
)

// Totals are the measurements of a tree.
type Totals struct {
	// Bytes is the apparent size (st_size) of every entry, as du -sb --apparent-size.
	Bytes uint64
	// Allocated is st_blocks × 512 of every entry, as du -sB1.
	Allocated uint64
	// Files counts regular files, as find -type f (every hard link counts).
	Files uint64
	// Dirs counts directories including the root, as find -type d.
	Dirs uint64
	// Others counts symlinks, FIFOs, sockets and device nodes.
	Others uint64
	// Errors counts entries that could not be read: a directory that could
	// not be opened or read, an entry that vanished between listing and stat.
	Errors uint64
}

func (t *Totals) add(o Totals) {
	t.Bytes += o.Bytes
	t.Allocated += o.Allocated
	t.Files += o.Files
	t.Dirs += o.Dirs
	t.Others += o.Others
	t.Errors += o.Errors
}

// Result is one completed scan.
type Result struct {
	Totals
	// Start is when the scan started, Duration how long it took.
	Start    time.Time
	Duration time.Duration
	// Full is true when no cached directory was reused (a first scan, a
	// periodic full scan, or incremental scanning switched off).
	Full bool
	// ReusedDirs counts directories whose entries came from the cache.
	ReusedDirs uint64
	// CacheEntries is the size of the per-directory cache after the scan.
	CacheEntries int
	// ErrorSamples holds the first few error messages, for the log.
	ErrorSamples []string
}

// Options tune a Scanner.
type Options struct {
	// Concurrency is the number of directories read at once; 0 means
	// DefaultConcurrency().
	Concurrency int
	// Incremental enables reusing unchanged directories between scans.
	Incremental bool
	// MaxCacheEntries bounds the per-directory cache (about 200 bytes per
	// directory plus its subdirectory names); directories beyond it are read
	// on every scan. 0 means DefaultMaxCacheEntries.
	MaxCacheEntries int
	// FullScanInterval forces a scan without the cache when the last full
	// scan is older than this; 0 means never (only the first scan is full).
	FullScanInterval time.Duration

	// granularity overrides mtimeGranularity (tests only).
	granularity time.Duration
	// beforeDir and afterList are called before a directory is read and
	// between listing it and statting its entries (tests only: they make
	// entries vanish or hang at a precise point on a real filesystem).
	beforeDir func(path string)
	afterList func(path string)
}

// DefaultMaxCacheEntries bounds the cache at roughly 50 MiB.
const DefaultMaxCacheEntries = 250_000

// mtimeGranularity is how close to a scan's start a directory may have been
// modified before its cache entry is distrusted. Filesystem timestamps come
// from a coarse clock (and some filesystems keep whole seconds), so a change
// made right after we listed a directory can leave its mtime unchanged; a
// directory modified within this window is read again on the next scan.
const mtimeGranularity = time.Second

// maxErrorSamples bounds the error messages kept per scan.
const maxErrorSamples = 5

// maxHardlinks bounds the set of multiply-linked inodes remembered to count
// each once; beyond it further links are counted again (as du -l would).
const maxHardlinks = 1 << 20

// DefaultConcurrency sizes the worker pool for the machine: directory reads
// block in the kernel (on a cold cache, on disk), so a few more workers
// than CPUs keep the CPUs busy without flooding the device.
func DefaultConcurrency() int {
	n := 2 * runtime.GOMAXPROCS(0)
	return max(4, min(n, 32))
}

// ErrAbandoned is returned when a scan is cancelled or runs out of time.
var ErrAbandoned = errors.New("scan abandoned")

// Scanner scans one tree, repeatedly; it keeps the cache between scans.
// Concurrent Scan calls are serialised (the sampler never overlaps runs).
type Scanner struct {
	root string
	opts Options

	scanMu   sync.Mutex
	cache    *cache
	lastFull time.Time
	// hardlinks is true when the last scan met a multiply-linked file.
	hardlinks bool
}

// New returns a Scanner for root. The root itself may be a symlink to a
// directory (it is followed, like du -D); nothing below it is followed.
func New(root string, opts Options) *Scanner {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency()
	}
	if opts.MaxCacheEntries <= 0 {
		opts.MaxCacheEntries = DefaultMaxCacheEntries
	}
	if opts.granularity <= 0 {
		opts.granularity = mtimeGranularity
	}
	s := &Scanner{root: root, opts: opts}
	if opts.Incremental {
		s.cache = newCache(opts.MaxCacheEntries)
	}
	return s
}

// Root returns the scanned path.
func (s *Scanner) Root() string { return s.root }

// Scan walks the tree once. It returns an error only when the scan as a
// whole failed (the root cannot be read, or ctx ended first: ErrAbandoned);
// problems below the root are counted in Totals.Errors and sampled in
// Result.ErrorSamples.
func (s *Scanner) Scan(ctx context.Context) (Result, error) {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	start := time.Now()
	// A tree with hard links is scanned in full: a cached directory may hold
	// a link to an inode that a re-read directory holds too, and only a scan
	// that stats both can count it once.
	full := s.cache == nil || s.cache.gen == 0 || s.hardlinks ||
		(s.opts.FullScanInterval > 0 && start.Sub(s.lastFull) >= s.opts.FullScanInterval)
	res, sawHardlinks, err := s.scan(ctx, start, full)
	if err == nil && !full && sawHardlinks {
		res, sawHardlinks, err = s.scan(ctx, start, true)
		full = true
	}
	if err != nil {
		return Result{}, err
	}
	s.hardlinks = sawHardlinks
	if full {
		s.lastFull = start
	}
	return res, nil
}

// ScanOnce is a one-off full scan of root (no cache).
func ScanOnce(ctx context.Context, root string, concurrency int) (Result, error) {
	return New(root, Options{Concurrency: concurrency}).Scan(ctx)
}
