package collectors

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/railiance/forge-exporter/internal/testenv/kubeenv"
)

// TestEvidenceConfigMapsAgainstRealAPIServer reads evidence records from
// labelled ConfigMaps of a real kube-apiserver, as serve builds the
// collectors from a config file: a good record, one that leaks a password
// (invalid, found by the scanner, never echoed), an unlabelled ConfigMap that
// must be ignored, a data key that is not a record, and an update that fixes
// the leak, followed through the watch.
func TestEvidenceConfigMapsAgainstRealAPIServer(t *testing.T) {
	env := kubeenv.ForTest(t, kubeenv.Options{})
	ctx := context.Background()
	cs := env.Clientset()
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "forge"}}, metav1.CreateOptions{})
	must(t, err)

	good, err := os.ReadFile("testdata/drills/records/source-forge-2026-10-01.yaml")
	must(t, err)
	leak, err := os.ReadFile("testdata/drills/records/secret-delivery-leak.yaml")
	must(t, err)
	labels := map[string]string{"forge.railiance.io/evidence": "restore-drill"}
	create := func(name string, lbl map[string]string, data map[string]string) {
		_, err := cs.CoreV1().ConfigMaps("forge").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: "forge", Name: name, Labels: lbl}, Data: data}, metav1.CreateOptions{})
		must(t, err)
	}
	create("drill-2026-10-01", labels, map[string]string{"source-forge.yaml": string(good), "README": "not a record"})
	create("drill-2026-11-26", labels, map[string]string{"secret-delivery.yaml": string(leak)})
	create("unrelated", nil, map[string]string{"source-forge.yaml": string(good)})

	kc := filepath.Join(t.TempDir(), "admin.kubeconfig")
	must(t, env.WriteKubeconfig(kc, env.Config()))
	e := startKubeExporter(t, fmt.Sprintf(`collectors: {pvc: false, cnpg: false, volumebackup: false, directory: false, volume: false}
kubernetes:
  kubeconfig: %s
evidence:
  configmap_label_selector: forge.railiance.io/evidence=restore-drill
  interval: 1s
  drills:
    - kind: source-forge
      max_age: 3650d
    - kind: secret-delivery
      max_age: 180d
assets:
  - name: gitea-database
  - name: gitea-shared-storage
  - name: runtime-secrets
    drills: [secret-delivery]
`, kc))
	e.want("records from labelled ConfigMaps", map[string]float64{
		`forge_evidence_records{source="configmap",validity="valid"}`:            1,
		`forge_evidence_records{source="configmap",validity="invalid"}`:          1,
		`forge_evidence_secret_findings{detector="password",source="configmap"}`: 1,
		`forge_evidence_source_up{source="configmap"}`:                           1,
		`forge_restore_drill_recorded{drill="source-forge"}`:                     1,
		`forge_restore_drill_recorded{drill="secret-delivery"}`:                  0,
		`forge_asset_trust_gate{asset="runtime-secrets",gate="restore_drill"}`:   0,
		`forge_exporter_collector_success{collector="drills"}`:                   1,
		`forge_exporter_collector_success{collector="trust"}`:                    1,
	})
	logs := e.logs.String()
	if !strings.Contains(logs, "configmap/forge/drill-2026-11-26/secret-delivery.yaml") || !strings.Contains(logs, "detector password") {
		t.Errorf("the leaking ConfigMap record is not logged by name and detector:\n%s", logs)
	}
	if strings.Contains(logs, "FakeTestOnly0000") {
		t.Errorf("logs echo the leaked value:\n%s", logs)
	}

	// The operator removes the leak; the watch delivers the update.
	cm, err := cs.CoreV1().ConfigMaps("forge").Get(ctx, "drill-2026-11-26", metav1.GetOptions{})
	must(t, err)
	cm.Data["secret-delivery.yaml"] = strings.Replace(string(leak), "PGPASSWORD=FakeTestOnly0000 psql -h db", "PGPASSWORD=<redacted> psql -h db", 1)
	_, err = cs.CoreV1().ConfigMaps("forge").Update(ctx, cm, metav1.UpdateOptions{})
	must(t, err)
	e.want("after the leak was removed", map[string]float64{
		`forge_evidence_records{source="configmap",validity="valid"}`:            2,
		`forge_evidence_records{source="configmap",validity="invalid"}`:          0,
		`forge_evidence_secret_findings{detector="password",source="configmap"}`: 0,
		`forge_restore_drill_recorded{drill="secret-delivery"}`:                  1,
		`forge_asset_trust_gate{asset="runtime-secrets",gate="restore_drill"}`:   1,
	})
}
