package kube

import (
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/railiance/forge-exporter/internal/schedule"
)

// The informer caches hold these slim views instead of whole API objects: a
// transform converts each object once, when it arrives, so a scrape reads a
// few fields from small structs (10,000 Backups cost a few MiB, not the
// hundreds of KiB of managedFields and status each unstructured object
// carries) and malformed fields are found once, not at every scrape.

// BackupOfAnnotation links a CronJob to the PVCs it backs up:
// "<namespace>/<pvc>", comma-separated for several; a bare "<pvc>" means the
// CronJob's own namespace.
const BackupOfAnnotation = "forge.railiance.io/backup-of"

// PVC is a PersistentVolumeClaim.
type PVC struct {
	Namespace, Name string
	StorageClass    string
	VolumeName      string
	Phase           string
	// RequestedBytes is spec.resources.requests.storage (0 and HasRequest
	// false when unset).
	RequestedBytes float64
	HasRequest     bool
	// StatusCapacityBytes is status.capacity.storage, used when the bound PV
	// cannot be read.
	StatusCapacityBytes float64
	HasStatusCapacity   bool
	// Provisioner from the PVC's storage-provisioner annotation.
	Provisioner string
	// Deleted is metadata.deletionTimestamp: the PVC has been deleted and
	// waits for its finalizers (kubernetes.io/pvc-protection while a pod
	// uses it); zero when not deleted.
	Deleted time.Time
}

// PV is a PersistentVolume.
type PV struct {
	Name          string
	CapacityBytes float64
	HasCapacity   bool
	StorageClass  string
	// Provisioner is the pv.kubernetes.io/provisioned-by annotation, else the
	// CSI driver name.
	Provisioner string
	// Local is true for local and hostPath volumes (local-path provisioner):
	// they live on one node's disk.
	Local bool
	// Node is the single hostname the PV's required node affinity pins it to.
	Node string
}

// CronJob is a batch/v1 CronJob.
type CronJob struct {
	Namespace, Name string
	// BackupOf lists "namespace/pvc" from the BackupOfAnnotation.
	BackupOf       []string
	Suspended      bool
	LastSuccessful time.Time
	LastSchedule   time.Time
	// Schedule and TimeZone are spec.schedule and spec.timeZone (empty
	// when unset).
	Schedule, TimeZone string
	Invalid            []string
}

// Backup is a postgresql.cnpg.io/v1 Backup.
type Backup struct {
	Namespace, Name string
	Cluster         string
	Phase           string
	Method          string
	// ScheduledBy is the ScheduledBackup that created it (CNPG's
	// cnpg.io/scheduled-backup label), empty for on-demand backups.
	ScheduledBy string
	Created     time.Time
	StartedAt   time.Time
	StoppedAt   time.Time
	// Invalid lists fields that were present but malformed (ignored).
	Invalid []string
}

// ScheduledBackup is a postgresql.cnpg.io/v1 ScheduledBackup.
type ScheduledBackup struct {
	Namespace, Name string
	Cluster         string
	Schedule        string
	Suspended       bool
	LastSchedule    time.Time
	NextSchedule    time.Time
	Invalid         []string
}

// Cluster is a postgresql.cnpg.io/v1 Cluster.
type Cluster struct {
	Namespace, Name string
	// Conditions maps condition type to status ("True", "False", "Unknown").
	Conditions map[string]string
	// FirstRecoverabilityPoint is the deprecated status field (unset with
	// backup plugins).
	FirstRecoverabilityPoint time.Time
	// BarmanObjectStore and BarmanServerName come from the barman-cloud
	// plugin entry in spec.plugins (parameters barmanObjectName and
	// serverName; the server name defaults to the cluster name).
	BarmanObjectStore string
	BarmanServerName  string
	Invalid           []string
}

// ObjectStore is a barmancloud.cnpg.io/v1 ObjectStore.
type ObjectStore struct {
	Namespace, Name string
	// Windows is status.serverRecoveryWindow, by server name.
	Windows map[string]RecoveryWindow
	Invalid []string
}

