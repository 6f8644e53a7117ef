package gitea

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/railiance/forge-exporter/internal/pkgstore"
	"github.com/railiance/forge-exporter/internal/testenv/giteafake"
)

func totalsOf(s RegistrySample) map[string]PackageTotals {
	out := map[string]PackageTotals{}
	for _, t := range s.Totals {
		out[t.Owner+"/"+t.Type] = t
	}
	return out
}

func TestRegistrySweepIsIncremental(t *testing.T) {
	f := giteafake.New(t, testToken)
	f.MaxItems = 4
	f.Users = []string{"alice", "forgeadmin"}
	f.Orgs = []string{"acme"}
	f.Packages["alice"] = nil
	f.Packages["forgeadmin"] = []giteafake.Package{{ID: 1, Type: "generic", Name: "tool", Version: "1.0", Sizes: []int64{100, 23}}}
	var acme []giteafake.Package
	for i := range 9 {
		acme = append(acme, giteafake.Package{ID: int64(10 + i), Type: "pypi", Name: fmt.Sprintf("lib%d", i%3), Version: fmt.Sprintf("0.%d", i), Sizes: []int64{1000}})
	}
	f.Packages["acme"] = acme
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c, _, _ := newClient(t, f.URL, Options{})
	reg := NewRegistry(c, RegistryOptions{Recheck: 24 * time.Hour, Now: clock})
	filesPath := f.FileRequests

	s, err := reg.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := totalsOf(s)
	if g := got["forgeadmin/generic"]; g.Packages != 1 || g.Versions != 1 || g.Bytes != 123 || g.Files != 2 {
		t.Errorf("forgeadmin/generic = %+v", g)
	}
	if g := got["acme/pypi"]; g.Packages != 3 || g.Versions != 9 || g.Bytes != 9000 {
		t.Errorf("acme/pypi = %+v", g)
	}
	if len(got) != 2 || s.Owners != 3 || s.FileListings != 10 || filesPath() != 10 {
		t.Errorf("totals %v, owners %d, listings %d, file requests %d", got, s.Owners, s.FileListings, filesPath())
	}
	// acme's 9 versions in pages of 4: 3 requests.
	if n := f.Count("/api/v1/packages/acme"); n != 3 {
		t.Errorf("%d package list requests for acme, want 3", n)
	}

	// Nothing new: no file listing at all.
	s, err = reg.Sweep(context.Background())
	if err != nil || s.FileListings != 0 || filesPath() != 10 {
		t.Fatalf("second sweep: err %v, listings %d, file requests %d", err, s.FileListings, filesPath())
	}

	// One new version, one deleted: exactly one listing, totals follow.
	f.Mu.Lock()
	f.Packages["acme"] = append(f.Packages["acme"][1:], giteafake.Package{ID: 99, Type: "pypi", Name: "lib9", Version: "1.0", Sizes: []int64{5, 5}})
	f.Mu.Unlock()
	s, err = reg.Sweep(context.Background())
	if err != nil || s.FileListings != 1 || filesPath() != 11 {
		t.Fatalf("third sweep: err %v, listings %d, file requests %d", err, s.FileListings, filesPath())
	}
	if g := totalsOf(s)["acme/pypi"]; g.Packages != 4 || g.Versions != 9 || g.Bytes != 8010 {
		t.Errorf("acme/pypi after the change = %+v", g)
	}

	// After the recheck period every version is listed again.
	mu.Lock()
	now = now.Add(25 * time.Hour)
	mu.Unlock()
	s, err = reg.Sweep(context.Background())
	if err != nil || s.FileListings != 10 {
		t.Fatalf("sweep after recheck: err %v, listings %d", err, s.FileListings)
	}
}

