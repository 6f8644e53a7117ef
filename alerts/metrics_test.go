package alerts

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// forgeMetricRE finds forge_* metric names in an expression or a template.
// A name joined to a colon is part of a recording rule's name, not a metric.
// A bare "forge_" before a regex group (__name__=~"forge_(a|b)_.+") is a
// pattern, not a name.
var forgeMetricRE = regexp.MustCompile(`[a-zA-Z0-9_:]*forge_[a-zA-Z0-9_:]+`)

// recordingRuleRE finds recording rule names (level:metric:operations).
var recordingRuleRE = regexp.MustCompile(`\b[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_:]*[a-zA-Z0-9_]`)

// metricNames returns the forge_* metric names and the recording rule names
// used in text.
func metricNames(text string) (metrics, recorded []string) {
	for _, m := range forgeMetricRE.FindAllString(text, -1) {
		if strings.Contains(m, ":") {
			continue
		}
		metrics = append(metrics, m)
	}
	recorded = append(recorded, recordingRuleRE.FindAllString(text, -1)...)
	return metrics, recorded
}

// areas maps a metric name prefix to the collector issue that adds it. The
// longest matching prefix wins.
var areas = []struct{ prefix, owner string }{
	{"forge_exporter_kube_", "kube (issue 4)"},
	{"forge_exporter_", "foundation (issue 2)"},
	{"forge_volume_backup_", "kube (issue 4)"},
	{"forge_pvc_", "kube (issue 4)"},
	{"forge_cnpg_", "kube (issue 4)"},
	{"forge_volume_", "storage (issue 3)"},
	{"forge_directory_", "storage (issue 3)"},
	{"forge_gitea_", "gitea (issue 5)"},
	{"forge_package_blobs_", "package integrity (issue 14)"},
	{"forge_package_blob_scrub_", "package integrity (issue 14)"},
	{"forge_artifact_probe_", "package integrity (issue 14)"},
	{"forge_restore_drill_", "evidence (issue 6)"},
	{"forge_evidence_", "evidence (issue 6)"},
	{"forge_asset_", "evidence (issue 6)"},
	{"forge_sops_", "sops (issue 15)"},
}

func ownerOf(metric string) string {
	best, owner := -1, ""
	for _, a := range areas {
		if strings.HasPrefix(metric, a.prefix) && len(a.prefix) > best {
			best, owner = len(a.prefix), a.owner
		}
	}
	return owner
}

// docMetrics returns the metric names in docs/metrics.md's
// table (the same rows cmd/forge-exporter's test ties to the code).
func docMetrics(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("^\\| `(forge_[a-z0-9_]+)`")
	out := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			out[m[1]] = true
		}
	}
	return out
}

// usedText returns every expression and annotation template of the rule
// file and every query of the dashboards, keyed by where it comes from.
func usedText(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	rf := loadRules(t)
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			name := r.Record + r.Alert
			out[rulesFile+": "+name+" expr"] += r.Expr + "\n"
			for k, v := range r.Annotations {
				out[rulesFile+": "+name+" "+k] += v + "\n"
			}
		}
	}
	for file, qs := range dashboardQueries(t) {
		for _, q := range qs {
			out[file+": "+q.where] += q.expr + "\n"
		}
	}
	return out
}

type dashboardQuery struct{ where, expr string }

// dashboardQueries reads every dashboard JSON under ../dashboards and
// returns its panel target expressions and template variable queries.
func dashboardQueries(t *testing.T) map[string][]dashboardQuery {
	t.Helper()
	files, err := filepath.Glob("../dashboards/*.json")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]dashboardQuery{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		walkQueries(v, "", func(where, expr string) {
			out[filepath.Base(f)] = append(out[filepath.Base(f)], dashboardQuery{where: where, expr: expr})
		})
	}
	return out
}

// walkQueries calls fn for every "expr" (panel targets) and every string
// "query" of a template variable, with the enclosing panel or variable title.
func walkQueries(v any, where string, fn func(where, expr string)) {
	switch x := v.(type) {
	case map[string]any:
		if title, ok := x["title"].(string); ok {
			where = title
		} else if name, ok := x["name"].(string); ok {
			where = "$" + name
		}
		if x["type"] == "datasource" {
			return // a datasource variable's query is a plugin type, not PromQL
		}
		if e, ok := x["expr"].(string); ok {
			fn(where, e)
		}
		if q, ok := x["query"].(string); ok {
			fn(where, q)
		} else if q, ok := x["query"].(map[string]any); ok {
			if s, ok := q["query"].(string); ok {
				fn(where, s)
			}
		}
		for k, c := range x {
			if k != "expr" && k != "query" {
				walkQueries(c, where, fn)
			}
		}
	case []any:
		for _, c := range x {
			walkQueries(c, where, fn)
		}
	}
}

