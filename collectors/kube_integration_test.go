package collectors

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/kube"
	"github.com/railiance/forge-exporter/internal/sampler"
	"github.com/railiance/forge-exporter/internal/testenv"
	"github.com/railiance/forge-exporter/internal/testenv/kubeenv"
)

// kubeExporter is the pvc, cnpg and volumebackup collectors (and trust's
// view of them) built from a config file, as serve builds them, against a
// real API server.
type kubeExporter struct {
	t    *testing.T
	inst *Instance
	logs *testenv.Buffer
}

func startKubeExporter(t *testing.T, configYAML string) *kubeExporter {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "forge-exporter.yaml")
	must(t, os.WriteFile(path, []byte(configYAML), 0o600))
	cfg, err := config.Load(path)
	must(t, err)
	logs := &testenv.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	inst, err := Build(Specs(), cfg, logger, sampler.NewMetrics(prometheus.NewRegistry()))
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	inst.Start(ctx)
	t.Cleanup(func() {
		cancel()
		inst.Stop()
	})
	return &kubeExporter{t: t, inst: inst, logs: logs}
}

func (e *kubeExporter) scrape() (string, map[string]float64) {
	e.t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.inst.Runner.Scrape(context.Background(), 10*time.Second))
	mfs, err := reg.Gather()
	must(e.t, err)
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	values := map[string]float64{}
	for _, mf := range mfs {
		must(e.t, enc.Encode(mf))
		for _, m := range mf.Metric {
			values[seriesKey(mf.GetName(), m)] = metricValue(m)
		}
	}
	return buf.String(), values
}

// want polls until every series has its value (NaN-free; "absent" is -1).
func (e *kubeExporter) want(what string, series map[string]float64) {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, vs := e.scrape()
		var bad []string
		for s, want := range series {
			got, ok := vs[s]
			if !ok {
				got = -1
			}
			if got != want {
				bad = append(bad, fmt.Sprintf("%s = %v, want %v", s, got, want))
			}
		}
		if len(bad) == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: %s\n%s\nlogs:\n%s", what, strings.Join(bad, "\n"), out, e.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func unixOf(s string) float64 {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return float64(t.Unix())
}

// kubeObjects creates objects through the API as admin; status goes
// through the status subresource, as the controllers would write it.
type kubeObjects struct {
	t   *testing.T
	cs  kubernetes.Interface
	dyn dynamic.Interface
}

func (k kubeObjects) create(r kube.Resource, obj map[string]any) {
	k.t.Helper()
	ctx := context.Background()
	u := &unstructured.Unstructured{Object: obj}
	status, hasStatus := obj["status"]
	ri := k.dyn.Resource(r.GVR()).Namespace(u.GetNamespace())
	created, err := ri.Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		k.t.Fatalf("create %s %s: %v", r, u.GetName(), err)
	}
	if hasStatus {
		created.Object["status"] = status
		if _, err := ri.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			k.t.Fatalf("status of %s %s: %v", r, u.GetName(), err)
		}
	}
}

func (k kubeObjects) patch(r kube.Resource, ns, name string, mutate func(u *unstructured.Unstructured)) {
	k.t.Helper()
	ctx := context.Background()
	ri := k.dyn.Resource(r.GVR()).Namespace(ns)
	u, err := ri.Get(ctx, name, metav1.GetOptions{})
	must(k.t, err)
	mutate(u)
	if _, err := ri.Update(ctx, u, metav1.UpdateOptions{}); err != nil {
		k.t.Fatalf("update %s %s: %v", r, name, err)
	}
}

func backupYAML(ns, name, cluster, method, phase, started, stopped string) map[string]any {
	status := map[string]any{"phase": phase, "method": method}
	if started != "" {
		status["startedAt"] = started
	}
	if stopped != "" {
		status["stoppedAt"] = stopped
	}
	return map[string]any{
		"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
		"metadata": map[string]any{"namespace": ns, "name": name},
		"spec":     map[string]any{"cluster": map[string]any{"name": cluster}, "method": method},
		"status":   status,
	}
}

