package collectors

import (
	"testing"

	"github.com/railiance/forge-exporter/internal/kube"
)

var volumeBackupMetrics = []string{"forge_volume_backup_configured", "forge_volume_backup_last_success_timestamp_seconds", "forge_volume_backup_mechanisms", "forge_volume_backup_interval_seconds"}

var protectedVolumes = []kube.ProtectedVolume{
	{Namespace: "default", Name: "gitea-shared-storage"},
	{Namespace: "default", Name: "repos", CronJobs: []string{"default/repos-backup", "default/missing"}},
}

func TestVolumeBackupCollectorGolden(t *testing.T) {
	src, _ := fakeKube(t, "testdata/volumebackup/objects.yaml", kube.Options{ProtectedVolumes: protectedVolumes}, kube.VolumeSnapshots)
	c := NewVolumeBackupCollector(src)
	runKube(t, src, c)
	golden(t, asCollector{c: c, t: t}, "testdata/volumebackup/want.prom", volumeBackupMetrics...)

	// The trust collector's view of the same caches.
	cov := kubeCoverage{src: src, volumes: true}
	for _, c := range []struct {
		ns, pvc        string
		covered, known bool
	}{
		{"default", "gitea-shared-storage", false, true},
		{"default", "repos", true, true},
		{"databases", "pgdata", true, true},
		{"nowhere", "nothing", false, true},
	} {
		if covered, known := cov.PVCBackup(c.ns, c.pvc); covered != c.covered || known != c.known {
			t.Errorf("PVCBackup(%s/%s) = %v, %v; want %v, %v", c.ns, c.pvc, covered, known, c.covered, c.known)
		}
	}
	if _, known := cov.CNPGClusterBackup("databases", "db"); known {
		t.Error("CNPGClusterBackup known without the cnpg collector")
	}
}
