package charttest

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/railiance/forge-exporter/collectors"
	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files and the generated part of values.schema.json")

// releaseName makes the fullname "forge-exporter", as in docs/helm.md.
const releaseName = "forge-exporter"

// valueSets are the rendered configurations checked against golden files
// (and, in apiserver_test.go, against a real API server). "" is the chart's
// defaults.
var valueSets = []struct{ name, file string }{
	{"default", ""},
	{"contract", "ci/contract-values.yaml"},
	{"namespaced", "ci/namespaced-values.yaml"},
	{"sidecar", "ci/sidecar-values.yaml"},
	{"everything", "ci/everything-values.yaml"},
}

func chartDir(t testing.TB) string {
	return filepath.Join(testenv.MustRepoRoot(t), "deploy/helm/forge-exporter")
}

// realBin returns a binary built by hack/realbin.sh, building it first on
// a machine that has not yet (skipped only under -short).
func realBin(t testing.TB, name string) string {
	t.Helper()
	return testenv.RequireBinary(t, name)
}

// helm runs the real helm binary with a private, empty Helm home so that no
// repository config or plugin of the machine influences the result.
func helm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	bin := realBin(t, "helm")
	home := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// render runs `helm template` for one values file: relative to the chart,
// absolute, or "" for the defaults.
func render(t testing.TB, valuesFile string, extra ...string) (string, error) {
	t.Helper()
	args := []string{"template", releaseName, chartDir(t), "--namespace", "default"}
	switch {
	case filepath.IsAbs(valuesFile):
		args = append(args, "-f", valuesFile)
	case valuesFile != "":
		args = append(args, "-f", filepath.Join(chartDir(t), valuesFile))
	}
	return helm(t, append(args, extra...)...)
}

func TestLintStrict(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			args := []string{"lint", "--strict", chartDir(t)}
			if vs.file != "" {
				args = append(args, "-f", filepath.Join(chartDir(t), vs.file))
			}
			if out, err := helm(t, args...); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

func TestGolden(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			out, err := render(t, vs.file)
			if err != nil {
				t.Fatal(err)
			}
			got := normalizeSynced(out)
			golden := filepath.Join("testdata/golden", vs.name+".yaml")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./deploy/helm/charttest -run TestGolden -update)", err)
			}
			if got != string(want) {
				t.Errorf("rendered %s differs from %s (run go test ./deploy/helm/charttest -run TestGolden -update and review the diff):\n%s",
					vs.name, golden, lineDiff(string(want), got))
			}
		})
	}
}

var (
	groupsRE    = regexp.MustCompile(`(?s)(\nkind: PrometheusRule\n.*?\n  groups:\n).*$`)
	dashboardRE = regexp.MustCompile(`(?m)^(  [A-Za-z0-9._-]+\.json): ".*"$`)
	groupNameRE = regexp.MustCompile(`(?m)^    - name: (.*)$`)
)

// normalizeSynced replaces the content copied from alerts/ and dashboards/
// by a summary, so that the golden files follow the chart's templates and a
// rule edit needs only `make chart-sync`. TestSyncedFilesRendered checks the
// replaced content against the sources instead.
func normalizeSynced(out string) string {
	docs := strings.Split(out, "\n---\n")
	for i, d := range docs {
		if m := groupsRE.FindStringSubmatchIndex(d); m != nil {
			var names []string
			for _, g := range groupNameRE.FindAllStringSubmatch(d[m[3]:], -1) {
				names = append(names, "    # group "+g[1])
			}
			docs[i] = d[:m[3]] + "    # synced from alerts/, checked by TestSyncedFilesRendered\n" + strings.Join(names, "\n")
		}
		docs[i] = dashboardRE.ReplaceAllString(docs[i], `$1: "<synced from dashboards/, checked by TestSyncedFilesRendered>"`)
	}
	return strings.Join(docs, "\n---\n")
}

// lineDiff is a small line-oriented diff for test output.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	n := 0
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			fmt.Fprintf(&b, "line %d:\n  - %s\n  + %s\n", i+1, a, c)
			if n++; n >= 15 {
				b.WriteString("  ...\n")
				break
			}
		}
	}
	return b.String()
}

