package collectors

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/testenv/giteaenv"
)

// realPackages is a real Gitea with packages published by the ecosystems'
// own clients: a PyPI sdist and wheel (python3 -m build, twine), an npm
// package (npm publish) and a container image (go-containerregistry).
type realPackages struct {
	g                          *giteaenv.Gitea
	tok, tokFile               string
	wheel, sdist, npm, layer   giteaenv.PackageFile
	pypiFiles, npmFiles, image int
}

func publishRealPackages(t *testing.T) *realPackages {
	t.Helper()
	g := giteaenv.Start(t, giteaenv.Options{MaxResponseItems: 2})
	g.CreateOrg(t, "acme")
	p := &realPackages{g: g}
	p.tok = g.CreateToken(t, "exporter", "read:admin", "read:package")
	p.tokFile = g.WriteTokenFile(t, p.tok)
	names := g.PublishPyPI(t, "acme", "forge-probe", "1.0.0")
	npmName := g.PublishNPM(t, g.AdminUser, "forge-probe-js", "2.0.0")
	img := g.PushImage(t, "acme", "app", "v1", 2, 4096)
	for _, f := range g.Files(t, "acme", "pypi", "forge-probe", "1.0.0") {
		switch filepath.Ext(f.Name) {
		case ".whl":
			p.wheel = f
		case ".gz":
			p.sdist = f
		}
	}
	p.pypiFiles = 2
	for _, f := range g.Files(t, g.AdminUser, "npm", "forge-probe-js", "2.0.0") {
		if f.Name == npmName {
			p.npm = f
		}
		p.npmFiles++
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	ld, _ := layers[0].Digest()
	for _, f := range g.Files(t, "acme", "container", "app", "v1") {
		if f.SHA256 == ld.Hex {
			p.layer = f
		}
		p.image++
	}
	if p.wheel.Name == "" || p.sdist.Name == "" || p.npm.Name == "" || p.layer.Name == "" {
		t.Fatalf("published files not found through the API: %v %v %+v %+v", names, p, p.npm, p.layer)
	}
	return p
}

// TestRealPackageBlobs runs the package blob check against the real blob
// tree of a real Gitea, then injects faults into that tree: a deleted blob,
// an altered one, a stray one; and puts everything back.
func TestRealPackageBlobs(t *testing.T) {
	p := publishRealPackages(t)
	g := p.g
	cfg := &config.Config{
		Gitea: config.Gitea{
			URL: g.URL, TokenFile: p.tokFile, Timeout: config.Duration(10 * time.Second), RequestsPerSecond: 50,
			Interval: config.Duration(time.Hour), PackageFilesRecheck: config.Duration(24 * time.Hour),
		},
		Packages: config.Packages{BlobDir: g.PackageStore(), CheckInterval: config.Duration(time.Hour),
			MaxCheckDuration: config.Duration(time.Minute), CheckConcurrency: 2},
	}
	e := startCollectors(t, cfg, "registry", "packageblobs")
	check := func(want map[string]float64) {
		t.Helper()
		e.trigger("packageblobs")
		out, v := e.scrape()
		for series, w := range want {
			if got, ok := v[series]; !ok || got != w {
				t.Errorf("%s = %v (present %v), want %v", series, got, ok, w)
			}
		}
		if t.Failed() {
			t.Fatalf("exposition:\n%s\nlogs:\n%s", out, e.logs.String())
		}
	}
	admin := g.AdminUser
	clean := map[string]float64{
		`forge_exporter_collector_success{collector="packageblobs"}`:          1,
		`forge_package_blobs_missing{owner="acme",type="pypi"}`:               0,
		`forge_package_blobs_missing{owner="acme",type="container"}`:          0,
		`forge_package_blobs_missing{owner="` + admin + `",type="npm"}`:       0,
		`forge_package_blobs_size_mismatch{owner="acme",type="pypi"}`:         0,
		`forge_package_blobs_checked_files{owner="acme",type="pypi"}`:         float64(p.pypiFiles),
		`forge_package_blobs_checked_files{owner="` + admin + `",type="npm"}`: float64(p.npmFiles),
		`forge_package_blobs_checked_files{owner="acme",type="container"}`:    float64(p.image),
		`forge_package_blobs_orphaned`:                                        0,
		`forge_package_blobs_orphaned_bytes`:                                  0,
		`forge_package_blobs_foreign_entries`:                                 0,
		`forge_package_blobs_check_errors`:                                    0,
	}
	check(clean)
	_, v := e.scrape()
	if v[`forge_package_blobs_last_check_timestamp_seconds`] < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last check timestamp %v", v[`forge_package_blobs_last_check_timestamp_seconds`])
	}
	if v[`forge_package_blobs_stored`] < float64(p.pypiFiles+p.npmFiles+p.image) {
		t.Errorf("stored blobs %v", v[`forge_package_blobs_stored`])
	}

	// Fault injection on Gitea's own blob tree.
	npmBlob, wheelBlob := g.BlobPath(p.npm), g.BlobPath(p.wheel)
	npmContent, err := os.ReadFile(npmBlob)
	if err != nil {
		t.Fatal(err)
	}
	wheelContent, err := os.ReadFile(wheelBlob)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(npmBlob); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wheelBlob, append(append([]byte{}, wheelContent...), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	// A blob from a volume newer than the database: no file references it.
	stray := []byte("a blob whose package the restored database does not know")
	sum := sha256.Sum256(stray)
	h := hex.EncodeToString(sum[:])
	strayPath := filepath.Join(g.PackageStore(), h[0:2], h[2:4], h)
	os.MkdirAll(filepath.Dir(strayPath), 0o755)
	if err := os.WriteFile(strayPath, stray, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	os.Chtimes(strayPath, old, old)

	check(map[string]float64{
		`forge_exporter_collector_success{collector="packageblobs"}`:    1,
		`forge_package_blobs_missing{owner="` + admin + `",type="npm"}`: 1,
		`forge_package_blobs_missing{owner="acme",type="pypi"}`:         0,
		`forge_package_blobs_size_mismatch{owner="acme",type="pypi"}`:   1,
		`forge_package_blobs_missing{owner="acme",type="container"}`:    0,
		`forge_package_blobs_orphaned`:                                  1,
		`forge_package_blobs_orphaned_bytes`:                            float64(len(stray)),
	})

	// Everything back: all clear without a restart.
	os.WriteFile(npmBlob, npmContent, 0o644)
	os.WriteFile(wheelBlob, wheelContent, 0o644)
	os.Remove(strayPath)
	check(clean)
	for _, want := range []string{"package files without their blob", "missing=1", "size_mismatch=1", "every package file has its blob again"} {
		if !strings.Contains(e.logs.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, e.logs.String())
		}
	}
	e.assertNoSecret(p.tok)
}
