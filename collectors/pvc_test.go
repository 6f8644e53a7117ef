package collectors

import (
	"context"
	"maps"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/exporter"
	"github.com/railiance/forge-exporter/internal/kube"
)

var pvcMetrics = []string{"forge_pvc_requested_bytes", "forge_pvc_capacity_bytes", "forge_pvc_phase", "forge_pvc_deletion_timestamp_seconds", "forge_pvc_info"}

func TestPVCCollectorGolden(t *testing.T) {
	src, _ := fakeKube(t, "testdata/pvc/objects.yaml", kube.Options{})
	c := NewPVCCollector(src, allPVCs())
	runKube(t, src, c)
	golden(t, asCollector{c: c, t: t}, "testdata/pvc/want.prom", pvcMetrics...)
}

// allPVCs is a configuration that reports every watched PVC.
func allPVCs() *config.Config {
	return &config.Config{Kubernetes: config.Kubernetes{PersistentVolumeClaims: []string{config.AllPVCs}}}
}

// By default only the forge's PVCs are reported: here the storage volume's
// and an asset's, not the two other PVCs in the cache.
func TestPVCCollectorReportsTheForgesPVCsByDefault(t *testing.T) {
	cfg := &config.Config{
		Storage: config.Storage{Volumes: []config.Volume{{Name: "data", Path: "/", Namespace: "default", PersistentVolumeClaim: "gitea-shared-storage"}}},
		Assets:  []config.Asset{{Name: "db", Signals: config.AssetSignals{PersistentVolumeClaims: []string{"databases/odd"}}}},
	}
	src, _ := fakeKube(t, "testdata/pvc/objects.yaml", kube.Options{})
	c := NewPVCCollector(src, cfg)
	runKube(t, src, c)
	got := map[string]bool{}
	for _, m := range collectMetrics(t, c) {
		got[labelValue(m, "namespace")+"/"+labelValue(m, "persistentvolumeclaim")] = true
	}
	if want := map[string]bool{"default/gitea-shared-storage": true, "databases/odd": true}; !maps.Equal(got, want) {
		t.Errorf("reported PVCs %v, want %v", got, want)
	}
}

// A configuration that names no PVC watches none and reports none.
func TestPVCCollectorWithoutForgePVCs(t *testing.T) {
	src, _ := fakeKube(t, "testdata/pvc/objects.yaml", kube.Options{HealthOwner: "pvc"})
	c := NewPVCCollector(src, &config.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go src.Run(ctx)
	for _, m := range collectMetrics(t, c) {
		if r := labelValue(m, "resource"); r == "persistentvolumeclaims" || r == "persistentvolumes" {
			t.Errorf("%s is watched although no PVC is reported", r)
		}
		if labelValue(m, "persistentvolumeclaim") != "" {
			t.Errorf("a PVC is reported: %v", m)
		}
	}
}

// Without PVs (namespaced RBAC), capacity falls back to the PVC status and
// locality is unknown; the configured filter limits the PVCs reported.
func TestPVCCollectorWithoutPVs(t *testing.T) {
	off := false
	k := config.Kubernetes{PersistentVolumes: &off, PersistentVolumeClaims: []string{"default/gitea-shared-storage"}}
	src, _ := fakeKube(t, "testdata/pvc/objects.yaml", kube.Options{})
	c := NewPVCCollector(src, &config.Config{Kubernetes: k})
	runKube(t, src, c)
	golden(t, asCollector{c: c, t: t}, "testdata/pvc/want-without-pvs.prom", pvcMetrics...)
}

// collectMetrics runs one Update and returns what it sent.
func collectMetrics(t *testing.T, c exporter.Collector) []*dto.Metric {
	t.Helper()
	ch := make(chan prometheus.Metric, 10000)
	must(t, c.Update(context.Background(), ch))
	close(ch)
	var out []*dto.Metric
	for m := range ch {
		var d dto.Metric
		must(t, m.Write(&d))
		out = append(out, &d)
	}
	return out
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
