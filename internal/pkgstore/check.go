//go:build linux

package pkgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// giteaTmp is where Gitea's local storage stages an upload before it
// renames it into place (<root>/tmp unless [storage] TEMPORARY_PATH moves
// it): its files are uploads in flight, not blobs.
const giteaTmp = "tmp"

// maxErrorSamples bounds the error messages kept per check.
const maxErrorSamples = 5

type checker struct {
	ctx          context.Context
	idx          *Index
	opts         Options
	rootfd       int
	orphanBefore int64 // unix nanoseconds
	// state is per index file; workers write disjoint ranges (one leaf
	// directory's digests each), so no lock is needed.
	state []uint8

	mu      sync.Mutex
	res     Result
	details map[int]detail // index file -> what the walk saw (mismatch, not regular)
	samples []string
	// orphans are kept for Report only (40 bytes each) and reported at the
	// end, when re-listed versions may have claimed some of them.
	orphans []orphan
	claimed map[Digest]bool
}

type orphan struct {
	digest Digest
	size   int64
}

type detail struct {
	blobSize int64
	what     string
}

type fileDetail struct {
	i int
	d detail
}

// Check walks the store under root once and compares it with idx. It fails
// only when the root cannot be read, ctx ends (ErrAbandoned), or Confirm
// fails; problems inside the tree are counted in the Result.
func Check(ctx context.Context, root string, idx *Index, opts Options) (Result, error) {
	start := time.Now()
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	rootfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Result{}, fmt.Errorf("package store %s: %w", root, err)
	}
	defer unix.Close(rootfd)
	c := &checker{
		ctx: ctx, idx: idx, opts: opts, rootfd: rootfd,
		orphanBefore: idx.Listed.Add(-opts.Grace).UnixNano(),
		state:        make([]uint8, len(idx.Files)),
		details:      map[int]detail{},
	}
	var tops []topDir
	buf := make([]byte, 32<<10)
	err = readDir(rootfd, buf, func(e dirent) error {
		if string(e.name) == giteaTmp && (e.typ == unix.DT_DIR || e.typ == unix.DT_UNKNOWN) {
			return nil // Gitea's own upload staging directory
		}
		b, ok := parseHexByte(e.name)
		if !ok || (e.typ != unix.DT_DIR && e.typ != unix.DT_UNKNOWN) {
			c.foreign(string(e.name), whyForeign(ok, e.typ))
			return nil
		}
		tops = append(tops, topDir{name: string(e.name), b: b})
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("package store %s: %w", root, err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(opts.Concurrency, max(len(tops), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &worker{buf: make([]byte, 32<<10)}
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tops) || ctx.Err() != nil {
					return
				}
				c.top(w, tops[i])
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrAbandoned, err)
	}
	if err := c.finish(); err != nil {
		return Result{}, err
	}
	c.res.ErrorSamples = c.samples
	c.res.Start = start
	c.res.Duration = time.Since(start)
	return c.res, nil
}

type topDir struct {
	name string
	b    byte
}

type worker struct {
	buf   []byte
	blobs []diskBlob
	st    unix.Statx_t
}

// diskBlob is one blob-named entry of a leaf directory.
type diskBlob struct {
	digest Digest
	size   int64
	mtime  int64
	mode   uint16
	// referenced is set when an index file matches it.
	referenced bool
}

func whyForeign(nameOK bool, typ uint8) string {
	if !nameOK {
		return "not a directory of the layout (two hex digits)"
	}
	return direntTypeName(typ) + ", not a directory"
}

func (c *checker) foreign(path, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.Foreign++
	if c.opts.Report != nil {
		c.opts.Report(Problem{Kind: Foreign, Path: path, Detail: why})
	}
}

func (c *checker) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.Errors++
	if len(c.samples) < maxErrorSamples {
		c.samples = append(c.samples, err.Error())
	}
}

