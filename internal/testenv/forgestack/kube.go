package forgestack

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/railiance/forge-exporter/internal/testenv/kubeenv"
)

// The contract's forge as Kubernetes objects. Nothing reconciles them (the
// API server runs without controllers): status is written through the
// status subresource, as CNPG and the PV controller would.
var (
	gvrBackup  = schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "backups"}
	gvrCluster = schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "clusters"}
	gvrPVC     = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}
	gvrCronJob = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "cronjobs"}
)

const seedManifest = kubeenv.ContractDatabase + `---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: pvc-5f1c2a7e-gitea-shared-storage
  annotations: {pv.kubernetes.io/provisioned-by: rancher.io/local-path}
spec:
  storageClassName: local-path
  accessModes: [ReadWriteOnce]
  capacity: {storage: 10Gi}
  persistentVolumeReclaimPolicy: Delete
  hostPath: {path: /var/lib/rancher/k3s/storage/pvc-5f1c2a7e_default_gitea-shared-storage, type: DirectoryOrCreate}
  claimRef: {namespace: default, name: gitea-shared-storage}
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions:
            - {key: kubernetes.io/hostname, operator: In, values: [forge-node-1]}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: gitea-shared-storage, namespace: default}
spec:
  storageClassName: local-path
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Gi}}
  volumeName: pvc-5f1c2a7e-gitea-shared-storage
`

// backupHistory is the seeded Backups of databases/gitea-db, by age: the
// newest completed one is three days old against a daily schedule, and the
// two nightly runs since failed.
var backupHistory = []struct {
	age   time.Duration
	phase string
}{
	{5 * 24 * time.Hour, "completed"},
	{4 * 24 * time.Hour, "completed"},
	{3 * 24 * time.Hour, "completed"},
	{2 * 24 * time.Hour, "failed"},
	{1 * 24 * time.Hour, "failed"},
}

func (s *Stack) startKube(ctx context.Context) error {
	env, err := kubeenv.Start(ctx, kubeenv.Options{Dir: filepath.Join(s.Dir, "kube")})
	if err != nil {
		return err
	}
	s.Kube = env
	s.onStop("kube-apiserver and etcd", env.Stop)
	return nil
}

// writeKubeconfig gives the exporter the ServiceAccount
// monitoring/forge-exporter bound to the documented cluster-wide RBAC
// (examples/rbac/cluster.yaml): the exporter sees exactly what it would
// in a cluster.
func (s *Stack) writeKubeconfig(ctx context.Context) error {
	if _, err := s.Kube.ApplyFiles(ctx, filepath.Join(s.root, "examples", "rbac", "cluster.yaml")); err != nil {
		return err
	}
	cfg, err := s.Kube.ServiceAccountConfig(ctx, "monitoring", "forge-exporter")
	if err != nil {
		return err
	}
	return s.Kube.WriteKubeconfig(s.kubeconfig(), cfg)
}

func (s *Stack) kubeconfig() string {
	return filepath.Join(s.Dir, "secrets", "forge-exporter.kubeconfig")
}

func (s *Stack) seedKube(ctx context.Context) error {
	if _, err := s.Kube.Apply(ctx, []byte(seedManifest)); err != nil {
		return err
	}
	now := time.Now()
	if err := s.setStatus(ctx, gvrCluster, "databases", "gitea-db", map[string]any{
		"firstRecoverabilityPoint": now.Add(-30 * 24 * time.Hour).UTC().Format(time.RFC3339),
		"conditions": []any{map[string]any{"type": "ContinuousArchiving", "status": "True", "reason": "ContinuousArchivingSuccess",
			"message": "", "lastTransitionTime": now.Add(-30 * 24 * time.Hour).UTC().Format(time.RFC3339)}},
	}); err != nil {
		return err
	}
	if err := s.setStatus(ctx, gvrPVC, "default", "gitea-shared-storage", map[string]any{
		"phase": "Bound", "accessModes": []any{"ReadWriteOnce"}, "capacity": map[string]any{"storage": "10Gi"},
	}); err != nil {
		return err
	}
	for _, b := range backupHistory {
		if err := s.addBackup(ctx, now.Add(-b.age), b.phase); err != nil {
			return err
		}
	}
	return nil
}

// addBackup creates a Backup of gitea-db started at start, as CNPG's
// ScheduledBackup would, and records its outcome in its status.
func (s *Stack) addBackup(ctx context.Context, start time.Time, phase string) error {
	name := "gitea-db-daily-" + start.UTC().Format("20060102150405")
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
		"metadata": map[string]any{"namespace": "databases", "name": name,
			"labels": map[string]any{"cnpg.io/scheduled-backup": "gitea-db-daily", "cnpg.io/cluster": "gitea-db"}},
		"spec": map[string]any{"cluster": map[string]any{"name": "gitea-db"}, "method": "plugin",
			"pluginConfiguration": map[string]any{"name": "barman-cloud.cloudnative-pg.io"}},
	}}
	if _, err := s.Kube.Dynamic().Resource(gvrBackup).Namespace("databases").Create(ctx, u, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("backup %s: %w", name, err)
	}
	status := map[string]any{"phase": phase, "method": "plugin",
		"startedAt": start.UTC().Format(time.RFC3339), "stoppedAt": start.Add(4 * time.Minute).UTC().Format(time.RFC3339)}
	if phase == "failed" {
		status["error"] = "can't upload to the object store: connection refused"
		status["stoppedAt"] = start.Add(10 * time.Second).UTC().Format(time.RFC3339)
	}
	return s.setStatus(ctx, gvrBackup, "databases", name, status)
}

func (s *Stack) setStatus(ctx context.Context, gvr schema.GroupVersionResource, ns, name string, status map[string]any) error {
	ri := s.Kube.Dynamic().Resource(gvr).Namespace(ns)
	u, err := ri.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	u.Object["status"] = status
	if _, err := ri.UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("status of %s %s/%s: %w", gvr.Resource, ns, name, err)
	}
	return nil
}

// CompleteBackup records a completed Backup of gitea-db that finished
// now: ForgeDatabaseBackupStale and ForgeDatabaseBackupFailed resolve.
func (s *Stack) CompleteBackup(ctx context.Context) error {
	return s.addBackup(ctx, time.Now().Add(-4*time.Minute), "completed")
}

// AddVolumeBackup creates the backup CronJob the contract says is missing
// for default/gitea-shared-storage (annotated as backing it up), with a
// successful run a minute ago: ForgeVolumeBackupMissing resolves.
func (s *Stack) AddVolumeBackup(ctx context.Context) error {
	if _, err := s.Kube.Apply(ctx, []byte(volumeBackupCronJob)); err != nil {
		return err
	}
	t := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	return s.setStatus(ctx, gvrCronJob, "default", "gitea-shared-storage-backup", map[string]any{"lastScheduleTime": t, "lastSuccessfulTime": t})
}

const volumeBackupCronJob = `apiVersion: batch/v1
kind: CronJob
metadata:
  name: gitea-shared-storage-backup
  namespace: default
  annotations: {forge.railiance.io/backup-of: default/gitea-shared-storage}
spec:
  schedule: "30 2 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: restic
              image: restic/restic:0.17.3
              args: [backup, /data]
`