func TestRegistryKeepsProgressOfAFailedSweep(t *testing.T) {
	f := giteafake.New(t, testToken)
	for i := range 20 {
		f.Packages["acme"] = append(f.Packages["acme"], giteafake.Package{ID: int64(i + 1), Type: "generic", Name: "p", Version: fmt.Sprint(i), Sizes: []int64{1}})
	}
	c, _, _ := newClient(t, f.URL, Options{})
	reg := NewRegistry(c, RegistryOptions{Owners: []string{"acme"}, Workers: 1})
	// The server fails after 5 file listings.
	var n int
	f.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if len(r.URL.Path) > 6 && r.URL.Path[len(r.URL.Path)-6:] == "/files" {
			n++
			if n > 5 {
				w.WriteHeader(503)
				return true
			}
		}
		return false
	}
	if _, err := reg.Sweep(context.Background()); err == nil {
		t.Fatal("sweep succeeded although the server failed")
	}
	f.Mu.Lock()
	f.Hook = nil
	f.Mu.Unlock()
	s, err := reg.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.FileListings != 15 {
		t.Errorf("second sweep listed %d versions, want the 15 the first did not finish", s.FileListings)
	}
	if g := totalsOf(s)["acme/generic"]; g.Versions != 20 || g.Bytes != 20 {
		t.Errorf("totals = %+v", g)
	}
}

func TestRegistryConfiguredOwnerMissing(t *testing.T) {
	f := giteafake.New(t, testToken)
	c, _, _ := newClient(t, f.URL, Options{})
	reg := NewRegistry(c, RegistryOptions{Owners: []string{"ghost"}})
	_, err := reg.Sweep(context.Background())
	if err == nil || !errors.Is(err, ErrOwnerNotFound) || !strings.Contains(err.Error(), "ghost") {
		t.Fatalf("err = %v, want owner not found naming ghost", err)
	}
}

