package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Kubernetes configures API access for the pvc, cnpg and volumebackup collectors
// and for evidence ConfigMaps. With no kubeconfig, in-cluster config is used
// (and KUBECONFIG is respected when set).
type Kubernetes struct {
	Kubeconfig string `yaml:"kubeconfig"`
	// Namespaces limits watches to these namespaces (works with namespaced
	// Roles); empty means cluster-wide.
	Namespaces []string `yaml:"namespaces"`
	QPS        float64  `yaml:"qps"`
	Burst      int      `yaml:"burst"`
	// DiscoveryInterval is how often the exporter checks whether optional
	// CRDs (CNPG, barman-cloud, VolumeSnapshot) are installed.
	DiscoveryInterval Duration `yaml:"discovery_interval"`
	// PersistentVolumeClaims adds "namespace/name" PVCs to those the pvc
	// collector reports. By default it reports only the PVCs the forge
	// depends on (see Config.PVCScope); ["*"] reports every watched PVC,
	// which costs a series set per PVC of the cluster (docs/performance.md).
	PersistentVolumeClaims []string `yaml:"persistentvolumeclaims"`
	// PersistentVolumes (default true) reads bound PVs for capacity,
	// provisioner, node and locality. PVs are cluster-scoped: turn it off
	// when the exporter may only have namespaced Roles.
	PersistentVolumes *bool `yaml:"persistentvolumes"`
	// ProtectedVolumes are the PVCs whose backup coverage is reported.
	ProtectedVolumes []ProtectedVolume `yaml:"protected_volumes"`
}

// ProtectedVolume is a PVC that must be backed up, with the CronJobs
// (namespace/name) known to back it up.
type ProtectedVolume struct {
	Namespace             string   `yaml:"namespace"`
	PersistentVolumeClaim string   `yaml:"persistentvolumeclaim"`
	CronJobs              []string `yaml:"cronjobs"`
}

func (k *Kubernetes) validate(p *problems, path string) {
	if k.Kubeconfig != "" {
		requirePath(p, path+".kubeconfig", &k.Kubeconfig)
	}
	if k.QPS == 0 {
		k.QPS = 5
	}
	if k.Burst == 0 {
		k.Burst = 10
	}
	if k.DiscoveryInterval == 0 {
		k.DiscoveryInterval = Duration(time.Minute)
	}
	if k.DiscoveryInterval < Duration(time.Second) {
		p.add(path+".discovery_interval", "must be at least 1s, got %s", k.DiscoveryInterval)
	}
	if k.PersistentVolumes == nil {
		on := true
		k.PersistentVolumes = &on
	}
	for i, ref := range k.PersistentVolumeClaims {
		if ref == AllPVCs {
			if len(k.PersistentVolumeClaims) > 1 {
				p.add(fmt.Sprintf("%s.persistentvolumeclaims[%d]", path, i), "%q reports every watched PVC: list it alone, without PVC names", ref)
			}
			continue
		}
		if ns, name, ok := strings.Cut(ref, "/"); !ok || !dnsLabelRE.MatchString(ns) || name == "" || strings.Contains(name, "/") {
			p.add(fmt.Sprintf("%s.persistentvolumeclaims[%d]", path, i), "%q must be namespace/name", ref)
		}
	}
	if k.QPS < 0 {
		p.add(path+".qps", "must be positive, got %v", k.QPS)
	}
	if k.Burst < 0 {
		p.add(path+".burst", "must be positive, got %d", k.Burst)
	}
	for i, ns := range k.Namespaces {
		if !dnsLabelRE.MatchString(ns) {
			p.add(fmt.Sprintf("%s.namespaces[%d]", path, i), "%q is not a valid namespace name", ns)
		}
	}
	for i, v := range k.ProtectedVolumes {
		vp := fmt.Sprintf("%s.protected_volumes[%d]", path, i)
		if !dnsLabelRE.MatchString(v.Namespace) {
			p.add(vp+".namespace", "%q is not a valid namespace name", v.Namespace)
		}
		if v.PersistentVolumeClaim == "" {
			p.add(vp+".persistentvolumeclaim", "is required")
		}
		for j, cj := range v.CronJobs {
			if ns, name, ok := strings.Cut(cj, "/"); !ok || !dnsLabelRE.MatchString(ns) || name == "" {
				p.add(fmt.Sprintf("%s.cronjobs[%d]", vp, j), "%q must be namespace/name", cj)
			}
		}
	}
}

