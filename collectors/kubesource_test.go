package collectors

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/railiance/forge-exporter/internal/kube"
	"github.com/railiance/forge-exporter/internal/kube/kubefake"
)

// The evidence collectors read ConfigMaps through the shared source: only
// those with the label, and the first read waits for the cache.
func TestKubeEvidenceConfigMaps(t *testing.T) {
	f := kubefake.New(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "forge", Name: "drill-1", Labels: map[string]string{"forge.railiance.io/evidence": "restore-drill"}},
			Data: map[string]string{"record.yaml": "kind: source-forge"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "forge", Name: "unrelated"}},
	)
	src := kube.NewSource(quietLogger(), f.Clients(), kube.Options{DiscoveryInterval: time.Hour})
	lister, err := src.ConfigMaps("forge.railiance.io/evidence=restore-drill")
	must(t, err)
	cms := kubeConfigMaps{lister: lister}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		src.Run(ctx)
		close(done)
	}()
	defer func() {
		cancel()
		<-done
	}()
	rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer rcancel()
	got, err := cms.EvidenceConfigMaps(rctx)
	must(t, err)
	if len(got) != 1 || got[0].Name != "drill-1" || got[0].Data["record.yaml"] != "kind: source-forge" {
		t.Errorf("evidence ConfigMaps = %+v", got)
	}
}

// TestKubeHealthOwner: the shared source's health metrics are exported by
// the first enabled collector of a fixed order, whatever the construction
// order, and by none when no Kubernetes collector is enabled.
func TestKubeHealthOwner(t *testing.T) {
	for _, c := range []struct {
		enabled []string
		want    string
	}{
		{[]string{"pvc", "cnpg", "volumebackup"}, "pvc"},
		{[]string{"volumebackup", "cnpg"}, "cnpg"},
		{[]string{"volumebackup"}, "volumebackup"},
		{[]string{"drills", "directory"}, ""},
	} {
		d := &Deps{enabled: map[string]bool{}}
		for _, n := range c.enabled {
			d.enabled[n] = true
		}
		if got := kubeHealthOwner(d); got != c.want {
			t.Errorf("enabled %v: health exported by %q, want %q", c.enabled, got, c.want)
		}
	}
}
