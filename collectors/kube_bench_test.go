package collectors

import (
	"bytes"
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/railiance/forge-exporter/internal/exporter"
	"github.com/railiance/forge-exporter/internal/kube"
	"github.com/railiance/forge-exporter/internal/kube/kubefake"
)

// BenchmarkKubeScrape measures one scrape of the three Kubernetes
// collectors over caches holding 10,000 Backups, 2,000 PVCs (bound to PVs)
// and 200 ScheduledBackups: collect, gather and encode, as /metrics does.
// scaleObjects returns pvcs PVCs bound to as many PVs, schedules CNPG
// ScheduledBackups (with their Clusters when clusters is true, one per
// schedule) and backups Backups spread over them.
func scaleObjects(pvcs, schedules, backups int, clusters bool) []runtime.Object {
	var objs []runtime.Object
	sc := "local-path"
	for i := range pvcs {
		name := fmt.Sprintf("data-%d", i)
		objs = append(objs, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-" + name},
			Spec: corev1.PersistentVolumeSpec{Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv"}}}},
			&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
				Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &sc, VolumeName: "pv-" + name,
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("8Gi")}}},
				Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}})
	}
	for i := range schedules {
		objs = append(objs, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "postgresql.cnpg.io/v1", "kind": "ScheduledBackup",
			"metadata": map[string]any{"namespace": "databases", "name": fmt.Sprintf("db-%d-nightly", i)},
			"spec":     map[string]any{"cluster": map[string]any{"name": fmt.Sprintf("db-%d", i)}, "schedule": "0 0 2 * * *"},
			"status":   map[string]any{"lastScheduleTime": "2026-11-30T02:00:00Z", "nextScheduleTime": "2026-12-01T02:00:00Z"},
		}})
		if clusters {
			objs = append(objs, &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
				"metadata": map[string]any{"namespace": "databases", "name": fmt.Sprintf("db-%d", i)},
				"status":   map[string]any{"conditions": []any{map[string]any{"type": "ContinuousArchiving", "status": "True"}}},
			}})
		}
	}
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range backups {
		start := base.Add(time.Duration(i) * time.Minute)
		objs = append(objs, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
			"metadata": map[string]any{"namespace": "databases", "name": fmt.Sprintf("b-%d", i)},
			"spec":     map[string]any{"cluster": map[string]any{"name": fmt.Sprintf("db-%d", i%schedules)}},
			"status": map[string]any{"phase": "completed", "startedAt": start.Format(time.RFC3339),
				"stoppedAt": start.Add(5 * time.Minute).Format(time.RFC3339)},
		}})
	}
	return objs
}

func BenchmarkKubeScrape(b *testing.B) {
	objs := scaleObjects(2000, 200, 10000, false)
	f := kubefake.New(objs...)
	f.Discovery.Serve(kube.Backups, kube.ScheduledBackups, kube.Clusters, kube.ObjectStores, kube.VolumeSnapshots)
	src := kube.NewSource(quietLogger(), f.Clients(), kube.Options{DiscoveryInterval: time.Hour, HealthOwner: "pvc"})
	pvc := NewPVCCollector(src, allPVCs())
	cnpg := NewCNPGCollector(quietLogger(), src)
	vb := NewVolumeBackupCollector(src)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go src.Run(ctx)
	for {
		l, err := src.Backups()
		if err == nil && len(l) == 10000 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := exporter.NewRunner(quietLogger(), []exporter.Named{{Name: "pvc", Collector: pvc}, {Name: "cnpg", Collector: cnpg}, {Name: "volumebackup", Collector: vb}}, nil)
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	defer func() {
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
		cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
	}()
	for range b.N {
		reg := prometheus.NewRegistry()
		reg.MustRegister(r.Scrape(context.Background(), 10*time.Second))
		mfs, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				b.Fatal(err)
			}
		}
	}
}