// A typo or a weakened security setting in values must fail lint, template
// and install (values.schema.json), naming the offending key.
func TestValuesTypoFails(t *testing.T) {
	cases := []struct {
		name, values, want string
	}{
		{"unknown top-level key", "replicas: 2\n", "replicas"},
		{"nested typo", "rbac:\n  useClusterRol: false\n", "useClusterRol"},
		{"exporter config typo", "config:\n  storage:\n    scan_intervall: 5m\n", "scan_intervall"},
		{"exporter config wrong type", "config:\n  storage:\n    scan_concurrency: lots\n", "scan_concurrency"},
		{"exporter config bad duration", "config:\n  storage:\n    scan_interval: 5 minutes\n", "scan_interval"},
		{"inline token", "config:\n  gitea:\n    token: abc\n", "token"},
		{"wrong type", "port: \"10100\"\n", "port"},
		{"bad mode", "mode: daemonset\n", "mode"},
		{"writable root filesystem", "securityContext:\n  readOnlyRootFilesystem: false\n", "readOnlyRootFilesystem"},
		{"privilege escalation", "securityContext:\n  allowPrivilegeEscalation: true\n  readOnlyRootFilesystem: true\n  capabilities: {drop: [ALL]}\n", "allowPrivilegeEscalation"},
		{"root user", "podSecurityContext:\n  runAsNonRoot: true\n  runAsUser: 0\n  seccompProfile: {type: RuntimeDefault}\n", "runAsUser"},
		{"added capability", "securityContext:\n  allowPrivilegeEscalation: false\n  readOnlyRootFilesystem: true\n  capabilities: {drop: [ALL], add: [NET_ADMIN]}\n", "add"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "typo.yaml")
			if err := os.WriteFile(f, []byte(c.values), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{
				{"template", releaseName, chartDir(t), "-f", f},
				{"lint", "--strict", chartDir(t), "-f", f},
			} {
				out, err := helm(t, args...)
				if err == nil {
					t.Fatalf("helm %s accepted %q:\n%s", args[0], c.values, out)
				}
				if !strings.Contains(err.Error()+out, c.want) {
					t.Errorf("helm %s error does not name %q:\n%v\n%s", args[0], c.want, err, out)
				}
			}
		})
	}
}

// Configuration mistakes the schema cannot express fail in the templates with
// a message that says what to set.
func TestTemplateChecks(t *testing.T) {
	cases := []struct {
		name, values, want string
	}{
		{"roles need namespaces", "rbac:\n  useClusterRole: false\n", "needs config.kubernetes.namespaces"},
		{"gitea url without token", "config:\n  gitea:\n    url: http://gitea:3000\n", "giteaToken.existingSecret"},
		{"netpol needs api server", "networkPolicy:\n  enabled: true\n", "networkPolicy.egress.apiServer.cidrs"},
		{"netpol in sidecar mode", "mode: sidecar\nnetworkPolicy:\n  enabled: true\n", "sidecar mode"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "v.yaml")
			if err := os.WriteFile(f, []byte(c.values), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := helm(t, "template", releaseName, chartDir(t), "-f", f)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error containing %q, got %v", c.want, err)
			}
		})
	}
}

// manifests splits rendered output into decoded documents.
func manifests(t testing.TB, out string) []map[string]any {
	t.Helper()
	var docs []map[string]any
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("rendered output is not YAML: %v", err)
		}
		if m != nil {
			docs = append(docs, m)
		}
	}
	return docs
}

func find(docs []map[string]any, kind, name string) map[string]any {
	for _, d := range docs {
		md, _ := d["metadata"].(map[string]any)
		if d["kind"] == kind && (name == "" || md["name"] == name) {
			return d
		}
	}
	return nil
}

// Every rendered exporter configuration must be one the exporter accepts:
// the same strict parser and collector list the binary uses.
func TestRenderedConfigIsValid(t *testing.T) {
	names := collectors.Names(collectors.Specs())
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			out, err := render(t, vs.file)
			if err != nil {
				t.Fatal(err)
			}
			cm := find(manifests(t, out), "ConfigMap", releaseName)
			if cm == nil {
				t.Fatal("no exporter ConfigMap rendered")
			}
			data, _ := cm["data"].(map[string]any)["forge-exporter.yaml"].(string)
			if data == "" {
				t.Fatal("ConfigMap has no forge-exporter.yaml")
			}
			name := "/etc/forge-exporter/config/forge-exporter.yaml"
			cfg, err := config.Parse(name, []byte(data))
			if err != nil {
				t.Fatalf("the exporter rejects the rendered config: %v\n%s", err, data)
			}
			if err := cfg.CheckCollectorNames(name, names); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The data PVC is mounted read-only twice over (volume and mount), and the
// pod meets Pod Security "restricted" in every mode, including the sidecar
// snippet. The API server's PodSecurity admission checks the same in
// apiserver_test.go; this is the quick, offline version.
func TestReadOnlyAndRestricted(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			out, err := render(t, vs.file)
			if err != nil {
				t.Fatal(err)
			}
			docs := manifests(t, out)
			pod, container := podOf(t, docs)
			if pod == nil {
				t.Fatal("no pod spec rendered")
			}
			sc, _ := container["securityContext"].(map[string]any)
			caps, _ := sc["capabilities"].(map[string]any)
			if sc["allowPrivilegeEscalation"] != false || sc["readOnlyRootFilesystem"] != true ||
				fmt.Sprint(caps["drop"]) != "[ALL]" || sc["runAsNonRoot"] != true {
				t.Errorf("container securityContext not restricted: %v", sc)
			}
			for _, vm := range container["volumeMounts"].([]any) {
				m := vm.(map[string]any)
				if m["readOnly"] != true {
					t.Errorf("volume mount %v is writable", m["name"])
				}
			}
			for _, v := range pod["volumes"].([]any) {
				if pvc, ok := v.(map[string]any)["persistentVolumeClaim"].(map[string]any); ok && pvc["readOnly"] != true {
					t.Errorf("PVC volume %v is not readOnly", pvc["claimName"])
				}
			}
			if vs.name == "contract" {
				if !strings.Contains(out, "claimName: gitea-shared-storage\n            readOnly: true") {
					t.Error("contract values do not mount gitea-shared-storage read-only")
				}
			}
		})
	}
}

