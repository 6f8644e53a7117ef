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
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

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

	mu            sync.Mutex
	watches       map[Resource]*resourceWatch
	order         []Resource
	started       bool
	cmSelector    *string
	healthClaimed bool
	discoveryErr  bool

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
		s.needLocked(r)
	}
}

func (s *Source) needLocked(r Resource) *resourceWatch {
	if w, ok := s.watches[r]; ok {
		return w
	}
	if s.started {
		panic("kube: Need after Run") // a programming error, caught by any test
	}
	w := &resourceWatch{res: r, src: s}
	switch r {
	case PersistentVolumeClaims:
		w.conv = convertPVC
	case PersistentVolumes:
		w.conv = convertPV
	case CronJobs:
		w.conv = convertCronJob
	case Backups:
		w.conv = convertBackup
	case ScheduledBackups:
		w.conv = convertScheduledBackup
	case Clusters:
		w.conv = convertCluster
	case ObjectStores:
		w.conv = convertObjectStore
	case VolumeSnapshots:
		w.conv = convertVolumeSnapshot
	case ConfigMaps:
		w.conv = nil // kept whole (minus managedFields): readers want the data
	default:
		panic(fmt.Sprintf("kube: unknown resource %s", r))
	}
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

// ClaimHealth returns true for the first caller only: that collector emits
// the source's health metrics, so they appear once per scrape however many
// collectors share the source.
func (s *Source) ClaimHealth() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.healthClaimed {
		return false
	}
	s.healthClaimed = true
	return true
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

// resourceWatch is the informer set for one resource (one informer per
// watched namespace) and its health.
type resourceWatch struct {
	res  Resource
	src  *Source
	conv converter

	mu sync.Mutex
	// known is false until availability has been established (for CRDs:
	// the first successful discovery); until then readers get ErrNotSynced,
	// never an empty "not installed" answer.
	known     bool
	available bool
	informers []cache.SharedIndexInformer
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	lastErr   error
	// discoveryErr says lastErr came from discovery, not list/watch.
	discoveryErr bool

	lastSync atomic.Int64 // Unix nanoseconds
	errs     atomic.Uint64
	failing  atomic.Bool
}

func (w *resourceWatch) isAvailable() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.known && w.available
}

// setAvailable starts the informers when the resource becomes available
// and stops them (dropping the cache) when it goes away.
func (w *resourceWatch) setAvailable(ctx context.Context, on bool) {
	w.mu.Lock()
	was, wasKnown := w.available, w.known
	running := w.informers != nil
	w.mu.Unlock()
	switch {
	case on && !running:
		if w.res.Optional {
			w.src.logger.Info("kubernetes resource available; watching it", "resource", w.res.String())
		}
		w.start(ctx)
	case !on && running:
		w.src.logger.Warn("kubernetes resource no longer served; stopped watching it", "resource", w.res.String())
		w.stop()
	case !on && (was != on || !wasKnown):
		w.src.logger.Info("kubernetes resource not installed; will check again", "resource", w.res.String(), "interval", w.src.opts.DiscoveryInterval.String())
	}
	w.mu.Lock()
	w.available, w.known = on, true
	if w.discoveryErr {
		w.lastErr, w.discoveryErr = nil, false
	}
	w.mu.Unlock()
}

// discoveryFailed records that availability could not be established;
// before the first successful discovery that makes readers fail.
func (w *resourceWatch) discoveryFailed(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.known {
		w.lastErr, w.discoveryErr = fmt.Errorf("discovery: %w", err), true
	}
}

func (w *resourceWatch) namespaces() []string {
	if !w.res.Namespaced || len(w.src.opts.Namespaces) == 0 {
		return []string{metav1.NamespaceAll}
	}
	return w.src.opts.Namespaces
}

func (w *resourceWatch) start(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	var infs []cache.SharedIndexInformer
	for _, ns := range w.namespaces() {
		inf := w.newInformer(ns)
		infs = append(infs, inf)
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			inf.RunWithContext(ctx)
		}()
	}
	w.mu.Lock()
	w.informers, w.cancel = infs, cancel
	w.mu.Unlock()
}

func (w *resourceWatch) stop() {
	w.mu.Lock()
	cancel := w.cancel
	w.informers, w.cancel, w.lastErr = nil, nil, nil
	w.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	w.wg.Wait()
	w.failing.Store(false)
}