// RecoveryWindow is one server's entry in an ObjectStore's status.
type RecoveryWindow struct {
	FirstRecoverabilityPoint time.Time
	LastSuccessfulBackup     time.Time
	LastFailedBackup         time.Time
}

// VolumeSnapshot is a snapshot.storage.k8s.io/v1 VolumeSnapshot.
type VolumeSnapshot struct {
	Namespace, Name string
	PVC             string
	ReadyToUse      bool
	CreationTime    time.Time
	Invalid         []string
}

// BarmanCloudPlugin is the name CNPG clusters use for the barman-cloud plugin.
const BarmanCloudPlugin = "barman-cloud.cloudnative-pg.io"

// slim is what the informer stores: just enough metadata for the cache key,
// and the converted value.
type slim struct {
	metav1.ObjectMeta
	v any
}

func (s *slim) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }
func (s *slim) DeepCopyObject() runtime.Object   { c := *s; return &c }

func newSlim(namespace, name string, v any) *slim {
	return &slim{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, v: v}
}

// converter turns an API object into its slim view.
type converter func(obj any) (any, error)

// transform wraps a converter as an informer transform. It is idempotent
// (an already converted object passes through), as client-go asks.
func transform(conv converter) func(any) (any, error) {
	return func(obj any) (any, error) {
		if s, ok := obj.(*slim); ok {
			return s, nil
		}
		m, err := metaOf(obj)
		if err != nil {
			return nil, err
		}
		v, err := conv(obj)
		if err != nil {
			return nil, err
		}
		return newSlim(m.GetNamespace(), m.GetName(), v), nil
	}
}

func metaOf(obj any) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("kube: unexpected object type %T", obj)
	}
	return m, nil
}

func convertPVC(obj any) (any, error) {
	p, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil, fmt.Errorf("kube: want a PersistentVolumeClaim, got %T", obj)
	}
	out := &PVC{Namespace: p.Namespace, Name: p.Name, VolumeName: p.Spec.VolumeName, Phase: string(p.Status.Phase)}
	if p.Spec.StorageClassName != nil {
		out.StorageClass = *p.Spec.StorageClassName
	}
	if q, ok := p.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
		out.RequestedBytes, out.HasRequest = q.AsApproximateFloat64(), true
	}
	if q, ok := p.Status.Capacity[corev1.ResourceStorage]; ok {
		out.StatusCapacityBytes, out.HasStatusCapacity = q.AsApproximateFloat64(), true
	}
	out.Provisioner = p.Annotations["volume.kubernetes.io/storage-provisioner"]
	if out.Provisioner == "" {
		out.Provisioner = p.Annotations["volume.beta.kubernetes.io/storage-provisioner"]
	}
	if t := p.DeletionTimestamp; t != nil {
		out.Deleted = t.Time
	}
	return out, nil
}

func convertPV(obj any) (any, error) {
	p, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return nil, fmt.Errorf("kube: want a PersistentVolume, got %T", obj)
	}
	out := &PV{Name: p.Name, StorageClass: p.Spec.StorageClassName}
	if q, ok := p.Spec.Capacity[corev1.ResourceStorage]; ok {
		out.CapacityBytes, out.HasCapacity = q.AsApproximateFloat64(), true
	}
	out.Provisioner = p.Annotations["pv.kubernetes.io/provisioned-by"]
	if out.Provisioner == "" && p.Spec.CSI != nil {
		out.Provisioner = p.Spec.CSI.Driver
	}
	out.Local = p.Spec.Local != nil || p.Spec.HostPath != nil
	if na := p.Spec.NodeAffinity; na != nil && na.Required != nil {
		nodes := map[string]bool{}
		for _, term := range na.Required.NodeSelectorTerms {
			for _, e := range term.MatchExpressions {
				if e.Key == corev1.LabelHostname && e.Operator == corev1.NodeSelectorOpIn {
					for _, v := range e.Values {
						nodes[v] = true
					}
				}
			}
		}
		if len(nodes) == 1 {
			for n := range nodes {
				out.Node = n
			}
		}
	}
	return out, nil
}

