package collectors

import (
	"context"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/railiance/forge-exporter/internal/kube"
	"github.com/railiance/forge-exporter/internal/testenv/kubeenv"
)

// TestVolumeBackupIntervalsAgainstRealAPIServer: the allowed age of a
// protected PVC's backup follows what really backs it up, in a real
// kube-apiserver: the cadence of its ready VolumeSnapshots, then the
// schedule and time zone of a CronJob the API server validated.
func TestVolumeBackupIntervalsAgainstRealAPIServer(t *testing.T) {
	crd, err := kubeenv.CRDFile("snapshot.storage.k8s.io_volumesnapshots.yaml")
	must(t, err)
	env := kubeenv.ForTest(t, kubeenv.Options{CRDs: []string{crd}})
	ctx := context.Background()
	admin := env.Clientset()
	k := kubeObjects{t: t, cs: admin, dyn: env.Dynamic()}
	_, err = env.ApplyFiles(ctx, "../examples/rbac/cluster.yaml")
	must(t, err)
	// Snapshots 6h, then 12h apart: cadence 12h. One of another PVC, and an
	// unready one, do not count.
	for _, snap := range []struct {
		name, pvc, at string
		ready         bool
	}{
		{"s1", "gitea-shared-storage", "2026-11-29T00:00:00Z", true},
		{"s2", "gitea-shared-storage", "2026-11-29T06:00:00Z", true},
		{"s3", "gitea-shared-storage", "2026-11-29T18:00:00Z", true},
		{"s4", "gitea-shared-storage", "2026-11-30T18:00:00Z", false},
		{"other", "other-pvc", "2026-11-01T00:00:00Z", true},
	} {
		k.create(kube.VolumeSnapshots, map[string]any{
			"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
			"metadata": map[string]any{"namespace": "default", "name": snap.name},
			"spec":     map[string]any{"source": map[string]any{"persistentVolumeClaimName": snap.pvc}},
			"status":   map[string]any{"readyToUse": snap.ready, "creationTime": snap.at},
		})
	}
	e := startKubeExporter(t, exporterConfig(t, env, "", "cluster"))
	const pvc = `namespace="default",persistentvolumeclaim="gitea-shared-storage"`
	e.want("snapshot cadence", map[string]float64{
		`forge_volume_backup_interval_seconds{mechanism="volumesnapshot",` + pvc + `}`: 12 * 3600,
		`forge_volume_backup_interval_seconds{mechanism="cronjob",` + pvc + `}`:        -1,
		`forge_volume_backup_mechanisms{mechanism="volumesnapshot",` + pvc + `}`:       3,
	})

	// A weekly CronJob at 03:00 on Sundays, Berlin time: across the autumn
	// clock change the gap is 7 days and 1 hour.
	tz := "Europe/Berlin"
	_, err = admin.BatchV1().CronJobs("default").Create(ctx, &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "gitea-files", Annotations: map[string]string{kube.BackupOfAnnotation: "gitea-shared-storage, other-pvc"}},
		Spec: batchv1.CronJobSpec{Schedule: "0 3 * * 0", TimeZone: &tz, JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "backup", Image: "restic/restic"}}}}}}},
	}, metav1.CreateOptions{})
	must(t, err)
	e.want("CronJob schedule in its time zone", map[string]float64{
		`forge_volume_backup_interval_seconds{mechanism="cronjob",` + pvc + `}`:        7*86400 + 3600,
		`forge_volume_backup_interval_seconds{mechanism="volumesnapshot",` + pvc + `}`: 12 * 3600,
		// other-pvc is not in protected_volumes: the annotation (and its
		// snapshot) add no series for it.
		`forge_volume_backup_configured{namespace="default",persistentvolumeclaim="other-pvc"}`:                     -1,
		`forge_volume_backup_mechanisms{mechanism="cronjob",namespace="default",persistentvolumeclaim="other-pvc"}`: -1,
	})
}
