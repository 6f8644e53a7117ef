// Command walkbench is `make bench`'s storage benchmark: it generates a
// Gitea-shaped blob tree, then times, side by side in one run, `du -s`,
// `du -s --apparent-size`, `find -type f | wc -l`, the exporter's full scan
// and its unchanged rescan, several rounds each, on a warm cache, and prints
// medians, peak RSS and the ratio to `du -s`. The tree is removed afterwards.
//
//	walkbench [-n 1000000] [-rounds 5] [-dir /tmp] [-concurrency 0] [-keep]
//	walkbench -root DIR ...        time an existing tree instead
//	walkbench scan -root DIR       (internal) one exporter process: a full scan, then rescans
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/railiance/forge-exporter/internal/walk"
	"github.com/railiance/forge-exporter/internal/walk/blobtree"
)

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "scan" {
		err = scanMain(os.Args[2:])
	} else {
		err = runMain(os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "walkbench:", err)
		os.Exit(1)
	}
}

// scanReport is what one exporter scan process prints.
type scanReport struct {
	Full    float64     `json:"full_seconds"`
	Rescans []float64   `json:"rescan_seconds"`
	Reused  []uint64    `json:"rescan_reused_dirs"`
	Totals  walk.Totals `json:"totals"`
}

func scanMain(args []string) error {
	fs := flag.NewFlagSet("scan", flag.ExitOnError)
	root := fs.String("root", "", "tree to scan")
	rescans := fs.Int("rescans", 3, "unchanged rescans after the full scan")
	conc := fs.Int("concurrency", 0, "walker concurrency (0: the exporter's default)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the scans here")
	fs.Parse(args)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	s := walk.New(*root, walk.Options{Incremental: true, Concurrency: *conc})
	ctx := context.Background()
	res, err := s.Scan(ctx)
	if err != nil {
		return err
	}
	rep := scanReport{Full: res.Duration.Seconds(), Totals: res.Totals}
	for range *rescans {
		r, err := s.Scan(ctx)
		if err != nil {
			return err
		}
		if r.Totals != res.Totals {
			return fmt.Errorf("rescan totals %+v differ from the full scan's %+v", r.Totals, res.Totals)
		}
		rep.Rescans = append(rep.Rescans, r.Duration.Seconds())
		rep.Reused = append(rep.Reused, r.ReusedDirs)
	}
	return json.NewEncoder(os.Stdout).Encode(rep)
}

// sample is one timed run of one tool.
type sample struct {
	seconds float64
	rssKiB  int64
}

type row struct {
	name    string
	samples []sample
}

func (r *row) median() float64 {
	v := make([]float64, len(r.samples))
	for i, s := range r.samples {
		v[i] = s.seconds
	}
	return median(v)
}

func (r *row) minMax() (float64, float64) {
	lo, hi := r.samples[0].seconds, r.samples[0].seconds
	for _, s := range r.samples {
		lo, hi = min(lo, s.seconds), max(hi, s.seconds)
	}
	return lo, hi
}