func TestRegistrySweepOutOfTimeSaysHowFarItGot(t *testing.T) {
	f := giteafake.New(t, testToken)
	for i := range 10 {
		f.Packages["acme"] = append(f.Packages["acme"], giteafake.Package{ID: int64(i + 1), Type: "generic", Name: "p", Version: fmt.Sprint(i), Sizes: []int64{1}})
	}
	release := make(chan struct{})
	var n int
	f.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/files") {
			n++
			if n > 3 {
				<-release // the fourth listing hangs until the sweep gives up
			}
		}
		return false
	}
	defer close(release)
	c, _, _ := newClient(t, f.URL, Options{Timeout: time.Minute})
	reg := NewRegistry(c, RegistryOptions{Owners: []string{"acme"}, Workers: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := reg.Sweep(ctx)
	if err == nil || !strings.Contains(err.Error(), "listed the files of 3 of 10 new package versions") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestRegistryKeepsAVersionMissingFromOneSweep(t *testing.T) {
	f := giteafake.New(t, testToken)
	f.Packages["acme"] = []giteafake.Package{
		{ID: 1, Type: "generic", Name: "a", Version: "1", Sizes: []int64{10}},
		{ID: 2, Type: "generic", Name: "b", Version: "1", Sizes: []int64{20}},
	}
	c, _, _ := newClient(t, f.URL, Options{})
	reg := NewRegistry(c, RegistryOptions{Owners: []string{"acme"}})
	sweep := func() RegistrySample {
		t.Helper()
		s, err := reg.Sweep(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	sweep()
	// Version 2 is skipped by one sweep (as offset paging does when the
	// list shrinks between pages), then listed again: no new file listing.
	all := f.Packages["acme"]
	f.Mu.Lock()
	f.Packages["acme"] = all[:1]
	f.Mu.Unlock()
	if s := sweep(); totalsOf(s)["acme/generic"].Bytes != 10 {
		t.Errorf("totals while skipped = %+v", totalsOf(s)["acme/generic"])
	}
	f.Mu.Lock()
	f.Packages["acme"] = all
	f.Mu.Unlock()
	if s := sweep(); s.FileListings != 0 || totalsOf(s)["acme/generic"].Bytes != 30 {
		t.Errorf("after one missed sweep: %d listings, totals %+v; want 0 and 30 bytes", s.FileListings, totalsOf(s)["acme/generic"])
	}
	// Gone for two sweeps: forgotten, listed again if it ever returns.
	f.Mu.Lock()
	f.Packages["acme"] = all[:1]
	f.Mu.Unlock()
	sweep()
	sweep()
	f.Mu.Lock()
	f.Packages["acme"] = all
	f.Mu.Unlock()
	if s := sweep(); s.FileListings != 1 {
		t.Errorf("after two missed sweeps: %d listings, want 1", s.FileListings)
	}
}

// TestRegistryIndexForTheBlobCheck: the index holds every file's digest
// and size from the last complete sweep, a file listed twice counts once,
// a version deleted between the version list and its file listing does
// not fail the sweep, and Relist answers with names and says when a
// version is gone.
func TestRegistryIndexForTheBlobCheck(t *testing.T) {
	f := giteafake.New(t, testToken)
	shared := strings.Repeat("ab", 32)
	f.Packages["acme"] = []giteafake.Package{
		{ID: 1, Type: "pypi", Name: "lib", Version: "1.0", Sizes: []int64{10, 20}, SHA256: []string{shared}, Names: []string{"lib-1.0.tar.gz", "lib-1.0-py3-none-any.whl"}},
		{ID: 2, Type: "generic", Name: "tool", Version: "2", Sizes: []int64{10}, SHA256: []string{shared}},
		{ID: 3, Type: "generic", Name: "deleted", Version: "1", Sizes: []int64{1}},
	}
	f.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case strings.Contains(r.URL.Path, "/deleted/"):
			http.NotFound(w, r)
			return true
		case strings.HasSuffix(r.URL.Path, "/tool/2/files"):
			// The same file twice, as a buggy proxy or a join might list it.
			giteafake.WriteJSON(w, []map[string]any{
				{"id": 7, "size": 10, "name": "tool.bin", "sha256": shared},
				{"id": 7, "size": 10, "name": "tool.bin", "sha256": shared},
			})
			return true
		}
		return false
	}
	c, _, _ := newClient(t, f.URL, Options{})
	now := time.Unix(1_800_000_000, 0)
	reg := NewRegistry(c, RegistryOptions{Owners: []string{"acme"}, Now: func() time.Time { return now }})
	if _, ok := reg.Index(); ok {
		t.Fatal("an index before the first sweep")
	}
	if _, err := reg.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reg.Ready():
	default:
		t.Fatal("not ready after a complete sweep")
	}
	idx, ok := reg.Index()
	if !ok || len(idx.Versions) != 2 || len(idx.Files) != 3 || !idx.Listed.Equal(now) {
		t.Fatalf("index %+v", idx)
	}
	if idx.Files[1].Digest.String() != shared || idx.Files[2].Digest.String() != shared || idx.Files[0].Digest.String() >= shared {
		t.Errorf("files not sorted by digest: %+v", idx.Files)
	}
	files, err := reg.Relist(context.Background(), idx.Versions[0])
	if err != nil || len(files) != 2 || files[0].Name != "lib-1.0.tar.gz" || files[0].Digest.String() != shared || files[1].Size != 20 {
		t.Errorf("relist: %+v %v", files, err)
	}
	f.Mu.Lock()
	f.Packages["acme"] = f.Packages["acme"][1:]
	f.Mu.Unlock()
	if _, err := reg.Relist(context.Background(), idx.Versions[0]); !errors.Is(err, pkgstore.ErrVersionGone) {
		t.Errorf("relisting a deleted version: %v", err)
	}
	// A malformed digest is a malformed answer, never a silently skipped file.
	f.Mu.Lock()
	f.Packages["acme"] = []giteafake.Package{{ID: 9, Type: "npm", Name: "x", Version: "1", Sizes: []int64{1}, SHA256: []string{"nothex"}}}
	f.Mu.Unlock()
	if _, err := reg.Sweep(context.Background()); err == nil || !strings.Contains(err.Error(), `has no valid sha256 ("nothex")`) {
		t.Errorf("malformed sha256: %v", err)
	}
}