// span returns the range of index files whose digest starts with prefix.
func (c *checker) span(prefix ...byte) (int, int) {
	files := c.idx.Files
	lo := sort.Search(len(files), func(i int) bool { return bytes.Compare(files[i].Digest[:len(prefix)], prefix) >= 0 })
	hi := lo + sort.Search(len(files)-lo, func(i int) bool { return !bytes.Equal(files[lo+i].Digest[:len(prefix)], prefix) })
	return lo, hi
}

// unknown marks a range of index files whose blobs could not be looked at.
func (c *checker) unknown(lo, hi int) {
	for i := lo; i < hi; i++ {
		c.state[i] = stUnknown
	}
}

func (c *checker) top(w *worker, t topDir) {
	fd, err := openDirAt(c.rootfd, t.name)
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			c.foreign(t.name, "not a directory")
			return // its blobs are missing
		}
		c.fail(fmt.Errorf("open %s: %w", t.name, err))
		c.unknown(c.span(t.b))
		return
	}
	defer unix.Close(fd)
	var leaves []topDir
	err = readDir(fd, w.buf, func(e dirent) error {
		b, ok := parseHexByte(e.name)
		if !ok || (e.typ != unix.DT_DIR && e.typ != unix.DT_UNKNOWN) {
			c.foreign(t.name+"/"+string(e.name), whyForeign(ok, e.typ))
			return nil
		}
		leaves = append(leaves, topDir{name: string(e.name), b: b})
		return nil
	})
	if err != nil {
		c.fail(fmt.Errorf("read %s: %w", t.name, err))
		c.unknown(c.span(t.b))
		return
	}
	for _, l := range leaves {
		if c.ctx.Err() != nil {
			return
		}
		c.leaf(w, fd, t, l)
	}
}

func (c *checker) leaf(w *worker, topfd int, t, l topDir) {
	dir := t.name + "/" + l.name
	lo, hi := c.span(t.b, l.b)
	fd, err := openDirAt(topfd, l.name)
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			c.foreign(dir, "not a directory")
			return
		}
		c.fail(fmt.Errorf("open %s: %w", dir, err))
		c.unknown(lo, hi)
		return
	}
	defer unix.Close(fd)
	w.blobs = w.blobs[:0]
	err = readDir(fd, w.buf, func(e dirent) error {
		d, ok := parseHexName(e.name)
		if !ok || d[0] != t.b || d[1] != l.b {
			c.foreign(dir+"/"+string(e.name), "not a blob of this directory (its name must be the sha256 of its content, starting with "+t.name+l.name+")")
			return nil
		}
		if err := statxAt(fd, e.cstr, &w.st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil // deleted since listed (Gitea's cleanup)
			}
			c.fail(fmt.Errorf("stat %s/%s: %w", dir, e.name, err))
			return nil
		}
		w.blobs = append(w.blobs, diskBlob{digest: d, size: int64(w.st.Size), mtime: w.st.Mtime.Sec*1e9 + int64(w.st.Mtime.Nsec), mode: w.st.Mode})
		return nil
	})
	if err != nil {
		c.fail(fmt.Errorf("read %s: %w", dir, err))
		c.unknown(lo, hi)
		return
	}
	slices.SortFunc(w.blobs, func(a, b diskBlob) int { return bytes.Compare(a.digest[:], b.digest[:]) })
	c.merge(w.blobs, lo, hi)
}

