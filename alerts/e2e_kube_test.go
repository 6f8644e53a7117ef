package alerts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/railiance/forge-exporter/internal/testenv"
	"github.com/railiance/forge-exporter/internal/testenv/kubeenv"
	"github.com/railiance/forge-exporter/internal/testenv/proc"
)

// kubeBackups drives the database in the end-to-end scenario through a
// real kube-apiserver: CNPG Cluster, ScheduledBackup and Backup objects that
// a second forge-exporter reads with its real cnpg collector. No CNPG
// operator runs, so the test sets each Backup's status itself, as the
// operator would.
type kubeBackups struct {
	client dynamic.NamespaceableResourceInterface
	// target is the host:port of the exporter that reads the API server.
	target string
}

var backupsGVR = schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "backups"}

// cnpgManifest is the contract's database, as the demo seeds it.
const cnpgManifest = kubeenv.ContractDatabase

// startKubeBackups starts the API server (building it first on a machine
// that has not yet) and the exporter reading it.
func startKubeBackups(t *testing.T, dir, exporterBin string) *kubeBackups {
	t.Helper()
	ctx := context.Background()
	kubeenv.RequireBinaries(t)
	env, err := kubeenv.Start(ctx, kubeenv.Options{})
	if err != nil {
		t.Fatalf("real kube-apiserver for the CNPG scenario: %v", err)
	}
	t.Cleanup(func() { env.Stop() })
	if _, err := env.Apply(ctx, []byte(cnpgManifest)); err != nil {
		t.Fatalf("applying the CNPG objects: %v", err)
	}
	kb := &kubeBackups{client: env.Dynamic().Resource(backupsGVR)}
	// A failed backup ten days ago, one completed three days ago and one an
	// hour ago: the database is fine.
	kb.backup(t, "gitea-db-failed", "failed", time.Now().Add(-240*time.Hour))
	kb.backup(t, "gitea-db-old", "completed", time.Now().Add(-72*time.Hour))
	kb.backup(t, "gitea-db-recent", "completed", time.Now().Add(-time.Hour))
	// The operator's view of the cluster: WAL archiving works, point-in-time
	// recovery reaches back a week.
	clusters := env.Dynamic().Resource(schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "clusters"}).Namespace("databases")
	cl, err := clusters.Get(ctx, "gitea-db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Format(time.RFC3339)
	cl.Object["status"] = map[string]any{
		"firstRecoverabilityPoint": time.Now().Add(-7 * 24 * time.Hour).UTC().Format(time.RFC3339),
		"conditions": []any{
			map[string]any{"type": "ContinuousArchiving", "status": "True", "reason": "ContinuousArchivingSuccess", "message": "", "lastTransitionTime": now},
			map[string]any{"type": "LastBackupSucceeded", "status": "True", "reason": "LastBackupSucceeded", "message": "", "lastTransitionTime": now},
		},
	}
	if _, err := clusters.UpdateStatus(ctx, cl, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("setting the Cluster's status: %v", err)
	}

	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig, env.Config()); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "kube-exporter.yaml")
	must(t, os.WriteFile(cfg, []byte(`collectors: {cnpg: true}
kubernetes:
  kubeconfig: kubeconfig
  namespaces: [databases]
  persistentvolumes: false
  discovery_interval: 1s
`), 0o644))
	kb.target, err = testenv.FreeAddr()
	must(t, err)
	exporter, err := proc.Start("forge-exporter (kube)", exporterBin, filepath.Join(dir, "forge-exporter-kube.log"),
		[]string{"--config.file=" + cfg, "--web.listen-address=" + kb.target}, proc.Options{})
	must(t, err)
	stopOnCleanup(t, exporter)
	waitCtx, cancel := context.WithTimeout(ctx, e2eDeadline)
	defer cancel()
	must(t, exporter.WaitReady(waitCtx, "http://"+kb.target+"/-/ready"))
	t.Logf("the CNPG scenario runs on a real kube-apiserver (%s), read by the exporter at %s", env.URL(), kb.target)
	return kb
}

// backup creates a Backup of gitea-db and sets its status to phase at
// stoppedAt, through the status subresource.
func (kb *kubeBackups) backup(t *testing.T, name, phase string, stoppedAt time.Time) {
	t.Helper()
	ctx := context.Background()
	b := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
		"metadata": map[string]any{"name": name, "namespace": "databases"},
		"spec":     map[string]any{"cluster": map[string]any{"name": "gitea-db"}},
	}}
	got, err := kb.client.Namespace("databases").Create(ctx, b, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating Backup %s: %v", name, err)
	}
	got.Object["status"] = map[string]any{
		"phase":     phase,
		"method":    "barmanObjectStore",
		"startedAt": stoppedAt.Add(-5 * time.Minute).UTC().Format(time.RFC3339),
		"stoppedAt": stoppedAt.UTC().Format(time.RFC3339),
	}
	if _, err := kb.client.Namespace("databases").UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("setting Backup %s %s: %v", name, phase, err)
	}
}

// goStale deletes the recent Backup: the newest completed one is 3 days old.
func (kb *kubeBackups) goStale(t *testing.T) {
	t.Helper()
	if err := kb.client.Namespace("databases").Delete(context.Background(), "gitea-db-recent", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting Backup gitea-db-recent: %v", err)
	}
}

// complete records a new completed Backup.
func (kb *kubeBackups) complete(t *testing.T) {
	kb.backup(t, fmt.Sprintf("gitea-db-%d", time.Now().Unix()), "completed", time.Now())
}