func (w *resourceWatch) newInformer(ns string) cache.SharedIndexInformer {
	listFn, watchFn, example, client := w.src.listWatch(w.res, ns)
	selector := ""
	if w.res == ConfigMaps && w.src.cmSelector != nil {
		selector = *w.src.cmSelector
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			obj, err := listFn(ctx, o)
			if err == nil {
				w.touch()
			}
			return obj, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			wi, err := watchFn(ctx, o)
			if err != nil {
				// client-go retries a refused connection (and 429) inside
				// its watch and watch-list loops without calling the
				// informer's error handler, so an API server unreachable
				// at start or lost mid-run would otherwise never be seen.
				w.onError(ctx, err)
				return nil, err
			}
			// The server answered: after an outage, an idle resource would
			// otherwise stay "failing" until its next event or bookmark.
			w.touch()
			return newTouchingWatch(wi, w.touch), nil
		},
	}
	inf := cache.NewSharedIndexInformerWithOptions(
		cache.ToListWatcherWithWatchListSemantics(lw, client), example,
		cache.SharedIndexInformerOptions{ObjectDescription: w.res.String()})
	if w.conv != nil {
		_ = inf.SetTransform(transform(w.conv))
	} else {
		_ = inf.SetTransform(stripManagedFields)
	}
	_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, _ *cache.Reflector, err error) { w.onError(ctx, err) })
	return inf
}

func stripManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

type listFunc func(context.Context, metav1.ListOptions) (runtime.Object, error)
type watchFunc func(context.Context, metav1.ListOptions) (watch.Interface, error)

// listWatch returns the list and watch calls for a resource in one
// namespace, the informer's example object, and the client (which tells
// client-go whether it supports streaming lists).
func (s *Source) listWatch(r Resource, ns string) (listFunc, watchFunc, runtime.Object, any) {
	cs := s.clients.Typed
	switch r {
	case PersistentVolumeClaims:
		c := cs.CoreV1().PersistentVolumeClaims(ns)
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return c.List(ctx, o) },
			c.Watch, &corev1.PersistentVolumeClaim{}, cs
	case PersistentVolumes:
		c := cs.CoreV1().PersistentVolumes()
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return c.List(ctx, o) },
			c.Watch, &corev1.PersistentVolume{}, cs
	case CronJobs:
		c := cs.BatchV1().CronJobs(ns)
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return c.List(ctx, o) },
			c.Watch, &batchv1.CronJob{}, cs
	case ConfigMaps:
		c := cs.CoreV1().ConfigMaps(ns)
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return c.List(ctx, o) },
			c.Watch, &corev1.ConfigMap{}, cs
	}
	var c dynamic.ResourceInterface = s.clients.Dynamic.Resource(r.GVR())
	if r.Namespaced {
		c = s.clients.Dynamic.Resource(r.GVR()).Namespace(ns)
	}
	return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return c.List(ctx, o) },
		c.Watch, &unstructured.Unstructured{}, s.clients.Dynamic
}

// touch records contact with the API server and clears a failure.
func (w *resourceWatch) touch() {
	w.lastSync.Store(time.Now().UnixNano())
	if w.failing.Load() {
		w.mu.Lock()
		w.lastErr = nil
		w.mu.Unlock()
		w.failing.Store(false)
		w.src.logger.Info("kubernetes list/watch works again", "resource", w.res.String())
	}
}

// onError is the informer's WatchErrorHandler: every failed list or
// dropped watch lands here.
func (w *resourceWatch) onError(ctx context.Context, err error) {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return // shutting down
	}
	// An expired resource version or a closed stream is routine: the
	// reflector relists or rewatches at once, as client-go's own handler
	// treats them.
	if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return
	}
	w.errs.Add(1)
	w.mu.Lock()
	w.lastErr = err
	w.mu.Unlock()
	if !w.failing.Swap(true) {
		w.src.logger.Error("kubernetes list/watch failed; serving cached data until it recovers", "resource", w.res.String(), "err", err)
	}
}

// status says whether readers can trust the cache.
func (w *resourceWatch) status(infs []cache.SharedIndexInformer) error {
	w.mu.Lock()
	lastErr := w.lastErr
	w.mu.Unlock()
	if lastErr != nil {
		return &StaleError{Resource: w.res, Err: lastErr}
	}
	for _, inf := range infs {
		if !inf.HasSynced() {
			return fmt.Errorf("%s: %w", w.res, ErrNotSynced)
		}
	}
	return nil
}

func (w *resourceWatch) snapshot() ([]cache.SharedIndexInformer, bool, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.informers, w.available, w.known
}

