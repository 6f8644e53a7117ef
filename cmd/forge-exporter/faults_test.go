package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fastScenario is a scenario whose samplers run every second, so a fault
// and its recovery show within a few scans.
func fastScenario(t *testing.T) *scenario {
	t.Helper()
	return scenarioWithIntervals(t, "1s", "1s")
}

// scenarioWithIntervals sets storage.scan_interval and evidence.interval.
func scenarioWithIntervals(t *testing.T, scan, evidence string) *scenario {
	t.Helper()
	sc := newScenario(t, t.TempDir(), "", "")
	b, err := os.ReadFile(sc.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for old, new := range map[string]string{"\n  scan_interval: 1m\n": "\n  scan_interval: " + scan + "\n", "\n  interval: 1m\n": "\n  interval: " + evidence + "\n"} {
		if !strings.Contains(cfg, old) {
			t.Fatalf("examples/forge-exporter.yaml no longer has %q: update fastScenario", strings.TrimSpace(old))
		}
		cfg = strings.Replace(cfg, old, new, 1)
	}
	if err := os.WriteFile(sc.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return sc
}

// scraper reads /metrics of a running binary.
type scraper struct {
	t    *testing.T
	p    *process
	body string
}

func (s *scraper) scrape() map[string]string {
	s.t.Helper()
	code, body := get(s.t, "http://"+s.p.addr+"/metrics")
	if code != 200 {
		s.t.Fatalf("/metrics answered %d during a fault", code)
	}
	s.body = body
	return series(body)
}

// until scrapes until cond holds on the series.
func (s *scraper) until(what string, cond func(v map[string]string) bool) map[string]string {
	s.t.Helper()
	var v map[string]string
	waitFor(s.t, what, func() bool { v = s.scrape(); return cond(v) }, s.p.logs)
	return v
}

func num(v map[string]string, k string) float64 {
	f, err := strconv.ParseFloat(v[k], 64)
	if err != nil {
		return -1
	}
	return f
}

// TestStorageFaults runs the binary on a copy of the example volume and
// blob tree and, while it is scraped, puts into the tree what a real
// volume can hold or suffer: symlink loops, a FIFO, a device node, and a
// mount under a scanned directory that disappears and comes back. For each:
// /metrics answers, only the affected collector fails, the last good
// sample stays exported with its (ageing) scan timestamp, the log says it
// once, and the collector recovers by itself.
func TestStorageFaults(t *testing.T) {
	sc := fastScenario(t)
	p := startBinary(t, "--config.file="+sc.config)
	s := &scraper{t: t, p: p}
	pk := filepath.Join(sc.root, "data", "packages")
	base := s.until("every collector succeeds", func(v map[string]string) bool {
		return allSucceed(s.body, `forge_directory_files{directory="packages"}`)
	})
	files := base[`forge_directory_files{directory="packages"}`]

	t.Run("symlink loops, FIFO and device node", func(t *testing.T) {
		must := func(err error) {
			if err != nil {
				t.Fatal(err)
			}
		}
		must(os.Symlink("loop-b", filepath.Join(pk, "loop-a")))
		must(os.Symlink("loop-a", filepath.Join(pk, "loop-b")))
		must(os.Symlink(".", filepath.Join(pk, "self")))
		must(os.Symlink("..", filepath.Join(pk, "parent")))
		must(unix.Mkfifo(filepath.Join(pk, "fifo"), 0o644))
		// /dev/zero's device numbers: opening and reading it would never end.
		if err := unix.Mknod(filepath.Join(pk, "zero"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 5))); err != nil {
			t.Logf("mknod (needs root): %v; the FIFO and symlinks are still checked", err)
		}
		before := s.scrape()[`forge_directory_last_scan_timestamp_seconds{directory="packages"}`]
		v := s.until("a scan after the odd entries appeared", func(v map[string]string) bool {
			return v[`forge_directory_last_scan_timestamp_seconds{directory="packages"}`] != before
		})
		if !allSucceed(s.body) || v[`forge_directory_scan_errors{directory="packages"}`] != "0" || v[`forge_directory_files{directory="packages"}`] != files {
			t.Errorf("odd entries: success %v, scan errors %s, files %s (want %s)", collectorSuccess(s.body),
				v[`forge_directory_scan_errors{directory="packages"}`], v[`forge_directory_files{directory="packages"}`], files)
		}
	})

	t.Run("mount disappears", func(t *testing.T) {
		// data/tmp becomes a tmpfs holding package-upload; underneath, the
		// directory is empty, so when the mount goes the scanned path is gone.
		tmp := filepath.Join(sc.root, "data", "tmp")
		if err := os.RemoveAll(filepath.Join(tmp, "package-upload")); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "forge-fault", tmp).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a tmpfs here (needs root): %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", "-l", tmp).Run() })
		up := filepath.Join(tmp, "package-upload")
		os.MkdirAll(filepath.Join(up, "chunks"), 0o755)
		for i := range 5 {
			os.WriteFile(filepath.Join(up, "chunks", fmt.Sprint(i)), []byte("chunk"), 0o644)
		}
		good := s.until("the mounted upload directory scanned", func(v map[string]string) bool {
			return v[`forge_directory_files{directory="package-upload"}`] == "5" && allSucceed(s.body)
		})
		logBefore := strings.Count(p.logs.String(), "sampler failed")
		if out, err := exec.Command("umount", "-l", tmp).CombinedOutput(); err != nil {
			t.Fatalf("umount: %v %s", err, out)
		}
		errs := `forge_exporter_sampler_errors_total{sampler="directory:package-upload"}`
		v := s.until("three failed scans of the vanished directory", func(v map[string]string) bool { return num(v, errs) >= 3 })
		succ := collectorSuccess(s.body)
		if succ["directory"] != "0" {
			t.Errorf("directory collector success = %s with its mount gone, want 0", succ["directory"])
		}
		for _, c := range []string{"volume", "drills", "trust"} {
			if succ[c] != "1" {
				t.Errorf("%s collector success = %s: a storage fault spilled over", c, succ[c])
			}
		}
		if v[`forge_directory_files{directory="package-upload"}`] != "5" {
			t.Errorf("last good sample not kept: files = %s, want 5", v[`forge_directory_files{directory="package-upload"}`])
		}
		if got, want := v[`forge_directory_last_scan_timestamp_seconds{directory="package-upload"}`],
			good[`forge_directory_last_scan_timestamp_seconds{directory="package-upload"}`]; got != want {
			// Its age is visible: the timestamp stops while the others move on.
			t.Errorf("last scan timestamp of the failing directory moved: %s -> %s", want, got)
		}
		if v[`forge_directory_last_scan_timestamp_seconds{directory="gitea-data"}`] == good[`forge_directory_last_scan_timestamp_seconds{directory="gitea-data"}`] {
			t.Error("the healthy directories stopped being scanned")
		}
		if n := strings.Count(p.logs.String(), "sampler failed") - logBefore; n != 1 {
			t.Errorf("%d 'sampler failed' lines for %v failed scans, want 1:\n%s", n, v[errs], p.logs.String())
		}
		if !strings.Contains(p.logs.String(), "no such file or directory") {
			t.Errorf("the log does not say what failed:\n%s", p.logs.String())
		}

		// The mount comes back: recovery without a restart or reload.
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "forge-fault", tmp).CombinedOutput(); err != nil {
			t.Fatalf("remount: %v %s", err, out)
		}
		os.MkdirAll(filepath.Join(up, "chunks"), 0o755)
		os.WriteFile(filepath.Join(up, "chunks", "0"), []byte("chunk"), 0o644)
		s.until("recovery", func(v map[string]string) bool {
			return allSucceed(s.body) && v[`forge_directory_files{directory="package-upload"}`] == "1"
		})
		if !strings.Contains(p.logs.String(), `msg="sampler recovered" sampler=directory:package-upload`) {
			t.Errorf("the recovery was not logged:\n%s", p.logs.String())
		}
	})
}