// TestUsedMetricsAreDocumented checks that every forge_* metric a rule or a
// dashboard uses is in docs/metrics.md (which
// cmd/forge-exporter's TestMetricReferenceMatchesCode ties to the code), and
// that every recording rule used is defined.
//
// The collectors are built in parallel with the rules. A metric of an area
// whose issue has not landed yet (no docs/metrics.md row of that area at all) is
// reported but tolerated; as soon as the area has any documented metric, every
// name of it that the rules or dashboards use must be documented too. So this
// test can only pass on main with names that the landed collectors export.
func TestUsedMetricsAreDocumented(t *testing.T) {
	documented := docMetrics(t)
	landed := map[string]bool{}
	for m := range documented {
		landed[ownerOf(m)] = true
	}
	defined := map[string]bool{}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				defined[r.Record] = true
			}
		}
	}
	pending := map[string][]string{}
	for where, text := range usedText(t) {
		metrics, recorded := metricNames(text)
		for _, m := range metrics {
			if documented[m] {
				continue
			}
			owner := ownerOf(m)
			switch {
			case owner == "":
				t.Errorf("%s uses %s, which belongs to no known collector area and is not in docs/metrics.md", where, m)
			case landed[owner]:
				t.Errorf("%s uses %s, which is not in docs/metrics.md although %s has landed: rename it to what the collector exports", where, m, owner)
			default:
				pending[owner] = append(pending[owner], m)
			}
		}
		for _, r := range recorded {
			if !defined[r] {
				t.Errorf("%s uses recording rule %s, which %s does not define", where, r, rulesFile)
			}
		}
	}
	owners := make([]string, 0, len(pending))
	for o := range pending {
		owners = append(owners, o)
	}
	sort.Strings(owners)
	for _, o := range owners {
		t.Logf("waiting for %s to land: %s", o, strings.Join(unique(pending[o]), ", "))
	}
}

func unique(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// TestMetricNameExtraction pins the extraction rules the check relies on.
func TestMetricNameExtraction(t *testing.T) {
	metrics, recorded := metricNames(`time() - max without (mechanism) (forge_volume_backup_last_success_timestamp_seconds{a="forge_x"})
	 / namespace_persistentvolumeclaim:forge_volume_used_bytes:deriv6h > 0 and up{job=~".*forge-exporter.*"}`)
	if got := strings.Join(metrics, ","); got != "forge_volume_backup_last_success_timestamp_seconds,forge_x" {
		t.Errorf("metrics = %s", got)
	}
	if got := strings.Join(recorded, ","); got != "namespace_persistentvolumeclaim:forge_volume_used_bytes:deriv6h" {
		t.Errorf("recorded = %s", got)
	}
	if ownerOf("forge_volume_backup_configured") != "kube (issue 4)" || ownerOf("forge_volume_used_bytes") != "storage (issue 3)" {
		t.Error("longest prefix must decide the owner")
	}
}

// TestDashboardQueriesParse runs every dashboard query, with its template
// variables set as Grafana's "All" would, through the real promtool as a
// recording rule: promtool check rules rejects any that is not valid PromQL.
// (The end-to-end test also evaluates each one against a real Prometheus.)
func TestDashboardQueriesParse(t *testing.T) {
	vars := strings.NewReplacer(`$namespace`, `.*`, `$instance`, `.*`, `$__rate_interval`, `1m`,
		`$__interval`, `15s`, `$__range`, `1h`)
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard-queries\n    rules:\n")
	n := 0
	for file, qs := range dashboardQueries(t) {
		for _, q := range qs {
			if strings.HasPrefix(q.expr, "label_values(") {
				continue // a Grafana template function, checked end to end
			}
			n++
			expr, _ := json.Marshal(vars.Replace(q.expr))
			fmt.Fprintf(&b, "      # %s: %s\n      - record: dashboard_query_%d\n        expr: %s\n", file, strings.ReplaceAll(q.where, "\n", " "), n, expr)
		}
	}
	if n == 0 {
		t.Fatal("no dashboard queries found")
	}
	path := t.TempDir() + "/dashboard-queries.yaml"
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool(t), "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules on the dashboard queries: %v\n%s", err, out)
	}
}