// podOf returns the pod spec and the exporter container of a render: the
// Deployment's, or in sidecar mode one assembled from the Gitea-chart
// snippet as the Gitea chart would place it.
func podOf(t testing.TB, docs []map[string]any) (pod, container map[string]any) {
	t.Helper()
	if d := find(docs, "Deployment", ""); d != nil {
		pod = d["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
		return pod, pod["containers"].([]any)[0].(map[string]any)
	}
	cm := find(docs, "ConfigMap", releaseName+"-gitea-sidecar")
	if cm == nil {
		return nil, nil
	}
	var snippet struct {
		ExtraContainers []map[string]any `yaml:"extraContainers"`
		ExtraVolumes    []any            `yaml:"extraVolumes"`
	}
	if err := yaml.Unmarshal([]byte(cm["data"].(map[string]any)["gitea-values.yaml"].(string)), &snippet); err != nil {
		t.Fatalf("sidecar snippet: %v", err)
	}
	if len(snippet.ExtraContainers) != 1 {
		t.Fatalf("sidecar snippet has %d containers, want 1", len(snippet.ExtraContainers))
	}
	return map[string]any{"volumes": snippet.ExtraVolumes, "containers": []any{snippet.ExtraContainers[0]}}, snippet.ExtraContainers[0]
}

// docs/helm.md shows the contract's values file verbatim.
func TestReadmeShowsContractValues(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(testenv.MustRepoRoot(t), "docs", "helm.md"))
	if err != nil {
		t.Fatal(err)
	}
	vals, err := os.ReadFile(filepath.Join(chartDir(t), "ci/contract-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, vals) {
		t.Error("docs/helm.md does not contain deploy/helm/forge-exporter/ci/contract-values.yaml verbatim (copy it into the Helm install section)")
	}
}

// The chart's table of Kubernetes collectors (which decides the RBAC rules)
// must agree with the exporter's collector list.
func TestKubeCollectorDefaults(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(chartDir(t), "templates/_helpers.tpl"))
	if err != nil {
		t.Fatal(err)
	}
	specs := map[string]collectors.Spec{}
	for _, s := range collectors.Specs() {
		specs[s.Name] = s
	}
	for _, table := range []string{"kubeCollectorDefaults", "evidenceCollectorDefaults"} {
		t.Run(table, func(t *testing.T) { checkCollectorTable(t, src, table, specs) })
	}
}

func checkCollectorTable(t *testing.T, src []byte, table string, specs map[string]collectors.Spec) {
	m := regexp.MustCompile(`(?s)define "forge-exporter.` + table + `" -}}\n(.*?)\n\{\{- end`).FindSubmatch(src)
	if m == nil {
		t.Fatalf("%s not found in _helpers.tpl", table)
	}
	var chart map[string]bool
	if err := yaml.Unmarshal(m[1], &chart); err != nil {
		t.Fatal(err)
	}
	if len(chart) == 0 {
		t.Fatalf("%s is empty", table)
	}
	for name, def := range chart {
		s, ok := specs[name]
		if !ok {
			t.Errorf("the chart grants RBAC for collector %q, which the exporter does not have", name)
			continue
		}
		if s.DefaultEnabled != def {
			t.Errorf("collector %s: chart assumes enabled-by-default=%v, the exporter says %v", name, def, s.DefaultEnabled)
		}
	}
}

