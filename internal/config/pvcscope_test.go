package config

import (
	"slices"
	"testing"
)

// The pvc collector reports the forge's PVCs by default: those named by
// storage.volumes, kubernetes.protected_volumes, the assets' signals and
// kubernetes.persistentvolumeclaims, each once; "*" reports every PVC.
func TestPVCScope(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       PVCScope
	}{
		{"nothing named", "kubernetes: {}\n", PVCScope{}},
		{"every reference", `storage:
  volumes:
    - {name: data, path: /, namespace: default, persistentvolumeclaim: gitea-shared-storage}
    - {name: root, path: /}
kubernetes:
  protected_volumes:
    - {namespace: default, persistentvolumeclaim: gitea-shared-storage}
    - {namespace: databases, persistentvolumeclaim: pg-1}
  persistentvolumeclaims: [other/extra]
assets:
  - name: registry
    signals: {persistentvolumeclaims: [default/registry, databases/pg-1]}
`, PVCScope{PVCs: []string{"databases/pg-1", "default/gitea-shared-storage", "default/registry", "other/extra"}}},
		{"opt-in to every PVC", `kubernetes:
  protected_volumes:
    - {namespace: default, persistentvolumeclaim: gitea-shared-storage}
  persistentvolumeclaims: ["*"]
`, PVCScope{All: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("pvcscope.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.PVCScope()
			if got.All != tc.want.All || !slices.Equal(got.PVCs, tc.want.PVCs) {
				t.Errorf("PVCScope() = %+v, want %+v", got, tc.want)
			}
		})
	}
}