// TestEvidenceFaults runs the binary on a copy of the example evidence and,
// while it is scraped, adds malformed YAML, a huge file and a binary file,
// then takes the directory away and brings it back.
// Bad records are counted as invalid and logged once each; the collector
// keeps succeeding until its source cannot be read; recovery is automatic.
func TestEvidenceFaults(t *testing.T) {
	sc := fastScenario(t)
	p := startBinary(t, "--config.file="+sc.config)
	s := &scraper{t: t, p: p}
	ev := filepath.Join(sc.root, "evidence")
	valid, invalid := `forge_evidence_records{source="examples",validity="valid"}`, `forge_evidence_records{source="examples",validity="invalid"}`
	base := s.until("every collector succeeds", func(v map[string]string) bool { return allSucceed(s.body, valid) })

	// Bad files: malformed YAML, a 1 GiB file, a binary file.
	os.WriteFile(filepath.Join(ev, "malformed.yaml"), []byte("drill: [source-forge\n  date: {\n"), 0o644)
	huge, _ := os.Create(filepath.Join(ev, "huge.yaml"))
	huge.Truncate(1 << 30) // 1 GiB (sparse): never read, only stat'ed
	huge.Close()
	os.WriteFile(filepath.Join(ev, "binary.json"), []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00"), 0o644)
	wantValid, wantInvalid := num(base, valid), num(base, invalid)+3
	v := s.until("the new records counted", func(v map[string]string) bool {
		return num(v, valid) == wantValid && num(v, invalid) == wantInvalid
	})
	if succ := collectorSuccess(s.body); succ["drills"] != "1" || succ["trust"] != "1" {
		t.Errorf("bad records failed the collectors: %v", succ)
	}
	logs := p.logs.String()
	for _, f := range []string{"malformed.yaml", "huge.yaml", "binary.json"} {
		if n := strings.Count(logs, f); n != 1 {
			t.Errorf("%s logged %d times over several samples, want once", f, n)
		}
	}
	if v["forge_exporter_sampler_errors_total{sampler=\"evidence\"}"] != "0" {
		t.Errorf("evidence sampler errors: %s", v["forge_exporter_sampler_errors_total{sampler=\"evidence\"}"])
	}

	// The directory goes away (an unmounted checkout): drills fails, the
	// rest does not; it comes back: recovery.
	if err := os.Rename(ev, ev+".away"); err != nil {
		t.Fatal(err)
	}
	up := `forge_evidence_source_up{source="examples"}`
	s.until("the source reported down", func(v map[string]string) bool { return v[up] == "0" })
	succ := collectorSuccess(s.body)
	if succ["drills"] != "0" || succ["directory"] != "1" || succ["volume"] != "1" {
		t.Errorf("evidence source gone: success %v, want drills 0 and storage 1", succ)
	}
	if err := os.Rename(ev+".away", ev); err != nil {
		t.Fatal(err)
	}
	s.until("recovery", func(v map[string]string) bool {
		return v[up] == "1" && allSucceed(s.body) && num(v, valid) == wantValid
	})
	if n := strings.Count(p.logs.String(), "evidence source cannot be read"); n != 1 {
		t.Errorf("the unreadable source was logged %d times, want once", n)
	}
}

// TestEvidenceThousandsOfRecords starts the binary on 1,000 records (valid
// copies of the sample drill) beside the examples: the first sample counts
// them all within evidence.interval, and scrapes keep answering meanwhile.
func TestEvidenceThousandsOfRecords(t *testing.T) {
	t.Parallel() // slow under -race: let the other binary tests run meanwhile
	sc := scenarioWithIntervals(t, "1m", "5m")
	ev := filepath.Join(sc.root, "evidence")
	sample, err := os.ReadFile(filepath.Join(ev, "2026-11-24-source-forge.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const many = 1000
	os.MkdirAll(filepath.Join(ev, "bulk"), 0o755)
	for i := range many {
		os.WriteFile(filepath.Join(ev, "bulk", fmt.Sprintf("r%04d.yaml", i)), sample, 0o644)
	}
	p := startBinary(t, "--config.file="+sc.config)
	s := &scraper{t: t, p: p}
	valid := `forge_evidence_records{source="examples",validity="valid"}`
	// The race detector makes parsing ~10× slower: allow up to the interval.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		v := s.scrape() // each scrape must answer while the sample runs
		if num(v, valid) == 3+many {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("valid records = %s, want %d\n%s", v[valid], 3+many, p.logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if succ := collectorSuccess(s.body); succ["drills"] != "1" || succ["trust"] != "1" {
		t.Errorf("success %v with %d records", succ, many)
	}
}
