package charttest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"github.com/railiance/forge-exporter/internal/testenv"
	"github.com/railiance/forge-exporter/internal/testenv/kubeenv"
)

// decodeManifests turns rendered output into objects the way kubectl reads
// them (YAML 1.1, so `defaultMode: 0444` is octal, as in a cluster).
func decodeManifests(t testing.TB, out string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(out), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("decoding rendered manifests: %v", err)
		}
		if len(m) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
}

type cluster struct {
	env    *kubeenv.Env
	dyn    dynamic.Interface
	cs     kubernetes.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	// Every fixture CRD: CNPG, barman-cloud, VolumeSnapshot and the
	// prometheus-operator's ServiceMonitor and PrometheusRule.
	env := kubeenv.ForTest(t, kubeenv.Options{})
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config())
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{env: env, dyn: env.Dynamic(), cs: env.Clientset(),
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memCache{dc})}
	for _, ns := range []string{"databases", "monitoring"} {
		c.createNamespace(t, ns, nil)
	}
	return c
}

// memCache is a discovery client without a cache: CRDs are installed
// before the mapper is used, and a fresh answer is always right.
type memCache struct{ discovery.DiscoveryInterface }

func (memCache) Fresh() bool { return true }
func (memCache) Invalidate() {}

func (c *cluster) createNamespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	_, err := c.cs.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func (c *cluster) resource(t testing.TB, u *unstructured.Unstructured) dynamic.ResourceInterface {
	t.Helper()
	gvk := u.GroupVersionKind()
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		t.Fatalf("%s %s: %v", gvk, u.GetName(), err)
	}
	if m.Scope.Name() == "namespace" {
		ns := u.GetNamespace()
		if ns == "" {
			t.Fatalf("%s %s: the chart rendered a namespaced object without a namespace", gvk.Kind, u.GetName())
		}
		return c.dyn.Resource(m.Resource).Namespace(ns)
	}
	return c.dyn.Resource(m.Resource)
}

