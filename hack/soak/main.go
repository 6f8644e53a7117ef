// Command soak is `make soak`: it runs the exporter binary as one process
// on a generated blob tree, evidence records and a fake Gitea whose
// runners and packages keep changing, and from this second process scrapes
// /metrics continuously with several clients for -duration while the tree
// and records churn and (with the Kubernetes harness) seven kinds of
// objects come and go in a real kube-apiserver.
//
// It checks that the world it measures is the one it claims: a fixed
// number of objects of each kind, at the start and at the end, in the API
// server and in the exporter's caches. It reports scrape latency (p50, p99,
// max), the exporter's RSS, its heap after GC (the runtime's
// /gc/heap/live:bytes), goroutines and the bytes it allocates per scrape,
// and judges growth by the slope over the second half of the run as well
// as start against end. It exits 1 when a scrape fails, the object counts
// are off, or something grew beyond the bounds.
//
// Kubernetes has no controllers here: deleting a PVC leaves it Terminating
// forever, held by the kubernetes.io/pvc-protection finalizer the API
// server's admission adds. The churn removes that finalizer after deleting
// a PVC, which is what the pvc-protection controller does when no pod uses
// the claim. (Running a real kube-controller-manager would do the same and
// bind PVCs too, but it is another 15-minute build and more CPU on a 2-core
// machine, and the soak measures the exporter, not the controllers.)
//
//	soak -binary bin/forge-exporter [-duration 10m] [-clients 4] [-files 20000] [-records 300] [-kube=false]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/railiance/forge-exporter/internal/testenv/giteafake"
	"github.com/railiance/forge-exporter/internal/testenv/kubeenv"
	"github.com/railiance/forge-exporter/internal/walk/blobtree"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

type options struct {
	binary          string
	duration        time.Duration
	warmup          time.Duration
	clients         int
	files           int
	records         int
	dir             string
	maxRSSGrowth    float64
	maxRSSSlackMiB  float64
	maxGoroutineAdd int
	maxHeapTrend    float64
	maxRSSTrend     float64
	kube            bool
	objects         int
	churnEvery      time.Duration
	sampleEvery     time.Duration
}

