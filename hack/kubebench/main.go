// Command kubebench measures the Kubernetes collectors at scale against a
// real kube-apiserver (internal/testenv/kubeenv): it fills the server with
// -backups CNPG Backups, -pvcs PVCs (each bound to a PV) and -schedules
// ScheduledBackups (one Cluster each), runs the real forge-exporter binary
// as a ServiceAccount with the documented cluster-wide RBAC, through a
// counting proxy, and reports /metrics latency (median, p99 over -scrapes
// scrapes), the exporter's RSS, and the API requests made while scraping.
//
//	go run ./hack/kubebench [-backups 10000 -pvcs 2000 -schedules 200 -scrapes 300]
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/railiance/forge-exporter/internal/testenv"
	"github.com/railiance/forge-exporter/internal/testenv/kubeenv"
)

func main() {
	backups := flag.Int("backups", 10000, "CNPG Backups")
	pvcs := flag.Int("pvcs", 2000, "PVCs (each bound to its own PV)")
	schedules := flag.Int("schedules", 200, "ScheduledBackups (one Cluster each; Backups spread over the Clusters)")
	scrapes := flag.Int("scrapes", 300, "timed /metrics scrapes")
	flag.Parse()
	if err := run(*backups, *pvcs, *schedules, *scrapes); err != nil {
		fmt.Fprintln(os.Stderr, "kubebench:", err)
		os.Exit(1)
	}
}

var (
	backupsGVR   = schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "backups"}
	schedulesGVR = schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "scheduledbackups"}
	clustersGVR  = schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "clusters"}
)

func run(nBackups, nPVCs, nSchedules, nScrapes int) error {
	ctx := context.Background()
	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "kubebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "forge-exporter")
	build := exec.Command("go", "build", "-o", bin, "./cmd/forge-exporter")
	build.Dir, build.Stderr = root, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building forge-exporter: %w", err)
	}

	t0 := time.Now()
	env, err := kubeenv.Start(ctx, kubeenv.Options{})
	if err != nil {
		return err
	}
	defer env.Stop()
	fmt.Printf("kube-apiserver ready with the fixture CRDs in %s\n", time.Since(t0).Round(time.Millisecond))

	t0 = time.Now()
	if err := fill(ctx, env, nBackups, nPVCs, nSchedules); err != nil {
		return err
	}
	fmt.Printf("created %d Backups, %d PVCs + PVs, %d ScheduledBackups + Clusters (status via the status subresource) in %s\n",
		nBackups, nPVCs, nSchedules, time.Since(t0).Round(time.Second))

	if _, err := env.ApplyFiles(ctx, filepath.Join(root, "examples", "rbac", "cluster.yaml")); err != nil {
		return err
	}
	sa, err := env.ServiceAccountConfig(ctx, "monitoring", "forge-exporter")
	if err != nil {
		return err
	}
	// The proxy adds the ServiceAccount's token: client-go sends no
	// credentials over plain HTTP.
	proxy, err := startProxy(env, sa.BearerToken)
	if err != nil {
		return err
	}
	kc := filepath.Join(work, "kubeconfig")
	viaProxy := &rest.Config{Host: proxy.url}
	if err := env.WriteKubeconfig(kc, viaProxy); err != nil {
		return err
	}
	var protected strings.Builder
	for i := 0; i < 50 && i < nPVCs; i++ {
		fmt.Fprintf(&protected, "    - {namespace: default, persistentvolumeclaim: data-%d}\n", i)
	}
	for _, variant := range []struct{ name, extra string }{
		{"every PVC reported (opt-in: kubernetes.persistentvolumeclaims: [\"*\"])", "  persistentvolumeclaims: [\"*\"]\n"},
		// The 50 share the 2,000's namespace, more than the PVCs watched one
		// by one (5): the cache holds that namespace's 2,000.
		{"default scope: the forge's 50 protected PVCs reported", ""},
	} {
		cfg := filepath.Join(work, "forge-exporter.yaml")
		err = os.WriteFile(cfg, []byte(fmt.Sprintf(`collectors: {pvc: true, cnpg: true, volumebackup: true, volume: false, directory: false, drills: false, trust: false}
kubernetes:
  kubeconfig: %s
  discovery_interval: 1m
%s  protected_volumes:
%s`, kc, variant.extra, protected.String())), 0o600)
		if err != nil {
			return err
		}
		fmt.Printf("\n== %s\n", variant.name)
		if err := measure(work, bin, cfg, proxy, nBackups, nPVCs, nSchedules, nScrapes); err != nil {
			return err
		}
	}
	return nil
}

