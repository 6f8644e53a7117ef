package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/railiance/forge-exporter/internal/testenv/giteafake"
)

// TestPackagesVerify runs the CLI against a fake Gitea that echoes the
// Authorization header into a failing answer, and a store with a missing,
// a truncated and an orphaned blob: every problem is named, the exit
// status says what broke, and the token is printed nowhere.
func TestPackagesVerify(t *testing.T) {
	const token = "forge-verify-token-7c1d02e9aa"
	dir := t.TempDir()
	store := filepath.Join(dir, "packages")
	put := func(content string) string {
		sum := sha256.Sum256([]byte(content))
		h := hex.EncodeToString(sum[:])
		p := filepath.Join(store, h[0:2], h[2:4], h)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return h
	}
	ok, short, orphan := put("wheel"), put("sdist!"), put("orphan")
	os.Truncate(filepath.Join(store, short[0:2], short[2:4], short), 2)
	os.Chtimes(filepath.Join(store, orphan[0:2], orphan[2:4], orphan), ago(48), ago(48))
	gone := strings.Repeat("0f", 32)
	f := giteafake.New(t, token)
	f.Packages["acme"] = []giteafake.Package{
		{ID: 1, Type: "pypi", Name: "lib", Version: "1.0", Sizes: []int64{5, 6}, SHA256: []string{ok, short}, Names: []string{"lib-1.0-py3-none-any.whl", "lib-1.0.tar.gz"}},
		{ID: 2, Type: "generic", Name: "tool", Version: "1", Sizes: []int64{3}, SHA256: []string{gone}, Names: []string{"tool linux.bin"}},
	}
	os.WriteFile(filepath.Join(dir, "token"), []byte(token+"\n"), 0o600)
	cfgFile := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("gitea:\n  url: %s\n  token_file: token\n  package_owners: [acme]\npackages:\n  blob_dir: packages\n", f.URL)), 0o644)
	verify := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"packages", "verify", "--config.file=" + cfgFile}, args...), &stdout, &stderr)
		if strings.Contains(stdout.String()+stderr.String(), token) {
			t.Errorf("the token was printed:\n%s\n%s", stdout.String(), stderr.String())
		}
		return code, stdout.String(), stderr.String()
	}

	code, out, errOut := verify()
	for _, want := range []string{
		"missing owner=acme type=generic package=tool version=1 file=\"tool linux.bin\" blob=0f/0f/" + gone + " size=3\n",
		"size_mismatch owner=acme type=pypi package=lib version=1.0 file=lib-1.0.tar.gz blob=" + short[0:2] + "/" + short[2:4] + "/" + short + " listed_size=6 blob_size=2\n",
		"orphaned blob=" + orphan[0:2] + "/" + orphan[2:4] + "/" + orphan + " size=6\n",
		"checked 3 package files against 3 blobs",
		": 1 missing, 1 size mismatch, 1 orphaned (6 bytes)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code != 1 {
		t.Errorf("exit %d with a missing blob, want 1\n%s%s", code, out, errOut)
	}
	if code, out, _ := verify("--no-orphans"); code != 1 || strings.Contains(out, "orphaned blob=") {
		t.Errorf("--no-orphans: exit %d\n%s", code, out)
	}

	// Repaired (orphans alone do not fail): exit 0.
	f.Mu.Lock()
	f.Packages["acme"] = f.Packages["acme"][:1]
	f.Packages["acme"][0].Sizes = []int64{5, 2}
	f.Mu.Unlock()
	if code, out, errOut := verify(); code != 0 {
		t.Errorf("exit %d with only an orphan, want 0\n%s%s", code, out, errOut)
	}

	// Gitea failing with the token echoed back: exit 2, scrubbed.
	f.Mu.Lock()
	f.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/api/v1/packages") {
			w.WriteHeader(500)
			fmt.Fprintf(w, "proxy error for %s", r.Header.Get("Authorization"))
			return true
		}
		return false
	}
	f.Mu.Unlock()
	if code, _, errOut := verify(); code != 2 || !strings.Contains(errOut, "reading the package metadata") || !strings.Contains(errOut, "<redacted>") {
		t.Errorf("Gitea failing: exit %d\n%s", code, errOut)
	}

	// No store configured: exit 2 and say so.
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("gitea:\n  url: %s\n  token_file: token\n", f.URL)), 0o644)
	if code, _, errOut := verify(); code != 2 || !strings.Contains(errOut, "packages.blob_dir is not set") {
		t.Errorf("no blob_dir: exit %d\n%s", code, errOut)
	}
}

func ago(hours int) time.Time { return time.Now().Add(-time.Duration(hours) * time.Hour) }
