package gitea

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Registry sweeps package metadata incrementally. A package version is
// immutable once published, so the files of a version already seen are not
// listed again: a sweep lists the versions of each owner (a few paginated
// requests) and lists files only for versions it has not seen, or has not
// re-checked for Recheck (container tags can be re-pushed). Progress
// survives a failed or abandoned sweep, so a large first sweep that runs
// into the sampler's timeout continues where it stopped.
type Registry struct {
	client *Client
	// owners to sweep; empty discovers every user and organisation.
	owners []string
	// recheck re-lists a version's files after this long; 0 never.
	recheck time.Duration
	// workers lists files of this many versions at once (the rate limiter
	// still bounds the request rate).
	workers int
	now     func() time.Time

	mu    sync.Mutex
	known map[int64]versionFiles
}

type versionFiles struct {
	// missed counts consecutive sweeps that did not list the version.
	missed  int
	files   int
	bytes   int64
	checked time.Time
}

// RegistryOptions configure a Registry.
type RegistryOptions struct {
	// Owners limits the sweep to these users/organisations; empty discovers
	// them through the admin API.
	Owners []string
	// Recheck re-lists a version's files after this long; 0 never.
	Recheck time.Duration
	// Workers is the number of concurrent file listings (default 4).
	Workers int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// NewRegistry returns a registry sweep over client.
func NewRegistry(client *Client, opts RegistryOptions) *Registry {
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Registry{client: client, owners: opts.Owners, recheck: opts.Recheck, workers: opts.Workers, now: opts.Now, known: map[int64]versionFiles{}}
}

// PackageTotals are the package counts and file sizes of one owner and
// package type.
type PackageTotals struct {
	Owner    string
	Type     string
	Packages int
	Versions int
	Files    int
	Bytes    int64
}

// RegistrySample is the result of one registry sweep.
type RegistrySample struct {
	Totals []PackageTotals
	// Owners is the number of owners swept.
	Owners int
	// FileListings is how many versions had their files listed in this
	// sweep (new or re-checked versions).
	FileListings int
}

// Sweep lists the package versions of every owner and the files of the
// versions not seen before, and returns the totals.
func (r *Registry) Sweep(ctx context.Context) (RegistrySample, error) {
	owners := r.owners
	if len(owners) == 0 {
		var err error
		owners, err = r.client.Owners(ctx)
		if err != nil {
			return RegistrySample{}, fmt.Errorf("discovering package owners: %w", err)
		}
	}
	var versions []PackageVersion
	for _, o := range owners {
		vs, err := r.client.PackageVersions(ctx, o)
		if errors.Is(err, ErrOwnerNotFound) && len(r.owners) == 0 {
			continue // deleted between discovery and listing
		}
		if err != nil {
			return RegistrySample{}, err
		}
		versions = append(versions, vs...)
	}

	now := r.now()
	var todo []PackageVersion
	r.mu.Lock()
	for _, v := range versions {
		k, ok := r.known[v.ID]
		if !ok || (r.recheck > 0 && now.Sub(k.checked) >= r.recheck) {
			todo = append(todo, v)
		}
	}
	r.mu.Unlock()

	listed, err := r.listFiles(ctx, todo)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return RegistrySample{}, fmt.Errorf("listed the files of %d of %d new package versions before the sweep ran out of time; the next sweep continues from there (a first sweep of a large registry takes several): %w", listed, len(todo), err)
		}
		return RegistrySample{}, err
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	// Forget versions that are gone (deleted, or cleaned up by Gitea's
	// package cleanup rules), so the cache does not grow without bound. A
	// version missing from one sweep only is kept: offset paging skips an
	// item when the list shrinks between two pages, and forgetting it would
	// cost a file listing when it shows up again.
	seen := make(map[int64]bool, len(versions))
	for _, v := range versions {
		seen[v.ID] = true
	}
	for id, k := range r.known {
		switch {
		case seen[id]:
			k.missed = 0
		case k.missed >= 1:
			delete(r.known, id)
			continue
		default:
			k.missed++
		}
		r.known[id] = k
	}
	type key struct{ owner, typ string }
	totals := map[key]*PackageTotals{}
	packages := map[key]map[string]bool{}
	for _, v := range versions {
		k := key{v.Owner, v.Type}
		t := totals[k]
		if t == nil {
			t = &PackageTotals{Owner: v.Owner, Type: v.Type}
			totals[k] = t
			packages[k] = map[string]bool{}
		}
		packages[k][v.Name] = true
		t.Versions++
		f := r.known[v.ID]
		t.Files += f.files
		t.Bytes += f.bytes
	}
	out := RegistrySample{Owners: len(owners), FileListings: listed}
	for k, t := range totals {
		t.Packages = len(packages[k])
		out.Totals = append(out.Totals, *t)
	}
	sort.Slice(out.Totals, func(i, j int) bool {
		if out.Totals[i].Owner != out.Totals[j].Owner {
			return out.Totals[i].Owner < out.Totals[j].Owner
		}
		return out.Totals[i].Type < out.Totals[j].Type
	})
	return out, nil
}

// listFiles lists the files of todo with a few workers, recording each
// result as it arrives; the first error stops the rest.
func (r *Registry) listFiles(ctx context.Context, todo []PackageVersion) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan PackageVersion)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		mu       sync.Mutex
		listed   int
	)
	for range min(r.workers, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := range work {
				files, bytes, err := r.client.PackageFiles(ctx, v)
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					continue
				}
				r.mu.Lock()
				r.known[v.ID] = versionFiles{files: files, bytes: bytes, checked: r.now()}
				r.mu.Unlock()
				mu.Lock()
				listed++
				mu.Unlock()
			}
		}()
	}
feed:
	for _, v := range todo {
		select {
		case work <- v:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return listed, firstErr
	}
	return listed, ctx.Err()
}