// TestKubeAgainstRealAPIServer runs the exporter's Kubernetes collectors as
// a ServiceAccount bound to exactly the RBAC documented in examples/rbac,
// against a real kube-apiserver with the upstream CRDs, and follows objects
// as they change: new backups, a failed one, a suspended schedule, CRDs
// installed while the exporter runs.
func TestKubeAgainstRealAPIServer(t *testing.T) {
	crds := func(names ...string) []string {
		var out []string
		for _, n := range names {
			f, err := kubeenv.CRDFile(n)
			must(t, err)
			out = append(out, f)
		}
		return out
	}
	// CNPG is installed from the start; barman-cloud and VolumeSnapshot come later.
	env := kubeenv.ForTest(t, kubeenv.Options{CRDs: crds("postgresql.cnpg.io_backups.yaml", "postgresql.cnpg.io_clusters.yaml", "postgresql.cnpg.io_scheduledbackups.yaml")})
	ctx := context.Background()
	admin := env.Clientset()
	k := kubeObjects{t: t, cs: admin, dyn: env.Dynamic()}
	for _, ns := range []string{"default", "databases", "other"} {
		if ns != "default" {
			_, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
			must(t, err)
		}
	}

	// A local-path PVC bound to a node-pinned hostPath PV.
	sc := "local-path"
	_, err := admin.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-gitea", Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": "rancher.io/local-path"}},
		Spec: corev1.PersistentVolumeSpec{
			StorageClassName: sc, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/local-path/pvc-gitea"}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"node-a"}}}}}}},
		},
	}, metav1.CreateOptions{})
	must(t, err)
	for _, ns := range []string{"default", "other"} {
		p, err := admin.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gitea-shared-storage"},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &sc, VolumeName: "pvc-gitea",
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("8Gi")}}},
		}, metav1.CreateOptions{})
		must(t, err)
		p.Status.Phase = corev1.ClaimBound
		_, err = admin.CoreV1().PersistentVolumeClaims(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		must(t, err)
	}

	// The contract's database, backed up by the barman-cloud plugin.
	k.create(kube.Clusters, map[string]any{
		"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
		"metadata": map[string]any{"namespace": "databases", "name": "gitea-db"},
		"spec": map[string]any{"instances": int64(1), "storage": map[string]any{"size": "1Gi"},
			"plugins": []any{map[string]any{"name": kube.BarmanCloudPlugin, "isWALArchiver": true, "parameters": map[string]any{"barmanObjectName": "gitea-store"}}}},
		"status": map[string]any{
			"firstRecoverabilityPoint": "2026-10-01T00:00:00Z",
			"conditions": []any{
				map[string]any{"type": "ContinuousArchiving", "status": "True", "reason": "ContinuousArchivingSuccess", "message": "", "lastTransitionTime": "2026-11-30T00:00:00Z"},
			},
		},
	})
	k.create(kube.Clusters, map[string]any{
		"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
		"metadata": map[string]any{"namespace": "databases", "name": "unscheduled"},
		"spec":     map[string]any{"instances": int64(1), "storage": map[string]any{"size": "1Gi"}},
	})
	k.create(kube.Backups, backupYAML("databases", "b1", "gitea-db", "plugin", "completed", "2026-11-29T02:00:00Z", "2026-11-29T02:05:00Z"))
	k.create(kube.ScheduledBackups, map[string]any{
		"apiVersion": "postgresql.cnpg.io/v1", "kind": "ScheduledBackup",
		"metadata": map[string]any{"namespace": "databases", "name": "nightly"},
		"spec":     map[string]any{"cluster": map[string]any{"name": "gitea-db"}, "schedule": "0 0 2 * * *", "method": "plugin"},
		"status":   map[string]any{"lastScheduleTime": "2026-11-30T02:00:00Z", "nextScheduleTime": "2026-12-01T02:00:00Z"},
	})

	t.Run("cluster-wide", func(t *testing.T) {
		_, err := env.ApplyFiles(ctx, "../examples/rbac/cluster.yaml")
		must(t, err)
		e := startKubeExporter(t, exporterConfig(t, env, "", "cluster"))
		k.t = t
		e.want("initial state", map[string]float64{
			`forge_pvc_requested_bytes{namespace="default",persistentvolumeclaim="gitea-shared-storage"}`:                                                                                                      8 << 30,
			`forge_pvc_capacity_bytes{namespace="default",persistentvolumeclaim="gitea-shared-storage"}`:                                                                                                       10 << 30,
			`forge_pvc_phase{namespace="default",persistentvolumeclaim="gitea-shared-storage",phase="Bound"}`:                                                                                                  1,
			`forge_pvc_info{local="true",namespace="default",node="node-a",persistentvolumeclaim="gitea-shared-storage",provisioner="rancher.io/local-path",storageclass="local-path",volumename="pvc-gitea"}`: 1,
			`forge_pvc_requested_bytes{namespace="other",persistentvolumeclaim="gitea-shared-storage"}`:                                                                                                        -1, // not the forge's
			`forge_cnpg_backup_last_success_timestamp_seconds{cluster="gitea-db",namespace="databases"}`:                                                                                                       unixOf("2026-11-29T02:05:00Z"),
			`forge_cnpg_backup_last_duration_seconds{cluster="gitea-db",namespace="databases"}`:                                                                                                                300,
			`forge_cnpg_backups{cluster="gitea-db",namespace="databases",phase="completed"}`:                                                                                                                   1,
			`forge_cnpg_scheduled_backups{cluster="gitea-db",namespace="databases"}`:                                                                                                                           1,
			`forge_cnpg_scheduled_backups{cluster="unscheduled",namespace="databases"}`:                                                                                                                        0,
			`forge_cnpg_scheduled_backup_interval_seconds{cluster="gitea-db",namespace="databases",scheduledbackup="nightly"}`:                                                                                 86400,
			`forge_cnpg_scheduled_backup_last_timestamp_seconds{cluster="gitea-db",namespace="databases",scheduledbackup="nightly"}`:                                                                           unixOf("2026-11-30T02:00:00Z"),
			`forge_cnpg_scheduled_backup_next_timestamp_seconds{cluster="gitea-db",namespace="databases",scheduledbackup="nightly"}`:                                                                           unixOf("2026-12-01T02:00:00Z"),
			`forge_cnpg_scheduled_backup_suspended{cluster="gitea-db",namespace="databases",scheduledbackup="nightly"}`:                                                                                        0,
			`forge_cnpg_continuous_archiving{cluster="gitea-db",namespace="databases"}`:                                                                                                                        1,
			`forge_cnpg_recoverability_point_timestamp_seconds{cluster="gitea-db",namespace="databases",source="cluster"}`:                                                                                     unixOf("2026-10-01T00:00:00Z"),
			`forge_volume_backup_configured{namespace="default",persistentvolumeclaim="gitea-shared-storage"}`:                                                                                                 0,
			`forge_exporter_kube_resource_available{group="postgresql.cnpg.io",resource="backups"}`:                                                                                                            1,
			`forge_exporter_kube_resource_available{group="snapshot.storage.k8s.io",resource="volumesnapshots"}`:                                                                                               0,
			`forge_exporter_kube_resource_available{group="barmancloud.cnpg.io",resource="objectstores"}`:                                                                                                      0,
			`forge_exporter_collector_success{collector="pvc"}`:                                                                                                                                                1,
			`forge_exporter_collector_success{collector="cnpg"}`:                                                                                                                                               1,
			`forge_exporter_collector_success{collector="volumebackup"}`:                                                                                                                                       1,
			`forge_asset_trust_gate{asset="gitea-db",gate="backup_mechanism"}`:                                                                                                                                 1,
		})
		_, vs := e.scrape()
		if vs[`forge_exporter_kube_last_sync_timestamp_seconds{group="",resource="persistentvolumeclaims"}`] < float64(time.Now().Add(-time.Minute).Unix()) {
			t.Errorf("last sync timestamp of PVCs is not recent: %v", vs)
		}

		// A newer completed Backup (volume snapshot method), a failed one.
		k.create(kube.Backups, backupYAML("databases", "b2", "gitea-db", "volumeSnapshot", "completed", "2026-11-30T02:00:00Z", "2026-11-30T02:01:30Z"))
		k.create(kube.Backups, backupYAML("databases", "b3", "gitea-db", "plugin", "failed", "2026-11-30T03:00:00Z", "2026-11-30T03:00:10Z"))
		// The schedule is suspended.
		k.patch(kube.ScheduledBackups, "databases", "nightly", func(u *unstructured.Unstructured) {
			must(t, unstructured.SetNestedField(u.Object, true, "spec", "suspend"))
		})
		e.want("after new backups and a suspended schedule", map[string]float64{
			`forge_cnpg_backup_last_success_timestamp_seconds{cluster="gitea-db",namespace="databases"}`:                unixOf("2026-11-30T02:01:30Z"),
			`forge_cnpg_backup_last_duration_seconds{cluster="gitea-db",namespace="databases"}`:                         90,
			`forge_cnpg_backup_last_failure_timestamp_seconds{cluster="gitea-db",namespace="databases"}`:                unixOf("2026-11-30T03:00:10Z"),
			`forge_cnpg_backups{cluster="gitea-db",namespace="databases",phase="completed"}`:                            2,
			`forge_cnpg_backups{cluster="gitea-db",namespace="databases",phase="failed"}`:                               1,
			`forge_cnpg_scheduled_backup_suspended{cluster="gitea-db",namespace="databases",scheduledbackup="nightly"}`: 1,
			`forge_asset_trust_gate{asset="gitea-db",gate="backup_mechanism"}`:                                          0,
		})

		// barman-cloud and VolumeSnapshot CRDs are installed while the exporter runs.
		must(t, env.InstallCRDs(ctx, crds("barmancloud.cnpg.io_objectstores.yaml", "snapshot.storage.k8s.io_volumesnapshots.yaml")...))
		k.create(kube.ObjectStores, map[string]any{
			"apiVersion": "barmancloud.cnpg.io/v1", "kind": "ObjectStore",
			"metadata": map[string]any{"namespace": "databases", "name": "gitea-store"},
			"spec":     map[string]any{"configuration": map[string]any{"destinationPath": "s3://backups/"}},
			"status": map[string]any{"serverRecoveryWindow": map[string]any{
				"gitea-db": map[string]any{"firstRecoverabilityPoint": "2026-11-01T00:00:00Z", "lastSuccessfulBackupTime": "2026-11-30T02:01:30Z"}}},
		})
		k.create(kube.VolumeSnapshots, map[string]any{
			"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
			"metadata": map[string]any{"namespace": "default", "name": "gitea-snap-1"},
			"spec":     map[string]any{"source": map[string]any{"persistentVolumeClaimName": "gitea-shared-storage"}},
			"status":   map[string]any{"readyToUse": true, "creationTime": "2026-11-30T04:00:00Z"},
		})
		e.want("after CRDs installed late", map[string]float64{
			`forge_exporter_kube_resource_available{group="snapshot.storage.k8s.io",resource="volumesnapshots"}`:                                              1,
			`forge_exporter_kube_resource_available{group="barmancloud.cnpg.io",resource="objectstores"}`:                                                     1,
			`forge_cnpg_recoverability_point_timestamp_seconds{cluster="gitea-db",namespace="databases",source="objectstore"}`:                                unixOf("2026-11-01T00:00:00Z"),
			`forge_volume_backup_configured{namespace="default",persistentvolumeclaim="gitea-shared-storage"}`:                                                1,
			`forge_volume_backup_last_success_timestamp_seconds{mechanism="volumesnapshot",namespace="default",persistentvolumeclaim="gitea-shared-storage"}`: unixOf("2026-11-30T04:00:00Z"),
		})

		// An annotated CronJob now backs the PVC up too.
		cj, err := admin.BatchV1().CronJobs("default").Create(ctx, &batchv1.CronJob{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "gitea-files", Annotations: map[string]string{kube.BackupOfAnnotation: "default/gitea-shared-storage"}},
			Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "backup", Image: "restic/restic"}}}}}}},
		}, metav1.CreateOptions{})
		must(t, err)
		cj.Status.LastSuccessfulTime = &metav1.Time{Time: time.Date(2026, 11, 30, 3, 10, 0, 0, time.UTC)}
		_, err = admin.BatchV1().CronJobs("default").UpdateStatus(ctx, cj, metav1.UpdateOptions{})
		must(t, err)
		e.want("after an annotated CronJob", map[string]float64{
			`forge_volume_backup_mechanisms{mechanism="cronjob",namespace="default",persistentvolumeclaim="gitea-shared-storage"}`:                     1,
			`forge_volume_backup_last_success_timestamp_seconds{mechanism="cronjob",namespace="default",persistentvolumeclaim="gitea-shared-storage"}`: unixOf("2026-11-30T03:10:00Z"),
		})
		_, err = env.Apply(ctx, []byte("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: forge-exporter}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: forge-exporter}\nsubjects: []\n"))
		must(t, err)
	})

	t.Run("namespaced", func(t *testing.T) {
		_, err := env.ApplyFiles(ctx, "../examples/rbac/namespaced.yaml")
		must(t, err)
		k.t = t
		e := startKubeExporter(t, exporterConfig(t, env, "  namespaces: [default, databases]\n", "namespaced"))
		e.want("namespaced Roles suffice", map[string]float64{
			`forge_pvc_requested_bytes{namespace="default",persistentvolumeclaim="gitea-shared-storage"}`:      8 << 30,
			`forge_pvc_requested_bytes{namespace="other",persistentvolumeclaim="gitea-shared-storage"}`:        -1, // not watched
			`forge_pvc_capacity_bytes{namespace="default",persistentvolumeclaim="gitea-shared-storage"}`:       10 << 30,
			`forge_cnpg_backup_last_success_timestamp_seconds{cluster="gitea-db",namespace="databases"}`:       unixOf("2026-11-30T02:01:30Z"),
			`forge_volume_backup_configured{namespace="default",persistentvolumeclaim="gitea-shared-storage"}`: 1,
			`forge_exporter_collector_success{collector="pvc"}`:                                                1,
			`forge_exporter_collector_success{collector="cnpg"}`:                                               1,
			`forge_exporter_collector_success{collector="volumebackup"}`:                                       1,
		})
		_, vs := e.scrape()
		for s, v := range vs {
			if strings.HasPrefix(s, "forge_exporter_kube_list_watch_errors_total") && v != 0 {
				t.Errorf("%s = %v: the documented namespaced RBAC was not enough", s, v)
			}
		}

		// The same RBAC with a cluster-wide watch of every PVC is refused,
		// and says so.
		wide := startKubeExporter(t, exporterConfig(t, env, "  persistentvolumeclaims: [\"*\"]\n", "namespaced"))
		wide.want("cluster-wide watch with namespaced RBAC fails", map[string]float64{
			`forge_exporter_collector_success{collector="pvc"}`: 0,
		})
		if !strings.Contains(wide.logs.String(), "forbidden") {
			t.Errorf("the log does not say the list was forbidden:\n%s", wide.logs.String())
		}
	})
}

// exporterConfig writes the exporter configuration for a ServiceAccount
// token (a kubeconfig file) with extra kubernetes keys.
func exporterConfig(t *testing.T, env *kubeenv.Env, extra, sa string) string {
	t.Helper()
	cfg, err := env.ServiceAccountConfig(context.Background(), "monitoring", "forge-exporter")
	must(t, err)
	kc := filepath.Join(t.TempDir(), sa+".kubeconfig")
	must(t, env.WriteKubeconfig(kc, cfg))
	return fmt.Sprintf(`collectors: {pvc: true, cnpg: true, volumebackup: true, directory: false, volume: false, drills: false}
kubernetes:
  kubeconfig: %s
  discovery_interval: 1s
%s  protected_volumes:
    - namespace: default
      persistentvolumeclaim: gitea-shared-storage
assets:
  - name: gitea-db
    description: the Gitea database
    signals: {cnpg_clusters: [databases/gitea-db]}
`, kc, extra)
}