// measure runs the exporter binary on cfg, waits for full caches, and
// times nScrapes scrapes.
func measure(work, bin, cfg string, proxy *proxy, nBackups, nPVCs, nSchedules, nScrapes int) error {
	addr, err := testenv.FreeAddr()
	if err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(work, "exporter.log"))
	if err != nil {
		return err
	}
	start := proxy.snapshot()
	cmd := exec.Command(bin, "--config.file="+cfg, "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	metricsURL := "http://" + addr + "/metrics"

	// Wait until every cache holds everything.
	t0 := time.Now()
	want := map[string]int{
		`forge_exporter_kube_objects{group="postgresql.cnpg.io",resource="backups"}`:          nBackups,
		`forge_exporter_kube_objects{group="postgresql.cnpg.io",resource="scheduledbackups"}`: nSchedules,
		`forge_exporter_kube_objects{group="",resource="persistentvolumeclaims"}`:             nPVCs,
	}
	for {
		body, _, err := get(metricsURL)
		if err == nil && hasAll(body, want) {
			break
		}
		if time.Since(t0) > 5*time.Minute {
			b, _ := os.ReadFile(logf.Name())
			return fmt.Errorf("the exporter's caches did not fill within 5 minutes\n%s", b)
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Printf("exporter caches synced %s after start\n", time.Since(t0).Round(time.Millisecond))

	// Warm up, then time the scrapes and count API requests meanwhile.
	for range 10 {
		if _, _, err := get(metricsURL); err != nil {
			return err
		}
	}
	before := proxy.snapshot()
	cpuBefore, err := cpuTime(cmd.Process.Pid)
	if err != nil {
		return err
	}
	var lat []time.Duration
	size, lines := 0, 0
	for range nScrapes {
		body, d, err := get(metricsURL)
		if err != nil {
			return err
		}
		size, lines = len(body), strings.Count(body, "\n")
		lat = append(lat, d)
	}
	after := proxy.snapshot()
	cpuAfter, err := cpuTime(cmd.Process.Pid)
	if err != nil {
		return err
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	rss, hwm, err := memory(cmd.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("%d scrapes of %s (%d KiB, %d lines of exposition each):\n", nScrapes, metricsURL, size>>10, lines)
	fmt.Printf("  /metrics latency   median %7.2f ms   p99 %7.2f ms   max %7.2f ms   (target p99 <= 20 ms)\n",
		ms(lat[len(lat)/2]), ms(lat[(len(lat)*99)/100]), ms(lat[len(lat)-1]))
	fmt.Printf("  exporter CPU       %.2f ms per scrape (user+system; independent of the machine's load)\n",
		ms((cpuAfter-cpuBefore)/time.Duration(nScrapes)))
	fmt.Printf("  exporter memory    RSS %6.1f MiB   peak RSS %6.1f MiB   (target <= 150 MiB)\n", rss, hwm)
	fmt.Printf("  API requests during the scrapes: %d (list/get %d, watch %d, discovery %d); per scrape %.3f (target 0)\n",
		after.total()-before.total(), after.list-before.list, after.watch-before.watch, after.discovery-before.discovery,
		float64(after.total()-before.total()-(after.discovery-before.discovery))/float64(nScrapes))
	fmt.Printf("  API requests since the exporter started: %d (list/get %d, watch %d, discovery %d)\n",
		after.total()-start.total(), after.list-start.list, after.watch-start.watch, after.discovery-start.discovery)
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func hasAll(body string, want map[string]int) bool {
	for series, n := range want {
		if !strings.Contains(body, series+" "+strconv.Itoa(n)+"\n") {
			return false
		}
	}
	return true
}

func get(u string) (string, time.Duration, error) {
	start := time.Now()
	resp, err := http.Get(u)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	d := time.Since(start)
	if err != nil {
		return "", 0, err
	}
	if resp.StatusCode != 200 {
		return "", 0, fmt.Errorf("%s: %s", u, resp.Status)
	}
	return string(b), d, nil
}

// memory returns the process's current and peak resident set in MiB.
func memory(pid int) (float64, float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	var rss, hwm float64
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = v / 1024
		case "VmHWM:":
			hwm = v / 1024
		}
	}
	return rss, hwm, nil
}

// cpuTime is the process's user+system CPU time from /proc/PID/stat.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may contain spaces) start at ")".
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clkTck, nil
}

// proxy forwards to the API server and counts the requests it sees.
type proxy struct {
	url                    string
	token                  string
	list, watch, discovery atomic.Int64
}

type counts struct{ list, watch, discovery int64 }

func (c counts) total() int64 { return c.list + c.watch + c.discovery }

func (p *proxy) snapshot() counts {
	return counts{p.list.Load(), p.watch.Load(), p.discovery.Load()}
}

func startProxy(env *kubeenv.Env, token string) (*proxy, error) {
	target, err := url.Parse(env.URL())
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(env.Config().CAData)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	rp.FlushInterval = -1 // stream watch events as they come
	p := &proxy{token: token}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.url = "http://" + l.Addr().String()
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		switch {
		case r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1":
			p.watch.Add(1)
		case (segs[0] == "api" && len(segs) <= 2) || (segs[0] == "apis" && len(segs) <= 3):
			p.discovery.Add(1)
		default:
			p.list.Add(1)
		}
		r.Header.Set("Authorization", "Bearer "+p.token)
		rp.ServeHTTP(w, r)
	}))
	return p, nil
}

