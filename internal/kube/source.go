// Package kube is forge-exporter's window on the Kubernetes API: one Source
// per configuration, shared by the pvc, cnpg and volumebackup collectors
// (and by anything else that needs cached API objects, such as evidence
// ConfigMaps).
//
// Everything comes from informers (list once, then watch): a scrape reads
// the caches and makes no API call, so the number of API requests does not
// depend on the scrape rate. Built-in kinds use typed clients speaking
// protobuf; CRDs (CNPG, barman-cloud, VolumeSnapshot) use the dynamic
// client. A CRD that is not installed is not an error: discovery is retried
// every discovery_interval and the informer starts when the CRD appears
// (and stops if it goes away). With kubernetes.namespaces set, each
// namespaced kind gets one informer per namespace, so namespaced Roles are
// enough.
//
// Health is exported per resource: whether it is available, when its cache
// last heard from the API server (a list, or any watch event including the
// bookmarks the server sends about once a minute) and how many list/watch
// attempts failed, so a dead connection is visible instead of silently
// serving old data.
package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/railiance/forge-exporter/internal/schedule"
)

// Resource is an API resource the source can watch.
type Resource struct {
	Group, Version, Resource string
	Namespaced               bool
	// Optional resources are CRDs found through discovery; the others are
	// built in and always served.
	Optional bool
}

// The resources the source knows.
var (
	PersistentVolumeClaims = Resource{Version: "v1", Resource: "persistentvolumeclaims", Namespaced: true}
	PersistentVolumes      = Resource{Version: "v1", Resource: "persistentvolumes"}
	CronJobs               = Resource{Group: "batch", Version: "v1", Resource: "cronjobs", Namespaced: true}
	ConfigMaps             = Resource{Version: "v1", Resource: "configmaps", Namespaced: true}
	Backups                = Resource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "backups", Namespaced: true, Optional: true}
	ScheduledBackups       = Resource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "scheduledbackups", Namespaced: true, Optional: true}
	Clusters               = Resource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "clusters", Namespaced: true, Optional: true}
	ObjectStores           = Resource{Group: "barmancloud.cnpg.io", Version: "v1", Resource: "objectstores", Namespaced: true, Optional: true}
	VolumeSnapshots        = Resource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshots", Namespaced: true, Optional: true}
)

// GVR returns the resource's GroupVersionResource.
func (r Resource) GVR() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: r.Group, Version: r.Version, Resource: r.Resource}
}

func (r Resource) String() string {
	if r.Group == "" {
		return r.Resource
	}
	return r.Resource + "." + r.Group
}

// ErrNotSynced means a cache has not finished its first list yet: there is
// no data to report, which is not a failure.
var ErrNotSynced = errors.New("kubernetes cache not synced yet")

// StaleError says a resource's last list or watch failed: the cache still
// holds what it had, which may be out of date.
type StaleError struct {
	Resource Resource
	Err      error
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("list/watch %s failed, data may be stale: %v", e.Resource, e.Err)
}

func (e *StaleError) Unwrap() error { return e.Err }

// Clients are the API clients a Source uses.
type Clients struct {
	Typed     kubernetes.Interface
	Dynamic   dynamic.Interface
	Discovery discovery.DiscoveryInterface
}

// Options configures a Source.
type Options struct {
	// Namespaces to watch; empty means all (cluster-wide).
	Namespaces []string
	// DiscoveryInterval is how often CRD availability is checked.
	DiscoveryInterval time.Duration
	// ProtectedVolumes are the PVCs whose backup coverage is reported, with
	// the CronJobs configured to back them up.
	ProtectedVolumes []ProtectedVolume
	// HealthOwner names the collector that exports the source's health
	// metrics (ExportsHealth); empty: none does.
	HealthOwner string
}

// ProtectedVolume is a PVC that must be backed up.
type ProtectedVolume struct {
	Namespace, Name string
	// CronJobs are "namespace/name" references from the configuration.
	CronJobs []string
}

// Source owns the informers for one configuration.
type Source struct {
	logger  *slog.Logger
	clients Clients
	opts    Options

	mu           sync.Mutex
	watches      map[Resource]*resourceWatch
	order        []Resource
	started      bool
	cmSelector   *string
	discoveryErr bool

	// gaps memoises the longest gap of each CronJob schedule.
	gaps *schedule.Cache
}

// NewSource returns a source that watches nothing until Need (or
// ConfigMaps) asks for resources and Run starts it.
func NewSource(logger *slog.Logger, clients Clients, opts Options) *Source {
	if opts.DiscoveryInterval <= 0 {
		opts.DiscoveryInterval = time.Minute
	}
	return &Source{logger: logger, clients: clients, opts: opts, watches: map[Resource]*resourceWatch{}, gaps: schedule.NewCache()}
}

// Need registers resources to watch. Only what enabled collectors need is
// watched, so the RBAC a deployment grants can stay minimal. Call it before
// Run.
func (s *Source) Need(rs ...Resource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rs {
		w := s.needLocked(r)
		w.named, w.namedPVCs = nil, nil // whole, even if NeedPVCs narrowed it
	}
}

func (s *Source) needLocked(r Resource) *resourceWatch {
	if w, ok := s.watches[r]; ok {
		return w
	}
	if s.started {
		panic("kube: Need after Run") // a programming error, caught by any test
	}
	k, ok := kinds[r]
	if !ok {
		panic(fmt.Sprintf("kube: unknown resource %s", r))
	}
	w := &resourceWatch{res: r, src: s, kind: k}
	s.watches[r] = w
	s.order = append(s.order, r)
	return w
}