// merge compares one leaf directory's blobs (sorted) with the index files
// of the same prefix (sorted). Several files may share a blob.
func (c *checker) merge(blobs []diskBlob, lo, hi int) {
	files := c.idx.Files
	var local Result
	var dets []fileDetail
	j := 0
	for i := lo; i < hi; i++ {
		f := &files[i]
		for j < len(blobs) && bytes.Compare(blobs[j].digest[:], f.Digest[:]) < 0 {
			j++
		}
		if j == len(blobs) || blobs[j].digest != f.Digest {
			c.state[i] = stNotFound
			continue
		}
		b := &blobs[j]
		b.referenced = true
		switch {
		case b.mode&unix.S_IFMT != unix.S_IFREG:
			c.state[i] = stNotRegular
			dets = append(dets, fileDetail{i, detail{what: typeName(b.mode) + ", not a regular file"}})
		case b.size != f.Size:
			c.state[i] = stMismatch
			dets = append(dets, fileDetail{i, detail{blobSize: b.size}})
		default:
			c.state[i] = stOK
		}
	}
	var reports []Problem
	var orphans []orphan
	for k := range blobs {
		b := &blobs[k]
		regular := b.mode&unix.S_IFMT == unix.S_IFREG
		if regular {
			local.Blobs++
			local.BlobBytes += uint64(b.size)
		}
		if b.referenced {
			continue
		}
		switch {
		case !regular:
			local.Foreign++
			if c.opts.Report != nil {
				reports = append(reports, Problem{Kind: Foreign, Digest: b.digest, Path: b.digest.RelPath(), Detail: typeName(b.mode) + " named like a blob"})
			}
		case b.mtime < c.orphanBefore:
			local.Orphaned++
			local.OrphanedBytes += uint64(b.size)
			if c.opts.Report != nil {
				orphans = append(orphans, orphan{b.digest, b.size})
			}
		default:
			local.Recent++
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.Blobs += local.Blobs
	c.res.BlobBytes += local.BlobBytes
	c.res.Orphaned += local.Orphaned
	c.res.OrphanedBytes += local.OrphanedBytes
	c.res.Recent += local.Recent
	c.res.Foreign += local.Foreign
	for _, d := range dets {
		c.details[d.i] = d.d
	}
	for _, p := range reports {
		c.opts.Report(p)
	}
	c.orphans = append(c.orphans, orphans...)
}

// finish turns the per-file states into counts and problems, re-listing
// the versions with problems first (Options.Confirm).
func (c *checker) finish() error {
	idx := c.idx
	type group struct{ owner, typ string }
	groupOf := make([]int, len(idx.Versions))
	groups := map[group]int{}
	var counts []GroupCounts
	for vi, v := range idx.Versions {
		g := group{v.Owner, v.Type}
		gi, ok := groups[g]
		if !ok {
			gi = len(counts)
			groups[g] = gi
			counts = append(counts, GroupCounts{Owner: v.Owner, Type: v.Type})
		}
		groupOf[vi] = gi
	}
	// Problems by version, in index order of the versions.
	byVersion := map[int32][]int{}
	perVersion := make([]int, len(idx.Versions))
	for i, st := range c.state {
		f := idx.Files[i]
		if st == stUnknown {
			continue
		}
		counts[groupOf[f.Version]].Files++
		perVersion[f.Version]++
		if st != stOK {
			byVersion[f.Version] = append(byVersion[f.Version], i)
		}
	}
	versions := make([]int32, 0, len(byVersion))
	for v := range byVersion {
		versions = append(versions, v)
	}
	slices.Sort(versions)
	var problems []Problem
	for n, vi := range versions {
		v := &idx.Versions[vi]
		g := &counts[groupOf[vi]]
		if c.opts.Confirm != nil && (c.opts.MaxConfirm <= 0 || n < c.opts.MaxConfirm) {
			ps, listed, err := c.confirm(v)
			if err != nil {
				return err
			}
			c.res.Relisted++
			g.Files += listed - perVersion[vi]
			for _, p := range ps {
				g.count(p.Kind)
			}
			problems = append(problems, ps...)
			continue
		}
		for _, i := range byVersion[vi] {
			f := idx.Files[i]
			p := Problem{Kind: Missing, Version: v, Digest: f.Digest, Size: f.Size, Path: f.Digest.RelPath()}
			if c.opts.Confirm != nil {
				p.Detail = fmt.Sprintf("not re-listed (more than %d versions with problems)", c.opts.MaxConfirm)
			}
			switch c.state[i] {
			case stMismatch:
				p.Kind, p.BlobSize = SizeMismatch, c.details[i].blobSize
			case stNotRegular:
				p.Detail = joinDetail(c.details[i].what, p.Detail)
			}
			g.count(p.Kind)
			problems = append(problems, p)
		}
	}
	sort.Slice(counts, func(i, j int) bool {
		if counts[i].Owner != counts[j].Owner {
			return counts[i].Owner < counts[j].Owner
		}
		return counts[i].Type < counts[j].Type
	})
	c.res.Groups = counts
	for _, g := range counts {
		c.res.Files += g.Files
	}
	if c.opts.Report != nil {
		for _, p := range problems {
			c.opts.Report(p)
		}
		slices.SortFunc(c.orphans, func(a, b orphan) int { return bytes.Compare(a.digest[:], b.digest[:]) })
		for _, o := range c.orphans {
			if !c.claimed[o.digest] {
				c.opts.Report(Problem{Kind: Orphaned, Digest: o.digest, Size: o.size, Path: o.digest.RelPath()})
			}
		}
	}
	return nil
}

func joinDetail(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "; " + b
}

func (g *GroupCounts) count(k Kind) {
	switch k {
	case Missing:
		g.Missing++
	case SizeMismatch:
		g.SizeMismatch++
	}
}

// confirm re-lists v and looks up each of its files' blobs again. It
// returns the problems found and the number of files listed; a version
// deleted since has none.
func (c *checker) confirm(v *Version) ([]Problem, int, error) {
	files, err := c.opts.Confirm(c.ctx, *v)
	if errors.Is(err, ErrVersionGone) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("re-listing %s/%s/%s %s: %w", v.Owner, v.Type, v.Name, v.Version, err)
	}
	var out []Problem
	listed := 0
	for _, f := range files {
		p := Problem{Version: v, File: f.Name, Digest: f.Digest, Size: f.Size, Path: f.Digest.RelPath()}
		var st unix.Statx_t
		err := c.statBlob(f.Digest, &st)
		switch {
		case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP):
			p.Kind = Missing
		case err != nil:
			c.fail(fmt.Errorf("stat %s: %w", p.Path, err))
			continue
		case st.Mode&unix.S_IFMT != unix.S_IFREG:
			p.Kind, p.Detail = Missing, typeName(st.Mode)+", not a regular file"
		case int64(st.Size) != f.Size:
			p.Kind, p.BlobSize = SizeMismatch, int64(st.Size)
		default:
			c.claim(f.Digest, &st)
		}
		listed++
		if p.Kind != 0 {
			out = append(out, p)
		}
	}
	return out, listed, nil
}

