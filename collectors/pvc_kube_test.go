package collectors

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/railiance/forge-exporter/internal/testenv/kubeenv"
)

// TestPVCDeletionAgainstRealAPIServer deletes PVCs in a real kube-apiserver,
// whose admission adds the kubernetes.io/pvc-protection finalizer to every
// PVC: a deleted PVC stays (Terminating) until the finalizer goes, and the
// exporter reports when it was deleted, next to its unchanged phase. When
// the finalizer is removed (what the pvc-protection controller does once no
// pod uses the claim) the PVC and all its series go.
func TestPVCDeletionAgainstRealAPIServer(t *testing.T) {
	env := kubeenv.ForTest(t, kubeenv.Options{CRDs: kubeenv.NoCRDs})
	ctx := context.Background()
	pvcs := env.Clientset().CoreV1().PersistentVolumeClaims("default")
	sc := "local-path"
	for _, name := range []string{"gitea-shared-storage", "scratch", "kept"} {
		p, err := pvcs.Create(ctx, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &sc, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
		}, metav1.CreateOptions{})
		must(t, err)
		if !slices.Contains(p.Finalizers, "kubernetes.io/pvc-protection") {
			t.Fatalf("the API server's admission did not add the pvc-protection finalizer to %s: %v", name, p.Finalizers)
		}
		p.Status.Phase = corev1.ClaimBound
		_, err = pvcs.UpdateStatus(ctx, p, metav1.UpdateOptions{})
		must(t, err)
	}

	kc := filepath.Join(t.TempDir(), "admin.kubeconfig")
	must(t, env.WriteKubeconfig(kc, env.Config()))
	e := startKubeExporter(t, fmt.Sprintf(`collectors: {pvc: true, cnpg: false, volumebackup: true, directory: false, volume: false, drills: false}
kubernetes:
  kubeconfig: %s
  persistentvolumes: false
  # Beside the protected PVC, the two others are reported by name.
  persistentvolumeclaims: [default/scratch, default/kept]
  protected_volumes:
    - {namespace: default, persistentvolumeclaim: gitea-shared-storage}
`, kc))
	const (
		giteaDeleted   = `forge_pvc_deletion_timestamp_seconds{namespace="default",persistentvolumeclaim="gitea-shared-storage"}`
		scratchDeleted = `forge_pvc_deletion_timestamp_seconds{namespace="default",persistentvolumeclaim="scratch"}`
		keptDeleted    = `forge_pvc_deletion_timestamp_seconds{namespace="default",persistentvolumeclaim="kept"}`
		scratchBound   = `forge_pvc_phase{namespace="default",persistentvolumeclaim="scratch",phase="Bound"}`
	)
	e.want("PVCs in use", map[string]float64{
		giteaDeleted: -1, scratchDeleted: -1, keptDeleted: -1, scratchBound: 1,
		`forge_volume_backup_configured{namespace="default",persistentvolumeclaim="gitea-shared-storage"}`: 0,
	})

	deleted := map[string]float64{}
	for _, name := range []string{"gitea-shared-storage", "scratch"} {
		must(t, pvcs.Delete(ctx, name, metav1.DeleteOptions{}))
		p, err := pvcs.Get(ctx, name, metav1.GetOptions{})
		if err != nil || p.DeletionTimestamp == nil {
			t.Fatalf("%s: want a Terminating PVC held by its finalizer, got %v, %v", name, p, err)
		}
		deleted[name] = float64(p.DeletionTimestamp.Unix())
	}
	e.want("deleted PVCs held by pvc-protection", map[string]float64{
		giteaDeleted:   deleted["gitea-shared-storage"],
		scratchDeleted: deleted["scratch"],
		keptDeleted:    -1,
		scratchBound:   1, // the phase does not change: only the deletion timestamp tells
	})

	// No pod uses scratch: remove the finalizer as the pvc-protection
	// controller would. The PVC goes, and so do its series.
	_, err := pvcs.Patch(ctx, "scratch", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	must(t, err)
	e.want("a released PVC is gone", map[string]float64{
		giteaDeleted:   deleted["gitea-shared-storage"],
		scratchDeleted: -1,
		scratchBound:   -1,
		`forge_pvc_requested_bytes{namespace="default",persistentvolumeclaim="scratch"}`: -1,
	})
}
