package charttest

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/railiance/forge-exporter/internal/testenv"
)

type rbacRule struct {
	group     string
	resources []string
	verbs     []string
	namespace string // "" for a ClusterRole
}

func rulesOf(t *testing.T, u *unstructured.Unstructured) []rbacRule {
	t.Helper()
	raw, _, _ := unstructured.NestedSlice(u.Object, "rules")
	var out []rbacRule
	for _, r := range raw {
		rm := r.(map[string]any)
		var rr rbacRule
		for _, g := range rm["apiGroups"].([]any) {
			rr.group = g.(string)
		}
		for _, x := range rm["resources"].([]any) {
			rr.resources = append(rr.resources, x.(string))
		}
		for _, x := range rm["verbs"].([]any) {
			rr.verbs = append(rr.verbs, x.(string))
		}
		if len(rm["apiGroups"].([]any)) != 1 || rm["resourceNames"] != nil || rm["nonResourceURLs"] != nil {
			t.Errorf("%s %s: rule %v: one API group per rule, no resourceNames/nonResourceURLs expected", u.GetKind(), u.GetName(), rm)
		}
		if u.GetKind() == "Role" {
			rr.namespace = u.GetNamespace()
		}
		if strings.Join(rr.verbs, ",") != "get,list,watch" {
			t.Errorf("%s %s grants %v on %v: only get,list,watch are allowed", u.GetKind(), u.GetName(), rr.verbs, rr.resources)
		}
		for _, res := range rr.resources {
			if res == "secrets" || res == "*" || rr.group == "*" {
				t.Errorf("%s %s grants %s/%s", u.GetKind(), u.GetName(), rr.group, res)
			}
		}
		out = append(out, rr)
	}
	return out
}

// checkRBAC asks the API server, as the ServiceAccount itself, what it may
// do: every rendered read is allowed where it should be, every write on
// every rendered resource and on Secrets/ConfigMaps/Pods is forbidden, and
// Secrets cannot be read anywhere. Then it makes real requests.
func (c *cluster) checkRBAC(t *testing.T, cfg *rest.Config, rules []rbacRule, namespaces []string, clusterWide bool) {
	t.Helper()
	ctx := context.Background()
	cfg = rest.CopyConfig(cfg)
	cfg.QPS = -1 // many reviews: no client-side rate limit
	sacs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	can := func(ns, group, resource, verb string) bool {
		t.Helper()
		r, err := sacs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Group: group, Resource: resource, Verb: verb}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r.Status.Allowed
	}
	writes := []string{"create", "update", "patch", "delete", "deletecollection"}
	for _, r := range rules {
		for _, res := range r.resources {
			scopes := namespaces
			if clusterWide {
				scopes = append([]string{""}, namespaces...)
			}
			if r.namespace != "" {
				scopes = []string{r.namespace}
			}
			if res == "persistentvolumes" {
				scopes = []string{""}
			}
			for _, ns := range scopes {
				for _, v := range []string{"get", "list", "watch"} {
					if !can(ns, r.group, res, v) {
						t.Errorf("%s %s/%s in %q: forbidden, the collectors need it", v, r.group, res, ns)
					}
				}
				for _, v := range writes {
					if can(ns, r.group, res, v) {
						t.Errorf("%s %s/%s in %q: allowed, must be forbidden", v, r.group, res, ns)
					}
				}
			}
			if !clusterWide && res != "persistentvolumes" && can("", r.group, res, "list") {
				t.Errorf("namespaced mode: cluster-wide list of %s/%s is allowed", r.group, res)
			}
			if !clusterWide && res != "persistentvolumes" && can("kube-system", r.group, res, "list") {
				t.Errorf("namespaced mode: list of %s/%s in kube-system is allowed", r.group, res)
			}
		}
	}
	for _, ns := range append([]string{"", "kube-system"}, namespaces...) {
		for _, v := range []string{"get", "list", "watch"} {
			if can(ns, "", "secrets", v) {
				t.Errorf("%s secrets in %q is allowed", v, ns)
			}
		}
		for _, res := range []string{"pods", "configmaps", "secrets", "serviceaccounts"} {
			if can(ns, "", res, "create") {
				t.Errorf("create %s in %q is allowed", res, ns)
			}
		}
	}

	// Real requests with the token: a read works, a write and a Secret read
	// are refused by the API server.
	if _, err := sacs.CoreV1().PersistentVolumeClaims("default").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("listing PVCs in default as the exporter: %v", err)
	}
	_, err = sacs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("creating a ConfigMap as the exporter: want Forbidden, got %v", err)
	}
	_, err = sacs.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("listing Secrets as the exporter: want Forbidden, got %v", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	backups := schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "backups"}
	if _, err := dyn.Resource(backups).Namespace("databases").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("listing CNPG Backups in databases as the exporter: %v", err)
	}
	b := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
		"metadata": map[string]any{"name": "x", "namespace": "databases"},
		"spec":     map[string]any{"cluster": map[string]any{"name": "gitea-db"}},
	}}
	if _, err := dyn.Resource(backups).Namespace("databases").Create(ctx, b, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("creating a CNPG Backup as the exporter: want Forbidden, got %v", err)
	}
}

