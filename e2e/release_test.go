package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// TestReleaseReproducible clones HEAD into two directories with different
// names, runs `make release` in each, one after the other (so at different
// times), the second with another umask, time zone and user, and expects
// byte-identical dist/ directories: tarballs, SBOMs, the OCI archive and
// sha256sums.txt. It also checks what the artifacts hold.
//
// RELEASE_CHECK_PLATFORMS (space-separated os/arch) narrows the platforms;
// RELEASE_CHECK_COLD=1 gives the second build an empty Go build cache, so
// that nothing compiled by the first is reused (minutes more).
func TestReleaseReproducible(t *testing.T) {
	requirePodman(t)
	root := repoRoot(t)
	revision := gitOutput(t, root, "rev-parse", "HEAD")
	if st := gitOutput(t, root, "status", "--porcelain", "--untracked-files=no"); st != "" {
		t.Logf("the working tree has uncommitted changes; this checks the commit %s, without them", revision)
	}
	platforms := os.Getenv("RELEASE_CHECK_PLATFORMS")
	tmp := t.TempDir()
	var dists []string
	for i, name := range []string{"first-clone", "second/clone-elsewhere"} {
		dir := filepath.Join(tmp, name)
		runCmd(t, root, "git", "clone", "-q", "--no-checkout", root, dir)
		runCmd(t, dir, "git", "checkout", "-q", "--detach", revision)
		args := []string{"--no-print-directory", "release"}
		if platforms != "" {
			args = append(args, "PLATFORMS="+platforms)
		}
		env := os.Environ()
		umask := "022"
		if i == 1 {
			umask = "077"
			env = append(env, "TZ=Pacific/Kiritimati", "USER=someone-else", "LC_ALL=C")
			if os.Getenv("RELEASE_CHECK_COLD") == "1" {
				env = append(env, "GOCACHE="+filepath.Join(tmp, "gocache"))
			}
		}
		t0 := time.Now()
		cmd := exec.Command("sh", "-c", "umask "+umask+" && exec make \"$@\"", "sh")
		cmd.Args = append(cmd.Args, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make release in %s: %v\n%s", dir, err, out)
		}
		t.Logf("make release in %s (umask %s): %.1fs", name, umask, time.Since(t0).Seconds())
		dists = append(dists, filepath.Join(dir, "dist"))
	}

	a, b := listDir(t, dists[0]), listDir(t, dists[1])
	if strings.Join(a, " ") != strings.Join(b, " ") {
		t.Fatalf("the two releases hold different files:\n%v\n%v", a, b)
	}
	for _, name := range a {
		x, _ := os.ReadFile(filepath.Join(dists[0], name))
		y, _ := os.ReadFile(filepath.Join(dists[1], name))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between the two builds (%d and %d bytes)", name, len(x), len(y))
		}
	}
	sums, err := os.ReadFile(filepath.Join(dists[0], "sha256sums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sha256sums.txt (identical in both):\n%s", sums)
	checkArtifacts(t, dists[0], a, string(sums), gitDescribe(t, filepath.Join(tmp, "first-clone")), linuxArches(platforms))
}

// checkArtifacts checks the release's content: every file listed in
// sha256sums.txt with its digest, each tarball's entries, the SBOM's format,
// and the OCI archive's layout.
func checkArtifacts(t *testing.T, dist string, files []string, sums, version string, arches []string) {
	listed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(sums), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("sha256sums.txt line %q", line)
		}
		b, err := os.ReadFile(filepath.Join(dist, name))
		if err != nil {
			t.Fatal(err)
		}
		if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != sum {
			t.Errorf("sha256sums.txt: %s does not match", name)
		}
		listed[name] = true
	}
	var tarballs, sboms, ocis int
	for _, name := range files {
		if name != "sha256sums.txt" && !listed[name] {
			t.Errorf("%s is not in sha256sums.txt", name)
		}
		prefix := "forge-exporter-" + version + "."
		switch {
		case name == "sha256sums.txt":
		case !strings.HasPrefix(name, prefix):
			t.Errorf("%s: want names starting %s", name, prefix)
		case strings.HasSuffix(name, ".tar.gz"):
			tarballs++
			dir := strings.TrimSuffix(name, ".tar.gz")
			want := dir + "/ " + dir + "/LICENSE " + dir + "/README.md " + dir + "/forge-exporter"
			if got := strings.Join(tarEntries(t, filepath.Join(dist, name), true), " "); got != want {
				t.Errorf("%s holds %s, want %s", name, got, want)
			}
		case strings.HasSuffix(name, ".cdx.json"):
			sboms++
			var bom struct {
				BOMFormat   string `json:"bomFormat"`
				SpecVersion string `json:"specVersion"`
				Components  []struct {
					Name string `json:"name"`
				} `json:"components"`
			}
			b, _ := os.ReadFile(filepath.Join(dist, name))
			if err := json.Unmarshal(b, &bom); err != nil || bom.BOMFormat != "CycloneDX" || len(bom.Components) == 0 {
				t.Errorf("%s: not a CycloneDX SBOM with components (%v)", name, err)
			}
			if !bytes.Contains(b, []byte(`"golang.org/x/crypto/x509roots/fallback"`)) {
				t.Errorf("%s does not list the compiled-in TLS roots module", name)
			}
		case strings.HasSuffix(name, ".oci.tar"):
			ocis++
			got := strings.Join(tarEntries(t, filepath.Join(dist, name), false), " ")
			if !strings.Contains(got, "index.json") || !strings.Contains(got, "oci-layout") || !strings.Contains(got, "blobs/sha256/") {
				t.Errorf("%s is not an OCI image layout: %s", name, got)
			}
			checkOCIArchive(t, filepath.Join(dist, name), "forge-exporter:"+version, arches)
		default:
			t.Errorf("unexpected release file %s", name)
		}
	}
	if tarballs == 0 || sboms != tarballs || ocis != 1 {
		t.Errorf("release holds %d tarballs, %d SBOMs, %d OCI archives; want one SBOM per tarball and one image", tarballs, sboms, ocis)
	}
}