func run() error {
	var o options
	flag.StringVar(&o.binary, "binary", "bin/forge-exporter", "exporter binary to soak")
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long to scrape (after the warm-up)")
	flag.DurationVar(&o.warmup, "warmup", 0, "warm-up before the start measurement (default: 10% of -duration, at least 20s)")
	flag.IntVar(&o.clients, "clients", 4, "concurrent scrapers")
	flag.IntVar(&o.files, "files", 20000, "blobs in the generated tree")
	flag.IntVar(&o.records, "records", 300, "evidence records")
	flag.StringVar(&o.dir, "dir", os.TempDir(), "where the tree is generated (removed afterwards)")
	flag.Float64Var(&o.maxRSSGrowth, "max-rss-growth", 1.25, "fail when end RSS > start RSS × this + -max-rss-slack-mib")
	flag.Float64Var(&o.maxRSSSlackMiB, "max-rss-slack-mib", 16, "absolute RSS slack in MiB")
	flag.IntVar(&o.maxGoroutineAdd, "max-goroutine-growth", 10, "fail when goroutines grow by more than this")
	flag.Float64Var(&o.maxHeapTrend, "max-heap-trend-mib", 3, "fail when the heap after GC, at its slope over the second half of the run, grows by more than this many MiB (or 10% of the start heap) over that half")
	flag.Float64Var(&o.maxRSSTrend, "max-rss-trend-mib", 10, "fail when RSS, at its slope over the second half of the run, grows by more than this many MiB (or 10% of the start RSS) over that half")
	flag.BoolVar(&o.kube, "kube", true, "also run a real kube-apiserver (hack/realbin.sh) with churning objects; false skips it")
	flag.IntVar(&o.objects, "objects", 50, "objects of each Kubernetes kind kept while they churn")
	flag.DurationVar(&o.churnEvery, "churn-every", 100*time.Millisecond, "one Kubernetes kind replaces its oldest object this often (round robin over the kinds)")
	flag.DurationVar(&o.sampleEvery, "sample-every", 2*time.Second, "how often heap, RSS and goroutines are read")
	flag.Parse()
	if o.warmup == 0 {
		o.warmup = max(o.duration/10, 20*time.Second)
	}
	root, err := os.MkdirTemp(o.dir, "forge-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)

	fmt.Printf("soak: generating %d blobs and %d evidence records in %s\n", o.files, o.records, root)
	if err := os.MkdirAll(filepath.Join(root, "data"), 0o755); err != nil {
		return err
	}
	if _, err := blobtree.Generate(context.Background(), filepath.Join(root, "data", "packages"), blobtree.Options{Files: o.files, Seed: 1}); err != nil {
		return err
	}
	os.MkdirAll(filepath.Join(root, "data", "tmp", "package-upload"), 0o755)
	sample, err := os.ReadFile("examples/evidence/2026-11-24-source-forge.yaml")
	if err != nil {
		return fmt.Errorf("run from the repository root: %w", err)
	}
	ev := filepath.Join(root, "evidence")
	os.MkdirAll(ev, 0o755)
	for i := range o.records {
		os.WriteFile(filepath.Join(ev, fmt.Sprintf("r%05d.yaml", i)), sample, 0o644)
	}

	const token = "forge-soak-token-7e2a"
	gitea := giteafake.New(cleanupOnly{}, token)
	gitea.MaxItems = 50
	for i := range 40 {
		gitea.Runners = append(gitea.Runners, giteafake.Runner{ID: int64(i + 1), Name: fmt.Sprintf("runner-%02d", i), Online: i%3 != 0, Labels: []string{"ubuntu-latest"}})
	}
	gitea.Users = []string{"forge"}
	for i := range 200 {
		gitea.Packages["forge"] = append(gitea.Packages["forge"], giteafake.Package{ID: int64(i + 1), Type: "generic", Name: fmt.Sprintf("p%d", i%20), Version: fmt.Sprint(i), Sizes: []int64{int64(1000 + i)}})
	}
	defer gitea.Close()
	os.WriteFile(filepath.Join(root, "token"), []byte(token+"\n"), 0o600)

	kubeSection, kubeCollectors, evidenceCM := "", "", ""
	var world *kubeWorld
	if o.kube {
		fmt.Println("soak: starting etcd and kube-apiserver")
		kenv, err := kubeenv.Start(context.Background(), kubeenv.Options{Dir: filepath.Join(root, "kube")})
		if err != nil {
			return fmt.Errorf("kube harness (hack/realbin.sh ensure etcd kube-apiserver, or -kube=false): %w", err)
		}
		defer kenv.Stop()
		kc := filepath.Join(root, "kubeconfig")
		if err := kenv.WriteKubeconfig(kc, kenv.Config()); err != nil {
			return err
		}
		world = newKubeWorld(kenv, o.objects, sample)
		fmt.Printf("soak: filling the API server: %d of each of %s\n", o.objects, strings.Join(world.kindNames(), ", "))
		if err := world.fill(context.Background()); err != nil {
			return err
		}
		// Every PVC, not only the forge's: the churned ones must go through
		// the exporter's caches and series.
		kubeSection = "kubernetes:\n  kubeconfig: " + kc + "\n  discovery_interval: 5s\n  persistentvolumeclaims: [\"*\"]\n"
		kubeCollectors = ", pvc: true, cnpg: true, volumebackup: true"
		evidenceCM = "  configmap_label_selector: " + evidenceLabel + "=soak\n"
	}
	cfg := fmt.Sprintf(`collectors: {gitea: true, runners: true, registry: true`+kubeCollectors+`}
storage:
  volumes:
    - {name: data, path: data, namespace: default, persistentvolumeclaim: data}
  directories:
    - {name: data, path: data}
    - {name: packages, path: data/packages}
    - {name: package-upload, path: data/tmp/package-upload, incremental: false}
  scan_interval: 2s
  full_scan_interval: 1m
evidence:
  directories:
    - {name: soak, path: evidence}
`+evidenceCM+`  interval: 10s
  drills:
    - {kind: source-forge, max_age: 3650d}
gitea:
  url: %s
  token_file: token
  interval: 2s
  requests_per_second: 1000
  label_contract:
    - {label: ubuntu-latest, purpose: general CI jobs}
`+kubeSection, gitea.URL)
	cfgFile := filepath.Join(root, "forge-exporter.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		return err
	}

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(root, "exporter.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(o.binary, "--config.file="+cfgFile, "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
		}
	}()
	base := "http://" + addr
	if err := waitReady(base, exited); err != nil {
		return err
	}
	fmt.Printf("soak: exporter pid %d on %s; %d scrapers for %s after a %s warm-up\n", cmd.Process.Pid, addr, o.clients, o.duration, o.warmup)
	client := &http.Client{Timeout: 30 * time.Second}
	if world != nil {
		// The exporter must see the world before it is measured.
		if err := world.check(client, base, "at the start"); err != nil {
			return err
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		// pause stops the scrapers and the churn while the world and the
		// quiet readings are taken.
		pause   sync.RWMutex
		churnWG sync.WaitGroup
	)
	churnWG.Add(1)
	go func() { defer churnWG.Done(); churn(ctx, &pause, root, ev, sample, gitea) }()
	if world != nil {
		churnWG.Add(1)
		go func() { defer churnWG.Done(); world.churn(ctx, &pause, o.churnEvery) }()
	}

	var (
		mu        sync.Mutex
		latencies []time.Duration
		measuring atomic.Bool
		failures  atomic.Int64
		scrapes   atomic.Int64
		lastErr   atomic.Value
	)
	var wg sync.WaitGroup
	for range o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				pause.RLock()
				start := time.Now()
				err := scrape(client, base+"/metrics")
				d := time.Since(start)
				pause.RUnlock()
				scrapes.Add(1)
				if err != nil && ctx.Err() == nil {
					failures.Add(1)
					lastErr.Store(err.Error())
					continue
				}
				if measuring.Load() {
					mu.Lock()
					latencies = append(latencies, d)
					mu.Unlock()
				}
			}
		}()
	}

	quiet := func() (reading, float64, error) {
		pause.Lock()
		defer pause.Unlock()
		return measureQuiet(client, base, cmd.Process.Pid)
	}
	time.Sleep(o.warmup)
	start, startBG, err := quiet()
	if err != nil {
		return err
	}
	measuring.Store(true)
	startScrapes, startTime := scrapes.Load(), time.Now()
	fmt.Printf("soak: start  rss %.1f MiB, heap after GC %.1f MiB, goroutines %d (background allocation %.0f KiB/s)\n", start.rss, start.heapLive, start.goroutines, startBG/1024)

	// Windows of the readings taken while scraping: each window keeps its
	// lowest values (the GC that ran with the fewest scrapes in flight), so
	// the slope follows what stays, not the scrapes of the moment.
	windowLen := max(o.duration/20, 10*time.Second)
	var windows []window
	cur := window{start: time.Now()}
	sampleTick := time.NewTicker(o.sampleEvery)
	deadline := time.After(o.duration)
	lastPrint, lastScrapes, lastAlloc := time.Now(), scrapes.Load(), start.allocated