func convertCronJob(obj any) (any, error) {
	c, ok := obj.(*batchv1.CronJob)
	if !ok {
		return nil, fmt.Errorf("kube: want a CronJob, got %T", obj)
	}
	out := &CronJob{Namespace: c.Namespace, Name: c.Name}
	if c.Spec.Suspend != nil {
		out.Suspended = *c.Spec.Suspend
	}
	if t := c.Status.LastSuccessfulTime; t != nil {
		out.LastSuccessful = t.Time
	}
	if t := c.Status.LastScheduleTime; t != nil {
		out.LastSchedule = t.Time
	}
	out.BackupOf = parseBackupOf(c.Namespace, c.Annotations[BackupOfAnnotation])
	out.Schedule = c.Spec.Schedule
	if c.Spec.TimeZone != nil {
		out.TimeZone = *c.Spec.TimeZone
	}
	// The API server validates schedules on admission; objects older than
	// today's validation may still hold one the controller cannot read.
	if _, err := schedule.ParseCronJob(out.Schedule, out.TimeZone); err != nil {
		out.Invalid = append(out.Invalid, "spec.schedule")
	}
	return out, nil
}

// parseBackupOf reads the BackupOfAnnotation; entries that are not a
// namespace/name pair (or a bare name) are ignored.
func parseBackupOf(namespace, v string) []string {
	var out []string
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		ns, name, ok := strings.Cut(part, "/")
		if !ok {
			ns, name = namespace, part
		}
		if ns == "" || name == "" || strings.Contains(name, "/") {
			continue
		}
		out = append(out, ns+"/"+name)
	}
	return out
}

// fields reads typed values out of an unstructured object, noting fields
// that exist but are malformed instead of failing: an odd object must never
// break the cache or the scrape.
type fields struct {
	obj     map[string]any
	invalid []string
}

func (f *fields) str(path ...string) string {
	v, found, err := unstructured.NestedFieldNoCopy(f.obj, path...)
	if !found || err != nil || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		f.invalid = append(f.invalid, strings.Join(path, "."))
		return ""
	}
	return s
}

func (f *fields) boolean(path ...string) bool {
	v, found, err := unstructured.NestedFieldNoCopy(f.obj, path...)
	if !found || err != nil || v == nil {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		f.invalid = append(f.invalid, strings.Join(path, "."))
	}
	return b
}

// time parses an RFC 3339 timestamp; a zero time means unset or malformed.
func (f *fields) time(path ...string) time.Time {
	s := f.str(path...)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		f.invalid = append(f.invalid, strings.Join(path, "."))
		return time.Time{}
	}
	return t
}

func unstructuredOf(obj any) (*unstructured.Unstructured, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("kube: want an unstructured object, got %T", obj)
	}
	return u, nil
}

func convertBackup(obj any) (any, error) {
	u, err := unstructuredOf(obj)
	if err != nil {
		return nil, err
	}
	f := &fields{obj: u.Object}
	out := &Backup{
		Namespace: u.GetNamespace(), Name: u.GetName(),
		Cluster:     f.str("spec", "cluster", "name"),
		Phase:       f.str("status", "phase"),
		Method:      f.str("status", "method"),
		Created:     u.GetCreationTimestamp().Time,
		ScheduledBy: u.GetLabels()["cnpg.io/scheduled-backup"],
		StartedAt:   f.time("status", "startedAt"),
		StoppedAt:   f.time("status", "stoppedAt"),
	}
	if out.Method == "" {
		out.Method = f.str("spec", "method")
	}
	if out.Method == "" {
		out.Method = "barmanObjectStore" // the CRD's default
	}
	out.Invalid = f.invalid
	return out, nil
}

func convertScheduledBackup(obj any) (any, error) {
	u, err := unstructuredOf(obj)
	if err != nil {
		return nil, err
	}
	f := &fields{obj: u.Object}
	out := &ScheduledBackup{
		Namespace: u.GetNamespace(), Name: u.GetName(),
		Cluster:      f.str("spec", "cluster", "name"),
		Schedule:     f.str("spec", "schedule"),
		Suspended:    f.boolean("spec", "suspend"),
		LastSchedule: f.time("status", "lastScheduleTime"),
		NextSchedule: f.time("status", "nextScheduleTime"),
	}
	// CNPG's own parser rejects it: the operator creates no Backups.
	if _, err := schedule.ParseCNPG(out.Schedule); err != nil {
		f.invalid = append(f.invalid, "spec.schedule")
	}
	out.Invalid = f.invalid
	return out, nil
}