func tarEntries(t *testing.T, p string, gz bool) []string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if gz {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		r = zr
	}
	tr := tar.NewReader(r)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: %s owned by %d:%d", p, h.Name, h.Uid, h.Gid)
		}
		names = append(names, h.Name)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !e.Type().IsRegular() {
			t.Errorf("%s: %s is not a regular file", dir, e.Name())
			continue
		}
		out = append(out, e.Name())
	}
	sort.Strings(out)
	if len(out) == 0 {
		t.Fatalf("%s is empty", dir)
	}
	return out
}

// TestChartAppVersionFollowsRelease: the chart's appVersion (the default
// image tag) is the release version. At a release tag vX.Y.Z it must be X.Y.Z
// (`make release` refuses otherwise); between tags it must not be older than
// the last tag.
func TestChartAppVersionFollowsRelease(t *testing.T) {
	root := repoRoot(t)
	chart, err := os.ReadFile(filepath.Join(root, "deploy", "helm", "forge-exporter", "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^appVersion:\s*"?([^"\s]+)"?\s*$`).FindSubmatch(chart)
	if m == nil {
		t.Fatal("Chart.yaml has no appVersion")
	}
	app := string(m[1])
	semver := regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)$`)
	if !semver.MatchString(app) {
		t.Fatalf("appVersion %q is not X.Y.Z (the release tag without its v)", app)
	}
	if tag, err := exec.Command("git", "-C", root, "describe", "--tags", "--exact-match", "--match", "v[0-9]*").Output(); err == nil {
		if want := strings.TrimPrefix(strings.TrimSpace(string(tag)), "v"); app != want {
			t.Errorf("HEAD is release %s but the chart's appVersion is %s", strings.TrimSpace(string(tag)), app)
		}
		return
	}
	last, err := exec.Command("git", "-C", root, "describe", "--tags", "--abbrev=0", "--match", "v[0-9]*").Output()
	if err != nil {
		t.Logf("no release tag yet; appVersion %s", app)
		return
	}
	lt := semver.FindStringSubmatch(strings.TrimPrefix(strings.TrimSpace(string(last)), "v"))
	at := semver.FindStringSubmatch(app)
	if lt != nil && versionLess(at[1:], lt[1:]) {
		t.Errorf("appVersion %s is older than the last release %s", app, strings.TrimSpace(string(last)))
	}
}

func versionLess(a, b []string) bool {
	for i := range a {
		x, _ := strconv.Atoi(a[i])
		y, _ := strconv.Atoi(b[i])
		if x != y {
			return x < y
		}
	}
	return false
}

// linuxArches lists the architectures of the Linux platforms a release
// builds images for (the Makefile's PLATFORMS default when empty).
func linuxArches(platforms string) []string {
	if platforms == "" {
		platforms = "linux/amd64 linux/arm64"
	}
	var arches []string
	for _, p := range strings.Fields(platforms) {
		if a, ok := strings.CutPrefix(p, "linux/"); ok {
			arches = append(arches, a)
		}
	}
	sort.Strings(arches)
	return arches
}

// checkOCIArchive unpacks the release's OCI archive and reads it with
// go-containerregistry (the library crane and ko are built on): index.json
// names one multi-platform image ref, which validates as a whole (every
// manifest, config and layer against its digest, each image's config
// against the platform the index lists it under), with one image per
// wanted Linux architecture.
func checkOCIArchive(t *testing.T, archive, ref string, arches []string) {
	t.Helper()
	dir := t.TempDir()
	runCmd(t, dir, "tar", "-xf", archive)
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("%s: %v", archive, err)
	}
	m, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || m.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != ref {
		t.Fatalf("%s: index.json lists %+v, want one image named %s", archive, m.Manifests, ref)
	}
	idx, err := top.ImageIndex(m.Manifests[0].Digest)
	if err != nil {
		t.Fatalf("%s: %s is not an image index: %v", archive, ref, err)
	}
	if err := validate.Index(idx); err != nil {
		t.Errorf("%s does not validate: %v", archive, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range im.Manifests {
		if d.Platform == nil || d.Platform.OS != "linux" {
			t.Errorf("%s: manifest %s has platform %+v", archive, d.Digest, d.Platform)
			continue
		}
		got = append(got, d.Platform.Architecture)
	}
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(arches, " ") {
		t.Errorf("%s holds images for %v, want %v", archive, got, arches)
	}

	// What a user does with it where there is no registry: podman loads the
	// image of the host's platform from the index, under the index's name.
	// (`make image` tags the same name with the same bytes: leave a tag
	// that existed before the test.)
	name := "localhost/" + ref
	existed := exec.Command("podman", "image", "exists", name).Run() == nil
	out, err := exec.Command("podman", "load", "-i", archive).CombinedOutput()
	if err != nil || !strings.Contains(string(out), name) {
		t.Fatalf("podman load -i %s: %v\n%s", archive, err, out)
	}
	if !existed {
		t.Cleanup(func() { _ = exec.Command("podman", "rmi", name).Run() })
	}
	arch, err := exec.Command("podman", "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", name).Output()
	if err != nil || strings.TrimSpace(string(arch)) != "linux/"+runtime.GOARCH {
		t.Errorf("podman loaded %s for %q (%v), want linux/%s", name, strings.TrimSpace(string(arch)), err, runtime.GOARCH)
	}
}