loop:
	for {
		select {
		case <-sampleTick.C:
			r, err := measure(client, base, cmd.Process.Pid)
			if err != nil {
				continue
			}
			cur.add(r)
			if time.Since(cur.start) >= windowLen {
				windows = append(windows, cur)
				n := scrapes.Load()
				rate := float64(n-lastScrapes) / time.Since(lastPrint).Seconds()
				perScrape := 0.0
				if n > lastScrapes {
					perScrape = (r.allocated - lastAlloc) / float64(n-lastScrapes)
				}
				fmt.Printf("soak: %s  heap after GC %.1f MiB, rss %.1f MiB, goroutines %d (lowest of the window); %.0f scrapes/s, %.2f MB allocated per scrape; %d failures\n",
					time.Now().Format("15:04:05"), cur.heapLive, cur.rss, cur.goroutines, rate, perScrape/1e6, failures.Load())
				lastPrint, lastScrapes, lastAlloc = time.Now(), n, r.allocated
				cur = window{start: time.Now()}
			}
		case err := <-exited:
			return fmt.Errorf("the exporter exited during the soak: %v (log: %s)", err, logFile.Name())
		case <-deadline:
			break loop
		}
	}
	sampleTick.Stop()
	endScrapes, elapsed := scrapes.Load(), time.Since(startTime)
	end, endBG, err := quiet()
	if err != nil {
		return err
	}
	var problems []string
	if world != nil {
		pause.Lock()
		if err := world.check(client, base, "at the end"); err != nil {
			problems = append(problems, err.Error())
		}
		pause.Unlock()
	}
	cancel()
	wg.Wait()
	churnWG.Wait()

	mu.Lock()
	slices.Sort(latencies)
	n := len(latencies)
	mu.Unlock()
	if n == 0 {
		return errors.New("no scrape finished during the measurement")
	}
	pct := func(p float64) time.Duration { return latencies[min(n-1, int(p*float64(n)))] }
	// Allocation per scrape: everything the process allocated while
	// scraping, less what it allocates anyway (samplers, informers),
	// measured while the scrapers were paused.
	bg := (startBG + endBG) / 2
	perScrape := (end.allocated - start.allocated - bg*elapsed.Seconds()) / float64(endScrapes-startScrapes)
	second := windows[len(windows)/2:]
	var half time.Duration
	if len(second) > 1 {
		half = second[len(second)-1].start.Sub(second[0].start)
	}
	heapSlope := slopePerHour(second, func(w window) float64 { return w.heapLive })
	rssSlope := slopePerHour(second, func(w window) float64 { return w.rss })
	gSlope := slopePerHour(second, func(w window) float64 { return float64(w.goroutines) })
	fmt.Printf("soak: %d scrapes measured over %s (%d clients, %.0f/s), %d failed\n", n, o.duration, o.clients, float64(endScrapes-startScrapes)/elapsed.Seconds(), failures.Load())
	fmt.Printf("soak: scrape latency p50 %s, p99 %s, max %s\n", pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), latencies[n-1].Round(time.Microsecond))
	fmt.Printf("soak: allocated per scrape %.2f MB (background %.0f KiB/s excluded)\n", perScrape/1e6, bg/1024)
	fmt.Printf("soak: rss %.1f -> %.1f MiB, heap after GC %.1f -> %.1f MiB, goroutines %d -> %d (quiet readings)\n", start.rss, end.rss, start.heapLive, end.heapLive, start.goroutines, end.goroutines)
	fmt.Printf("soak: slope over the second half (%d windows of %s): heap after GC %+.1f MiB/h (%+.2f MiB over the half), rss %+.1f MiB/h (%+.2f MiB), goroutines %+.1f/h\n",
		len(second), windowLen, heapSlope, heapSlope*half.Hours(), rssSlope, rssSlope*half.Hours(), gSlope)

	if f := failures.Load(); f > 0 {
		problems = append(problems, fmt.Sprintf("%d scrapes failed (last: %v)", f, lastErr.Load()))
	}
	if end.rss > start.rss*o.maxRSSGrowth+o.maxRSSSlackMiB {
		problems = append(problems, fmt.Sprintf("RSS grew from %.1f to %.1f MiB (bound %.1f)", start.rss, end.rss, start.rss*o.maxRSSGrowth+o.maxRSSSlackMiB))
	}
	if end.goroutines > start.goroutines+o.maxGoroutineAdd {
		problems = append(problems, fmt.Sprintf("goroutines grew from %d to %d", start.goroutines, end.goroutines))
	}
	if len(second) < 3 {
		problems = append(problems, fmt.Sprintf("only %d windows in the second half: too short to judge growth", len(second)))
	}
	// The bound is on the growth the slope implies over the second half,
	// not on the slope: a longer run then catches a slower leak, while
	// the noise of the window minima (about a MiB) stays as tolerable.
	if g, bound := heapSlope*half.Hours(), max(o.maxHeapTrend, start.heapLive/10); g > bound {
		problems = append(problems, fmt.Sprintf("the heap after GC grows %+.1f MiB/h over the second half: %+.1f MiB in %s (bound %.1f)", heapSlope, g, half.Round(time.Second), bound))
	}
	if g, bound := rssSlope*half.Hours(), max(o.maxRSSTrend, start.rss/10); g > bound {
		problems = append(problems, fmt.Sprintf("RSS grows %+.1f MiB/h over the second half: %+.1f MiB in %s (bound %.1f)", rssSlope, g, half.Round(time.Second), bound))
	}
	if log, err := os.ReadFile(logFile.Name()); err == nil && strings.Contains(string(log), token) {
		problems = append(problems, "the token appears in the exporter's log")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	fmt.Println("soak: PASS")
	return nil
}

