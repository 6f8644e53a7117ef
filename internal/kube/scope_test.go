package kube

import (
	"slices"
	"testing"
)

// A namespace's PVCs are watched one by one (field selector metadata.name)
// up to maxNamedWatches, and through one namespace informer beyond.
func TestPVCScopes(t *testing.T) {
	var pvcs []NamespacedName
	for i := range maxNamedWatches + 1 {
		pvcs = append(pvcs, NamespacedName{"databases", "pg-" + string(rune('a'+i))})
	}
	pvcs = append(pvcs, NamespacedName{"default", "gitea-shared-storage"}, NamespacedName{"default", "gitea-shared-storage"},
		NamespacedName{"default", "registry"})
	got := pvcScopes(pvcs)
	want := []scope{
		{namespace: "databases"},
		{namespace: "default", fieldSelector: "metadata.name=gitea-shared-storage"},
		{namespace: "default", fieldSelector: "metadata.name=registry"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("pvcScopes = %+v, want %+v", got, want)
	}
}

// NeedPVCs narrows the PVC informers; Need of the whole resource, before
// or after, widens them again.
func TestNeedPVCsNarrowsUnlessNeededWhole(t *testing.T) {
	one := []NamespacedName{{"default", "data"}}
	s := NewSource(nil, Clients{}, Options{Namespaces: []string{"default", "databases"}})
	s.NeedPVCs(one)
	s.NeedPVCs([]NamespacedName{{"databases", "pg"}})
	want := []scope{{"databases", "metadata.name=pg"}, {"default", "metadata.name=data"}}
	if got := s.watches[PersistentVolumeClaims].scopes(); !slices.Equal(got, want) {
		t.Errorf("narrowed scopes = %+v, want %+v", got, want)
	}
	s.Need(PersistentVolumeClaims)
	whole := []scope{{namespace: "default"}, {namespace: "databases"}}
	if got := s.watches[PersistentVolumeClaims].scopes(); !slices.Equal(got, whole) {
		t.Errorf("after Need: scopes = %+v, want %+v", got, whole)
	}
	s.NeedPVCs(one)
	if got := s.watches[PersistentVolumeClaims].scopes(); !slices.Equal(got, whole) {
		t.Errorf("NeedPVCs after Need narrowed the watch: %+v", got)
	}
}
