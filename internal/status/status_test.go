package status

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/railiance/forge-exporter/collectors"
)

var now = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// families builds metric families from "name{l=v,...} value" lines.
func families(t *testing.T, lines ...string) []*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewRegistry()
	gauges := map[string]*prometheus.GaugeVec{}
	for _, l := range lines {
		i := strings.LastIndex(l, " ")
		series, val := l[:i], l[i+1:]
		name, rest, _ := strings.Cut(series, "{")
		var keys, vals []string
		for _, kv := range strings.Split(strings.TrimSuffix(rest, "}"), `",`) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				keys = append(keys, k)
				vals = append(vals, strings.Trim(v, `"`))
			}
		}
		g, ok := gauges[name]
		if !ok {
			g = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: name}, keys)
			reg.MustRegister(g)
			gauges[name] = g
		}
		var f float64
		if _, err := fmtSscan(val, &f); err != nil {
			t.Fatal(err)
		}
		g.WithLabelValues(vals...).Set(f)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

func ts(d time.Duration) string { return ftoa(float64(now.Add(-d).Unix())) }

// cells returns the text and state of every cell of a section, row by row.
func cells(p *Page, id string) [][]Cell {
	for _, s := range p.Sections {
		if s.ID == id {
			return s.Table.Rows
		}
	}
	return nil
}

func TestSectionsFromMetrics(t *testing.T) {
	fams := families(t,
		`forge_cnpg_scheduled_backups{namespace="databases",cluster="gitea-db"} 1`,
		`forge_cnpg_backup_last_success_timestamp_seconds{namespace="databases",cluster="gitea-db"} `+ts(30*time.Hour),
		`forge_cnpg_scheduled_backup_interval_seconds{namespace="databases",cluster="gitea-db",scheduledbackup="daily"} 86400`,
		`forge_cnpg_scheduled_backup_suspended{namespace="databases",cluster="gitea-db",scheduledbackup="daily"} 0`,
		`forge_cnpg_continuous_archiving{namespace="databases",cluster="gitea-db"} 1`,
		`forge_cnpg_scheduled_backups{namespace="databases",cluster="other-db"} 0`,
		`forge_cnpg_backup_last_success_timestamp_seconds{namespace="databases",cluster="other-db"} `+ts(30*time.Hour),
		`forge_volume_backup_configured{namespace="default",persistentvolumeclaim="gitea-shared-storage"} 0`,
		`forge_gitea_runner_label_required_runners{label="ubuntu-latest"} 2`,
		`forge_gitea_runner_label_online_runners{label="ubuntu-latest"} 1`,
		`forge_gitea_runner_label_contract_info{label="ubuntu-latest",purpose="general CI jobs"} 1`,
		`forge_evidence_source_up{source="docs"} 1`,
		`forge_evidence_records{source="docs",validity="valid"} 3`,
		`forge_evidence_records{source="docs",validity="invalid"} 1`,
		`forge_evidence_secret_findings{source="docs",detector="password"} 1`,
		`forge_sops_file_check_passed{file="values"} 0`,
		`forge_sops_file_readable{file="values"} 1`,
		`forge_sops_file_plaintext_values{file="values"} 3`,
		`forge_exporter_collector_enabled{collector="cnpg"} 1`,
		`forge_exporter_collector_success{collector="cnpg"} 0`,
		`forge_exporter_collector_enabled{collector="registry"} 0`,
	)
	p := Build(Input{Now: now, Families: fams, Trust: &collectors.TrustReport{}})
	want := map[string][]string{
		// 30h old against 2 × 24h + 1h: fine; without a schedule 26h: stale.
		"databases":      {"databases/gitea-db|2026-12-01 06:00|30h:ok|2d 1h|1:ok|ok:ok", "databases/other-db|2026-12-01 06:00|30h:bad|26h|0:warn|unknown:unknown"},
		"volume-backups": {"default/gitea-shared-storage|no:warn|—|never:warn"},
		"runners":        {"ubuntu-latest|general CI jobs|1:bad|2"},
		"evidence":       {"docs|yes:ok|3|1:warn|password × 1:bad"},
		"sops":           {"values|failing:warn|3:bad|0:ok|0 missing, 0 unexpected:ok|—"},
		"collectors":     {"cnpg|failing:warn|0.000 s", "registry|disabled:unknown|—"},
	}
	for id, rows := range want {
		got := cells(p, id)
		if len(got) != len(rows) {
			t.Errorf("%s: %d rows, want %d: %+v", id, len(got), len(rows), got)
			continue
		}
		for i, r := range got {
			var parts []string
			for _, c := range r {
				if c.State != "" {
					parts = append(parts, c.Text+":"+string(c.State))
				} else {
					parts = append(parts, c.Text)
				}
			}
			if g := strings.Join(parts, "|"); g != rows[i] {
				t.Errorf("%s row %d:\n got %s\nwant %s", id, i, g, rows[i])
			}
		}
	}
	if p.Verdict.State != Bad || !strings.HasPrefix(p.Verdict.Text, "No:") {
		t.Errorf("verdict %+v", p.Verdict)
	}
	html, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(html), "<script") || !strings.Contains(string(html), `class="bad"`) {
		t.Errorf("rendered page:\n%s", html)
	}
}

// Names come from configuration and Kubernetes: they are escaped.
func TestNamesAreEscaped(t *testing.T) {
	fams := families(t, `forge_sops_file_check_passed{file="<b>x</b>"} 1`)
	html, err := Render(Build(Input{Now: now, Families: fams}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(html), "<b>x</b>") || !strings.Contains(string(html), "&lt;b&gt;x&lt;/b&gt;") {
		t.Errorf("a label value is not escaped")
	}
}

func fmtSscan(s string, f *float64) (int, error) { return fmt.Sscan(s, f) }

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