// cleanupOnly lets giteafake run outside a test: New only registers its
// Close as a cleanup, which soak calls itself.
type cleanupOnly struct{ testing.TB }

func (cleanupOnly) Cleanup(func()) {}
func (cleanupOnly) Helper()        {}

// churn changes the sources while they are sampled: blobs appear and go,
// an upload grows, evidence records are rewritten and runners go on- and
// offline and new package versions are published.
func churn(ctx context.Context, pause *sync.RWMutex, root, ev string, sample []byte, gitea *giteafake.Server) {
	rng := rand.New(rand.NewPCG(1, 2))
	upload := filepath.Join(root, "data", "tmp", "package-upload", "chunk")
	next := int64(100000)
	for i := 0; ctx.Err() == nil; i++ {
		pause.RLock()
		d := filepath.Join(root, "data", "packages", "zz", fmt.Sprintf("%02x", i%16))
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, fmt.Sprintf("b%d", i)), make([]byte, rng.IntN(4096)), 0o644)
		if i%5 == 0 {
			os.RemoveAll(filepath.Join(root, "data", "packages", "zz", fmt.Sprintf("%02x", (i+8)%16)))
		}
		if f, err := os.OpenFile(upload, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			f.Write(make([]byte, 512))
			f.Close()
		}
		if i%50 == 0 {
			os.Remove(upload)
		}
		os.WriteFile(filepath.Join(ev, fmt.Sprintf("r%05d.yaml", i%10)), sample, 0o644)
		gitea.Mu.Lock()
		r := &gitea.Runners[rng.IntN(len(gitea.Runners))]
		r.Online = !r.Online
		next++
		gitea.Packages["forge"] = append(gitea.Packages["forge"][1:], giteafake.Package{ID: next, Type: "generic", Name: fmt.Sprintf("p%d", next%20), Version: fmt.Sprint(next), Sizes: []int64{next}})
		gitea.Mu.Unlock()
		pause.RUnlock()
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func scrape(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// reading is one look at the exporter: RSS and heap in MiB.
type reading struct {
	rss, heapLive float64
	goroutines    int
	// allocated is go_memstats_alloc_bytes_total: bytes allocated since start.
	allocated float64
}

// window keeps the lowest readings of a stretch of the run.
type window struct {
	start         time.Time
	n             int
	rss, heapLive float64
	goroutines    int
}

func (w *window) add(r reading) {
	if w.n == 0 || r.rss < w.rss {
		w.rss = r.rss
	}
	if w.n == 0 || r.heapLive < w.heapLive {
		w.heapLive = r.heapLive
	}
	if w.n == 0 || r.goroutines < w.goroutines {
		w.goroutines = r.goroutines
	}
	w.n++
}

// slopePerHour is the Theil-Sen slope (the median of the slopes between
// every pair of windows: one odd window cannot tilt it) per hour.
func slopePerHour(ws []window, v func(window) float64) float64 {
	var slopes []float64
	for i := range ws {
		for j := i + 1; j < len(ws); j++ {
			dt := ws[j].start.Sub(ws[i].start).Hours()
			if dt > 0 {
				slopes = append(slopes, (v(ws[j])-v(ws[i]))/dt)
			}
		}
	}
	if len(slopes) == 0 {
		return 0
	}
	slices.Sort(slopes)
	if len(slopes)%2 == 1 {
		return slopes[len(slopes)/2]
	}
	return (slopes[len(slopes)/2-1] + slopes[len(slopes)/2]) / 2
}

// measureQuiet, with the scrapers paused, reads three times a second apart
// and keeps the lowest values: background sweeps come and go, a leak stays.
// It also returns what the exporter allocated per second meanwhile.
func measureQuiet(c *http.Client, base string, pid int) (reading, float64, error) {
	var low reading
	var first, last reading
	var t0 time.Time
	for i := range 3 {
		time.Sleep(time.Second)
		r, err := measure(c, base, pid)
		if err != nil {
			return reading{}, 0, err
		}
		if i == 0 {
			low, first, t0 = r, r, time.Now()
		}
		low.rss, low.heapLive, low.goroutines = min(low.rss, r.rss), min(low.heapLive, r.heapLive), min(low.goroutines, r.goroutines)
		last = r
	}
	low.allocated = last.allocated
	// Each reading is a scrape too: take out the reading's own allocation,
	// at most what one reading allocated (the first one's cost is unknown,
	// so the background rate errs on the high side).
	return low, math.Max(0, (last.allocated-first.allocated)/time.Since(t0).Seconds()), nil
}

// measure returns the exporter's resident set (from /proc) and its heap
// after GC, goroutines and bytes allocated (from its own /metrics).
func measure(c *http.Client, base string, pid int) (reading, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return reading{}, err
	}
	var r reading
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			r.rss = kb / 1024
		}
	}
	vs, err := readMetrics(c, base, "go_goroutines", "go_gc_heap_live_bytes", "go_memstats_alloc_bytes_total")
	if err != nil {
		return reading{}, err
	}
	r.goroutines, r.heapLive, r.allocated = int(vs["go_goroutines"]), vs["go_gc_heap_live_bytes"]/(1<<20), vs["go_memstats_alloc_bytes_total"]
	return r, nil
}

// readMetrics scrapes /metrics once and returns the values of the named
// series (name with labels, as exposed); it fails when one is missing.
func readMetrics(c *http.Client, base string, series ...string) (map[string]float64, error) {
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	want := map[string]bool{}
	for _, s := range series {
		want[s] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		i := strings.LastIndexByte(l, ' ')
		if i < 0 || !want[l[:i]] {
			continue
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l, err)
		}
		out[l[:i]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, s := range series {
		if _, ok := out[s]; !ok {
			return nil, fmt.Errorf("no %s in /metrics", s)
		}
	}
	return out, nil
}

func waitReady(base string, exited chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("the exporter exited at start: %v", err)
		default:
		}
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("the exporter was not ready within 30s")
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
