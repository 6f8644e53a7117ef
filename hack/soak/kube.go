package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/railiance/forge-exporter/internal/kube"
	"github.com/railiance/forge-exporter/internal/testenv/kubeenv"
)

// evidenceLabel marks the evidence ConfigMaps the exporter reads.
const evidenceLabel = "forge.railiance.io/evidence"

// kubeWorld is what the soak keeps in the API server: objects of each kind
// in namespace default, the oldest replaced by a new one, under a name never
// used before, so that state the exporter keeps per name and never frees
// would show as growth.
type kubeWorld struct {
	dyn     dynamic.Interface
	objects int
	kinds   []*kind
}

type kind struct {
	name string
	res  kube.Resource
	// selector limits what is counted (the evidence ConfigMaps).
	selector string
	build    func(name string, i int) map[string]any
	// protected kinds keep a finalizer on deletion: removed, as the
	// pvc-protection controller would.
	protected bool

	next, oldest int // names soak-<short>-<oldest> .. <next-1> exist
	short        string
	failed       int // API calls that failed even after retries
}

func newKubeWorld(env *kubeenv.Env, objects int, record []byte) *kubeWorld {
	meta := func(kind, apiVersion, name string, extra map[string]any) map[string]any {
		m := map[string]any{"name": name, "namespace": "default"}
		for k, v := range extra {
			m[k] = v
		}
		return map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": m}
	}
	with := func(obj map[string]any, key string, v any) map[string]any { obj[key] = v; return obj }
	w := &kubeWorld{dyn: env.Dynamic(), objects: objects}
	w.kinds = []*kind{
		{name: "PVCs", short: "pvc", res: kube.PersistentVolumeClaims, protected: true, build: func(n string, i int) map[string]any {
			return with(meta("PersistentVolumeClaim", "v1", n, nil), "spec", map[string]any{
				"storageClassName": "local-path", "accessModes": []any{"ReadWriteOnce"},
				"resources": map[string]any{"requests": map[string]any{"storage": fmt.Sprintf("%dMi", 1+i%100)}}})
		}},
		{name: "Backups", short: "backup", res: kube.Backups, build: func(n string, i int) map[string]any {
			return with(meta("Backup", "postgresql.cnpg.io/v1", n, nil), "spec", map[string]any{"cluster": map[string]any{"name": fmt.Sprintf("db-%d", i%5)}})
		}},
		{name: "ScheduledBackups", short: "schedule", res: kube.ScheduledBackups, build: func(n string, i int) map[string]any {
			return with(meta("ScheduledBackup", "postgresql.cnpg.io/v1", n, nil), "spec", map[string]any{
				"cluster": map[string]any{"name": fmt.Sprintf("soak-cluster-%d", i)}, "schedule": "0 0 2 * * *"})
		}},
		{name: "Clusters", short: "cluster", res: kube.Clusters, build: func(n string, i int) map[string]any {
			return with(meta("Cluster", "postgresql.cnpg.io/v1", n, nil), "spec", map[string]any{
				"instances": int64(1), "storage": map[string]any{"size": "1Gi"}})
		}},
		{name: "CronJobs", short: "cronjob", res: kube.CronJobs, build: func(n string, i int) map[string]any {
			return with(meta("CronJob", "batch/v1", n, map[string]any{"annotations": map[string]any{kube.BackupOfAnnotation: fmt.Sprintf("default/soak-pvc-%d", i)}}),
				"spec", map[string]any{"schedule": "0 3 * * *", "jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
					"restartPolicy": "Never", "containers": []any{map[string]any{"name": "backup", "image": "restic/restic"}}}}}}})
		}},
		{name: "VolumeSnapshots", short: "snapshot", res: kube.VolumeSnapshots, build: func(n string, i int) map[string]any {
			return with(meta("VolumeSnapshot", "snapshot.storage.k8s.io/v1", n, nil), "spec", map[string]any{
				"source": map[string]any{"persistentVolumeClaimName": fmt.Sprintf("soak-pvc-%d", i)}})
		}},
		{name: "evidence ConfigMaps", short: "evidence", res: kube.ConfigMaps, selector: evidenceLabel + "=soak", build: func(n string, i int) map[string]any {
			return with(meta("ConfigMap", "v1", n, map[string]any{"labels": map[string]any{evidenceLabel: "soak"}}), "data", map[string]any{"source-forge.yaml": string(record)})
		}},
	}
	return w
}

func (w *kubeWorld) kindNames() []string {
	var out []string
	for _, k := range w.kinds {
		out = append(out, k.name)
	}
	return out
}

func (w *kubeWorld) client(k *kind) dynamic.ResourceInterface {
	return w.dyn.Resource(k.res.GVR()).Namespace("default")
}

