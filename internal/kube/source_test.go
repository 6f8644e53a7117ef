package kube_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	. "github.com/railiance/forge-exporter/internal/kube"
	"github.com/railiance/forge-exporter/internal/kube/kubefake"
)

func pvc(ns, name, size string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}}},
	}
}

func backupObj(ns, name, cluster, phase, stoppedAt string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
		"metadata": map[string]any{"namespace": ns, "name": name},
		"spec":     map[string]any{"cluster": map[string]any{"name": cluster}},
		"status":   map[string]any{"phase": phase},
	}}
	if stoppedAt != "" {
		unstructured.SetNestedField(u.Object, stoppedAt, "status", "stoppedAt")
	}
	return u
}

func TestSourceTypedAndLateCRD(t *testing.T) {
	f := kubefake.New(pvc("default", "data", "1Gi"), pvc("other", "x", "2Gi"))
	s := startSource(t, f, Options{}, PersistentVolumeClaims, Backups)

	eventually(t, "PVCs synced", func() bool {
		l, err := s.PVCs()
		return err == nil && len(l) == 2
	})
	l, _ := s.PVCs()
	// The cache lists in no particular order: find the PVC by name.
	var data *PVC
	for _, p := range l {
		if p.Namespace == "default" && p.Name == "data" {
			data = p
		}
	}
	if data == nil || data.RequestedBytes != 1<<30 || !data.HasRequest {
		t.Errorf("PVC default/data = %+v (all: %+v)", data, l)
	}
	if s.Available(Backups) {
		t.Fatal("Backups available before the CRD is served")
	}
	// Once discovery has said "not installed": nothing, and no error.
	eventually(t, "Backups known to be absent", func() bool {
		b, err := s.Backups()
		return b == nil && err == nil
	})

	// The CRD appears: the source starts watching without a restart.
	_, err := f.Dynamic.Resource(Backups.GVR()).Namespace("db").Create(context.Background(), backupObj("db", "b1", "pg", "completed", "2026-11-30T01:02:03Z"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.Discovery.Serve(Backups)
	eventually(t, "Backups watched", func() bool {
		b, err := s.Backups()
		return err == nil && len(b) == 1
	})
	b, _ := s.Backups()
	if b[0].Cluster != "pg" || !b[0].StoppedAt.Equal(time.Date(2026, 11, 30, 1, 2, 3, 0, time.UTC)) || b[0].Method != "barmanObjectStore" {
		t.Errorf("backup = %+v", b[0])
	}

	// Health metrics say so.
	want := `
# HELP forge_exporter_kube_resource_available 1 if the Kubernetes resource is served by the API server (CRDs: as of the last discovery), 0 if not installed.
# TYPE forge_exporter_kube_resource_available gauge
forge_exporter_kube_resource_available{group="",resource="persistentvolumeclaims"} 1
forge_exporter_kube_resource_available{group="postgresql.cnpg.io",resource="backups"} 1
# HELP forge_exporter_kube_objects Objects of the resource in the informer cache.
# TYPE forge_exporter_kube_objects gauge
forge_exporter_kube_objects{group="",resource="persistentvolumeclaims"} 2
forge_exporter_kube_objects{group="postgresql.cnpg.io",resource="backups"} 1
`
	if err := testutil.CollectAndCompare(healthCollector{s}, strings.NewReader(want), "forge_exporter_kube_resource_available", "forge_exporter_kube_objects"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(healthCollector{s}, "forge_exporter_kube_last_sync_timestamp_seconds"); n != 2 {
		t.Errorf("last_sync series = %d, want 2", n)
	}

	// The CRD goes away: the cache is dropped and availability is 0.
	f.Discovery.Unserve("postgresql.cnpg.io/v1")
	eventually(t, "Backups unavailable", func() bool { return !s.Available(Backups) })
	if b, err := s.Backups(); b != nil || err != nil {
		t.Fatalf("Backups after the CRD went away = %v, %v", b, err)
	}
}

// healthCollector adapts CollectHealth for testutil.
type healthCollector struct{ s *Source }

func (h healthCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(h, ch) }
func (h healthCollector) Collect(ch chan<- prometheus.Metric) { h.s.CollectHealth(ch) }

func TestSourceNamespacesAndListErrors(t *testing.T) {
	f := kubefake.New(pvc("a", "one", "1Gi"), pvc("b", "two", "1Gi"), pvc("c", "three", "1Gi"))
	// Listing in namespace b is forbidden, as a namespaced Role missing there would make it.
	f.Typed.PrependReactor("list", "persistentvolumeclaims", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetNamespace() == "b" {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "persistentvolumeclaims"}, "", errors.New("RBAC: access denied"))
		}
		return false, nil, nil
	})
	s := startSource(t, f, Options{Namespaces: []string{"a", "b"}}, PersistentVolumeClaims)
	var se *StaleError
	eventually(t, "a stale error", func() bool {
		_, err := s.PVCs()
		return errors.As(err, &se)
	})
	if !apierrors.IsForbidden(se.Err) || se.Resource != PersistentVolumeClaims {
		t.Errorf("stale error = %v", se)
	}
	l, _ := s.PVCs()
	for _, p := range l {
		if p.Namespace != "a" {
			t.Errorf("PVC from unwatched or forbidden namespace: %+v", p)
		}
	}
	if n := testutil.CollectAndCount(healthCollector{s}, "forge_exporter_kube_list_watch_errors_total"); n != 1 {
		t.Fatalf("error counter series = %d", n)
	}
	if v := metricValue(t, healthCollector{s}, "forge_exporter_kube_list_watch_errors_total"); v < 1 {
		t.Errorf("list/watch errors = %v, want at least 1", v)
	}
}

func TestSourceConfigMapsSelector(t *testing.T) {
	f := kubefake.New(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "e", Name: "drill", Labels: map[string]string{"forge.railiance.io/evidence": "true"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}, Data: map[string]string{"k": "v"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "e", Name: "other"}},
	)
	s := newTestSource(f, Options{})
	lister, err := s.ConfigMaps("forge.railiance.io/evidence=true")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConfigMaps("x=y"); err == nil {
		t.Error("a second, different selector was accepted")
	}
	runSource(t, s)
	eventually(t, "configmaps", func() bool {
		l, err := lister.List()
		return err == nil && len(l) == 1
	})
	l, _ := lister.List()
	if l[0].Name != "drill" || l[0].Data["k"] != "v" || l[0].ManagedFields != nil {
		t.Errorf("configmap = %+v", l[0])
	}
}

// A discovery that fails before it ever succeeded is a failure, not "CNPG
// is not installed": readers must not report an empty world.
func TestSourceDiscoveryFailure(t *testing.T) {
	f := kubefake.New()
	f.Typed.PrependReactor("get", "resource", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{}, "", errors.New("discovery denied"))
	})
	s := startSource(t, f, Options{}, Backups)
	var se *StaleError
	eventually(t, "a discovery error", func() bool {
		_, err := s.Backups()
		return errors.As(err, &se)
	})
	if !strings.Contains(se.Error(), "discovery denied") {
		t.Errorf("error = %v", se)
	}
	if s.Available(Backups) {
		t.Error("available after failed discovery")
	}
}