// The chart's RBAC is the RBAC the Kubernetes collectors document and test
// with (examples/rbac/, run by collectors/kubeintegration_test.go): same
// resources, same verbs, in both modes.
func TestRBACMatchesDocumentedRBAC(t *testing.T) {
	for _, c := range []struct{ example, values string }{
		{"examples/rbac/cluster.yaml", "ci/contract-values.yaml"},
		{"examples/rbac/namespaced.yaml", "ci/namespaced-values.yaml"},
	} {
		t.Run(filepath.Base(c.example), func(t *testing.T) {
			doc, err := os.ReadFile(filepath.Join(testenv.MustRepoRoot(t), c.example))
			if err != nil {
				t.Fatal(err)
			}
			want := ruleSet(manifests(t, string(doc)))
			out, err := render(t, c.values, "--set", "config.evidence.configmap_label_selector=")
			if err != nil {
				t.Fatal(err)
			}
			got := ruleSet(manifests(t, out))
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("chart RBAC differs from %s:\nchart:\n  %s\ndocumented:\n  %s", c.example,
					strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}

// ruleSet flattens Roles and ClusterRoles to sorted
// "Kind namespace group/resource verbs" lines.
func ruleSet(docs []map[string]any) []string {
	var out []string
	for _, d := range docs {
		kind, _ := d["kind"].(string)
		if kind != "Role" && kind != "ClusterRole" {
			continue
		}
		ns, _ := d["metadata"].(map[string]any)["namespace"].(string)
		for _, r := range d["rules"].([]any) {
			rm := r.(map[string]any)
			var verbs []string
			for _, v := range rm["verbs"].([]any) {
				verbs = append(verbs, v.(string))
			}
			sort.Strings(verbs)
			for _, g := range rm["apiGroups"].([]any) {
				for _, res := range rm["resources"].([]any) {
					out = append(out, fmt.Sprintf("%s %s %s/%s %s", kind, ns, g, res, strings.Join(verbs, ",")))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// rbacResources renders values and returns "group/resource" -> kinds that
// grant it (Role or ClusterRole).
func rbacResources(t *testing.T, values string) map[string][]string {
	t.Helper()
	// Not t.TempDir(): helm splits -f on commas, which subtest names may hold.
	dir, err := os.MkdirTemp("", "charttest")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := filepath.Join(dir, "v.yaml")
	if err := os.WriteFile(f, []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := render(t, f)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, d := range manifests(t, out) {
		if d["kind"] != "Role" && d["kind"] != "ClusterRole" {
			continue
		}
		for _, r := range d["rules"].([]any) {
			rm := r.(map[string]any)
			if fmt.Sprint(rm["verbs"]) != "[get list watch]" {
				t.Errorf("%s grants %v", d["kind"], rm["verbs"])
			}
			for _, g := range rm["apiGroups"].([]any) {
				for _, res := range rm["resources"].([]any) {
					k := fmt.Sprintf("%s/%s", g, res)
					got[k] = append(got[k], d["kind"].(string))
				}
			}
		}
	}
	return got
}

// The RBAC follows the enabled collectors: nothing is granted that no
// enabled collector reads.
func TestRBACFollowsCollectors(t *testing.T) {
	all := []string{"/persistentvolumeclaims", "/persistentvolumes", "postgresql.cnpg.io/backups",
		"postgresql.cnpg.io/clusters", "postgresql.cnpg.io/scheduledbackups", "barmancloud.cnpg.io/objectstores",
		"batch/cronjobs", "snapshot.storage.k8s.io/volumesnapshots"}
	cases := []struct {
		name, values string
		want         []string
	}{
		{"defaults", "", all},
		{"evidence configmaps", "config:\n  evidence:\n    configmap_label_selector: a=b\n", append([]string{"/configmaps"}, all...)},
		{"evidence collectors off", "config:\n  collectors: {drills: false, trust: false}\n  evidence:\n    configmap_label_selector: a=b\n", all},
		{"cnpg off", "config:\n  collectors: {cnpg: false}\n", []string{"/persistentvolumeclaims", "/persistentvolumes",
			"batch/cronjobs", "snapshot.storage.k8s.io/volumesnapshots"}},
		{"only pvc, no PVs", "config:\n  collectors: {cnpg: false, volumebackup: false}\n  kubernetes:\n    persistentvolumes: false\n",
			[]string{"/persistentvolumeclaims"}},
		{"no Kubernetes collector", "config:\n  collectors: {pvc: false, cnpg: false, volumebackup: false}\n", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := rbacResources(t, c.values)
			var keys []string
			for k := range got {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			want := append([]string(nil), c.want...)
			sort.Strings(want)
			if strings.Join(keys, " ") != strings.Join(want, " ") {
				t.Errorf("granted %v\nwant    %v", keys, want)
			}
		})
	}
}
