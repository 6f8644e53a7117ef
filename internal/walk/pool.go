//go:build linux

package walk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// item is a directory waiting to be read. st is its statx result, taken by
// the parent's listing (or by an lstat when the parent came from the cache).
type item struct {
	path string
	st   dirStat
	root bool
}

// dirStat is what the walker needs of a directory's own inode.
type dirStat struct {
	key    dirKey
	size   uint64
	blocks uint64
	ok     bool
}

type devIno struct{ dev, ino uint64 }

// walker is the state of one scan: a LIFO work stack shared by a fixed pool
// of workers. Depth-first order keeps the stack short (about depth × fan-out
// paths), so memory does not grow with the number of files.
type walker struct {
	ctx         context.Context
	cache       *cache
	useCache    bool
	gen         uint64
	trustBefore int64
	reused      atomic.Uint64
	sawHardlink atomic.Bool

	mu      sync.Mutex
	cond    *sync.Cond
	stack   []item
	pending int // items on the stack plus items being processed
	stopped bool
	total   Totals
	samples []string

	hlMu      sync.Mutex
	hardlinks map[devIno]struct{}

	beforeDir, afterList func(path string)
}

// run scans from root with n workers and returns the totals.
func (w *walker) run(root string, st *unix.Statx_t, n int) (Totals, error) {
	w.cond = sync.NewCond(&w.mu)
	w.stack = []item{{path: root, st: toDirStat(st), root: true}}
	w.pending = 1
	stop := context.AfterFunc(w.ctx, func() {
		w.mu.Lock()
		w.stopped = true
		w.cond.Broadcast()
		w.mu.Unlock()
	})
	defer stop()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.worker()
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	// A worker stuck in the kernel (a hung network filesystem) must not hang
	// the scan past its deadline: stop waiting and report it abandoned.
	select {
	case <-done:
	case <-w.ctx.Done():
	}
	if err := w.ctx.Err(); err != nil {
		return Totals{}, fmt.Errorf("%w: %w", ErrAbandoned, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.total, nil
}

func (w *walker) worker() {
	buf := make([]byte, 64<<10)
	var local Totals
	var samples []string
	var children []item
	var names strings.Builder
	for {
		w.mu.Lock()
		for len(w.stack) == 0 && w.pending > 0 && !w.stopped {
			w.cond.Wait()
		}
		if len(w.stack) == 0 || w.stopped {
			w.total.add(local)
			for _, s := range samples {
				if len(w.samples) < maxErrorSamples {
					w.samples = append(w.samples, s)
				}
			}
			w.mu.Unlock()
			return
		}
		it := w.stack[len(w.stack)-1]
		w.stack[len(w.stack)-1] = item{}
		w.stack = w.stack[:len(w.stack)-1]
		w.mu.Unlock()

		children = children[:0]
		errs := w.process(&it, buf, &local, &children, &names)
		for _, e := range errs {
			if len(samples) < maxErrorSamples {
				samples = append(samples, e.Error())
			}
		}

		w.mu.Lock()
		w.stack = append(w.stack, children...)
		w.pending += len(children) - 1
		if len(children) > 0 || w.pending == 0 {
			w.cond.Broadcast()
		}
		w.mu.Unlock()
		clear(children)
	}
}

// process reads one directory: it counts the directory itself and its
// non-directory entries into t, and appends its subdirectories to children.
// It returns the errors met (each also counted in t.Errors).
func (w *walker) process(it *item, buf []byte, t *Totals, children *[]item, names *strings.Builder) []error {
	var errs []error
	fail := func(err error) {
		t.Errors++
		errs = append(errs, err)
	}
	if w.beforeDir != nil {
		w.beforeDir(it.path)
	}
	if !it.st.ok {
		var st unix.Statx_t
		if err := statx(unix.AT_FDCWD, it.path, unix.AT_SYMLINK_NOFOLLOW, &st); err != nil {
			fail(fmt.Errorf("stat %s: %w", it.path, err))
			return errs
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			// Replaced by something else since its parent was listed: count
			// it as what it is now.
			w.countNonDir(&st, t)
			return errs
		}
		it.st = toDirStat(&st)
	}
	t.Dirs++
	t.Bytes += it.st.size
	t.Allocated += it.st.blocks * 512

	if w.useCache {
		if own, kids, ok := w.cache.get(it.path, it.st.key, w.gen); ok {
			w.reused.Add(1)
			t.Bytes += own.Bytes
			t.Allocated += own.Allocated
			t.Files += own.Files
			t.Others += own.Others
			if kids != "" {
				w.statChildren(it, kids, t, children, fail)
			}
			return errs
		}
	}

	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC | unix.O_NONBLOCK
	if !it.root {
		// Never follow a symlink that replaced a directory since it was listed.
		flags |= unix.O_NOFOLLOW
	}
	fd, err := openDir(it.path, flags)
	if err != nil {
		fail(fmt.Errorf("open %s: %w", it.path, err))
		return errs
	}
	defer unix.Close(fd)

	var own Totals
	cacheable := w.cache != nil
	if cacheable {
		names.Reset()
	}
	var st unix.Statx_t
	for {
		if w.ctx.Err() != nil {
			return errs
		}
		n, err := unix.Getdents(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			fail(fmt.Errorf("read %s: %w", it.path, err))
			cacheable = false
			break
		}
		if n <= 0 {
			break
		}
		if w.afterList != nil {
			w.afterList(it.path)
		}
		for off := 0; off < n; {
			reclen := int(binary.NativeEndian.Uint16(buf[off+16:]))
			ino := binary.NativeEndian.Uint64(buf[off:])
			name := buf[off+19 : off+reclen]
			off += reclen
			if ino == 0 || isDots(name) {
				continue
			}
			if err := statxAt(fd, &name[0], unix.AT_SYMLINK_NOFOLLOW, &st); err != nil {
				// Typically ENOENT: it vanished between listing and stat.
				fail(fmt.Errorf("stat %s/%s: %w", it.path, cString(name), err))
				cacheable = false
				continue
			}
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				nm := cString(name)
				*children = append(*children, item{path: it.path + "/" + nm, st: toDirStat(&st)})
				if cacheable {
					names.WriteString(nm)
					names.WriteByte(0)
				}
				continue
			}
			if st.Nlink > 1 {
				// Hard links are counted once per scan, which a cached
				// total could not do: such a directory is always read.
				cacheable = false
			}
			w.countNonDir(&st, &own)
		}
	}
	t.Bytes += own.Bytes
	t.Allocated += own.Allocated
	t.Files += own.Files
	t.Others += own.Others
	if cacheable && it.st.key.mtime < w.trustBefore && it.st.key.ctime < w.trustBefore {
		w.cache.put(it.path, &entry{key: it.st.key, own: own, children: names.String(), gen: w.gen})
	}
	return errs
}

// countNonDir adds a non-directory entry to t; a hard-linked inode adds its
// bytes only the first time it is seen in this scan, as du does.
func (w *walker) countNonDir(st *unix.Statx_t, t *Totals) {
	if st.Mode&unix.S_IFMT == unix.S_IFREG {
		t.Files++
	} else {
		t.Others++
	}
	if st.Nlink > 1 {
		w.sawHardlink.Store(true)
		k := devIno{unix.Mkdev(st.Dev_major, st.Dev_minor), st.Ino}
		w.hlMu.Lock()
		_, seen := w.hardlinks[k]
		if !seen && len(w.hardlinks) < maxHardlinks {
			w.hardlinks[k] = struct{}{}
		}
		w.hlMu.Unlock()
		if seen {
			return
		}
	}
	t.Bytes += st.Size
	t.Allocated += st.Blocks * 512
}

func toDirStat(st *unix.Statx_t) dirStat {
	return dirStat{
		key: dirKey{
			dev:   unix.Mkdev(st.Dev_major, st.Dev_minor),
			ino:   st.Ino,
			mtime: st.Mtime.Sec*1e9 + int64(st.Mtime.Nsec),
			ctime: st.Ctime.Sec*1e9 + int64(st.Ctime.Nsec),
		},
		size:   st.Size,
		blocks: st.Blocks,
		ok:     true,
	}
}

// isDots reports whether a NUL-terminated dirent name is "." or "..".
func isDots(name []byte) bool {
	return name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))
}

