package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// This file drives the shipped rules end to end with the real servers:
//
//	forge-exporter (built from ./cmd/forge-exporter, on examples/forge-exporter.yaml)
//	  + fixture families for collectors that need a cluster or Gitea
//	    (served together on one target, see fixture below)
//	→ Prometheus (Debian's, 1s scrape and evaluation, the rule file loaded)
//	→ Alertmanager (Debian's prometheus-alertmanager, no cluster gossip) on
//	  docs/alertmanager.example.yml
//	→ a webhook receiver in this test, one path per example receiver.
//
// Scenario: the Gitea database's backup goes stale, the page reaches the
// webhook with its labels and runbook link; the backup completes, the
// resolved notification follows. Then every dashboard query is evaluated
// through Prometheus's HTTP API and must return data, and every rule must
// evaluate without error on the exporter's real output.

// e2eDeadline bounds each wait; the steps take a few seconds each.
const e2eDeadline = 90 * time.Second

func TestEndToEndPrometheusAlertmanager(t *testing.T) {
	prometheus := lookBinary(t, "prometheus")
	alertmanager := lookBinary(t, "prometheus-alertmanager")
	dir := t.TempDir()

	// The real exporter on the example configuration.
	exporterBin := filepath.Join(dir, "forge-exporter")
	build := exec.Command("go", "build", "-o", exporterBin, "./cmd/forge-exporter")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building forge-exporter: %v\n%s", err, out)
	}
	exporterAddr := freeAddr(t)
	startProcess(t, "forge-exporter", exporterBin, "http://"+exporterAddr+"/-/ready",
		"--config.file=../examples/forge-exporter.yaml", "--web.listen-address="+exporterAddr)

	// The fixture target: the exporter's own exposition plus fixture families.
	fx := &fixture{exporterURL: "http://" + exporterAddr + "/metrics", lastBackup: time.Now().Add(-time.Hour)}
	target := serve(t, fx)

	// The webhook receiver.
	hook := &webhook{}
	hookURL := serve(t, hook)

	// Alertmanager on the shipped example routing, its receivers pointed at
	// the webhook (one path per receiver) and its timers shortened.
	example, err := os.ReadFile("../docs/alertmanager.example.yml")
	if err != nil {
		t.Fatal(err)
	}
	am := regexp.MustCompile(`http://([a-z-]+)\.invalid/hook`).ReplaceAllString(string(example), hookURL+"/$1")
	am = regexp.MustCompile(`(?m)^(\s+)(group_wait|group_interval): \S+$`).ReplaceAllString(am, "${1}${2}: 1s")
	amAddr := freeAddr(t)
	amConfig := filepath.Join(dir, "alertmanager.yml")
	writeFile(t, amConfig, am)
	startProcess(t, "alertmanager", alertmanager, "http://"+amAddr+"/-/ready",
		"--config.file="+amConfig, "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=")

	// Prometheus with the shipped rules; only for: is shortened, so that the
	// scenario does not wait the production pending periods.
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	rulesCopy := filepath.Join(dir, "forge-exporter.rules.yaml")
	writeFile(t, rulesCopy, regexp.MustCompile(`(?m)^(\s+)for: \S+$`).ReplaceAllString(string(rules), "${1}for: 0s"))
	targetURL, _ := url.Parse(target)
	promAddr := freeAddr(t)
	promConfig := filepath.Join(dir, "prometheus.yml")
	writeFile(t, promConfig, fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
alerting:
  alertmanagers:
    - static_configs:
        - targets: [%q]
scrape_configs:
  - job_name: forge-exporter
    honor_labels: true
    static_configs:
      - targets: [%q]
`, rulesCopy, amAddr, targetURL.Host))
	startProcess(t, "prometheus", prometheus, "http://"+promAddr+"/-/ready",
		"--config.file="+promConfig, "--storage.tsdb.path="+filepath.Join(dir, "prom"),
		"--web.listen-address="+promAddr, "--rules.alert.resend-delay=1s")
	prom := &promAPI{base: "http://" + promAddr}

	// 1. A fresh backup: the alert is not pending or firing once the rules
	// have evaluated on scraped data.
	waitFor(t, "the recorded backup age", func() bool {
		return len(prom.query(t, `namespace_cluster:forge_cnpg_backup_age_seconds{cluster="gitea-db"}`)) == 1
	})
	if a := prom.alerts(t, "ForgeDatabaseBackupStale"); len(a) != 0 {
		t.Fatalf("ForgeDatabaseBackupStale is %s with a backup an hour old", a[0].State)
	}

	// 2. The backup goes stale: the last completed backup is 3 days old
	// against a daily schedule (allowed: 2 × 1d + 1h = 2d 1h).
	fx.setLastBackup(time.Now().Add(-72 * time.Hour))
	firing := hook.waitFor(t, "ForgeDatabaseBackupStale", "firing")
	if firing.Receiver != "platform-pager" || firing.Path != "/platform-pager" {
		t.Errorf("the page went to receiver %q at %s, want platform-pager (critical, layer platform)", firing.Receiver, firing.Path)
	}
	wantLabels := map[string]string{
		"alertname": "ForgeDatabaseBackupStale", "severity": "critical", "layer": "platform",
		"namespace": "databases", "cluster": "gitea-db", "job": "forge-exporter", "instance": targetURL.Host,
	}
	for k, v := range wantLabels {
		if firing.Labels[k] != v {
			t.Errorf("page label %s = %q, want %q (labels %v)", k, firing.Labels[k], v, firing.Labels)
		}
	}
	if got, want := firing.Annotations["runbook_url"], runbookBase+"ForgeDatabaseBackupStale.md"; got != want {
		t.Errorf("page runbook_url = %q, want %q", got, want)
	}
	for _, want := range []string{"databases/gitea-db finished 3d 0h", "the allowed age is 2d 1h 0m 0s"} {
		if !strings.Contains(firing.Annotations["description"], want) {
			t.Errorf("page description lacks %q: %s", want, firing.Annotations["description"])
		}
	}

	// 3. The backup completes: the resolved notification follows.
	fx.setLastBackup(time.Now())
	resolved := hook.waitFor(t, "ForgeDatabaseBackupStale", "resolved")
	if resolved.Labels["cluster"] != "gitea-db" || resolved.Annotations["runbook_url"] != firing.Annotations["runbook_url"] {
		t.Errorf("resolved notification is for another alert: %v %v", resolved.Labels, resolved.Annotations)
	}

	// 4. Every rule evaluates without error on the real exposition.
	waitFor(t, "every rule group evaluated", func() bool { return prom.rulesEvaluated(t) })
	for _, r := range prom.ruleHealth(t) {
		if r.Health != "ok" {
			t.Errorf("rule %s: health %s: %s", r.Name, r.Health, r.LastError)
		}
	}

	// 5. Every dashboard query returns data for the fixture.
	checkDashboards(t, prom)
}

// checkDashboards evaluates every panel query of every dashboard (with the
// template variables set to "All") and every template variable query.
func checkDashboards(t *testing.T, prom *promAPI) {
	vars := strings.NewReplacer(`$namespace`, `.*`, `$instance`, `.*`, `$__rate_interval`, `1m`,
		`$__interval`, `15s`, `$__range`, `1h`, `${datasource}`, ``)
	labelValuesRE := regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_]+)\)$`)
	queries := dashboardQueries(t)
	if len(queries) == 0 {
		t.Fatal("no dashboard queries found under dashboards/")
	}
	n := 0
	for file, qs := range queries {
		for _, q := range qs {
			n++
			expr := vars.Replace(q.expr)
			if m := labelValuesRE.FindStringSubmatch(expr); m != nil {
				waitFor(t, file+": "+q.where+": "+expr, func() bool { return len(prom.labelValues(t, m[2], m[1])) > 0 })
				continue
			}
			if strings.HasPrefix(expr, "label_values(") {
				t.Errorf("%s: %s: unsupported template query %s", file, q.where, expr)
				continue
			}
			waitFor(t, fmt.Sprintf("%s: %q returns data: %s", file, q.where, expr), func() bool {
				return len(prom.query(t, expr)) > 0
			})
		}
	}
	t.Logf("%d dashboard queries returned data", n)
}