// fill creates the objects with a few parallel workers.
func fill(ctx context.Context, env *kubeenv.Env, nBackups, nPVCs, nSchedules int) error {
	cs := env.Clientset()
	dyn := env.Dynamic()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "databases"}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	jobs := make(chan func() error)
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := j(); err != nil {
					firstErr.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	sc := "local-path"
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range nSchedules {
		cluster := fmt.Sprintf("db-%d", i)
		jobs <- func() error {
			_, err := dyn.Resource(clustersGVR).Namespace("databases").Create(ctx, &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
				"metadata": map[string]any{"namespace": "databases", "name": cluster},
				"spec":     map[string]any{"instances": int64(1), "storage": map[string]any{"size": "1Gi"}},
			}}, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			return createWithStatus(ctx, dyn, schedulesGVR, map[string]any{
				"apiVersion": "postgresql.cnpg.io/v1", "kind": "ScheduledBackup",
				"metadata": map[string]any{"namespace": "databases", "name": cluster + "-nightly"},
				"spec":     map[string]any{"cluster": map[string]any{"name": cluster}, "schedule": "0 0 2 * * *"},
			}, map[string]any{"lastScheduleTime": "2026-11-30T02:00:00Z", "nextScheduleTime": "2026-12-01T02:00:00Z"})
		}
	}
	for i := range nBackups {
		cluster := fmt.Sprintf("db-%d", i%max(nSchedules, 1))
		start := base.Add(time.Duration(i) * time.Minute)
		phase := "completed"
		if i%20 == 0 {
			phase = "failed"
		}
		jobs <- func() error {
			return createWithStatus(ctx, dyn, backupsGVR, map[string]any{
				"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
				"metadata": map[string]any{"namespace": "databases", "name": fmt.Sprintf("%s-%d", cluster, i)},
				"spec":     map[string]any{"cluster": map[string]any{"name": cluster}, "method": "plugin"},
			}, map[string]any{"phase": phase, "method": "plugin",
				"startedAt": start.Format(time.RFC3339), "stoppedAt": start.Add(5 * time.Minute).Format(time.RFC3339)})
		}
	}
	for i := range nPVCs {
		jobs <- func() error {
			name := fmt.Sprintf("data-%d", i)
			_, err := cs.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{
				ObjectMeta: metav1.ObjectMeta{Name: "pv-" + name},
				Spec: corev1.PersistentVolumeSpec{StorageClassName: sc, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
					PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/" + name}}},
			}, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			p, err := cs.CoreV1().PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
				Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &sc, VolumeName: "pv-" + name,
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("8Gi")}}},
			}, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			p.Status.Phase = corev1.ClaimBound
			_, err = cs.CoreV1().PersistentVolumeClaims("default").UpdateStatus(ctx, p, metav1.UpdateOptions{})
			return err
		}
	}
	close(jobs)
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return *e
	}
	return nil
}

func createWithStatus(ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource, obj, status map[string]any) error {
	u := &unstructured.Unstructured{Object: obj}
	ri := dyn.Resource(gvr).Namespace(u.GetNamespace())
	created, err := ri.Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	created.Object["status"] = status
	_, err = ri.UpdateStatus(ctx, created, metav1.UpdateOptions{})
	return err
}