// cString returns the NUL-terminated name as a string.
func cString(name []byte) string {
	for i, c := range name {
		if c == 0 {
			return string(name[:i])
		}
	}
	return string(name)
}

// statChildren stats the subdirectories of a directory reused from the cache,
// relative to an O_PATH handle on it: one cheap single-name lookup each
// instead of a walk of the whole path, and the child then needs no syscall
// at all when it is unchanged too.
func (w *walker) statChildren(it *item, kids string, t *Totals, children *[]item, fail func(error)) {
	flags := unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC
	if !it.root {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := openDir(it.path, flags)
	if err != nil {
		fail(fmt.Errorf("open %s: %w", it.path, err))
		return
	}
	defer unix.Close(fd)
	var name []byte
	var st unix.Statx_t
	for kid := range strings.SplitSeq(kids, "\x00") {
		if kid == "" {
			continue
		}
		name = append(append(name[:0], kid...), 0)
		if err := statxAt(fd, &name[0], unix.AT_SYMLINK_NOFOLLOW, &st); err != nil {
			fail(fmt.Errorf("stat %s/%s: %w", it.path, kid, err))
			continue
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			w.countNonDir(&st, t)
			continue
		}
		*children = append(*children, item{path: it.path + "/" + kid, st: toDirStat(&st)})
	}
}
