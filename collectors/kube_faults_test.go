package collectors

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/railiance/forge-exporter/internal/kube"
	"github.com/railiance/forge-exporter/internal/testenv/kubeenv"
)

// faultProxy is a TCP proxy between the exporter and a real kube-apiserver
// (TLS passes through untouched: the server's certificate names 127.0.0.1,
// whatever the port). It can refuse connections (API unreachable), cut the
// open ones (connection lost), or delay every chunk the server sends (a
// slow API server).
type faultProxy struct {
	t       *testing.T
	address string
	target  string
	delay   atomic.Int64 // nanoseconds before each chunk from the server

	mu    sync.Mutex
	l     net.Listener // nil while refusing
	conns map[net.Conn]bool
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	p := &faultProxy{t: t, address: l.Addr().String(), l: l, target: target, conns: map[net.Conn]bool{}}
	go p.serve(l)
	t.Cleanup(func() { p.refuse(); p.cut() })
	return p
}

func (p *faultProxy) addr() string { return p.address }

// refuse closes the listening socket: connections are refused, as by a
// host whose API server is down.
func (p *faultProxy) refuse() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
}

// accept listens again on the same address.
func (p *faultProxy) accept() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		return
	}
	l, err := net.Listen("tcp", p.address)
	must(p.t, err)
	p.l = l
	go p.serve(l)
}

func (p *faultProxy) serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

func (p *faultProxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = true
	}
}