func convertCluster(obj any) (any, error) {
	u, err := unstructuredOf(obj)
	if err != nil {
		return nil, err
	}
	f := &fields{obj: u.Object}
	out := &Cluster{Namespace: u.GetNamespace(), Name: u.GetName(), Conditions: map[string]string{}}
	out.FirstRecoverabilityPoint = f.time("status", "firstRecoverabilityPoint")
	if conds, found, err := unstructured.NestedFieldNoCopy(u.Object, "status", "conditions"); found && err == nil {
		list, ok := conds.([]any)
		if !ok {
			f.invalid = append(f.invalid, "status.conditions")
		}
		for _, c := range list {
			cm, ok := c.(map[string]any)
			if !ok {
				f.invalid = append(f.invalid, "status.conditions")
				continue
			}
			typ, _ := cm["type"].(string)
			st, _ := cm["status"].(string)
			if typ != "" {
				out.Conditions[typ] = st
			}
		}
	}
	if plugins, found, err := unstructured.NestedFieldNoCopy(u.Object, "spec", "plugins"); found && err == nil {
		list, _ := plugins.([]any)
		for _, p := range list {
			pm, ok := p.(map[string]any)
			if !ok || pm["name"] != BarmanCloudPlugin {
				continue
			}
			if enabled, ok := pm["enabled"].(bool); ok && !enabled {
				continue
			}
			params, _ := pm["parameters"].(map[string]any)
			out.BarmanObjectStore, _ = params["barmanObjectName"].(string)
			out.BarmanServerName, _ = params["serverName"].(string)
		}
	}
	if out.BarmanObjectStore != "" && out.BarmanServerName == "" {
		out.BarmanServerName = out.Name
	}
	out.Invalid = f.invalid
	return out, nil
}

func convertObjectStore(obj any) (any, error) {
	u, err := unstructuredOf(obj)
	if err != nil {
		return nil, err
	}
	f := &fields{obj: u.Object}
	out := &ObjectStore{Namespace: u.GetNamespace(), Name: u.GetName(), Windows: map[string]RecoveryWindow{}}
	if w, found, err := unstructured.NestedFieldNoCopy(u.Object, "status", "serverRecoveryWindow"); found && err == nil {
		m, ok := w.(map[string]any)
		if !ok {
			f.invalid = append(f.invalid, "status.serverRecoveryWindow")
		}
		for server, v := range m {
			vm, ok := v.(map[string]any)
			if !ok {
				f.invalid = append(f.invalid, "status.serverRecoveryWindow."+server)
				continue
			}
			wf := &fields{obj: vm}
			out.Windows[server] = RecoveryWindow{
				FirstRecoverabilityPoint: wf.time("firstRecoverabilityPoint"),
				LastSuccessfulBackup:     wf.time("lastSuccessfulBackupTime"),
				LastFailedBackup:         wf.time("lastFailedBackupTime"),
			}
			for _, inv := range wf.invalid {
				f.invalid = append(f.invalid, "status.serverRecoveryWindow."+server+"."+inv)
			}
		}
	}
	out.Invalid = f.invalid
	return out, nil
}

func convertVolumeSnapshot(obj any) (any, error) {
	u, err := unstructuredOf(obj)
	if err != nil {
		return nil, err
	}
	f := &fields{obj: u.Object}
	out := &VolumeSnapshot{
		Namespace: u.GetNamespace(), Name: u.GetName(),
		PVC:          f.str("spec", "source", "persistentVolumeClaimName"),
		ReadyToUse:   f.boolean("status", "readyToUse"),
		CreationTime: f.time("status", "creationTime"),
	}
	out.Invalid = f.invalid
	return out, nil
}
