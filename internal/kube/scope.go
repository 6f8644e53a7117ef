package kube

import (
	"slices"

	fieldsel "k8s.io/apimachinery/pkg/fields"
)

// NamespacedName names a namespaced object.
type NamespacedName struct{ Namespace, Name string }

// maxNamedWatches is the most PVCs of one namespace watched one by one;
// a namespace with more referenced PVCs gets one informer for the whole
// namespace, filtered by the reader.
//
// Why: a field selector on metadata.name matches one name (the API has no
// set-based field selectors, and nothing labels the forge's PVCs for a
// label selector), so narrowing to N PVCs costs N informers: N lists at
// start and N long-lived watches, each re-established every few minutes,
// all paid from the client's QPS budget (kubernetes.qps, 5 by default).
// That is what the kubelet does for the Secrets and ConfigMaps its pods
// mount, and for the few PVCs of a forge it keeps the cache to exactly
// them however busy their namespaces are. With many PVCs in one
// namespace (a database operator's volumes), one namespace watch is
// cheaper than many named ones, and the cache holds that namespace only,
// still not the cluster.
const maxNamedWatches = 5

// pvcScopes plans the informers for a set of PVCs: per namespace, one
// informer per PVC (field selector metadata.name) up to maxNamedWatches,
// else one informer for the namespace. Deterministic (sorted).
func pvcScopes(pvcs []NamespacedName) []scope {
	byNS := map[string][]string{}
	for _, p := range pvcs {
		byNS[p.Namespace] = append(byNS[p.Namespace], p.Name)
	}
	namespaces := make([]string, 0, len(byNS))
	for ns := range byNS {
		namespaces = append(namespaces, ns)
	}
	slices.Sort(namespaces)
	var out []scope
	for _, ns := range namespaces {
		names := byNS[ns]
		slices.Sort(names)
		names = slices.Compact(names)
		if len(names) > maxNamedWatches {
			out = append(out, scope{namespace: ns})
			continue
		}
		for _, n := range names {
			out = append(out, scope{namespace: ns, fieldSelector: fieldsel.OneTermEqualSelector("metadata.name", n).String()})
		}
	}
	return out
}

// NeedPVCs registers PersistentVolumeClaims like Need, but watches only
// these PVCs (see maxNamedWatches): the cache then holds them (or their
// namespaces), not every PVC of the cluster. pvcs must not be empty. If
// PersistentVolumeClaims is also needed whole (Need), the whole set is
// watched. Call it before Run.
//
// PersistentVolumes are not narrowed: a PV can only be selected by its
// own name, which is known only once its PVC is bound and changes when
// the PVC is re-created, so narrowing them would mean starting and
// stopping informers as PVCs bind. They stay one cluster-wide informer
// (slim values, about 200 bytes per PV), or none with
// kubernetes.persistentvolumes: false.
func (s *Source) NeedPVCs(pvcs []NamespacedName) {
	if len(pvcs) == 0 {
		panic("kube: NeedPVCs without PVCs") // a programming error
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, existed := s.watches[PersistentVolumeClaims]
	w := s.needLocked(PersistentVolumeClaims)
	if existed && w.named == nil {
		return // already watched whole, a superset
	}
	w.namedPVCs = append(w.namedPVCs, pvcs...)
	w.named = pvcScopes(w.namedPVCs)
}