// create sends one object with strict field validation (unknown or
// duplicate fields are errors, as kubectl --validate=strict), optionally as
// a server-side dry run (nothing is stored, every admission step runs).
func (c *cluster) create(t testing.TB, u *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	t.Helper()
	opts := metav1.CreateOptions{FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return c.resource(t, u).Create(context.Background(), u, opts)
}

// TestAPIServer runs the rendered chart against a real kube-apiserver.
func TestAPIServer(t *testing.T) {
	c := newCluster(t)

	// 1. Every manifest of every values set passes the API server's own
	// validation (OpenAPI, CRD schemas, strict fields, admission) as a
	// server-side dry run.
	t.Run("dry-run", func(t *testing.T) {
		for _, vs := range valueSets {
			t.Run(vs.name, func(t *testing.T) {
				out, err := render(t, vs.file)
				if err != nil {
					t.Fatal(err)
				}
				objs := decodeManifests(t, out)
				if len(objs) == 0 {
					t.Fatal("nothing rendered")
				}
				for _, u := range objs {
					if _, err := c.create(t, u, true); err != nil {
						t.Errorf("%s %s/%s rejected: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
					}
				}
			})
		}
		// Control: the same dry run refuses a field the schema does not
		// know, so a pass above means something.
		out, err := render(t, "ci/everything-values.yaml")
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range decodeManifests(t, out) {
			if u.GetKind() != "Deployment" && u.GetKind() != "ServiceMonitor" {
				continue
			}
			_ = unstructured.SetNestedField(u.Object, "yes", "spec", "readOnlyy")
			if _, err := c.create(t, u, true); err == nil || !strings.Contains(err.Error(), "readOnlyy") {
				t.Errorf("%s with an unknown field: want a strict-validation error, got %v", u.GetKind(), err)
			}
		}
	})

	// 2. The exporter's pod (the Deployment's template, or the sidecar
	// snippet's container) passes PodSecurity admission at "restricted".
	t.Run("pod-security-restricted", func(t *testing.T) {
		ns := "pss-restricted"
		c.createNamespace(t, ns, map[string]string{
			"pod-security.kubernetes.io/enforce":         "restricted",
			"pod-security.kubernetes.io/enforce-version": "latest",
		})
		for _, vs := range valueSets {
			t.Run(vs.name, func(t *testing.T) {
				out, err := render(t, vs.file)
				if err != nil {
					t.Fatal(err)
				}
				pod := c.podFor(t, out, ns)
				if _, err := c.create(t, pod, true); err != nil {
					t.Errorf("restricted namespace rejects the exporter's pod: %v", err)
				}
			})
		}
		// The same admission rejects a pod that keeps its capabilities:
		// the check above is not a no-op.
		out, err := render(t, "")
		if err != nil {
			t.Fatal(err)
		}
		pod := c.podFor(t, out, ns)
		ctr := pod.Object["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
		delete(ctr["securityContext"].(map[string]any), "capabilities")
		if _, err := c.create(t, pod, true); err == nil || !strings.Contains(err.Error(), "restricted") {
			t.Errorf("a pod without capabilities.drop=[ALL] was not rejected by PodSecurity: %v", err)
		}
	})

	// 3. Stored for real, the volume stays read-only and the Secret modes
	// come out as the octal the chart means.
	t.Run("stored-deployment", func(t *testing.T) {
		out, err := render(t, "ci/everything-values.yaml")
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range decodeManifests(t, out) {
			if u.GetKind() != "Deployment" {
				continue
			}
			u.SetNamespace("databases")
			got, err := c.create(t, u, false)
			if err != nil {
				t.Fatal(err)
			}
			vols, _, _ := unstructured.NestedSlice(got.Object, "spec", "template", "spec", "volumes")
			for _, v := range vols {
				vm := v.(map[string]any)
				if pvc, ok := vm["persistentVolumeClaim"].(map[string]any); ok && pvc["readOnly"] != true {
					t.Errorf("stored PVC volume is not readOnly: %v", pvc)
				}
				if s, ok := vm["secret"].(map[string]any); ok && fmt.Sprint(s["defaultMode"]) != "292" {
					t.Errorf("Secret %v stored with mode %v, want 292 (0444)", s["secretName"], s["defaultMode"])
				}
			}
		}
	})

	// 4. `helm install` itself against the server: a typo is refused before
	// anything is created, the contract's values install, and uninstall
	// leaves nothing behind.
	t.Run("helm-install", func(t *testing.T) {
		kc := t.TempDir() + "/admin.kubeconfig"
		if err := c.env.WriteKubeconfig(kc, c.env.Config()); err != nil {
			t.Fatal(err)
		}
		base := []string{"--kubeconfig", kc, "--namespace", "monitoring"}
		_, err := helm(t, append([]string{"install", "typo", chartDir(t), "--set", "rbac.useClusterRol=false"}, base...)...)
		if err == nil || !strings.Contains(err.Error(), "useClusterRol") {
			t.Errorf("helm install with a typo: want a schema error naming the key, got %v", err)
		}
		if out, err := helm(t, append([]string{"install", "fe-install", chartDir(t), "-f", chartDir(t) + "/ci/contract-values.yaml", "--wait=false"}, base...)...); err != nil {
			t.Fatalf("helm install: %v\n%s", err, out)
		}
		ctx := context.Background()
		if _, err := c.cs.AppsV1().Deployments("monitoring").Get(ctx, "fe-install-forge-exporter", metav1.GetOptions{}); err != nil {
			t.Errorf("after helm install: %v", err)
		}
		if _, err := helm(t, append([]string{"uninstall", "fe-install"}, base...)...); err != nil {
			t.Fatal(err)
		}
		if _, err := c.cs.RbacV1().ClusterRoles().Get(ctx, "monitoring-fe-install-forge-exporter", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("ClusterRole left behind after helm uninstall: %v", err)
		}
	})

	c.createFixtures(t)
	bin := buildExporter(t)

	// 5. The rendered RBAC, applied for real and used with a real
	// ServiceAccount token: reads what the collectors read, writes nothing,
	// never sees a Secret.
	for _, mode := range []struct {
		name, file, release string
		namespaces          []string // where reads must be allowed
		clusterWide         bool
		evidence            bool // the values read evidence ConfigMaps
	}{
		{"clusterrole", "ci/contract-values.yaml", "fe-cluster", []string{"default", "databases", "monitoring"}, true, false},
		{"roles", "ci/namespaced-values.yaml", "fe-roles", []string{"default", "databases"}, false, true},
	} {
		t.Run("rbac-"+mode.name, func(t *testing.T) {
			out, err := helm(t, "template", mode.release, chartDir(t), "--namespace", "default",
				"-f", chartDir(t)+"/"+mode.file)
			if err != nil {
				t.Fatal(err)
			}
			var rules []rbacRule
			sa := ""
			for _, u := range decodeManifests(t, out) {
				switch u.GetKind() {
				case "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding":
				default:
					continue
				}
				if u.GetKind() == "ServiceAccount" {
					sa = u.GetName()
				}
				if u.GetKind() == "Role" || u.GetKind() == "ClusterRole" {
					rules = append(rules, rulesOf(t, u)...)
				}
				if _, err := c.create(t, u, false); err != nil {
					t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
				}
			}
			if sa == "" || len(rules) == 0 {
				t.Fatalf("rendered no ServiceAccount or no rules (sa=%q, %d rules)", sa, len(rules))
			}
			cfg, err := c.env.ServiceAccountConfig(context.Background(), "default", sa)
			if err != nil {
				t.Fatal(err)
			}
			c.checkRBAC(t, cfg, rules, mode.namespaces, mode.clusterWide)

			// The exporter itself, with this token and the rendered config:
			// every Kubernetes collector works and sees the fixtures.
			var rendered string
			for _, u := range decodeManifests(t, out) {
				if u.GetKind() == "ConfigMap" && u.GetName() == mode.release+"-forge-exporter" {
					rendered, _, _ = unstructured.NestedString(u.Object, "data", "forge-exporter.yaml")
				}
			}
			var waitFor []string
			if mode.evidence {
				waitFor = append(waitFor, `forge_evidence_records{source="configmap",validity="valid"} 1`)
			}
			metrics, log := runExporter(t, c, bin, cfg, rendered, kubeCollectors, true, waitFor...)
			checkFixtureMetrics(t, metrics)
			if mode.evidence {
				if v, ok := metricValue(metrics, "forge_evidence_records", `source="configmap"`, `validity="valid"`); !ok || v != 1 {
					t.Errorf("evidence record from the labelled ConfigMap not read with the Role: %v %v\n%s", v, ok, grepMetrics(metrics, "forge_evidence"))
				}
			}
			t.Logf("exporter with the %s RBAC:\n%s\n%s", mode.name, grepMetrics(metrics, "forge_exporter_collector_success"),
				grepMetrics(metrics, "forge_cnpg_backup_last_success_timestamp_seconds"))
			if strings.Contains(strings.ToLower(log.String()), "forbidden") {
				t.Errorf("the exporter logged a forbidden request:\n%s", log.String())
			}
		})
	}

	// Control: the same exporter and config with a ServiceAccount that has
	// no binding fails, so the successes above are the rendered RBAC's doing.
	t.Run("rbac-control-unbound", func(t *testing.T) {
		out, err := render(t, "ci/contract-values.yaml")
		if err != nil {
			t.Fatal(err)
		}
		var rendered string
		for _, u := range decodeManifests(t, out) {
			if u.GetKind() == "ConfigMap" && u.GetName() == releaseName {
				rendered, _, _ = unstructured.NestedString(u.Object, "data", "forge-exporter.yaml")
			}
		}
		cfg, err := c.env.ServiceAccountConfig(context.Background(), "default", "unbound")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := runExporter(t, c, bin, cfg, rendered, kubeCollectors, false)
		if !regexp.MustCompile(`forge_exporter_kube_list_watch_errors_total\{[^}]*\} [1-9]`).MatchString(metrics) {
			t.Errorf("an unbound ServiceAccount produced no list/watch errors:\n%s", grepMetrics(metrics, "forge_exporter_"))
		}
		for _, name := range kubeCollectors {
			if strings.Contains(metrics, `forge_exporter_collector_success{collector="`+name+`"} 1`) {
				t.Errorf("collector %s succeeded without RBAC", name)
			}
		}
	})
}

// kubeCollectors are the collectors that read the Kubernetes API.
var kubeCollectors = []string{"pvc", "cnpg", "volumebackup"}

// createFixtures stores the contract's forge in the API server: the Gitea
// data PVC bound to a local-path PV, the CNPG cluster databases/gitea-db
// with a completed Backup and a ScheduledBackup, and a CronJob that backs
// up the PVC. Status goes through the status subresource.
func (c *cluster) createFixtures(t *testing.T) {
	t.Helper()
	objs := []string{`
apiVersion: v1
kind: PersistentVolume
metadata:
  name: pvc-gitea
  annotations: {pv.kubernetes.io/provisioned-by: rancher.io/local-path}
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: local-path
  hostPath: {path: /var/lib/local-path/pvc-gitea, type: DirectoryOrCreate}
  claimRef: {namespace: default, name: gitea-shared-storage}
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions:
            - {key: kubernetes.io/hostname, operator: In, values: [node-1]}
`, `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: gitea-shared-storage, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: local-path
  volumeName: pvc-gitea
  resources: {requests: {storage: 10Gi}}
`, `
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata: {name: gitea-db, namespace: databases}
spec:
  instances: 1
  storage: {size: 1Gi}
`, `
apiVersion: postgresql.cnpg.io/v1
kind: Backup
metadata: {name: gitea-db-20261130, namespace: databases}
spec:
  cluster: {name: gitea-db}
`, `
apiVersion: postgresql.cnpg.io/v1
kind: ScheduledBackup
metadata: {name: gitea-db-daily, namespace: databases}
spec:
  schedule: "0 0 2 * * *"
  cluster: {name: gitea-db}
`, `
apiVersion: batch/v1
kind: CronJob
metadata:
  name: gitea-data-backup
  namespace: default
  annotations: {forge.railiance.io/backup-of: default/gitea-shared-storage}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: backup, image: busybox}]
`}
	for _, o := range objs {
		for _, u := range decodeManifests(t, o) {
			if _, err := c.create(t, u, false); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("fixture %s %s: %v", u.GetKind(), u.GetName(), err)
			}
		}
	}
	ctx := context.Background()
	// A restore-drill evidence record in a ConfigMap carrying the label the
	// namespaced values select (ci/namespaced-values.yaml).
	record, err := os.ReadFile(filepath.Join(testenv.MustRepoRoot(t), "examples/evidence/2026-11-24-source-forge.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.cs.CoreV1().ConfigMaps("databases").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "drill-source-forge", Labels: map[string]string{"forge.railiance.io/evidence": "restore-drill"}},
		Data:       map[string]string{"2026-11-24-source-forge.yaml": string(record)},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	status := func(gvr schema.GroupVersionResource, ns, name string, st map[string]any) {
		t.Helper()
		ri := c.dyn.Resource(gvr).Namespace(ns)
		u, err := ri.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		u.Object["status"] = st
		if _, err := ri.UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("status of %s %s: %v", gvr.Resource, name, err)
		}
	}
	status(schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}, "default", "gitea-shared-storage",
		map[string]any{"phase": "Bound", "accessModes": []any{"ReadWriteOnce"}, "capacity": map[string]any{"storage": "10Gi"}})
	status(schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "backups"}, "databases", "gitea-db-20261130",
		map[string]any{"phase": "completed", "method": "barmanObjectStore", "startedAt": "2026-11-30T02:00:00Z", "stoppedAt": fixtureBackupStopped})
	status(schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "cronjobs"}, "default", "gitea-data-backup",
		map[string]any{"lastScheduleTime": "2026-11-30T03:00:00Z", "lastSuccessfulTime": "2026-11-30T03:04:05Z"})
}

