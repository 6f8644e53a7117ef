package walk

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

func (s *Scanner) scan(ctx context.Context, start time.Time, full bool) (Result, bool, error) {
	w := &walker{
		ctx:      ctx,
		cache:    s.cache,
		useCache: !full,
		// An entry is trusted on the next scan only if its directory had not
		// been modified within mtimeGranularity of this scan's start.
		trustBefore: start.Add(-s.opts.granularity).UnixNano(),
		hardlinks:   map[devIno]struct{}{},
		beforeDir:   s.opts.beforeDir,
		afterList:   s.opts.afterList,
	}
	if s.cache != nil {
		w.gen = s.cache.gen + 1
	}
	var rootSt unix.Statx_t
	if err := statx(unix.AT_FDCWD, s.root, 0, &rootSt); err != nil {
		return Result{}, false, fmt.Errorf("stat %s: %w", s.root, err)
	}
	if rootSt.Mode&unix.S_IFMT != unix.S_IFDIR {
		return Result{}, false, fmt.Errorf("%s is not a directory", s.root)
	}
	tot, err := w.run(s.root, &rootSt, s.opts.Concurrency)
	if err != nil {
		return Result{}, false, err
	}
	res := Result{Totals: tot, Start: start, Duration: time.Since(start), Full: full, ReusedDirs: w.reused.Load(), ErrorSamples: w.samples}
	if s.cache != nil {
		s.cache.finish(w.gen)
		res.CacheEntries = s.cache.len()
	}
	return res, w.sawHardlink.Load(), nil
}
