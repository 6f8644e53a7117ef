package collectors

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/railiance/forge-exporter/internal/testenv/kubeenv"
)

// TestPVCScopeAgainstRealAPIServer puts the forge's PVCs among 200
// unrelated ones in a real kube-apiserver. By default only the forge's are
// reported, and the cache holds only them (named watches in "default") or
// their namespace ("databases", where the forge has more PVCs than are
// watched one by one), never "other"; a forge PVC created later appears.
// With persistentvolumeclaims: ["*"] every PVC is reported.
func TestPVCScopeAgainstRealAPIServer(t *testing.T) {
	env := kubeenv.ForTest(t, kubeenv.Options{})
	ctx := context.Background()
	admin := env.Clientset()
	for _, ns := range []string{"databases", "other"} {
		_, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		must(t, err)
	}
	_, err := env.ApplyFiles(ctx, "../examples/rbac/cluster.yaml")
	must(t, err)
	sc := "local-path"
	create := func(ns, name string) {
		t.Helper()
		_, err := admin.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &sc, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
		}, metav1.CreateOptions{})
		must(t, err)
	}
	// The forge: a storage volume's PVC and an asset's in "default", six
	// protected database volumes in "databases", and default/late, protected
	// but created only once the exporter runs.
	forge := []string{"default/gitea-shared-storage", "default/registry"}
	var protected strings.Builder
	for i := range 6 {
		forge = append(forge, fmt.Sprintf("databases/pg-%d", i))
		fmt.Fprintf(&protected, "    - {namespace: databases, persistentvolumeclaim: pg-%d}\n", i)
	}
	for _, ref := range forge {
		ns, name, _ := strings.Cut(ref, "/")
		create(ns, name)
	}
	unrelated := map[string]int{"default": 100, "databases": 40, "other": 60}
	for ns, n := range unrelated {
		for i := range n {
			create(ns, fmt.Sprintf("app-%d", i))
		}
	}

	sa, err := env.ServiceAccountConfig(ctx, "monitoring", "forge-exporter")
	must(t, err)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	must(t, env.WriteKubeconfig(kc, sa))
	configFor := func(extra string) string {
		return fmt.Sprintf(`collectors: {pvc: true, cnpg: false, volumebackup: false, directory: false, volume: false, drills: false, trust: false}
storage:
  volumes:
    - {name: gitea-data, path: %s, namespace: default, persistentvolumeclaim: gitea-shared-storage}
kubernetes:
  kubeconfig: %s
%s  protected_volumes:
    - {namespace: default, persistentvolumeclaim: late}
%sassets:
  - name: registry
    description: the package registry
    signals: {persistentvolumeclaims: [default/registry]}
`, t.TempDir(), kc, extra, protected.String())
	}
	const cached = `forge_exporter_kube_objects{group="",resource="persistentvolumeclaims"}`
	reported := func(vs map[string]float64) []string {
		var out []string
		for s := range vs {
			if rest, ok := strings.CutPrefix(s, `forge_pvc_requested_bytes{namespace="`); ok {
				ns, rest, _ := strings.Cut(rest, `",persistentvolumeclaim="`)
				name, _, _ := strings.Cut(rest, `"`)
				out = append(out, ns+"/"+name)
			}
		}
		slices.Sort(out)
		return out
	}
	waitFor := func(e *kubeExporter, what string, want []string, wantCached int) {
		t.Helper()
		slices.Sort(want)
		var got []string
		var vs map[string]float64
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			_, vs = e.scrape()
			got = reported(vs)
			if slices.Equal(got, want) && vs[cached] == float64(wantCached) {
				return
			}
			if time.Now().Before(deadline) {
				continue
			}
			t.Fatalf("%s: reported %d PVCs %v (want %d %v), %s = %v (want %d)", what, len(got), got, len(want), want, cached, vs[cached], wantCached)
		}
	}

	t.Run("default: the forge's PVCs", func(t *testing.T) {
		e := startKubeExporter(t, configFor(""))
		// Cached: the 2 named in "default" and all 46 of "databases".
		waitFor(e, "at start", slices.Clone(forge), 2+6+unrelated["databases"])
		create("default", "late")
		waitFor(e, "after the late PVC", append(slices.Clone(forge), "default/late"), 3+6+unrelated["databases"])
		_, vs := e.scrape()
		if v := vs[`forge_exporter_collector_success{collector="pvc"}`]; v != 1 {
			t.Errorf("pvc collector success = %v", v)
		}
	})
	t.Run("opt-in: every PVC", func(t *testing.T) {
		e := startKubeExporter(t, configFor("  persistentvolumeclaims: [\"*\"]\n"))
		all := append(slices.Clone(forge), "default/late")
		for _, ns := range slices.Sorted(maps.Keys(unrelated)) {
			for i := range unrelated[ns] {
				all = append(all, fmt.Sprintf("%s/app-%d", ns, i))
			}
		}
		waitFor(e, "every PVC", all, len(all))
	})
}
