package collectors

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"

	"github.com/railiance/forge-exporter/internal/config"
)

var volumeMetrics = []string{
	"forge_volume_capacity_bytes", "forge_volume_used_bytes", "forge_volume_available_bytes",
	"forge_volume_inodes", "forge_volume_inodes_free",
}

// mountTmpfs mounts a small tmpfs of fixed size and inode count, so statfs
// gives the same answer on every run. Mounting needs root (CI runs as root).
func mountTmpfs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m,nr_inodes=64,mode=0755"); err != nil {
		if os.Geteuid() != 0 {
			t.Skipf("mount tmpfs needs root (CI runs as root): %v", err)
		}
		t.Fatalf("mount tmpfs as root: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestVolumeCollectorGolden reads a real tmpfs with known contents; the
// golden file was written by such a run (-update) and is checked against df.
func TestVolumeCollectorGolden(t *testing.T) {
	dir := mountTmpfs(t)
	writeFile(t, dir+"/blobs/a", 100<<10)
	writeFile(t, dir+"/blobs/b", 3)
	c := NewVolumeCollector([]config.Volume{{
		Name: "gitea-data", Path: dir, Namespace: "default", PersistentVolumeClaim: "gitea-shared-storage",
	}}, unix.Statfs)
	golden(t, asCollector{c: c, t: t}, "testdata/volume/want.prom", volumeMetrics...)

	// The same numbers from df.
	out, err := exec.Command("df", "-B1", "--output=size,used,avail,itotal,iavail", dir).Output()
	must(t, err)
	df := strings.Fields(strings.Split(strings.TrimSpace(string(out)), "\n")[1])
	want, err := os.ReadFile("testdata/volume/want.prom")
	must(t, err)
	golden := map[string]float64{}
	for _, l := range strings.Split(string(want), "\n") {
		if f := strings.Fields(l); len(f) == 2 && !strings.HasPrefix(l, "#") {
			v, err := strconv.ParseFloat(f[1], 64)
			must(t, err)
			golden[f[0][:strings.Index(f[0], "{")]] = v
		}
	}
	for i, name := range volumeMetrics {
		d, err := strconv.ParseFloat(df[i], 64)
		must(t, err)
		if golden[name] != d {
			t.Errorf("%s: golden %v, df %v", name, golden[name], d)
		}
	}
}

// TestVolumeCollectorFailure: an unreadable volume fails the collector, the
// others are still reported.
func TestVolumeCollectorFailure(t *testing.T) {
	dir := mountTmpfs(t)
	c := NewVolumeCollector([]config.Volume{
		{Name: "gone", Path: dir + "/missing", Namespace: "default", PersistentVolumeClaim: "x"},
		{Name: "ok", Path: dir, Namespace: "default", PersistentVolumeClaim: "y"},
	}, unix.Statfs)
	if n := testutil.CollectAndCount(asCollector{c: c, t: t, wantErr: true}); n != len(volumeMetrics) {
		t.Errorf("%d series, want %d (the readable volume only)", n, len(volumeMetrics))
	}
}
