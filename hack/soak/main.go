// Command soak is `make soak`: it runs the exporter binary as one process
// on a generated blob tree, evidence records and a fake Gitea whose
// runners and packages keep changing, and from this second process scrapes
// /metrics continuously with several clients for -duration while the tree
// and records churn, and (with the Kubernetes harness) PVCs and CNPG
// Backups come and go in a real kube-apiserver. It reports p50/p99/max scrape latency and the
// exporter's RSS and goroutine count after a warm-up and at the end, and
// exits 1 when a scrape fails or RSS or goroutines grew beyond the bounds.
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

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/railiance/forge-exporter/internal/kube"
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
	kube            bool
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
	flag.BoolVar(&o.kube, "kube", true, "also run a real kube-apiserver (hack/realbin.sh) with churning PVCs and CNPG Backups; false skips it")
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

	kubeSection, kubeCollectors := "", ""
	var kenv *kubeenv.Env
	if o.kube {
		fmt.Println("soak: starting etcd and kube-apiserver")
		kenv, err = kubeenv.Start(context.Background(), kubeenv.Options{Dir: filepath.Join(root, "kube")})
		if err != nil {
			return fmt.Errorf("kube harness (hack/realbin.sh ensure etcd kube-apiserver, or -kube=false): %w", err)
		}
		defer kenv.Stop()
		kc := filepath.Join(root, "kubeconfig")
		if err := kenv.WriteKubeconfig(kc, kenv.Config()); err != nil {
			return err
		}
		kubeSection = "kubernetes:\n  kubeconfig: " + kc + "\n  discovery_interval: 5s\n"
		kubeCollectors = ", pvc: true, cnpg: true, volumebackup: true"
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
  interval: 10s
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

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var churnWG sync.WaitGroup
	churnWG.Add(1)
	go func() { defer churnWG.Done(); churn(ctx, root, ev, sample, gitea) }()
	if kenv != nil {
		churnWG.Add(1)
		go func() { defer churnWG.Done(); churnKube(ctx, kenv) }()
	}

	var (
		mu        sync.Mutex
		latencies []time.Duration
		measuring atomic.Bool
		failures  atomic.Int64
		scrapes   atomic.Int64
		lastErr   atomic.Value
		// gate pauses the scrapers while RSS and goroutines are measured,
		// so in-flight scrapes do not count as growth.
		gate sync.RWMutex
	)
	client := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for range o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				gate.RLock()
				start := time.Now()
				err := scrape(client, base+"/metrics")
				d := time.Since(start)
				gate.RUnlock()
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

	quiet := func() (float64, int, error) {
		gate.Lock()
		defer gate.Unlock()
		return measureQuiet(client, base, cmd.Process.Pid)
	}
	time.Sleep(o.warmup)
	startRSS, startG, err := quiet()
	if err != nil {
		return err
	}
	measuring.Store(true)
	fmt.Printf("soak: start  rss %.1f MiB, goroutines %d\n", startRSS, startG)
	tick := time.NewTicker(max(o.duration/10, 10*time.Second))
	deadline := time.After(o.duration)
loop:
	for {
		select {
		case <-tick.C:
			rss, g, err := measure(client, base, cmd.Process.Pid)
			if err == nil {
				fmt.Printf("soak: %s  rss %.1f MiB, goroutines %d, scrapes %d, failures %d\n", time.Now().Format("15:04:05"), rss, g, scrapes.Load(), failures.Load())
			}
		case err := <-exited:
			return fmt.Errorf("the exporter exited during the soak: %v (log: %s)", err, logFile.Name())
		case <-deadline:
			break loop
		}
	}
	tick.Stop()
	endRSS, endG, err := quiet()
	if err != nil {
		return err
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
	fmt.Printf("soak: %d scrapes measured over %s (%d clients), %d failed\n", n, o.duration, o.clients, failures.Load())
	fmt.Printf("soak: scrape latency p50 %s, p99 %s, max %s\n", pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), latencies[n-1].Round(time.Microsecond))
	fmt.Printf("soak: rss %.1f -> %.1f MiB, goroutines %d -> %d\n", startRSS, endRSS, startG, endG)

	var problems []string
	if f := failures.Load(); f > 0 {
		problems = append(problems, fmt.Sprintf("%d scrapes failed (last: %v)", f, lastErr.Load()))
	}
	if endRSS > startRSS*o.maxRSSGrowth+o.maxRSSSlackMiB {
		problems = append(problems, fmt.Sprintf("RSS grew from %.1f to %.1f MiB (bound %.1f)", startRSS, endRSS, startRSS*o.maxRSSGrowth+o.maxRSSSlackMiB))
	}
	if endG > startG+o.maxGoroutineAdd {
		problems = append(problems, fmt.Sprintf("goroutines grew from %d to %d", startG, endG))
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
func churn(ctx context.Context, root, ev string, sample []byte, gitea *giteafake.Server) {
	rng := rand.New(rand.NewPCG(1, 2))
	upload := filepath.Join(root, "data", "tmp", "package-upload", "chunk")
	next := int64(100000)
	for i := 0; ctx.Err() == nil; i++ {
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
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// churnKube keeps 50 PVCs and 50 CNPG Backups in the API server, replacing
// a few of each every 200 ms, so the informers see a steady stream of
// adds, updates and deletes.
func churnKube(ctx context.Context, env *kubeenv.Env) {
	cs := env.Clientset()
	dyn := env.Dynamic().Resource(kube.Backups.GVR()).Namespace("default")
	sc := "local-path"
	for i := 0; ctx.Err() == nil; i++ {
		name := fmt.Sprintf("soak-%d", i)
		cs.CoreV1().PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &sc, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(fmt.Sprintf("%dMi", 1+i%100))}}},
		}, metav1.CreateOptions{})
		dyn.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
			"metadata": map[string]any{"name": name},
			"spec":     map[string]any{"cluster": map[string]any{"name": fmt.Sprintf("db-%d", i%5)}},
		}}, metav1.CreateOptions{})
		if i >= 50 {
			old := fmt.Sprintf("soak-%d", i-50)
			cs.CoreV1().PersistentVolumeClaims("default").Delete(ctx, old, metav1.DeleteOptions{})
			dyn.Delete(ctx, old, metav1.DeleteOptions{})
		}
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

// measureQuiet measures three times a second apart and keeps the lowest
// goroutine count and RSS: background sweeps come and go, a leak stays.
func measureQuiet(c *http.Client, base string, pid int) (float64, int, error) {
	rss, g := 0.0, 0
	for i := range 3 {
		time.Sleep(time.Second)
		r, n, err := measure(c, base, pid)
		if err != nil {
			return 0, 0, err
		}
		if i == 0 || r < rss {
			rss = r
		}
		if i == 0 || n < g {
			g = n
		}
	}
	return rss, g, nil
}

// measure returns the exporter's resident set (MiB, from /proc) and its
// goroutine count (from its own go_goroutines).
func measure(c *http.Client, base string, pid int) (float64, int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	var rss float64
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			rss = kb / 1024
		}
	}
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			g, err := strconv.ParseFloat(v, 64)
			return rss, int(g), err
		}
	}
	return 0, 0, errors.New("no go_goroutines in /metrics")
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
