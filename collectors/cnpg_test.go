package collectors

import (
	"testing"
	"time"

	"github.com/railiance/forge-exporter/internal/kube"
)

var cnpgMetrics = []string{
	"forge_cnpg_backup_last_success_timestamp_seconds", "forge_cnpg_backup_last_failure_timestamp_seconds",
	"forge_cnpg_backups", "forge_cnpg_backup_last_duration_seconds", "forge_cnpg_recoverability_point_timestamp_seconds",
	"forge_cnpg_scheduled_backups", "forge_cnpg_scheduled_backup_last_timestamp_seconds",
	"forge_cnpg_scheduled_backup_next_timestamp_seconds", "forge_cnpg_scheduled_backup_interval_seconds",
	"forge_cnpg_scheduled_backup_suspended", "forge_cnpg_continuous_archiving", "forge_cnpg_last_backup_succeeded",
}

var cnpgCRDs = []kube.Resource{kube.Backups, kube.ScheduledBackups, kube.Clusters, kube.ObjectStores}

func fixedNow() time.Time { return time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC) }

func TestCNPGCollectorGolden(t *testing.T) {
	src, _ := fakeKube(t, "testdata/cnpg/objects.yaml", kube.Options{}, cnpgCRDs...)
	c := NewCNPGCollector(src, fixedNow)
	runKube(t, src, c)
	golden(t, asCollector{c: c, t: t}, "testdata/cnpg/want.prom", cnpgMetrics...)
}

// Without CNPG installed the collector reports nothing and does not fail.
func TestCNPGCollectorWithoutCRDs(t *testing.T) {
	src, _ := fakeKube(t, "testdata/cnpg/objects.yaml", kube.Options{})
	c := NewCNPGCollector(src, fixedNow)
	runKube(t, src, c)
	golden(t, asCollector{c: c, t: t}, "testdata/cnpg/want-no-crds.prom", append(cnpgMetrics, "forge_exporter_kube_resource_available")...)
}

func TestCronInterval(t *testing.T) {
	from := fixedNow()
	for _, c := range []struct {
		schedule string
		want     float64
	}{
		{"0 0 2 * * *", 86400},
		{"0 */15 * * * *", 900},
		{"0 30 1 * * 1-5", 3 * 86400}, // Friday to Monday
		{"@weekly", 7 * 86400},
		{"0 0 0 1 * *", 31 * 86400},
		{"0 0 2 * *", -1}, // five fields: CNPG wants six
		{"nonsense", -1},
		{"0 0 0 30 2 *", -1}, // February 30th never comes
	} {
		if got := cronInterval(c.schedule, from); got != c.want {
			t.Errorf("cronInterval(%q) = %v, want %v", c.schedule, got, c.want)
		}
	}
}