// list returns the cached values of one resource, converted to T, in no
// particular order (the registry sorts the exposition; sorting 10,000
// Backups at every scrape would cost more than the rest of the scrape).
func list[T any](w *resourceWatch) ([]T, error) {
	infs, available, known := w.snapshot()
	if !known || (available && infs == nil) {
		if err := w.status(nil); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", w.res, ErrNotSynced)
	}
	if !available {
		return nil, nil
	}
	err := w.status(infs)
	var out []T
	for _, inf := range infs {
		items := inf.GetStore().List()
		if out == nil {
			out = make([]T, 0, len(items))
		}
		for _, o := range items {
			var v any = o
			if s, ok := o.(*slim); ok {
				v = s.v
			}
			if t, ok := v.(T); ok {
				out = append(out, t)
			}
		}
	}
	return out, err
}

var (
	availableDesc = prometheus.NewDesc("forge_exporter_kube_resource_available",
		"1 if the Kubernetes resource is served by the API server (CRDs: as of the last discovery), 0 if not installed.",
		[]string{"group", "resource"}, nil)
	lastSyncDesc = prometheus.NewDesc("forge_exporter_kube_last_sync_timestamp_seconds",
		"When the resource's informer cache last heard from the API server: a list or a watch event, including the bookmarks sent about once a minute.",
		[]string{"group", "resource"}, nil)
	errorsDesc = prometheus.NewDesc("forge_exporter_kube_list_watch_errors_total",
		"List or watch attempts for the resource that failed (routine watch expiry excluded).",
		[]string{"group", "resource"}, nil)
	objectsDesc = prometheus.NewDesc("forge_exporter_kube_objects",
		"Objects of the resource in the informer cache.",
		[]string{"group", "resource"}, nil)
	invalidDesc = prometheus.NewDesc("forge_exporter_kube_invalid_objects",
		"Cached objects with a malformed field (for example an unparsable timestamp) that the collectors ignore.",
		[]string{"group", "resource"}, nil)
)

// CollectHealth sends the health metrics of every watched resource.
func (s *Source) CollectHealth(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	order := append([]Resource(nil), s.order...)
	s.mu.Unlock()
	for _, r := range order {
		w := s.watch(r)
		infs, available, known := w.snapshot()
		if !known {
			continue
		}
		ch <- prometheus.MustNewConstMetric(availableDesc, prometheus.GaugeValue, b2f(available), r.Group, r.Resource)
		if ts := w.lastSync.Load(); ts > 0 {
			ch <- prometheus.MustNewConstMetric(lastSyncDesc, prometheus.GaugeValue, float64(ts)/1e9, r.Group, r.Resource)
		}
		ch <- prometheus.MustNewConstMetric(errorsDesc, prometheus.CounterValue, float64(w.errs.Load()), r.Group, r.Resource)
		if !available || infs == nil {
			continue
		}
		n, invalid := 0, 0
		for _, inf := range infs {
			for _, o := range inf.GetStore().List() {
				n++
				if s, ok := o.(*slim); ok && len(invalidFields(s.v)) > 0 {
					invalid++
				}
			}
		}
		ch <- prometheus.MustNewConstMetric(objectsDesc, prometheus.GaugeValue, float64(n), r.Group, r.Resource)
		ch <- prometheus.MustNewConstMetric(invalidDesc, prometheus.GaugeValue, float64(invalid), r.Group, r.Resource)
	}
}

func invalidFields(v any) []string {
	switch o := v.(type) {
	case *Backup:
		return o.Invalid
	case *ScheduledBackup:
		return o.Invalid
	case *Cluster:
		return o.Invalid
	case *ObjectStore:
		return o.Invalid
	case *VolumeSnapshot:
		return o.Invalid
	case *CronJob:
		return o.Invalid
	}
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// touchingWatch forwards a watch's events and records each as contact with
// the API server.
type touchingWatch struct {
	in   watch.Interface
	out  chan watch.Event
	done chan struct{}
	once sync.Once
}

func newTouchingWatch(in watch.Interface, touch func()) watch.Interface {
	t := &touchingWatch{in: in, out: make(chan watch.Event), done: make(chan struct{})}
	go func() {
		defer close(t.out)
		for {
			select {
			case ev, ok := <-in.ResultChan():
				if !ok {
					return
				}
				if ev.Type != watch.Error {
					touch()
				}
				select {
				case t.out <- ev:
				case <-t.done:
					return
				}
			case <-t.done:
				return
			}
		}
	}()
	return t
}

func (t *touchingWatch) ResultChan() <-chan watch.Event { return t.out }
func (t *touchingWatch) Stop() {
	t.once.Do(func() {
		close(t.done)
		t.in.Stop()
	})
}
