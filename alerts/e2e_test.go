package alerts

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/railiance/forge-exporter/internal/testenv"
	"github.com/railiance/forge-exporter/internal/testenv/proc"
	"github.com/railiance/forge-exporter/internal/testenv/promenv"
)

// This file drives the shipped rules end to end with the real servers:
//
//	forge-exporter (built from ./cmd/forge-exporter, on examples/forge-exporter.yaml)
//	  + fixture families for collectors that need a cluster or Gitea
//	    (served together on one target, see fixture below)
//	forge-exporter with its cnpg collector reading a real kube-apiserver
//	  (internal/testenv/kubeenv) with CNPG Cluster, ScheduledBackup and
//	  Backup objects (e2e_kube_test.go)
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
	t.Parallel() // mostly waiting on servers: overlap it with promtool's tests
	for _, name := range []string{"prometheus", "prometheus-alertmanager"} {
		if _, err := promenv.Binary(name); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	ctx := context.Background()

	// The real exporter on the example configuration.
	exporterBin := filepath.Join(dir, "forge-exporter")
	build := exec.Command("go", "build", "-o", exporterBin, "./cmd/forge-exporter")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building forge-exporter: %v\n%s", err, out)
	}
	exporterAddr, err := testenv.FreeAddr()
	must(t, err)
	exporter, err := proc.Start("forge-exporter", exporterBin, filepath.Join(dir, "forge-exporter.log"),
		[]string{"--config.file=../examples/forge-exporter.yaml", "--web.listen-address=" + exporterAddr}, proc.Options{})
	must(t, err)
	stopOnCleanup(t, exporter)
	waitCtx, cancel := context.WithTimeout(ctx, e2eDeadline)
	defer cancel()
	must(t, exporter.WaitReady(waitCtx, "http://"+exporterAddr+"/-/ready"))

	// The database: CNPG objects on a real kube-apiserver read by a second
	// exporter (built on first use; never replaced by fixture series).
	kb := startKubeBackups(t, dir, exporterBin)

	// The fixture target: the exporter's own exposition plus fixture families.
	fx := &fixture{exporterURL: "http://" + exporterAddr + "/metrics"}
	target := serve(t, fx)
	targetURL, _ := url.Parse(target)
	dbTarget, targets := kb.target, []string{targetURL.Host, kb.target}

	// The webhook receiver.
	hook := &promenv.Webhook{}
	hookURL := serve(t, hook)

	// Alertmanager on the shipped example routing, its receivers pointed at
	// the webhook (one path per receiver) and its timers shortened.
	example, err := os.ReadFile("../docs/alertmanager.example.yml")
	must(t, err)
	am, err := promenv.StartAlertmanager(ctx, dir, promenv.ExampleRouting(example, hookURL))
	must(t, err)
	stopOnCleanup(t, am.Process)

	// Prometheus with the shipped rules; only for: is shortened, so that the
	// scenario does not wait the production pending periods.
	rules, err := os.ReadFile(rulesFile)
	must(t, err)
	rulesCopy := filepath.Join(dir, "forge-exporter.rules.yaml")
	must(t, os.WriteFile(rulesCopy, promenv.ShortenFor(rules, "0s"), 0o644))
	promSrv, err := promenv.StartPrometheus(ctx, dir, promenv.PrometheusConfig{
		Interval: time.Second, RuleFiles: []string{rulesCopy}, Alertmanager: am.Addr,
		Targets: targets, HonorLabels: true,
	})
	must(t, err)
	stopOnCleanup(t, promSrv.Process)
	prom := &promAPI{promenv.NewAPI(promSrv.URL)}

	// 1. A fresh backup: the alert is not pending or firing once the rules
	// have evaluated on scraped data.
	waitFor(t, "the recorded backup age", func() bool {
		return len(prom.query(t, `namespace_cluster:forge_cnpg_backup_age_seconds{cluster="gitea-db",instance="`+dbTarget+`"}`)) == 1
	})
	if a := prom.alerts(t, "ForgeDatabaseBackupStale"); len(a) != 0 {
		t.Fatalf("ForgeDatabaseBackupStale is %s with a backup an hour old", a[0].State)
	}

	// 2. The backup goes stale: the last completed backup is 3 days old
	// against a daily schedule (allowed: 2 × 1d + 1h = 2d 1h).
	kb.goStale(t) // the recent Backup is deleted; the newest left is 3 days old
	firing := waitNotification(t, hook, "ForgeDatabaseBackupStale", "firing")
	if firing.Receiver != "platform-pager" || firing.Path != "/platform-pager" {
		t.Errorf("the page went to receiver %q at %s, want platform-pager (critical, layer platform)", firing.Receiver, firing.Path)
	}
	wantLabels := map[string]string{
		"alertname": "ForgeDatabaseBackupStale", "severity": "critical", "layer": "platform",
		"namespace": "databases", "cluster": "gitea-db", "job": "forge-exporter", "instance": dbTarget,
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
	kb.complete(t) // a new Backup reaches phase completed
	resolved := waitNotification(t, hook, "ForgeDatabaseBackupStale", "resolved")
	if resolved.Labels["cluster"] != "gitea-db" || resolved.Annotations["runbook_url"] != firing.Annotations["runbook_url"] {
		t.Errorf("resolved notification is for another alert: %v %v", resolved.Labels, resolved.Annotations)
	}

	// 4. Every rule evaluates without error on the real exposition.
	waitFor(t, "every rule group evaluated", func() bool { return prom.RulesEvaluated(ctx) })
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
// not export on the example configuration (Gitea and evidence collectors
// need a Gitea or records). A family the exporter does export always comes
// from the exporter; the CNPG and Kubernetes-health families come from the
// second exporter, which reads the real API server.
type fixture struct {
	exporterURL string
}

func (f *fixture) exposition(now time.Time) string {
	ts := func(d time.Duration) string { return fmt.Sprintf("%d", now.Add(-d).Unix()) }
	return `# TYPE forge_pvc_requested_bytes gauge
forge_pvc_requested_bytes{namespace="default",persistentvolumeclaim="gitea-shared-storage",storageclass="local-path"} 10737418240
# TYPE forge_volume_backup_configured gauge
forge_volume_backup_configured{namespace="default",persistentvolumeclaim="gitea-shared-storage"} 1
# TYPE forge_volume_backup_mechanisms gauge
forge_volume_backup_mechanisms{namespace="default",persistentvolumeclaim="gitea-shared-storage",mechanism="volumesnapshot"} 1
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
	w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	w.Write(real)
	names := make([]string, 0, len(fixed))
	for n := range fixed {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := exported[n]; ok || strings.HasPrefix(n, "forge_cnpg_") || strings.HasPrefix(n, "forge_exporter_kube_") {
			continue
		}
		expfmt.MetricFamilyToText(w, fixed[n])
	}
}

// waitNotification waits until Alertmanager has delivered alert with status
// to the webhook.
func waitNotification(t *testing.T, hook *promenv.Webhook, alert, status string) promenv.Notification {
	t.Helper()
	var n promenv.Notification
	waitFor(t, fmt.Sprintf("Alertmanager to deliver %s %s to the webhook", status, alert), func() bool {
		var ok bool
		n, ok = hook.Find(alert, status)
		return ok
	})
	if errs := hook.Errors(); len(errs) > 0 {
		t.Errorf("webhook could not decode Alertmanager's payload: %v", errs)
	}
	return n
}

// promAPI adapts promenv.API to the test: a failed call fails the test.
type promAPI struct{ *promenv.API }

func (p *promAPI) query(t *testing.T, expr string) []promenv.Sample {
	t.Helper()
	out, err := p.Query(context.Background(), expr)
	must(t, err) // a query that does not parse as PromQL ends here (bad_data)
	return out
}

func (p *promAPI) labelValues(t *testing.T, label, match string) []string {
	t.Helper()
	out, err := p.LabelValues(context.Background(), label, match)
	must(t, err)
	return out
}

func (p *promAPI) alerts(t *testing.T, name string) []promenv.Alert {
	t.Helper()
	out, err := p.AlertsNamed(context.Background(), name)
	must(t, err)
	return out
}

func (p *promAPI) ruleHealth(t *testing.T) []promenv.Rule {
	t.Helper()
	out, err := p.Rules(context.Background())
	must(t, err)
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	u, stop, err := proc.Serve(h)
	must(t, err)
	t.Cleanup(stop)
	return u
}

// stopOnCleanup stops p when the test ends and shows its log if it failed.
func stopOnCleanup(t *testing.T, p *proc.Process) {
	t.Cleanup(func() {
		if err := p.Stop(10 * time.Second); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("--- %s output:\n%s", p.Name, p.Tail(40))
		}
	})
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