// ConfigMapLister lists cached ConfigMaps.
type ConfigMapLister interface {
	// List returns the cached ConfigMaps that match the selector, in the
	// watched namespaces, in no particular order. The error is
	// ErrNotSynced before the first list, or says why the cache may be
	// stale (the items are still returned).
	List() ([]*corev1.ConfigMap, error)
}

// ConfigMaps starts (with Run) a ConfigMap informer filtered server-side by
// a label selector and returns its lister. One selector per source.
func (s *Source) ConfigMaps(labelSelector string) (ConfigMapLister, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmSelector != nil && *s.cmSelector != labelSelector {
		return nil, fmt.Errorf("kube: ConfigMaps already watched with selector %q, not %q", *s.cmSelector, labelSelector)
	}
	s.cmSelector = &labelSelector
	return configMapLister{s.needLocked(ConfigMaps)}, nil
}

type configMapLister struct{ w *resourceWatch }

func (l configMapLister) List() ([]*corev1.ConfigMap, error) { return list[*corev1.ConfigMap](l.w) }

// ExportsHealth reports whether the named collector exports this source's
// health metrics: the one Options.HealthOwner names, so that they appear
// once per scrape however many collectors share the source, and which one
// does is decided by the configuration, not by construction order.
func (s *Source) ExportsHealth(collector string) bool {
	return collector != "" && collector == s.opts.HealthOwner
}

func (s *Source) watch(r Resource) *resourceWatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.watches[r]
	if w == nil {
		panic(fmt.Sprintf("kube: %s read but never requested with Need", r))
	}
	return w
}

// Available reports whether the resource is served (always for built-in
// kinds; for CRDs, as of the last discovery).
func (s *Source) Available(r Resource) bool { return s.watch(r).isAvailable() }

// PVCs returns the cached PersistentVolumeClaims.
func (s *Source) PVCs() ([]*PVC, error) { return list[*PVC](s.watch(PersistentVolumeClaims)) }

// PVs returns the cached PersistentVolumes.
func (s *Source) PVs() ([]*PV, error) { return list[*PV](s.watch(PersistentVolumes)) }

// CronJobs returns the cached CronJobs.
func (s *Source) CronJobs() ([]*CronJob, error) { return list[*CronJob](s.watch(CronJobs)) }

// Backups returns the cached CNPG Backups.
func (s *Source) Backups() ([]*Backup, error) { return list[*Backup](s.watch(Backups)) }

// ScheduledBackups returns the cached CNPG ScheduledBackups.
func (s *Source) ScheduledBackups() ([]*ScheduledBackup, error) {
	return list[*ScheduledBackup](s.watch(ScheduledBackups))
}

// Clusters returns the cached CNPG Clusters.
func (s *Source) Clusters() ([]*Cluster, error) { return list[*Cluster](s.watch(Clusters)) }

// ObjectStores returns the cached barman-cloud ObjectStores.
func (s *Source) ObjectStores() ([]*ObjectStore, error) {
	return list[*ObjectStore](s.watch(ObjectStores))
}

// VolumeSnapshots returns the cached VolumeSnapshots.
func (s *Source) VolumeSnapshots() ([]*VolumeSnapshot, error) {
	return list[*VolumeSnapshot](s.watch(VolumeSnapshots))
}

// Run starts the informers and the discovery loop and blocks until ctx is
// done, then stops every informer and waits for them.
func (s *Source) Run(ctx context.Context) {
	s.mu.Lock()
	s.started = true
	order := append([]Resource(nil), s.order...)
	s.mu.Unlock()
	optional := false
	for _, r := range order {
		if r.Optional {
			optional = true
		} else {
			s.watches[r].setAvailable(ctx, true)
		}
	}
	if optional {
		t := time.NewTicker(s.opts.DiscoveryInterval)
		defer t.Stop()
	loop:
		for {
			s.discover(ctx)
			select {
			case <-ctx.Done():
				break loop
			case <-t.C:
			}
		}
	} else {
		<-ctx.Done()
	}
	for _, r := range order {
		s.watches[r].stop()
	}
}

// discover checks which optional resources are served and starts or stops
// their informers.
func (s *Source) discover(ctx context.Context) {
	byGV := map[schema.GroupVersion][]*resourceWatch{}
	for _, r := range s.order {
		if r.Optional {
			gv := schema.GroupVersion{Group: r.Group, Version: r.Version}
			byGV[gv] = append(byGV[gv], s.watches[r])
		}
	}
	gvs := make([]schema.GroupVersion, 0, len(byGV))
	for gv := range byGV {
		gvs = append(gvs, gv)
	}
	sort.Slice(gvs, func(i, j int) bool { return gvs[i].String() < gvs[j].String() })
	failed := false
	for _, gv := range gvs {
		served := map[string]bool{}
		rl, err := s.clients.Discovery.ServerResourcesForGroupVersion(gv.String())
		switch {
		case err == nil:
			for _, r := range rl.APIResources {
				served[r.Name] = true
			}
		case apierrors.IsNotFound(err):
			// The group/version is not installed: every resource in it is unavailable.
		default:
			failed = true
			if !s.discoveryErr {
				s.logger.Warn("kubernetes discovery failed; keeping the last known resource availability", "groupversion", gv.String(), "err", err)
			}
			for _, w := range byGV[gv] {
				w.discoveryFailed(err)
			}
			continue
		}
		for _, w := range byGV[gv] {
			w.setAvailable(ctx, served[w.res.Resource])
		}
	}
	if !failed && s.discoveryErr {
		s.logger.Info("kubernetes discovery works again")
	}
	s.discoveryErr = failed
}
