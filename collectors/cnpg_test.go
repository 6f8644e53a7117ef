package collectors

import (
	"testing"

	"github.com/railiance/forge-exporter/internal/kube"
)

var cnpgMetrics = []string{
	"forge_cnpg_backup_last_success_timestamp_seconds", "forge_cnpg_backup_last_failure_timestamp_seconds",
	"forge_cnpg_backups", "forge_cnpg_backup_last_duration_seconds", "forge_cnpg_recoverability_point_timestamp_seconds",
	"forge_cnpg_scheduled_backups", "forge_cnpg_scheduled_backup_last_timestamp_seconds",
	"forge_cnpg_scheduled_backup_next_timestamp_seconds", "forge_cnpg_scheduled_backup_interval_seconds",
	"forge_cnpg_scheduled_backup_schedule_valid",
	"forge_cnpg_scheduled_backup_suspended", "forge_cnpg_continuous_archiving", "forge_cnpg_last_backup_succeeded",
}

var cnpgCRDs = []kube.Resource{kube.Backups, kube.ScheduledBackups, kube.Clusters, kube.ObjectStores}

func TestCNPGCollectorGolden(t *testing.T) {
	src, _ := fakeKube(t, "testdata/cnpg/objects.yaml", kube.Options{}, cnpgCRDs...)
	c := NewCNPGCollector(quietLogger(), src)
	runKube(t, src, c)
	golden(t, asCollector{c: c, t: t}, "testdata/cnpg/want.prom", cnpgMetrics...)
}

// Without CNPG installed the collector reports nothing and does not fail.
func TestCNPGCollectorWithoutCRDs(t *testing.T) {
	src, _ := fakeKube(t, "testdata/cnpg/objects.yaml", kube.Options{HealthOwner: "cnpg"})
	c := NewCNPGCollector(quietLogger(), src)
	runKube(t, src, c)
	golden(t, asCollector{c: c, t: t}, "testdata/cnpg/want-no-crds.prom", append(cnpgMetrics, "forge_exporter_kube_resource_available")...)
}