// cut closes every open connection, as a lost network does.
func (p *faultProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *faultProxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.track(c, up)
	go func() { io.Copy(up, c); up.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := up.Read(buf)
		if n > 0 {
			if d := time.Duration(p.delay.Load()); d > 0 {
				time.Sleep(d)
			}
			if _, werr := c.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	c.Close()
}

// TestKubeFaults runs the pvc, cnpg and volumebackup collectors against a
// real kube-apiserver through a fault proxy and through RBAC and CRD
// changes: the API unreachable at start, lost mid-run, slow, a 403 on one
// resource, a CRD deleted while watched. For each the scrape answers, only
// the affected collectors fail, cached data stays with its last-sync time
// visible, the log says it once, and recovery needs no restart.
func TestKubeFaults(t *testing.T) {
	crd := func(name string) string {
		f, err := kubeenv.CRDFile(name)
		must(t, err)
		return f
	}
	env := kubeenv.ForTest(t, kubeenv.Options{CRDs: []string{crd("postgresql.cnpg.io_backups.yaml"), crd("postgresql.cnpg.io_clusters.yaml"), crd("postgresql.cnpg.io_scheduledbackups.yaml")}})
	ctx := context.Background()
	admin := env.Clientset()
	_, err := env.ApplyFiles(ctx, "../examples/rbac/cluster.yaml")
	must(t, err)
	sc := "local-path"
	mkPVC := func(name string) {
		_, err := admin.CoreV1().PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &sc, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
		}, metav1.CreateOptions{})
		must(t, err)
	}
	mkPVC("gitea-shared-storage")
	_, err = admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "databases"}}, metav1.CreateOptions{})
	must(t, err)
	k := kubeObjects{t: t, cs: admin, dyn: env.Dynamic()}
	k.create(kube.Backups, backupYAML("databases", "b1", "gitea-db", "plugin", "completed", "2026-11-29T02:00:00Z", "2026-11-29T02:05:00Z"))

	target := strings.TrimPrefix(env.URL(), "https://")
	proxy := newFaultProxy(t, target)
	// The exporter's kubeconfig points at the proxy.
	saCfg, err := env.ServiceAccountConfig(ctx, "monitoring", "forge-exporter")
	must(t, err)
	saCfg.Host = "https://" + proxy.addr()
	kc := filepath.Join(t.TempDir(), "proxy.kubeconfig")
	must(t, env.WriteKubeconfig(kc, saCfg))
	cfgYAML := fmt.Sprintf(`collectors: {pvc: true, cnpg: true, volumebackup: true, directory: false, volume: false, drills: false}
kubernetes:
  kubeconfig: %s
  discovery_interval: 1s
  # The PVCs created during the faults, reported (and watched, each by
  # name) beside the protected one.
  persistentvolumeclaims: [default/after-outage, default/while-slow]
  protected_volumes:
    - namespace: default
      persistentvolumeclaim: gitea-shared-storage
`, kc)
	pvcReq := `forge_pvc_requested_bytes{namespace="default",persistentvolumeclaim="gitea-shared-storage"}`
	pvcSync := `forge_exporter_kube_last_sync_timestamp_seconds{group="",resource="persistentvolumeclaims"}`
	backup := `forge_cnpg_backup_last_success_timestamp_seconds{cluster="gitea-db",namespace="databases"}`
	success := func(c string) string { return `forge_exporter_collector_success{collector="` + c + `"}` }

	// 1. Unreachable at start: the exporter starts and scrapes answer; the
	// collectors report failure until the API answers, then recover.
	proxy.refuse()
	e := startKubeExporter(t, cfgYAML)
	e.want("API unreachable at start", map[string]float64{success("pvc"): 0, pvcReq: -1})
	if n := strings.Count(e.logs.String(), "kubernetes list/watch failed"); n == 0 {
		t.Errorf("the unreachable API server is not logged:\n%s", e.logs.String())
	}
	proxy.accept()
	e.want("recovered after the API came up", map[string]float64{success("pvc"): 1, success("cnpg"): 1, success("volumebackup"): 1, pvcReq: 1 << 30, backup: unixOf("2026-11-29T02:05:00Z")})

	// 2. Lost mid-run: open watches are cut and new connections refused.
	// The cached objects stay exported, their last-sync time stops, the
	// collectors fail; one log line per resource, not one per retry.
	_, vs := e.scrape()
	proxy.refuse()
	proxy.cut()
	e.want("API lost", map[string]float64{success("pvc"): 0, pvcReq: 1 << 30})
	time.Sleep(3 * time.Second) // several reflector retries
	_, lost := e.scrape()
	if lost[pvcSync] > vs[pvcSync]+5 {
		t.Errorf("last sync moved on while the API was gone: %v -> %v", vs[pvcSync], lost[pvcSync])
	}
	logsLost := e.logs.String()
	if n := strings.Count(logsLost, `"kubernetes list/watch failed; serving cached data until it recovers" resource=persistentvolumeclaims`); n > 2 {
		t.Errorf("%d log lines for the lost PVC watch: the log floods", n)
	}
	proxy.accept()
	mkPVC("after-outage")
	e.want("recovered after the outage", map[string]float64{success("pvc"): 1, success("cnpg"): 1,
		`forge_pvc_requested_bytes{namespace="default",persistentvolumeclaim="after-outage"}`: 1 << 30})

	// 3. Slow: every chunk the API server sends waits 1.5 s. Scrapes read
	// caches, so they do not slow down; changes arrive late but arrive.
	proxy.delay.Store(int64(1500 * time.Millisecond))
	proxy.cut() // new connections see the delay
	mkPVC("while-slow")
	// Every scrape while the change crawls through answers from the
	// caches: a timed-out collector would report success 0.
	e.want("a change through the slow API", map[string]float64{`forge_pvc_requested_bytes{namespace="default",persistentvolumeclaim="while-slow"}`: 1 << 30,
		success("pvc"): 1, success("cnpg"): 1, success("volumebackup"): 1})
	proxy.delay.Store(0)
	proxy.cut()

	// 4. A 403 for one resource: the ClusterRole loses cronjobs. Only
	// volumebackup (which reads CronJobs) fails; pvc and cnpg go on.
	role := strings.Replace(mustRead(t, "../examples/rbac/cluster.yaml"), "  - apiGroups: [batch]\n    resources: [cronjobs]\n    verbs: [get, list, watch]\n", "", 1)
	if !strings.Contains(mustRead(t, "../examples/rbac/cluster.yaml"), "resources: [cronjobs]") {
		t.Fatal("examples/rbac/cluster.yaml changed shape: update the 403 case")
	}
	_, err = env.Apply(ctx, []byte(role))
	must(t, err)
	proxy.cut() // the running watch was authorised at its start: force a relist
	e.want("403 on cronjobs", map[string]float64{success("volumebackup"): 0, success("pvc"): 1, success("cnpg"): 1})
	if !strings.Contains(e.logs.String(), "forbidden") {
		t.Errorf("the log does not say the list was forbidden:\n%s", e.logs.String())
	}
	_, err = env.ApplyFiles(ctx, "../examples/rbac/cluster.yaml")
	must(t, err)
	proxy.cut()
	e.want("403 lifted", map[string]float64{success("volumebackup"): 1, success("pvc"): 1, success("cnpg"): 1})

	// 5. A CRD deleted while watched: the resource is reported unavailable
	// (not an error: CNPG may be uninstalled on purpose), the rest goes on;
	// reinstalled, it is watched again.
	avail := `forge_exporter_kube_resource_available{group="postgresql.cnpg.io",resource="backups"}`
	must(t, env.DeleteCRD(ctx, "backups.postgresql.cnpg.io"))
	e.want("CRD deleted", map[string]float64{avail: 0, success("pvc"): 1})
	must(t, env.InstallCRDs(ctx, crd("postgresql.cnpg.io_backups.yaml")))
	k.create(kube.Backups, backupYAML("databases", "b2", "gitea-db", "plugin", "completed", "2026-11-30T02:00:00Z", "2026-11-30T02:05:00Z"))
	e.want("CRD back", map[string]float64{avail: 1, success("cnpg"): 1, backup: unixOf("2026-11-30T02:05:00Z")})

	// Through all of it the ServiceAccount token never reached a log line
	// or the exposition.
	out, _ := e.scrape()
	if tok := saCfg.BearerToken; tok == "" || strings.Contains(e.logs.String(), tok) || strings.Contains(out, tok) {
		t.Errorf("the ServiceAccount token is empty (%v) or leaked into the log or the exposition", tok == "")
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	return string(b)
}