// retry runs an API call up to five times: a loaded API server times out
// now and then, and a failed call would leave the world off by one.
func retry(ctx context.Context, fn func() error) error {
	var err error
	for i := range 5 {
		if err = fn(); err == nil || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Duration(i+1) * 200 * time.Millisecond)
	}
	return err
}

// add creates the kind's next object.
func (w *kubeWorld) add(ctx context.Context, k *kind) error {
	name := fmt.Sprintf("soak-%s-%d", k.short, k.next)
	obj := &unstructured.Unstructured{Object: k.build(name, k.next)}
	err := retry(ctx, func() error {
		_, err := w.client(k).Create(ctx, obj, metav1.CreateOptions{})
		if err != nil && strings.Contains(err.Error(), "already exists") {
			return nil // an earlier attempt went through
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create %s %s: %w", k.name, name, err)
	}
	k.next++
	return nil
}

// remove deletes the kind's oldest object, and for a PVC the finalizer
// that holds it.
func (w *kubeWorld) remove(ctx context.Context, k *kind) error {
	name := fmt.Sprintf("soak-%s-%d", k.short, k.oldest)
	gone := func(err error) bool { return err != nil && strings.Contains(err.Error(), "not found") }
	err := retry(ctx, func() error {
		if err := w.client(k).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !gone(err) {
			return err
		}
		if !k.protected {
			return nil
		}
		_, err := w.client(k).Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		if gone(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete %s %s: %w", k.name, name, err)
	}
	k.oldest++
	return nil
}

// fill creates the objects of every kind.
func (w *kubeWorld) fill(ctx context.Context) error {
	for _, k := range w.kinds {
		for k.next < w.objects {
			if err := w.add(ctx, k); err != nil {
				return err
			}
		}
	}
	return nil
}

// churn replaces the oldest object of one kind every tick, round robin.
func (w *kubeWorld) churn(ctx context.Context, pause *sync.RWMutex, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		k := w.kinds[i%len(w.kinds)]
		pause.RLock()
		err := w.add(ctx, k)
		if err == nil {
			err = w.remove(ctx, k)
		}
		if err != nil && ctx.Err() == nil {
			k.failed++
			fmt.Println("soak: churn:", err)
		}
		pause.RUnlock()
	}
}

// check asserts the world (with the churn paused): each kind holds exactly
// the objects it should in the API server, no PVC is left Terminating, and
// the exporter's caches hold the same number (forge_exporter_kube_objects)
// and have read every evidence ConfigMap.
func (w *kubeWorld) check(c *http.Client, base, when string) error {
	ctx := context.Background()
	var problems, report []string
	series := map[string]float64{}
	for _, k := range w.kinds {
		var list *unstructured.UnstructuredList
		err := retry(ctx, func() (err error) {
			list, err = w.client(k).List(ctx, metav1.ListOptions{LabelSelector: k.selector})
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: listing %s: %w", when, k.name, err)
		}
		terminating := 0
		for _, o := range list.Items {
			if o.GetDeletionTimestamp() != nil {
				terminating++
			}
		}
		n := len(list.Items)
		report = append(report, fmt.Sprintf("%d %s", n, k.name))
		if n != w.objects || terminating > 0 {
			problems = append(problems, fmt.Sprintf("%d %s in the API server (%d Terminating), want %d", n, k.name, terminating, w.objects))
		}
		if k.failed > 0 {
			problems = append(problems, fmt.Sprintf("%d churn calls on %s failed", k.failed, k.name))
		}
		series[fmt.Sprintf(`forge_exporter_kube_objects{group="%s",resource="%s"}`, k.res.Group, k.res.Resource)] = float64(n)
	}
	series[`forge_evidence_records{source="configmap",validity="valid"}`] = float64(w.objects)
	// The exporter follows through its watches (and evidence every 10 s).
	var got map[string]float64
	var err error
	deadline := time.Now().Add(60 * time.Second)
	for {
		names := make([]string, 0, len(series))
		for s := range series {
			names = append(names, s)
		}
		got, err = readMetrics(c, base, names...)
		ok := err == nil
		for s, want := range series {
			ok = ok && got[s] == want
		}
		if ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		problems = append(problems, fmt.Sprintf("exporter: %v", err))
	}
	for s, want := range series {
		if err == nil && got[s] != want {
			problems = append(problems, fmt.Sprintf("exporter: %s = %v, want %v", s, got[s], want))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s the world is not the one the soak claims: %s", when, strings.Join(problems, "; "))
	}
	fmt.Printf("soak: world %s: %s in the API server and in the exporter's caches, no PVC Terminating, %d evidence records read from ConfigMaps\n", when, strings.Join(report, ", "), w.objects)
	return nil
}
