package collectors

import (
	"testing"

	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/kube"
)

var pvcMetrics = []string{"forge_pvc_requested_bytes", "forge_pvc_capacity_bytes", "forge_pvc_phase", "forge_pvc_deletion_timestamp_seconds", "forge_pvc_info"}

func TestPVCCollectorGolden(t *testing.T) {
	src, _ := fakeKube(t, "testdata/pvc/objects.yaml", kube.Options{})
	c := NewPVCCollector(src, config.Kubernetes{})
	runKube(t, src, c)
	golden(t, asCollector{c: c, t: t}, "testdata/pvc/want.prom", pvcMetrics...)
}

// Without PVs (namespaced RBAC), capacity falls back to the PVC status and
// locality is unknown; the configured filter limits the PVCs reported.
func TestPVCCollectorWithoutPVs(t *testing.T) {
	off := false
	k := config.Kubernetes{PersistentVolumes: &off, PersistentVolumeClaims: []string{"default/gitea-shared-storage"}}
	src, _ := fakeKube(t, "testdata/pvc/objects.yaml", kube.Options{})
	c := NewPVCCollector(src, k)
	runKube(t, src, c)
	golden(t, asCollector{c: c, t: t}, "testdata/pvc/want-without-pvs.prom", pvcMetrics...)
}
