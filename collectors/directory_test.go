package collectors

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/railiance/forge-exporter/internal/exporter"
	"github.com/railiance/forge-exporter/internal/sampler"
	"github.com/railiance/forge-exporter/internal/testenv"
	"github.com/railiance/forge-exporter/internal/walk"
)

var update = flag.Bool("update", false, "rewrite golden files from a real run")

// asCollector adapts an exporter.Collector to prometheus.Collector for
// testutil, failing the test if Update fails unexpectedly.
type asCollector struct {
	c       exporter.Collector
	wantErr bool
	t       *testing.T
}

func (a asCollector) Describe(chan<- *prometheus.Desc) {}
func (a asCollector) Collect(ch chan<- prometheus.Metric) {
	err := a.c.Update(context.Background(), ch)
	if (err != nil) != a.wantErr {
		a.t.Errorf("Update error = %v, want error: %v", err, a.wantErr)
	}
}

// golden compares the collector's exposition of names with
// testdata/<dir>/<file>, rewriting it with -update.
func golden(t *testing.T, c prometheus.Collector, path string, names ...string) {
	t.Helper()
	if *update {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c)
		var b strings.Builder
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, n := range names {
				if mf.GetName() == n {
					if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		must(t, os.MkdirAll(filepath.Dir(path), 0o755))
		must(t, os.WriteFile(path, []byte(b.String()), 0o644))
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (run go test ./collectors -update to create it from a real run)", err)
	}
	defer f.Close()
	if err := testutil.CollectAndCompare(c, f, names...); err != nil {
		t.Error(err)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path string, size int) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, []byte(strings.Repeat("b", size)), 0o644))
}

// startSampler runs a real directory sampler on root and waits for its first
// result.
func startSampler(t *testing.T, name, root string) *sampler.Sampler[walk.Result] {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	sc := walk.New(root, walk.Options{Incremental: true, Concurrency: 2})
	s := sampler.New("directory:"+name, scanFunc(sc, logger), sampler.Options{Interval: time.Hour, Timeout: time.Minute},
		sampler.NewMetrics(prometheus.NewRegistry()), logger)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitUntil(t, "first scan of "+name, func() bool {
		_, _, ok := s.Last()
		return ok || s.Err() != nil
	})
	return s
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, what, cond)
}

var stableDirectoryMetrics = []string{
	"forge_directory_size_bytes", "forge_directory_allocated_bytes", "forge_directory_files",
	"forge_directory_dirs", "forge_directory_scan_errors",
}

// TestDirectoryCollectorGolden runs real samplers on a Gitea-shaped tree and
// an upload directory and compares the exposition with a golden file written
// by such a run (-update). Scan time and duration change from run to run and
// are checked against the clock instead.
func TestDirectoryCollectorGolden(t *testing.T) {
	base := t.TempDir()
	for i, size := range []int{120, 4096, 5000, 70000, 0, 333} {
		writeFile(t, fmt.Sprintf("%s/packages/%02x/%02x/%02x%02x%060d", base, i%3, i, i%3, i, i), size)
	}
	writeFile(t, base+"/tmp/package-upload/01UPLOAD", 1<<16)
	before := time.Now()
	c := NewDirectoryCollector([]Directory{
		{Name: "packages", Source: startSampler(t, "packages", base+"/packages")},
		{Name: "package-upload", Source: startSampler(t, "package-upload", base+"/tmp/package-upload")},
	})
	after := time.Now()
	golden(t, asCollector{c: c, t: t}, "testdata/directory/want.prom", stableDirectoryMetrics...)
	// The golden values are du's on this tree, not just what the walker said once.
	for dir, want := range map[string]string{"packages": "120509", "tmp/package-upload": "69632"} {
		out, err := exec.Command("du", "-sb", "--apparent-size", base+"/"+dir).Output()
		must(t, err)
		if got := strings.Fields(string(out))[0]; got != want {
			t.Errorf("du -sb --apparent-size %s = %s, golden file says %s", dir, got, want)
		}
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(asCollector{c: c, t: t})
	mfs, err := reg.Gather()
	must(t, err)
	seen := 0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetGauge().GetValue()
			switch mf.GetName() {
			case "forge_directory_last_scan_timestamp_seconds":
				seen++
				if v < float64(before.Unix()) || v > float64(after.Unix()+1) {
					t.Errorf("last scan %f outside [%d, %d]", v, before.Unix(), after.Unix()+1)
				}
			case "forge_directory_scan_duration_seconds":
				seen++
				if v <= 0 || v > after.Sub(before).Seconds() {
					t.Errorf("scan duration %f outside (0, %f]", v, after.Sub(before).Seconds())
				}
			}
		}
	}
	if seen != 4 {
		t.Errorf("saw %d timestamp/duration series, want 4", seen)
	}
}

// TestDirectoryCollectorKeepsLastResult removes the scanned tree: the next
// scan fails, the collector fails, and the previous totals stay exported.
func TestDirectoryCollectorKeepsLastResult(t *testing.T) {
	root := t.TempDir() + "/packages"
	writeFile(t, root+"/ab/cd/abcd", 1000)
	s := startSampler(t, "packages", root)
	c := NewDirectoryCollector([]Directory{{Name: "packages", Source: s}})
	want := "forge_directory_files{directory=\"packages\"} 1\n"
	head := "# HELP forge_directory_files Regular files in the directory tree (as find -type f). Sampled by a tree walk every storage.scan_interval; forge_directory_last_scan_timestamp_seconds says when.\n# TYPE forge_directory_files gauge\n"
	must(t, testutil.CollectAndCompare(asCollector{c: c, t: t}, strings.NewReader(head+want), "forge_directory_files"))

	must(t, os.RemoveAll(root))
	s.Trigger()
	waitUntil(t, "failed scan", func() bool { return s.Err() != nil })
	if !strings.Contains(s.Err().Error(), "no such file") {
		t.Errorf("sampler error = %v", s.Err())
	}
	must(t, testutil.CollectAndCompare(asCollector{c: c, t: t, wantErr: true}, strings.NewReader(head+want), "forge_directory_files"))
}

// TestDirectoryCollectorNoDataYet: before the first scan the collector has
// nothing to say, which is not a failure.
func TestDirectoryCollectorNoDataYet(t *testing.T) {
	s := sampler.New("directory:x", func(context.Context) (walk.Result, error) { return walk.Result{}, nil },
		sampler.Options{Interval: time.Hour}, sampler.NewMetrics(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(io.Discard, nil)))
	c := NewDirectoryCollector([]Directory{{Name: "x", Source: s}})
	ch := make(chan prometheus.Metric, 10)
	if err := c.Update(context.Background(), ch); err != exporter.ErrNoData {
		t.Errorf("Update before the first scan = %v, want ErrNoData", err)
	}
	if len(ch) != 0 {
		t.Errorf("%d metrics before the first scan", len(ch))
	}
}