func (r *row) peakRSS() int64 {
	var m int64
	for _, s := range r.samples {
		m = max(m, s.rssKiB)
	}
	return m
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// timed runs a command and returns its output, wall time and peak RSS (the
// kernel's ru_maxrss, which for a shell covers the pipeline it waited for).
func timed(ctx context.Context, name string, args ...string) (string, sample, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return "", sample{}, fmt.Errorf("%s %v: %v: %s", name, args, err, errb.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return out.String(), sample{seconds: d.Seconds(), rssKiB: ru.Maxrss}, nil
}

func firstUint(s string) (uint64, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, fmt.Errorf("no number in %q", s)
	}
	return strconv.ParseUint(f[0], 10, 64)
}

func runMain(args []string) error {
	fs := flag.NewFlagSet("walkbench", flag.ExitOnError)
	n := fs.Int("n", 1_000_000, "blobs to generate")
	rounds := fs.Int("rounds", 5, "timed rounds of every tool")
	dir := fs.String("dir", os.TempDir(), "where to create the temporary tree")
	root := fs.String("root", "", "time this existing tree instead of generating one")
	conc := fs.Int("concurrency", 0, "walker concurrency (0: the exporter's default)")
	rescans := fs.Int("rescans", 3, "unchanged rescans per exporter process")
	keep := fs.Bool("keep", false, "keep the generated tree")
	fs.Parse(args)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("walkbench: %d CPUs, load average %s, walker concurrency %d\n",
		runtime.NumCPU(), strings.Join(strings.Fields(string(load))[:3], " "), effectiveConcurrency(*conc))

	if *root == "" {
		tmp, err := os.MkdirTemp(*dir, "walkbench-")
		if err != nil {
			return err
		}
		if !*keep {
			defer func() {
				start := time.Now()
				fmt.Printf("removing %s ...", tmp)
				os.RemoveAll(tmp)
				fmt.Printf(" %.1fs\n", time.Since(start).Seconds())
			}()
		}
		*root = tmp + "/packages"
		start := time.Now()
		fmt.Printf("generating %d blobs under %s ...", *n, *root)
		st, err := blobtree.Generate(ctx, *root, blobtree.Options{Files: *n, Seed: 1})
		if err != nil {
			return err
		}
		fmt.Printf(" %.1fs: %d files, %d dirs, %.1f GiB apparent, %.1f MiB written (the rest is sparse)\n",
			time.Since(start).Seconds(), st.Files, st.Dirs, float64(st.ApparentBytes)/(1<<30), float64(st.WrittenFileBytes)/(1<<20))
	}

	if *rounds <= 0 {
		return nil // generate only (with -keep)
	}
	tools := []struct {
		name string
		args []string
	}{
		{"du -s", []string{"du", "-s", *root}},
		{"du -s --apparent-size", []string{"du", "-s", "--apparent-size", *root}},
		{"find -type f | wc -l", []string{"sh", "-c", `find "$1" -type f | wc -l`, "sh", *root}},
	}
	scanArgs := []string{"scan", "-root", *root, "-rescans", strconv.Itoa(*rescans), "-concurrency", strconv.Itoa(*conc)}

	// Warm cache is the stated condition: one untimed pass of each tool
	// pulls every directory and inode into the page, dentry and inode caches.
	fmt.Printf("warming the cache ...")
	for _, t := range tools {
		if _, _, err := timed(ctx, t.args[0], t.args[1:]...); err != nil {
			return err
		}
	}
	fmt.Println(" done")

	rows := []*row{{name: "du -s"}, {name: "du -s --apparent-size"}, {name: "find -type f | wc -l"},
		{name: "forge-exporter full scan"}, {name: "forge-exporter unchanged rescan"}}
	var outputs [3]string
	var rep scanReport
	for r := range *rounds {
		for i, t := range tools {
			out, s, err := timed(ctx, t.args[0], t.args[1:]...)
			if err != nil {
				return err
			}
			outputs[i] = out
			rows[i].samples = append(rows[i].samples, s)
		}
		out, s, err := timed(ctx, self, scanArgs...)
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			return fmt.Errorf("scan output %q: %w", out, err)
		}
		rows[3].samples = append(rows[3].samples, sample{seconds: rep.Full, rssKiB: s.rssKiB})
		if len(rep.Rescans) > 0 {
			rows[4].samples = append(rows[4].samples, sample{seconds: median(rep.Rescans), rssKiB: s.rssKiB})
		}
		fmt.Printf("round %d/%d: du -s %.2fs, --apparent-size %.2fs, find %.2fs, full scan %.2fs, rescan %.3fs (reused %v dirs)\n",
			r+1, *rounds, rows[0].samples[r].seconds, rows[1].samples[r].seconds, rows[2].samples[r].seconds, rep.Full, median(rep.Rescans), rep.Reused)
	}

	// The timings only count if the answers agree: du -s prints KiB
	// (rounded up), find a count.
	duKiB, err1 := firstUint(outputs[0])
	appKiB, err2 := firstUint(outputs[1])
	files, err3 := firstUint(outputs[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return fmt.Errorf("parsing tool output: %v %v %v", err1, err2, err3)
	}
	ceilKiB := func(b uint64) uint64 { return (b + 1023) / 1024 }
	agree := ceilKiB(rep.Totals.Allocated) == duKiB && ceilKiB(rep.Totals.Bytes) == appKiB && rep.Totals.Files == files
	fmt.Printf("\nexporter: %d files, %d dirs, %d bytes apparent, %d allocated, %d errors; du -s %d KiB, --apparent-size %d KiB, find %d files: %s\n",
		rep.Totals.Files, rep.Totals.Dirs, rep.Totals.Bytes, rep.Totals.Allocated, rep.Totals.Errors, duKiB, appKiB, files,
		map[bool]string{true: "totals agree", false: "TOTALS DISAGREE"}[agree])

	base := rows[0].median()
	fmt.Printf("\nwarm cache, %d rounds, medians (exporter rows: timed inside one process per round, full scan then %d rescans; RSS is that process's peak)\n\n", *rounds, *rescans)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\tmedian s\tmin s\tmax s\tpeak RSS MiB\t× du -s\t")
	for _, r := range rows {
		if len(r.samples) == 0 {
			continue
		}
		lo, hi := r.minMax()
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.3f\t%.1f\t%.3f\t\n", r.name, r.median(), lo, hi, float64(r.peakRSS())/1024, r.median()/base)
	}
	tw.Flush()
	if !agree {
		return fmt.Errorf("the exporter's totals disagree with du/find")
	}
	return nil
}

func effectiveConcurrency(c int) int {
	if c > 0 {
		return c
	}
	return walk.DefaultConcurrency()
}
