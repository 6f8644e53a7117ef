package kube

import (
	"context"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// kind is what the source knows of one resource kind. Adding a kind is one
// entry in kinds (plus its Resource and its reader method).
type kind struct {
	// conv turns the API object into the slim value the cache keeps; nil
	// keeps the object whole (minus managedFields), for readers that want
	// its data (ConfigMaps).
	conv converter
	// typed lists and watches a built-in kind through the typed clientset
	// (protobuf on the wire); nil means a CRD, read with the dynamic client.
	typed func(cs kubernetes.Interface, ns string) (listFunc, watchFunc, runtime.Object)
}

var kinds = map[Resource]kind{
	PersistentVolumeClaims: {conv: convertPVC, typed: func(cs kubernetes.Interface, ns string) (listFunc, watchFunc, runtime.Object) {
		c := cs.CoreV1().PersistentVolumeClaims(ns)
		return listOf(c.List), c.Watch, &corev1.PersistentVolumeClaim{}
	}},
	PersistentVolumes: {conv: convertPV, typed: func(cs kubernetes.Interface, _ string) (listFunc, watchFunc, runtime.Object) {
		c := cs.CoreV1().PersistentVolumes()
		return listOf(c.List), c.Watch, &corev1.PersistentVolume{}
	}},
	CronJobs: {conv: convertCronJob, typed: func(cs kubernetes.Interface, ns string) (listFunc, watchFunc, runtime.Object) {
		c := cs.BatchV1().CronJobs(ns)
		return listOf(c.List), c.Watch, &batchv1.CronJob{}
	}},
	ConfigMaps: {typed: func(cs kubernetes.Interface, ns string) (listFunc, watchFunc, runtime.Object) {
		c := cs.CoreV1().ConfigMaps(ns)
		return listOf(c.List), c.Watch, &corev1.ConfigMap{}
	}},
	Backups:          {conv: convertBackup},
	ScheduledBackups: {conv: convertScheduledBackup},
	Clusters:         {conv: convertCluster},
	ObjectStores:     {conv: convertObjectStore},
	VolumeSnapshots:  {conv: convertVolumeSnapshot},
}

type listFunc func(context.Context, metav1.ListOptions) (runtime.Object, error)
type watchFunc func(context.Context, metav1.ListOptions) (watch.Interface, error)

// listOf adapts a client's typed List to the informer's list call.
func listOf[L runtime.Object](list func(context.Context, metav1.ListOptions) (L, error)) listFunc {
	return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return list(ctx, o) }
}

// validated is a converted object that records its malformed fields, counted
// in forge_exporter_kube_invalid_objects.
type validated interface{ invalidFields() []string }

func (o *Backup) invalidFields() []string          { return o.Invalid }
func (o *ScheduledBackup) invalidFields() []string { return o.Invalid }
func (o *Cluster) invalidFields() []string         { return o.Invalid }
func (o *ObjectStore) invalidFields() []string     { return o.Invalid }
func (o *VolumeSnapshot) invalidFields() []string  { return o.Invalid }
func (o *CronJob) invalidFields() []string         { return o.Invalid }