// validateWatchedNamespaces rejects references to Kubernetes objects in
// namespaces that kubernetes.namespaces leaves unwatched: the exporter
// would never see them, and the alerts on them (volume backup missing,
// asset not trusted) would fire although nothing is wrong, or never fire.
func (c *Config) validateWatchedNamespaces(p *problems) {
	watched := c.Kubernetes.Namespaces
	if len(watched) == 0 {
		return // cluster-wide
	}
	list := strings.Join(watched, ", ")
	check := func(path, ns, what string) {
		if ns != "" && !contains(watched, ns) {
			p.add(path, "%s is in namespace %q, which kubernetes.namespaces (%s) does not watch: the exporter would never see it; add the namespace or remove the reference", what, ns, list)
		}
	}
	nsOf := func(ref string) string {
		ns, _, ok := strings.Cut(ref, "/")
		if !ok {
			return ""
		}
		return ns
	}
	for i, ref := range c.Kubernetes.PersistentVolumeClaims {
		check(fmt.Sprintf("kubernetes.persistentvolumeclaims[%d]", i), nsOf(ref), "the PVC "+ref)
	}
	for i, v := range c.Kubernetes.ProtectedVolumes {
		vp := fmt.Sprintf("kubernetes.protected_volumes[%d]", i)
		check(vp+".namespace", v.Namespace, "the protected PVC "+v.Namespace+"/"+v.PersistentVolumeClaim)
		for j, cj := range v.CronJobs {
			check(fmt.Sprintf("%s.cronjobs[%d]", vp, j), nsOf(cj), "the CronJob "+cj)
		}
	}
	for i, v := range c.Storage.Volumes {
		if v.PersistentVolumeClaim != "" {
			check(fmt.Sprintf("storage.volumes[%d].namespace", i), v.Namespace, "the volume's PVC "+v.Namespace+"/"+v.PersistentVolumeClaim)
		}
	}
	for i, a := range c.Assets {
		for j, ref := range a.Signals.CNPGClusters {
			check(fmt.Sprintf("assets[%d].signals.cnpg_clusters[%d]", i, j), nsOf(ref), "the CNPG cluster "+ref)
		}
		for j, ref := range a.Signals.PersistentVolumeClaims {
			check(fmt.Sprintf("assets[%d].signals.persistentvolumeclaims[%d]", i, j), nsOf(ref), "the PVC "+ref)
		}
	}
}

// AllPVCs in kubernetes.persistentvolumeclaims makes the pvc collector
// report every watched PVC instead of the forge's.
const AllPVCs = "*"

// PVCScope is what the pvc collector reports.
type PVCScope struct {
	// All reports every PVC in the watched namespaces
	// (kubernetes.persistentvolumeclaims: ["*"]).
	All bool
	// PVCs are the "namespace/name" PVCs reported when All is false,
	// sorted and unique: those of storage.volumes, kubernetes.protected_volumes,
	// the assets' signals.persistentvolumeclaims and
	// kubernetes.persistentvolumeclaims.
	PVCs []string
}

// PVCScope returns the PVCs the pvc collector reports. By default these are
// the forge's own: kube-state-metrics already exports every PVC of a
// cluster, and reporting them all makes the scrape cost follow the
// cluster's size instead of the forge's.
func (c *Config) PVCScope() PVCScope {
	k := c.Kubernetes
	if slices.Contains(k.PersistentVolumeClaims, AllPVCs) {
		return PVCScope{All: true}
	}
	var refs []string
	for _, v := range c.Storage.Volumes {
		if v.PersistentVolumeClaim != "" && v.Namespace != "" {
			refs = append(refs, v.Namespace+"/"+v.PersistentVolumeClaim)
		}
	}
	for _, v := range k.ProtectedVolumes {
		refs = append(refs, v.Namespace+"/"+v.PersistentVolumeClaim)
	}
	for _, a := range c.Assets {
		refs = append(refs, a.Signals.PersistentVolumeClaims...)
	}
	refs = append(refs, k.PersistentVolumeClaims...)
	slices.Sort(refs)
	return PVCScope{PVCs: slices.Compact(refs)}
}