// podFor builds a Pod in ns from a render: the Deployment's pod template, or
// in sidecar mode the snippet's container and volumes plus the data volume
// the Gitea chart provides. Its ServiceAccount is created for real (the
// ServiceAccount admission plugin needs it).
func (c *cluster) podFor(t *testing.T, out, ns string) *unstructured.Unstructured {
	t.Helper()
	spec, _ := podOf(t, manifests(t, out))
	if spec == nil {
		t.Fatal("no pod spec rendered")
	}
	// Round-trip through the Kubernetes YAML decoder (octal modes etc.).
	var podSpec map[string]any
	for _, u := range decodeManifests(t, out) {
		if u.GetKind() == "Deployment" {
			podSpec, _, _ = unstructured.NestedMap(u.Object, "spec", "template", "spec")
		}
	}
	if podSpec == nil { // sidecar: yaml.v3 decoded it; modes there are decimal already
		podSpec = spec
		podSpec["serviceAccountName"] = "gitea"
		vols, _ := podSpec["volumes"].([]any)
		podSpec["volumes"] = append(vols, map[string]any{"name": "data",
			"persistentVolumeClaim": map[string]any{"claimName": "gitea-shared-storage"}})
		podSpec["securityContext"] = map[string]any{"fsGroup": 1000, "seccompProfile": map[string]any{"type": "RuntimeDefault"}}
	}
	saName, _ := podSpec["serviceAccountName"].(string)
	_, err := c.cs.CoreV1().ServiceAccounts(ns).Create(context.Background(),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: saName}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "forge-exporter-pss", "namespace": ns},
		"spec":     podSpec,
	}}
}
