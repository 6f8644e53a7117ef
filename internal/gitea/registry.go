package gitea

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/railiance/forge-exporter/internal/pkgstore"
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
	// last is the version list of the last complete sweep (the package
	// blob check's metadata); ready is closed after the first.
	last      []PackageVersion
	ready     chan struct{}
	readyOnce sync.Once
}

type versionFiles struct {
	// missed counts consecutive sweeps that did not list the version.
	missed  int
	files   int
	bytes   int64
	checked time.Time
	// refs are the files' blobs, for the package blob check (48 bytes a
	// file; names are not kept).
	refs []fileRef
}

type fileRef struct {
	sha256 pkgstore.Digest
	size   int64
}

func newVersionFiles(files []PackageFile, now time.Time) versionFiles {
	vf := versionFiles{files: len(files), checked: now, refs: make([]fileRef, len(files))}
	for i, f := range files {
		vf.bytes += f.Size
		vf.refs[i] = fileRef{sha256: f.SHA256, size: f.Size}
	}
	return vf
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
	return &Registry{client: client, owners: opts.Owners, recheck: opts.Recheck, workers: opts.Workers, now: opts.Now,
		known: map[int64]versionFiles{}, ready: make(chan struct{})}
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
	r.last = versions
	r.readyOnce.Do(func() { close(r.ready) })
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
				files, err := r.client.PackageFiles(ctx, v)
				if errors.Is(err, ErrVersionNotFound) {
					continue // deleted since the version list: the next sweep forgets it
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					continue
				}
				vf := newVersionFiles(files, r.now())
				r.mu.Lock()
				r.known[v.ID] = vf
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

// Ready is closed when the first sweep has completed.
func (r *Registry) Ready() <-chan struct{} { return r.ready }

// Index returns the package files of the last complete sweep, for the
// package blob check; false before the first. Its Listed time is when the
// oldest of those file lists was read.
func (r *Registry) Index() (*pkgstore.Index, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.ready:
	default:
		return nil, false
	}
	listed := r.now()
	versions := make([]pkgstore.Version, 0, len(r.last))
	n := 0
	for _, v := range r.last {
		n += len(r.known[v.ID].refs)
	}
	files := make([]pkgstore.File, 0, n)
	for _, v := range r.last {
		k, ok := r.known[v.ID]
		if !ok {
			continue // deleted between its listing and its file listing
		}
		vi := int32(len(versions))
		versions = append(versions, pkgstore.Version{Owner: v.Owner, Type: v.Type, Name: v.Name, Version: v.Version, ID: v.ID})
		for _, f := range k.refs {
			files = append(files, pkgstore.File{Digest: f.sha256, Size: f.size, Version: vi})
		}
		if k.checked.Before(listed) {
			listed = k.checked
		}
	}
	return pkgstore.NewIndex(versions, files, listed), true
}

// Relist lists the files of one version again (the package blob check
// confirms a problem with it before reporting it) and remembers the answer.
// A version deleted since is pkgstore.ErrVersionGone.
func (r *Registry) Relist(ctx context.Context, v pkgstore.Version) ([]pkgstore.ConfirmedFile, error) {
	files, err := r.client.PackageFiles(ctx, PackageVersion{ID: v.ID, Owner: v.Owner, Type: v.Type, Name: v.Name, Version: v.Version})
	if errors.Is(err, ErrVersionNotFound) {
		return nil, pkgstore.ErrVersionGone
	}
	if err != nil {
		return nil, err
	}
	vf := newVersionFiles(files, r.now())
	r.mu.Lock()
	if _, ok := r.known[v.ID]; ok {
		r.known[v.ID] = vf
	}
	r.mu.Unlock()
	out := make([]pkgstore.ConfirmedFile, len(files))
	for i, f := range files {
		out[i] = pkgstore.ConfirmedFile{Name: f.Name, Digest: f.SHA256, Size: f.Size}
	}
	return out, nil
}
