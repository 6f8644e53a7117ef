package kube

import (
	"reflect"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func obj(m map[string]any) *unstructured.Unstructured {
	if _, ok := m["metadata"]; !ok {
		m["metadata"] = map[string]any{"namespace": "ns", "name": "n"}
	}
	return &unstructured.Unstructured{Object: m}
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestConvertBackupEdgeCases(t *testing.T) {
	cases := []struct {
		name string
		in   map[string]any
		want Backup
	}{
		{"empty object", map[string]any{}, Backup{Namespace: "ns", Name: "n", Method: "barmanObjectStore"}},
		{"plugin, completed", map[string]any{
			"metadata": map[string]any{"namespace": "db", "name": "b", "labels": map[string]any{"cnpg.io/scheduled-backup": "nightly"}},
			"spec":     map[string]any{"cluster": map[string]any{"name": "pg"}, "method": "plugin"},
			"status":   map[string]any{"phase": "completed", "startedAt": "2026-11-30T01:00:00Z", "stoppedAt": "2026-11-30T01:05:00Z"},
		}, Backup{Namespace: "db", Name: "b", Cluster: "pg", Phase: "completed", Method: "plugin", ScheduledBy: "nightly",
			StartedAt: ts("2026-11-30T01:00:00Z"), StoppedAt: ts("2026-11-30T01:05:00Z")}},
		{"status method wins", map[string]any{
			"spec": map[string]any{"method": "barmanObjectStore"}, "status": map[string]any{"method": "volumeSnapshot"},
		}, Backup{Namespace: "ns", Name: "n", Method: "volumeSnapshot"}},
		{"unparsable timestamp", map[string]any{
			"status": map[string]any{"phase": "completed", "stoppedAt": "yesterday"},
		}, Backup{Namespace: "ns", Name: "n", Phase: "completed", Method: "barmanObjectStore", Invalid: []string{"status.stoppedAt"}}},
		{"wrong types", map[string]any{
			"spec":   map[string]any{"cluster": "pg"},
			"status": map[string]any{"phase": 7, "startedAt": 12},
		}, Backup{Namespace: "ns", Name: "n", Method: "barmanObjectStore", Invalid: []string{"status.phase", "status.startedAt"}}},
		{"unknown phase kept", map[string]any{"status": map[string]any{"phase": "exploded"}},
			Backup{Namespace: "ns", Name: "n", Phase: "exploded", Method: "barmanObjectStore"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := convertBackup(obj(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got.(*Backup), c.want) {
				t.Errorf("got  %+v\nwant %+v", *got.(*Backup), c.want)
			}
		})
	}
	if _, err := convertBackup(&corev1.ConfigMap{}); err == nil {
		t.Error("a ConfigMap converted as a Backup")
	}
}

func TestConvertScheduledBackupClusterObjectStoreSnapshot(t *testing.T) {
	sb, _ := convertScheduledBackup(obj(map[string]any{
		"spec":   map[string]any{"cluster": map[string]any{"name": "pg"}, "schedule": "0 0 2 * * *", "suspend": true},
		"status": map[string]any{"lastScheduleTime": "2026-11-30T02:00:00Z", "nextScheduleTime": "bad"},
	}))
	if want := (ScheduledBackup{Namespace: "ns", Name: "n", Cluster: "pg", Schedule: "0 0 2 * * *", Suspended: true,
		LastSchedule: ts("2026-11-30T02:00:00Z"), Invalid: []string{"status.nextScheduleTime"}}); !reflect.DeepEqual(*sb.(*ScheduledBackup), want) {
		t.Errorf("scheduled backup = %+v", sb)
	}
	// A schedule CNPG's parser rejects (a crontab with a day of week 7) is
	// an invalid field; five fields are valid in CNPG (seconds first).
	for spec, invalid := range map[string]bool{"0 0 2 * * 7": true, "TZ=UTC 0 0 2 * * *": true, "0 2 * * *": false, "@every 6h": false} {
		sb, _ := convertScheduledBackup(obj(map[string]any{"spec": map[string]any{"schedule": spec}}))
		if got := slices.Contains(sb.(*ScheduledBackup).Invalid, "spec.schedule"); got != invalid {
			t.Errorf("schedule %q: invalid %v, want %v", spec, got, invalid)
		}
	}

	cl, _ := convertCluster(obj(map[string]any{
		"metadata": map[string]any{"namespace": "db", "name": "pg"},
		"spec": map[string]any{"plugins": []any{
			map[string]any{"name": "other"},
			map[string]any{"name": BarmanCloudPlugin, "parameters": map[string]any{"barmanObjectName": "store"}},
		}},
		"status": map[string]any{
			"firstRecoverabilityPoint": "2026-11-01T00:00:00Z",
			"conditions": []any{
				map[string]any{"type": "ContinuousArchiving", "status": "True"},
				map[string]any{"type": "LastBackupSucceeded", "status": "False"},
				"garbage",
			},
		},
	}))
	c := cl.(*Cluster)
	if c.BarmanObjectStore != "store" || c.BarmanServerName != "pg" || c.Conditions["ContinuousArchiving"] != "True" ||
		c.Conditions["LastBackupSucceeded"] != "False" || !c.FirstRecoverabilityPoint.Equal(ts("2026-11-01T00:00:00Z")) ||
		!reflect.DeepEqual(c.Invalid, []string{"status.conditions"}) {
		t.Errorf("cluster = %+v", c)
	}
	disabled, _ := convertCluster(obj(map[string]any{"spec": map[string]any{"plugins": []any{
		map[string]any{"name": BarmanCloudPlugin, "enabled": false, "parameters": map[string]any{"barmanObjectName": "store", "serverName": "s"}}}}}))
	if disabled.(*Cluster).BarmanObjectStore != "" {
		t.Errorf("a disabled plugin counted: %+v", disabled)
	}

	os, _ := convertObjectStore(obj(map[string]any{"status": map[string]any{"serverRecoveryWindow": map[string]any{
		"pg":  map[string]any{"firstRecoverabilityPoint": "2026-11-02T00:00:00Z", "lastSuccessfulBackupTime": "2026-11-30T00:00:00Z"},
		"bad": "not a map",
		"odd": map[string]any{"lastFailedBackupTime": "noon"},
	}}}))
	o := os.(*ObjectStore)
	if !o.Windows["pg"].FirstRecoverabilityPoint.Equal(ts("2026-11-02T00:00:00Z")) || !o.Windows["pg"].LastSuccessfulBackup.Equal(ts("2026-11-30T00:00:00Z")) {
		t.Errorf("object store windows = %+v", o.Windows)
	}
	if len(o.Invalid) != 2 {
		t.Errorf("object store invalid = %v, want 2 entries", o.Invalid)
	}

	vs, _ := convertVolumeSnapshot(obj(map[string]any{
		"spec":   map[string]any{"source": map[string]any{"persistentVolumeClaimName": "data"}},
		"status": map[string]any{"readyToUse": "yes", "creationTime": "2026-11-30T03:00:00Z"},
	}))
	if want := (VolumeSnapshot{Namespace: "ns", Name: "n", PVC: "data", CreationTime: ts("2026-11-30T03:00:00Z"), Invalid: []string{"status.readyToUse"}}); !reflect.DeepEqual(*vs.(*VolumeSnapshot), want) {
		t.Errorf("volume snapshot = %+v", vs)
	}
}

func TestConvertCoreKinds(t *testing.T) {
	sc := "local-path"
	deleted := metav1.NewTime(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC))
	p, _ := convertPVC(&corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "gitea-shared-storage", DeletionTimestamp: &deleted,
			Finalizers:  []string{"kubernetes.io/pvc-protection"},
			Annotations: map[string]string{"volume.kubernetes.io/storage-provisioner": "rancher.io/local-path"}},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &sc, VolumeName: "pvc-1",
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}}},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
	})
	if want := (PVC{Namespace: "default", Name: "gitea-shared-storage", StorageClass: "local-path", VolumeName: "pvc-1", Phase: "Bound",
		RequestedBytes: 10 << 30, HasRequest: true, StatusCapacityBytes: 10 << 30, HasStatusCapacity: true, Provisioner: "rancher.io/local-path",
		Deleted: deleted.Time}); !reflect.DeepEqual(*p.(*PVC), want) {
		t.Errorf("pvc = %+v", p)
	}
	empty, _ := convertPVC(&corev1.PersistentVolumeClaim{})
	if e := empty.(*PVC); e.HasRequest || e.HasStatusCapacity || !e.Deleted.IsZero() {
		t.Errorf("empty pvc = %+v", e)
	}

	pv, _ := convertPV(&corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-1", Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": "rancher.io/local-path"}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/x"}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"node-a"}}}}}}},
		},
	})
	if want := (PV{Name: "pvc-1", CapacityBytes: 10 << 30, HasCapacity: true, Provisioner: "rancher.io/local-path", Local: true, Node: "node-a"}); !reflect.DeepEqual(*pv.(*PV), want) {
		t.Errorf("pv = %+v", pv)
	}
	csi, _ := convertPV(&corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{
		PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "ebs.csi.aws.com"}},
		NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"a", "b"}}}}}}},
	}})
	if c := csi.(*PV); c.Provisioner != "ebs.csi.aws.com" || c.Local || c.Node != "" {
		t.Errorf("csi pv = %+v", c)
	}

	suspend, tz := true, "Europe/Berlin"
	cj, _ := convertCronJob(&batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "backup",
			Annotations: map[string]string{BackupOfAnnotation: "default/gitea-shared-storage, data ,bad/, /x, a/b/c"}},
		Spec:   batchv1.CronJobSpec{Suspend: &suspend, Schedule: "0 3 * * 1-5", TimeZone: &tz},
		Status: batchv1.CronJobStatus{LastSuccessfulTime: &metav1.Time{Time: ts("2026-11-30T04:00:00Z")}},
	})
	if want := (CronJob{Namespace: "default", Name: "backup", BackupOf: []string{"default/gitea-shared-storage", "default/data"},
		Suspended: true, LastSuccessful: ts("2026-11-30T04:00:00Z"), Schedule: "0 3 * * 1-5", TimeZone: tz}); !reflect.DeepEqual(*cj.(*CronJob), want) {
		t.Errorf("cronjob = %+v", cj)
	}
	// A schedule the CronJob controller cannot read (seconds first, as in
	// CNPG) is an invalid field.
	bad, _ := convertCronJob(&batchv1.CronJob{Spec: batchv1.CronJobSpec{Schedule: "0 0 3 * * *"}})
	if got := bad.(*CronJob).Invalid; !reflect.DeepEqual(got, []string{"spec.schedule"}) {
		t.Errorf("invalid cronjob schedule: %v", got)
	}
}

func TestTransformIsIdempotent(t *testing.T) {
	tf := transform(convertPVC)
	once, err := tf(&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "b"}})
	if err != nil {
		t.Fatal(err)
	}
	twice, err := tf(once)
	if err != nil || twice != once {
		t.Errorf("transform of a transformed object = %v, %v", twice, err)
	}
	if s := once.(*slim); s.Namespace != "a" || s.Name != "b" {
		t.Errorf("slim meta = %+v", s.ObjectMeta)
	}
}