// claim takes back a blob the walk counted as orphaned or recent: a file
// added to a re-listed version since the index was built references it.
func (c *checker) claim(d Digest, st *unix.Statx_t) {
	files := c.idx.Files
	i := sort.Search(len(files), func(i int) bool { return bytes.Compare(files[i].Digest[:], d[:]) >= 0 })
	if (i < len(files) && files[i].Digest == d) || c.claimed[d] {
		return // referenced by the index: not counted as unreferenced
	}
	if c.claimed == nil {
		c.claimed = map[Digest]bool{}
	}
	c.claimed[d] = true
	if st.Mtime.Sec*1e9+int64(st.Mtime.Nsec) < c.orphanBefore {
		c.res.Orphaned--
		c.res.OrphanedBytes -= st.Size
	} else {
		c.res.Recent--
	}
}

// statBlob stats one blob by its path, never through a symlink.
func (c *checker) statBlob(d Digest, st *unix.Statx_t) error {
	h := d.String()
	top, err := openDirAt(c.rootfd, h[0:2])
	if err != nil {
		return err
	}
	defer unix.Close(top)
	leaf, err := openDirAt(top, h[2:4])
	if err != nil {
		return err
	}
	defer unix.Close(leaf)
	name := append([]byte(h), 0)
	return statxAt(leaf, &name[0], st)
}
