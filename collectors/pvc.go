package collectors

import (
	"context"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/exporter"
	"github.com/railiance/forge-exporter/internal/kube"
	"github.com/railiance/forge-exporter/internal/metriccache"
)

// PVCCollector reports PersistentVolumeClaims from the informer cache:
// requested and actual size, phase, deletion (a PVC stuck in Terminating
// keeps its phase), and where the data lives (storage class, provisioner,
// node of a local volume). forge_directory_size_bytes /
// forge_pvc_requested_bytes is how full a volume really is on local-path
// storage, where kubelet reports nothing.
//
// By default it reports the forge's PVCs only (config.PVCScope) and
// watches only them; kubernetes.persistentvolumeclaims: ["*"] reports
// every watched PVC.
type PVCCollector struct {
	src *kube.Source
	// only is the set of "namespace/name" PVCs reported; nil reports every
	// cached PVC. none is true when the scope is empty: nothing is watched.
	only    map[string]bool
	none    bool
	withPVs bool
	health  bool

	requested, capacity, phase, deletion, info *prometheus.Desc
	// series keeps the series between scrapes: label pairs are built once
	// per PVC, not at every scrape.
	series *metriccache.Cache
}

var _ exporter.Collector = (*PVCCollector)(nil)

// pvcPhases are the phases reported as a state set; any other phase is
// reported too, so nothing is hidden.
var pvcPhases = []string{"Pending", "Bound", "Lost"}

// NewPVCCollector returns a pvc collector reading src, reporting the PVCs
// of cfg.PVCScope.
func NewPVCCollector(src *kube.Source, cfg *config.Config) *PVCCollector {
	k := cfg.Kubernetes
	scope := cfg.PVCScope()
	withPVs := k.PersistentVolumes == nil || *k.PersistentVolumes
	var only map[string]bool
	none := false
	switch {
	case scope.All:
		src.Need(kube.PersistentVolumeClaims)
	case len(scope.PVCs) == 0:
		// The forge names no PVC: nothing to watch or report.
		none, withPVs = true, false
	default:
		only = map[string]bool{}
		refs := make([]kube.NamespacedName, 0, len(scope.PVCs))
		for _, ref := range scope.PVCs {
			only[ref] = true
			ns, name, _ := strings.Cut(ref, "/")
			refs = append(refs, kube.NamespacedName{Namespace: ns, Name: name})
		}
		src.NeedPVCs(refs)
	}
	if withPVs {
		src.Need(kube.PersistentVolumes)
	}
	const when = " From the informer cache (kept current by a watch), read at scrape time."
	labels := []string{"namespace", "persistentvolumeclaim"}
	return &PVCCollector{
		src: src, only: only, none: none, withPVs: withPVs, health: src.ExportsHealth("pvc"), series: metriccache.New(),
		requested: prometheus.NewDesc("forge_pvc_requested_bytes",
			"Storage requested by the PVC (spec.resources.requests.storage) in bytes."+when, labels, nil),
		capacity: prometheus.NewDesc("forge_pvc_capacity_bytes",
			"Capacity of the PV bound to the PVC in bytes (the PVC's status.capacity when the PV cannot be read)."+when, labels, nil),
		phase: prometheus.NewDesc("forge_pvc_phase",
			"1 for the PVC's current phase, 0 for the others."+when, append(labels, "phase"), nil),
		deletion: prometheus.NewDesc("forge_pvc_deletion_timestamp_seconds",
			"Unix time the PVC was deleted (metadata.deletionTimestamp), present only while it waits for its finalizers (Terminating): kubernetes.io/pvc-protection holds it while a pod uses it."+when, labels, nil),
		info: prometheus.NewDesc("forge_pvc_info",
			"Where the PVC's data lives, always 1: local is true for local and hostPath volumes (one node's disk), unknown when PVs are not read; node is the node a local volume is pinned to."+when,
			append(labels, "storageclass", "volumename", "provisioner", "node", "local"), nil),
	}
}

func newPVCSpec() Spec {
	return Spec{
		Name:        "pvc",
		Description: "PVC inventory from the Kubernetes API: requested and bound size, phase, storage class, provisioner, node (needs a cluster)",
		New: func(d *Deps) (exporter.Collector, error) {
			src, err := kubeSource(d)
			if err != nil {
				return nil, err
			}
			return NewPVCCollector(src, d.Config), nil
		},
	}
}

// Update implements exporter.Collector.
func (c *PVCCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	if c.health {
		c.src.CollectHealth(ch)
	}
	if c.none {
		return nil
	}
	pvcs, err := c.src.PVCs()
	s := c.series.Scrape()
	defer s.Done()
	pvs := map[string]*kube.PV{}
	if c.withPVs {
		list, pvErr := c.src.PVs()
		for _, pv := range list {
			pvs[pv.Name] = pv
		}
		if err == nil {
			err = pvErr
		}
	}
	if kerr := kubeErr(err); kerr != nil && len(pvcs) == 0 {
		return kerr
	}
	for _, p := range pvcs {
		if c.only != nil && !c.only[p.Namespace+"/"+p.Name] {
			continue
		}
		pv := pvs[p.VolumeName]
		if p.HasRequest {
			ch <- s.Gauge(c.requested, p.RequestedBytes, p.Namespace, p.Name)
		}
		switch {
		case pv != nil && pv.HasCapacity:
			ch <- s.Gauge(c.capacity, pv.CapacityBytes, p.Namespace, p.Name)
		case p.HasStatusCapacity:
			ch <- s.Gauge(c.capacity, p.StatusCapacityBytes, p.Namespace, p.Name)
		}
		known := false
		for _, ph := range pvcPhases {
			known = known || ph == p.Phase
			ch <- s.Gauge(c.phase, exporter.BoolValue(ph == p.Phase), p.Namespace, p.Name, ph)
		}
		if !known && p.Phase != "" {
			ch <- s.Gauge(c.phase, 1, p.Namespace, p.Name, p.Phase)
		}
		if !p.Deleted.IsZero() {
			ch <- s.Gauge(c.deletion, float64(p.Deleted.Unix()), p.Namespace, p.Name)
		}
		storageClass, provisioner, node, local := p.StorageClass, p.Provisioner, "", "unknown"
		if pv != nil {
			if storageClass == "" {
				storageClass = pv.StorageClass
			}
			if pv.Provisioner != "" {
				provisioner = pv.Provisioner
			}
			node = pv.Node
			local = "false"
			if pv.Local {
				local = "true"
			}
		}
		ch <- s.Gauge(c.info, 1, p.Namespace, p.Name, storageClass, p.VolumeName, provisioner, node, local)
	}
	return kubeErr(err)
}
