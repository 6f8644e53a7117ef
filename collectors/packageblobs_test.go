package collectors

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/testenv/giteafake"
)

// putBlob stores content in a Gitea-shaped store and returns its digest.
func putBlob(t *testing.T, root, content string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(content))
	h := hex.EncodeToString(sum[:])
	p := filepath.Join(root, h[0:2], h[2:4], h)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestPackageBlobsAgainstAFakeRegistry: the collector's exposition for a
// store with a missing, a truncated and an orphaned blob, against a golden
// file produced by this test (-update); the re-listing that confirms a
// problem, and a Gitea that fails it.
func TestPackageBlobsAgainstAFakeRegistry(t *testing.T) {
	root := filepath.Join(t.TempDir(), "packages")
	ok := putBlob(t, root, "wheel")
	short := putBlob(t, root, "sdist")
	os.Truncate(filepath.Join(root, short[0:2], short[2:4], short), 2)
	orphan := putBlob(t, root, "orphan")
	old := time.Now().Add(-24 * time.Hour)
	os.Chtimes(filepath.Join(root, orphan[0:2], orphan[2:4], orphan), old, old)
	gone := strings.Repeat("0f", 32)

	f := giteafake.New(t, fakeToken)
	f.Packages["acme"] = []giteafake.Package{
		{ID: 1, Type: "pypi", Name: "lib", Version: "1.0", Sizes: []int64{5, 5}, SHA256: []string{ok, short}},
		{ID: 2, Type: "generic", Name: "tool", Version: "1", Sizes: []int64{5, 3}, SHA256: []string{ok, gone}},
	}
	f.Packages["bob"] = nil
	gcfg := fakeConfig(t, f.URL)
	gcfg.PackageOwners = []string{"acme", "bob"}
	cfg := &config.Config{Gitea: gcfg, Packages: config.Packages{BlobDir: root, CheckInterval: config.Duration(time.Hour),
		MaxCheckDuration: config.Duration(time.Minute), CheckConcurrency: 2}}
	e := startCollectors(t, cfg, "packageblobs")
	e.trigger("packageblobs")
	_, v := e.scrape()
	if v[`forge_exporter_collector_success{collector="packageblobs"}`] != 1 {
		t.Fatalf("collector failed:\n%s", e.logs.String())
	}
	// The first check ran at start, the second on the trigger; each
	// re-listed the version with a problem once to confirm it.
	if n := f.Count("/api/v1/packages/acme/pypi/lib/1.0/files"); n != 3 {
		t.Errorf("lib 1.0 listed %d times, want 3 (sweep, a confirmation per check)", n)
	}
	golden(t, asCollector{c: e.collector("packageblobs"), t: t}, "testdata/packageblobs/want.prom",
		"forge_package_blobs_missing", "forge_package_blobs_size_mismatch", "forge_package_blobs_checked_files",
		"forge_package_blobs_orphaned", "forge_package_blobs_orphaned_bytes", "forge_package_blobs_unreferenced_recent",
		"forge_package_blobs_foreign_entries", "forge_package_blobs_check_errors", "forge_package_blobs_stored",
		"forge_package_blobs_stored_bytes")

	// Gitea failing the confirmation: the check fails and the last result
	// stays (stale metadata must not page).
	f.Mu.Lock()
	f.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusBadGateway)
		return true
	}
	f.Mu.Unlock()
	e.trigger("packageblobs")
	_, v = e.scrape()
	if v[`forge_exporter_collector_success{collector="packageblobs"}`] != 0 || v[`forge_package_blobs_missing{owner="acme",type="generic"}`] != 1 {
		t.Errorf("while Gitea fails: %v", v)
	}
	if !strings.Contains(e.logs.String(), "re-listing acme/pypi/lib 1.0: GET /api/v1/packages/acme/pypi/lib/1.0/files: HTTP 502") {
		t.Errorf("the log does not name the failed re-listing:\n%s", e.logs.String())
	}
	e.assertNoSecret(fakeToken)
}

func TestPackageBlobsNeedsABlobDir(t *testing.T) {
	d := &Deps{Config: &config.Config{Gitea: config.Gitea{URL: "http://x"}}, Logger: quietLogger(), shared: map[string]any{}}
	if _, err := newPackageBlobsCollector(d); err != errNoBlobDir {
		t.Errorf("err = %v", err)
	}
}