// runExporter builds and starts the real exporter binary with the
// configuration the chart rendered, authenticated by the given
// ServiceAccount token (as in the pod, but through a kubeconfig since the
// test is not in a cluster). The storage and Gitea parts of the rendered
// config are dropped: they need the pod's mounts and a Gitea, not the API
// server. It returns the exposition once every Kubernetes collector
// reports success, and the exporter's log.
func runExporter(t *testing.T, c *cluster, bin string, sa *rest.Config, rendered string, kubeCollectors []string, wantSuccess bool, waitFor ...string) (metrics string, log *testenv.Buffer) {
	t.Helper()
	dir := t.TempDir()
	kc := filepath.Join(dir, "sa.kubeconfig")
	if err := c.env.WriteKubeconfig(kc, sa); err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(rendered), &cfg); err != nil {
		t.Fatal(err)
	}
	delete(cfg, "storage")
	delete(cfg, "gitea")
	kube, _ := cfg["kubernetes"].(map[string]any)
	if kube == nil {
		kube = map[string]any{}
	}
	kube["kubeconfig"] = kc
	kube["discovery_interval"] = "1s"
	cfg["kubernetes"] = kube
	if ev, ok := cfg["evidence"].(map[string]any); ok {
		ev["interval"] = "1s" // re-read evidence ConfigMaps quickly once the cache syncs
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "forge-exporter.yaml")
	if err := os.WriteFile(cfgFile, data, 0o600); err != nil {
		t.Fatal(err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	log = &testenv.Buffer{}
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("exporter log:\n%s", log.String())
		}
	})

	// Success: every Kubernetes collector reports success. Failure (the
	// control): every one has tried and a list/watch error is counted.
	failed := regexp.MustCompile(`forge_exporter_kube_list_watch_errors_total\{[^}]*\} [1-9]`)
	deadline := time.Now().Add(90 * time.Second)
	for {
		metrics = scrape(addr)
		ok := true
		for _, name := range kubeCollectors {
			if !strings.Contains(metrics, `forge_exporter_collector_success{collector="`+name+`"} 1`) {
				ok = false
			}
		}
		// Success also waits for the fixtures: a collector can report
		// success while an optional resource's cache is still filling.
		if ok && wantSuccess {
			for _, name := range fixtureSeries {
				if !strings.Contains(metrics, "\n"+name+"{") {
					ok = false
				}
			}
			for _, line := range waitFor {
				if !strings.Contains(metrics, line) {
					ok = false
				}
			}
		}
		if ok == wantSuccess && (wantSuccess || failed.MatchString(metrics)) {
			return metrics, log
		}
		if time.Now().After(deadline) {
			if wantSuccess {
				t.Fatalf("collectors %v did not all succeed with the chart's RBAC within 90s; last scrape:\n%s", kubeCollectors, grepMetrics(metrics, "forge_"))
			}
			return metrics, log
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func scrape(addr string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// buildExporter builds the exporter binary the chart's image runs.
func buildExporter(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "forge-exporter")
	build := exec.Command("go", "build", "-o", bin, "./cmd/forge-exporter")
	build.Dir = testenv.MustRepoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the exporter: %v\n%s", err, out)
	}
	return bin
}