// fixture serves the real exporter's exposition plus the families it does
// not export on the example configuration (Kubernetes, Gitea and evidence
// collectors need a cluster, a Gitea or records). A family the exporter
// does export always comes from the exporter; the CNPG families the scenario
// drives must come from the fixture, and the test says so if that changes.
type fixture struct {
	exporterURL string
	mu          sync.Mutex
	lastBackup  time.Time
}

// scenarioFamilies are driven by the test and must not come from the exporter.
var scenarioFamilies = []string{"forge_cnpg_backup_last_success_timestamp_seconds", "forge_cnpg_scheduled_backup_interval_seconds"}

func (f *fixture) setLastBackup(t time.Time) {
	f.mu.Lock()
	f.lastBackup = t
	f.mu.Unlock()
}

func (f *fixture) exposition(now time.Time) string {
	f.mu.Lock()
	last := f.lastBackup
	f.mu.Unlock()
	ts := func(d time.Duration) string { return fmt.Sprintf("%d", now.Add(-d).Unix()) }
	return `# TYPE forge_cnpg_scheduled_backups gauge
forge_cnpg_scheduled_backups{namespace="databases",cluster="gitea-db"} 1
# TYPE forge_cnpg_scheduled_backup_interval_seconds gauge
forge_cnpg_scheduled_backup_interval_seconds{namespace="databases",cluster="gitea-db",scheduledbackup="gitea-db-daily"} 86400
# TYPE forge_cnpg_scheduled_backup_suspended gauge
forge_cnpg_scheduled_backup_suspended{namespace="databases",cluster="gitea-db",scheduledbackup="gitea-db-daily"} 0
# TYPE forge_cnpg_backup_last_success_timestamp_seconds gauge
forge_cnpg_backup_last_success_timestamp_seconds{namespace="databases",cluster="gitea-db"} ` + fmt.Sprint(last.Unix()) + `
# TYPE forge_cnpg_backup_last_failure_timestamp_seconds gauge
forge_cnpg_backup_last_failure_timestamp_seconds{namespace="databases",cluster="gitea-db"} ` + ts(10*24*time.Hour) + `
# TYPE forge_cnpg_recoverability_point_timestamp_seconds gauge
forge_cnpg_recoverability_point_timestamp_seconds{namespace="databases",cluster="gitea-db",source="objectstore"} ` + ts(7*24*time.Hour) + `
# TYPE forge_exporter_kube_resource_available gauge
forge_exporter_kube_resource_available{group="postgresql.cnpg.io",resource="backups"} 1
forge_exporter_kube_resource_available{group="snapshot.storage.k8s.io",resource="volumesnapshots"} 0
# TYPE forge_exporter_kube_last_sync_timestamp_seconds gauge
forge_exporter_kube_last_sync_timestamp_seconds{group="postgresql.cnpg.io",resource="backups"} ` + ts(30*time.Second) + `
# TYPE forge_cnpg_continuous_archiving gauge
forge_cnpg_continuous_archiving{namespace="databases",cluster="gitea-db"} 1
# TYPE forge_pvc_requested_bytes gauge
forge_pvc_requested_bytes{namespace="default",persistentvolumeclaim="gitea-shared-storage",storageclass="local-path"} 10737418240
# TYPE forge_volume_backup_configured gauge
forge_volume_backup_configured{namespace="default",persistentvolumeclaim="gitea-shared-storage"} 1
# TYPE forge_volume_backup_last_success_timestamp_seconds gauge
forge_volume_backup_last_success_timestamp_seconds{namespace="default",persistentvolumeclaim="gitea-shared-storage",mechanism="volumesnapshot"} ` + ts(time.Hour) + `
# TYPE forge_gitea_up gauge
forge_gitea_up 1
# TYPE forge_gitea_runner_online gauge
forge_gitea_runner_online{runner="runner-1"} 1
# TYPE forge_gitea_runner_busy gauge
forge_gitea_runner_busy{runner="runner-1"} 0
# TYPE forge_gitea_runner_disabled gauge
forge_gitea_runner_disabled{runner="runner-1"} 0
# TYPE forge_gitea_runner_label_info gauge
forge_gitea_runner_label_info{runner="runner-1",label="ubuntu-latest"} 1
# TYPE forge_gitea_runner_label_required_runners gauge
forge_gitea_runner_label_required_runners{label="ubuntu-latest"} 1
# TYPE forge_gitea_runner_label_online_runners gauge
forge_gitea_runner_label_online_runners{label="ubuntu-latest"} 1
# TYPE forge_gitea_runner_unknown_label_online_runners gauge
forge_gitea_runner_unknown_label_online_runners 0
# TYPE forge_gitea_packages gauge
forge_gitea_packages{owner="forge",type="pypi"} 3
# TYPE forge_gitea_package_versions gauge
forge_gitea_package_versions{owner="forge",type="pypi"} 7
# TYPE forge_gitea_package_files_bytes gauge
forge_gitea_package_files_bytes{owner="forge",type="pypi"} 123456
# TYPE forge_restore_drill_recorded gauge
forge_restore_drill_recorded{drill="source-forge"} 1
# TYPE forge_restore_drill_max_age_seconds gauge
forge_restore_drill_max_age_seconds{drill="source-forge"} 7776000
# TYPE forge_restore_drill_last_success_timestamp_seconds gauge
forge_restore_drill_last_success_timestamp_seconds{drill="source-forge"} ` + ts(5*24*time.Hour) + `
# TYPE forge_restore_drill_last_run_timestamp_seconds gauge
forge_restore_drill_last_run_timestamp_seconds{drill="source-forge"} ` + ts(5*24*time.Hour) + `
# TYPE forge_evidence_records gauge
forge_evidence_records{source="directory",validity="valid"} 1
# TYPE forge_evidence_secret_findings gauge
forge_evidence_secret_findings{source="directory",detector="gitea-token"} 0
# TYPE forge_asset_production_trusted gauge
forge_asset_production_trusted{asset="gitea-database"} 1
# TYPE forge_asset_trust_gate gauge
forge_asset_trust_gate{asset="gitea-database",gate="backup_mechanism"} 1
`
}

