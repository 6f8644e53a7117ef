package kubeenv_test

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/railiance/forge-exporter/internal/testenv/kubeenv"
)

// TestEnv exercises the harness end to end: RBAC for a token user and a
// ServiceAccount, a CRD installed after start, a kubeconfig file, and a
// clean stop.
func TestEnv(t *testing.T) {
	kubeenv.RequireBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env, err := kubeenv.Start(ctx, kubeenv.Options{CRDs: kubeenv.NoCRDs, Users: []kubeenv.User{{Name: "alice", Groups: []string{"readers"}}}, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			env.Stop()
		}
	}()

	admin := env.Clientset()
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// alice has no permissions until a binding gives her some.
	aliceCfg, err := env.UserConfig("alice")
	if err != nil {
		t.Fatal(err)
	}
	alice := kubernetes.NewForConfigOrDie(aliceCfg)
	if _, err := alice.CoreV1().ConfigMaps("team").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("alice listing configmaps before RBAC: %v, want forbidden", err)
	}
	_, err = env.Apply(ctx, []byte(`
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: read-cm, namespace: team}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: readers, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-cm}
subjects:
- {kind: Group, name: readers, apiGroup: rbac.authorization.k8s.io}
- {kind: ServiceAccount, name: exporter, namespace: team}
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.CoreV1().ConfigMaps("team").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("alice listing configmaps with RBAC: %v", err)
	}
	if _, err := alice.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("alice listing configmaps in another namespace: %v, want forbidden", err)
	}

	// A ServiceAccount token through a kubeconfig file.
	saCfg, err := env.ServiceAccountConfig(ctx, "team", "exporter")
	if err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(t.TempDir(), "sa.kubeconfig")
	if err := env.WriteKubeconfig(kc, saCfg); err != nil {
		t.Fatal(err)
	}
	fromFile, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	sa := kubernetes.NewForConfigOrDie(fromFile)
	if _, err := sa.CoreV1().ConfigMaps("team").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("service account listing configmaps: %v", err)
	}
	if _, err := sa.CoreV1().Secrets("team").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("service account listing secrets: %v, want forbidden", err)
	}

	// A CRD installed after start is usable as soon as InstallCRDs returns,
	// and the real schema validates objects.
	f, err := kubeenv.CRDFile("postgresql.cnpg.io_backups.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.InstallCRDs(ctx, f); err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "backups"}
	var dyn dynamic.Interface = env.Dynamic()
	b := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
		"metadata": map[string]any{"name": "b1", "namespace": "team"},
		"spec":     map[string]any{"cluster": map[string]any{"name": "db"}},
	}}
	if _, err := dyn.Resource(gvr).Namespace("team").Create(ctx, b, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating a Backup: %v", err)
	}
	bad := b.DeepCopy()
	bad.SetName("b2")
	bad.Object["spec"] = map[string]any{"method": "carrier-pigeon", "cluster": map[string]any{"name": "db"}}
	if _, err := dyn.Resource(gvr).Namespace("team").Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("creating an invalid Backup: %v, want invalid", err)
	}

	// Stop leaves no process behind.
	pids := env.PIDs()
	if len(pids) != 2 {
		t.Fatalf("PIDs = %v, want etcd and kube-apiserver", pids)
	}
	if err := env.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
			t.Errorf("process %d still exists after Stop (kill 0: %v)", pid, err)
		}
	}
}
