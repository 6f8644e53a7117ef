package collectors

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/railiance/forge-exporter/internal/kube"
	"github.com/railiance/forge-exporter/internal/testenv/kubeenv"
)

// TestScheduledBackupSchedulesAgainstRealAPIServer stores ScheduledBackups
// with the schedules operators write in a real kube-apiserver (with CNPG's
// CRD, which leaves spec.schedule to CNPG's parser) and checks what the
// exporter reads from them: the longest gap as CNPG runs the schedule,
// whatever the weekday today; a schedule CNPG cannot run counted and logged
// once; and a fixed schedule picked up through the watch.
func TestScheduledBackupSchedulesAgainstRealAPIServer(t *testing.T) {
	crd, err := kubeenv.CRDFile("postgresql.cnpg.io_scheduledbackups.yaml")
	must(t, err)
	var crds []string
	for _, n := range []string{"postgresql.cnpg.io_backups.yaml", "postgresql.cnpg.io_clusters.yaml"} {
		f, err := kubeenv.CRDFile(n)
		must(t, err)
		crds = append(crds, f)
	}
	env := kubeenv.ForTest(t, kubeenv.Options{CRDs: append(crds, crd)})
	ctx := context.Background()
	k := kubeObjects{t: t, cs: env.Clientset(), dyn: env.Dynamic()}
	_, err = env.ApplyFiles(ctx, "../examples/rbac/cluster.yaml")
	must(t, err)
	schedules := map[string]string{
		"weekday-hourly":  "0 0 * * * 1-5",      // Friday 23:00 to Monday 00:00
		"weekday-nightly": "0 30 1 * * MON-FRI", // Friday to Monday
		"crontab-habit":   "0 2 * * *",          // five fields in CNPG: minute 2 of every hour
		"five-fields":     "0 0 2 * *",          // 02:00:00 daily
		"month-end":       "0 0 22 28 * *",
		"descriptor":      "@weekly",
		"every":           "@every 6h",
		"garbled":         "0 0 2 * * 7", // CNPG's parser rejects a day of week 7
		"february-30":     "0 0 0 30 2 *",
	}
	for name, spec := range schedules {
		k.create(kube.ScheduledBackups, map[string]any{
			"apiVersion": "postgresql.cnpg.io/v1", "kind": "ScheduledBackup",
			"metadata": map[string]any{"namespace": "default", "name": name},
			"spec":     map[string]any{"cluster": map[string]any{"name": "gitea-db"}, "schedule": spec},
		})
	}
	e := startKubeExporter(t, exporterConfig(t, env, "", "cluster"))
	sb := func(metric, name string) string {
		return metric + `{cluster="gitea-db",namespace="default",scheduledbackup="` + name + `"}`
	}
	want := map[string]float64{
		`forge_exporter_kube_invalid_objects{group="postgresql.cnpg.io",resource="scheduledbackups"}`: 1,
	}
	for name, iv := range map[string]float64{
		"weekday-hourly": 49 * 3600, "weekday-nightly": 3 * 86400, "crontab-habit": 3600, "five-fields": 86400,
		"month-end": 31 * 86400, "descriptor": 7 * 86400, "every": 6 * 3600, "garbled": -1, "february-30": -1,
	} {
		want[sb("forge_cnpg_scheduled_backup_interval_seconds", name)] = iv
		valid := 1.0
		if iv < 0 {
			valid = 0
		}
		want[sb("forge_cnpg_scheduled_backup_schedule_valid", name)] = valid
	}
	e.want("schedules as CNPG reads them", want)
	e.scrape()
	e.scrape()
	logs := e.logs.String()
	for _, name := range []string{"garbled", "february-30"} {
		if n := strings.Count(logs, "scheduledbackup="+name+" "); n != 1 {
			t.Errorf("ScheduledBackup %s logged %d times, want once:\n%s", name, n, logs)
		}
	}
	if !strings.Contains(logs, `schedule="0 0 0 30 2 *"`) || !strings.Contains(logs, "no time ever matches") {
		t.Errorf("the log does not say why february-30 cannot run:\n%s", logs)
	}

	// The operator fixes the schedule: the watch brings the new one.
	k.patch(kube.ScheduledBackups, "default", "garbled", func(u *unstructured.Unstructured) {
		must(t, unstructured.SetNestedField(u.Object, "0 0 2 * * 0", "spec", "schedule"))
	})
	e.want("after the schedule is fixed", map[string]float64{
		`forge_exporter_kube_invalid_objects{group="postgresql.cnpg.io",resource="scheduledbackups"}`: 0,
		sb("forge_cnpg_scheduled_backup_interval_seconds", "garbled"):                                 7 * 86400,
		sb("forge_cnpg_scheduled_backup_schedule_valid", "garbled"):                                   1,
	})
}