func (f *fixture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	resp, err := http.Get(f.exporterURL)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	real, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		http.Error(w, fmt.Sprintf("exporter: status %d: %v", resp.StatusCode, err), http.StatusBadGateway)
		return
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	exported, err := parser.TextToMetricFamilies(bytes.NewReader(real))
	if err != nil {
		http.Error(w, "exporter exposition: "+err.Error(), http.StatusBadGateway)
		return
	}
	parser = expfmt.NewTextParser(model.UTF8Validation)
	fixed, err := parser.TextToMetricFamilies(strings.NewReader(f.exposition(time.Now())))
	if err != nil {
		http.Error(w, "fixture exposition: "+err.Error(), http.StatusInternalServerError)
		return
	}
	for _, name := range scenarioFamilies {
		if _, ok := exported[name]; ok {
			http.Error(w, name+" now comes from the exporter itself: drive the scenario through its source (the Kubernetes test API server)", http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	w.Write(real)
	names := make([]string, 0, len(fixed))
	for n := range fixed {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := exported[n]; ok {
			continue
		}
		expfmt.MetricFamilyToText(w, fixed[n])
	}
}

// alertmanagerPayload is the part of Alertmanager's webhook body the test reads.
type alertmanagerPayload struct {
	Receiver string `json:"receiver"`
	Status   string `json:"status"`
	Alerts   []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"alerts"`
}

type notification struct {
	Receiver    string
	Path        string
	Status      string
	Labels      map[string]string
	Annotations map[string]string
}

// webhook records every alert Alertmanager delivers.
type webhook struct {
	mu   sync.Mutex
	got  []notification
	errs []string
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p alertmanagerPayload
	err := json.NewDecoder(r.Body).Decode(&p)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.errs = append(h.errs, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, a := range p.Alerts {
		h.got = append(h.got, notification{Receiver: p.Receiver, Path: r.URL.Path, Status: a.Status, Labels: a.Labels, Annotations: a.Annotations})
	}
}

func (h *webhook) waitFor(t *testing.T, alert, status string) notification {
	t.Helper()
	var found *notification
	waitFor(t, fmt.Sprintf("Alertmanager to deliver %s %s to the webhook", status, alert), func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for i := range h.got {
			if h.got[i].Labels["alertname"] == alert && h.got[i].Status == status {
				n := h.got[i]
				found = &n
				return true
			}
		}
		return false
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.errs) > 0 {
		t.Errorf("webhook could not decode Alertmanager's payload: %v", h.errs)
	}
	return *found
}

// promAPI is a small client of Prometheus's HTTP API.
type promAPI struct{ base string }

func (p *promAPI) get(t *testing.T, path string, params url.Values, out any) {
	t.Helper()
	resp, err := http.Get(p.base + path + "?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Status != "success" {
		// A query that does not parse as PromQL ends here (bad_data).
		t.Fatalf("%s %v: status %d: %s %s", path, params, resp.StatusCode, env.Error, body)
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func (p *promAPI) query(t *testing.T, expr string) []json.RawMessage {
	t.Helper()
	var data struct {
		ResultType string            `json:"resultType"`
		Result     []json.RawMessage `json:"result"`
	}
	p.get(t, "/api/v1/query", url.Values{"query": {expr}}, &data)
	if data.ResultType == "scalar" {
		return []json.RawMessage{nil}
	}
	return data.Result
}

func (p *promAPI) labelValues(t *testing.T, label, match string) []string {
	t.Helper()
	var out []string
	p.get(t, "/api/v1/label/"+label+"/values", url.Values{"match[]": {match}}, &out)
	return out
}

type promAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

func (p *promAPI) alerts(t *testing.T, name string) []promAlert {
	t.Helper()
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	p.get(t, "/api/v1/alerts", nil, &data)
	var out []promAlert
	for _, a := range data.Alerts {
		if a.Labels["alertname"] == name {
			out = append(out, a)
		}
	}
	return out
}

type promRule struct {
	Name           string `json:"name"`
	Health         string `json:"health"`
	LastError      string `json:"lastError"`
	LastEvaluation string `json:"lastEvaluation"`
}

func (p *promAPI) ruleHealth(t *testing.T) []promRule {
	t.Helper()
	var data struct {
		Groups []struct {
			Rules []promRule `json:"rules"`
		} `json:"groups"`
	}
	p.get(t, "/api/v1/rules", nil, &data)
	var out []promRule
	for _, g := range data.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

func (p *promAPI) rulesEvaluated(t *testing.T) bool {
	rules := p.ruleHealth(t)
	for _, r := range rules {
		if r.Health == "unknown" || strings.HasPrefix(r.LastEvaluation, "0001-") {
			return false
		}
	}
	return len(rules) > 0
}

// lookBinary finds a real server binary; .ci/run installs the Debian packages.
func lookBinary(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install the Debian prometheus and prometheus-alertmanager packages (.ci/run does)", name)
	}
	return p
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return "http://" + l.Addr().String()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// lockedBuffer collects a process's output for failure messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startProcess runs a server until the test ends and waits for readyURL.
// Its output is shown when the test fails.
func startProcess(t *testing.T, name, bin, readyURL string, args ...string) {
	t.Helper()
	logs := &lockedBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("--- %s output:\n%s", name, tail(logs.String(), 4000))
		}
	})
	waitFor(t, name+" ready", func() bool {
		select {
		case <-done:
			t.Fatalf("%s exited:\n%s", name, logs.String())
		default:
		}
		resp, err := http.Get(readyURL)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(e2eDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", e2eDeadline, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
