// Package status renders the exporter's status page: one server-rendered
// HTML page that answers "is the forge's data safe to rely on today?"
// without PromQL. It is built from the same state the metrics come from:
// the metric families of a scrape (gathered like /metrics) and the trust
// report of GET /api/v1/trust. No JavaScript, no external assets, readable
// on a phone; values are escaped by html/template and nothing secret is
// in its inputs (the metrics carry none).
package status

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/railiance/forge-exporter/collectors"
	"github.com/railiance/forge-exporter/internal/evidence"
)

// Input is what the page is rendered from.
type Input struct {
	Now     time.Time
	Version string
	// Families are the metric families of one scrape of the collectors.
	Families []*dto.MetricFamily
	// Trust is the trust report; nil when the trust collector is disabled.
	Trust *collectors.TrustReport
	// MetricsPath links the raw metrics.
	MetricsPath string
}

// metrics indexes metric families by name.
type metrics map[string][]*dto.Metric

func index(fams []*dto.MetricFamily) metrics {
	m := metrics{}
	for _, f := range fams {
		m[f.GetName()] = f.Metric
	}
	return m
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return math.NaN()
}

// by returns name's series keyed by the joined values of labels.
func (ms metrics) by(name string, labels ...string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range ms[name] {
		parts := make([]string, len(labels))
		for i, l := range labels {
			parts[i] = label(m, l)
		}
		out[strings.Join(parts, "/")] = value(m)
	}
	return out
}

// State is a cell's verdict; it picks the colour. Bad marks what the
// alerts page for (critical), Warn what they open a ticket for or what
// keeps an asset from production trust.
type State string

// The verdicts a cell can show.
const (
	OK      State = "ok"
	Warn    State = "warn"
	Bad     State = "bad"
	Unknown State = "unknown"
)

// Cell is one table cell.
type Cell struct {
	Text  string
	State State
	Title string
}

// Table is one section's table.
type Table struct {
	Head []string
	Rows [][]Cell
	// Empty is shown instead of an empty table.
	Empty string
}

// Section is one part of the page.
type Section struct {
	ID, Title, Intro string
	Table            Table
}

// Page is the rendered model.
type Page struct {
	Now, Version, MetricsPath string
	Verdict                   Cell
	Summary                   []Cell
	Sections                  []Section
}

// Build turns the input into the page model.
func Build(in Input) *Page {
	ms := index(in.Families)
	p := &Page{Now: in.Now.UTC().Format("2006-01-02 15:04 MST"), Version: in.Version, MetricsPath: in.MetricsPath}
	p.Sections = []Section{
		assetsSection(in.Trust),
		drillsSection(ms, in.Now),
		databaseSection(ms, in.Now),
		volumeBackupSection(ms, in.Now),
		runnersSection(ms),
		findingsSection(ms),
		sopsSection(ms, in.Now),
		collectorsSection(ms),
	}
	bad, warn := 0, 0
	for _, s := range p.Sections {
		for _, r := range s.Table.Rows {
			for _, c := range r {
				switch c.State {
				case Bad:
					bad++
				case Warn:
					warn++
				}
			}
		}
	}
	trusted, assets := 0, 0
	if in.Trust != nil {
		for _, a := range in.Trust.Assets {
			assets++
			if a.ProductionTrusted {
				trusted++
			}
		}
	}
	switch {
	case bad > 0:
		p.Verdict = Cell{Text: fmt.Sprintf("No: %d problem(s) below need attention now.", bad), State: Bad}
	case assets > 0 && trusted < assets:
		p.Verdict = Cell{Text: fmt.Sprintf("For smoke, development and migration work: %d of %d assets are production-trusted; the gates below say what the others miss.", trusted, assets), State: Warn}
	case warn > 0:
		p.Verdict = Cell{Text: fmt.Sprintf("Yes, with %d warning(s) below.", warn), State: Warn}
	default:
		p.Verdict = Cell{Text: "Yes: every asset is production-trusted and nothing below needs attention.", State: OK}
	}
	st := OK
	if trusted < assets {
		st = Warn
	}
	p.Summary = []Cell{
		{Text: fmt.Sprintf("%d of %d assets production-trusted", trusted, assets), State: st},
		{Text: fmt.Sprintf("%d problem(s)", bad), State: stateIf(bad > 0, Bad, OK)},
		{Text: fmt.Sprintf("%d warning(s)", warn), State: stateIf(warn > 0, Warn, OK)},
	}
	return p
}

func stateIf(cond bool, yes, no State) State {
	if cond {
		return yes
	}
	return no
}

func assetsSection(rep *collectors.TrustReport) Section {
	s := Section{ID: "assets", Title: "Assets and production-trust gates",
		Intro: "Each asset of the contract's inventory and its seven gates: met or missing, and what decided (live signal, drill evidence or a documented config field)."}
	s.Table.Head = append([]string{"asset", "trusted"}, gateTitles()...)
	if rep == nil {
		s.Table.Empty = "The trust collector is disabled."
		return s
	}
	if len(rep.Assets) == 0 {
		s.Table.Empty = "No assets are configured (the assets section of the configuration)."
	}
	for _, a := range rep.Assets {
		row := []Cell{{Text: a.Name}}
		if a.ProductionTrusted {
			row = append(row, Cell{Text: "trusted", State: OK})
		} else {
			row = append(row, Cell{Text: "not trusted", State: Warn, Title: "usable for smoke, development and migration only"})
		}
		for _, g := range a.Gates {
			c := Cell{Text: "met", State: OK, Title: g.Source + ": " + g.From}
			if !g.OK {
				c.Text, c.State = "missing", Warn
			}
			c.Text += " (" + g.Source + ")"
			row = append(row, c)
		}
		s.Table.Rows = append(s.Table.Rows, row)
	}
	return s
}

func gateTitles() []string {
	out := make([]string, 0, 7)
	for _, g := range evidence.Gates() {
		out = append(out, strings.ReplaceAll(g, "_", " "))
	}
	return out
}

func drillsSection(ms metrics, now time.Time) Section {
	s := Section{ID: "drills", Title: "Restore drills",
		Intro: "Each drill kind: the last passing drill, its age against the kind's maximum age, and when the next one is due."}
	s.Table.Head = []string{"drill", "last passing drill", "age", "max age", "due", "newest result"}
	recorded := ms.by("forge_restore_drill_recorded", "drill")
	if len(recorded) == 0 {
		s.Table.Empty = "No drill kinds are configured (evidence.drills), or the drills collector is disabled."
	}
	success := ms.by("forge_restore_drill_last_success_timestamp_seconds", "drill")
	maxAge := ms.by("forge_restore_drill_max_age_seconds", "drill")
	result := ms.by("forge_restore_drill_last_result", "drill")
	for _, kind := range sortedKeys(recorded) {
		row := []Cell{{Text: kind}}
		ts, ok := success[kind]
		ma, hasMax := maxAge[kind]
		if !ok {
			row = append(row, Cell{Text: "never passed", State: Warn}, Cell{Text: "—"})
		} else {
			age := now.Sub(unix(ts))
			st := OK
			if hasMax && age.Seconds() > ma {
				st = Warn
			}
			row = append(row, Cell{Text: unix(ts).UTC().Format(time.DateOnly)}, Cell{Text: human(age), State: st})
		}
		if hasMax {
			row = append(row, Cell{Text: human(time.Duration(ma) * time.Second)})
			if ok {
				due := unix(ts).Add(time.Duration(ma) * time.Second)
				row = append(row, Cell{Text: due.UTC().Format(time.DateOnly), State: stateIf(due.Before(now), Warn, OK)})
			} else {
				row = append(row, Cell{Text: "now", State: Warn})
			}
		} else {
			row = append(row, Cell{Text: "—"}, Cell{Text: "—"})
		}
		switch r, ok := result[kind]; {
		case !ok:
			row = append(row, Cell{Text: "never recorded", State: Warn})
		case r == 1:
			row = append(row, Cell{Text: "passed", State: OK})
		default:
			row = append(row, Cell{Text: "failed", State: Warn})
		}
		s.Table.Rows = append(s.Table.Rows, row)
	}
	return s
}

func databaseSection(ms metrics, now time.Time) Section {
	s := Section{ID: "databases", Title: "Database backups (CNPG)",
		Intro: "Age of each cluster's newest completed Backup against the age it may reach: 2 × the shortest active ScheduledBackup interval + 1h, or 26h without an active schedule (as ForgeDatabaseBackupStale)."}
	s.Table.Head = []string{"cluster", "newest backup", "age", "allowed age", "ScheduledBackups", "WAL archiving"}
	clusters := ms.by("forge_cnpg_scheduled_backups", "namespace", "cluster")
	for k := range ms.by("forge_cnpg_backup_last_success_timestamp_seconds", "namespace", "cluster") {
		if _, ok := clusters[k]; !ok {
			clusters[k] = 0
		}
	}
	if len(clusters) == 0 {
		s.Table.Empty = "No CNPG clusters are seen (the cnpg collector is disabled, or no Cluster exists)."
	}
	last := ms.by("forge_cnpg_backup_last_success_timestamp_seconds", "namespace", "cluster")
	archiving := ms.by("forge_cnpg_continuous_archiving", "namespace", "cluster")
	// Shortest interval among unsuspended ScheduledBackups, per cluster.
	interval := map[string]float64{}
	suspended := ms.by("forge_cnpg_scheduled_backup_suspended", "namespace", "cluster", "scheduledbackup")
	for _, m := range ms["forge_cnpg_scheduled_backup_interval_seconds"] {
		k := label(m, "namespace") + "/" + label(m, "cluster")
		if suspended[k+"/"+label(m, "scheduledbackup")] == 1 {
			continue
		}
		if v, ok := interval[k]; !ok || value(m) < v {
			interval[k] = value(m)
		}
	}
	for _, k := range sortedKeys(clusters) {
		allowed := 93600.0
		if iv, ok := interval[k]; ok {
			allowed = 2*iv + 3600
		}
		row := []Cell{{Text: k}}
		if ts, ok := last[k]; ok {
			age := now.Sub(unix(ts))
			row = append(row, Cell{Text: unix(ts).UTC().Format("2006-01-02 15:04")}, Cell{Text: human(age), State: stateIf(age.Seconds() > allowed, Bad, OK)})
		} else {
			row = append(row, Cell{Text: "none completed", State: Bad}, Cell{Text: "—"})
		}
		row = append(row, Cell{Text: human(time.Duration(allowed) * time.Second)})
		row = append(row, Cell{Text: fmt.Sprintf("%.0f", clusters[k]), State: stateIf(clusters[k] == 0, Warn, OK)})
		switch a, ok := archiving[k]; {
		case !ok:
			row = append(row, Cell{Text: "unknown", State: Unknown})
		case a == 1:
			row = append(row, Cell{Text: "ok", State: OK})
		default:
			row = append(row, Cell{Text: "failing", State: Bad})
		}
		s.Table.Rows = append(s.Table.Rows, row)
	}
	return s
}

func volumeBackupSection(ms metrics, now time.Time) Section {
	s := Section{ID: "volume-backups", Title: "Volume backup coverage",
		Intro: "Each protected PVC: whether an active mechanism (a linked CronJob, ready VolumeSnapshots) backs it up, and its newest success."}
	s.Table.Head = []string{"PVC", "covered", "mechanisms", "newest success"}
	configured := ms.by("forge_volume_backup_configured", "namespace", "persistentvolumeclaim")
	if len(configured) == 0 {
		s.Table.Empty = "No protected PVCs are seen (the volumebackup collector is disabled, or none is configured)."
	}
	mechs := map[string][]string{}
	for _, m := range ms["forge_volume_backup_mechanisms"] {
		if value(m) > 0 {
			k := label(m, "namespace") + "/" + label(m, "persistentvolumeclaim")
			mechs[k] = append(mechs[k], fmt.Sprintf("%s × %.0f", label(m, "mechanism"), value(m)))
		}
	}
	newest := map[string]float64{}
	for _, m := range ms["forge_volume_backup_last_success_timestamp_seconds"] {
		k := label(m, "namespace") + "/" + label(m, "persistentvolumeclaim")
		newest[k] = math.Max(newest[k], value(m))
	}
	for _, k := range sortedKeys(configured) {
		row := []Cell{{Text: k}}
		if configured[k] == 1 {
			row = append(row, Cell{Text: "yes", State: OK})
		} else {
			row = append(row, Cell{Text: "no", State: Warn})
		}
		sort.Strings(mechs[k])
		row = append(row, Cell{Text: orDash(strings.Join(mechs[k], ", "))})
		if ts, ok := newest[k]; ok && ts > 0 {
			row = append(row, Cell{Text: human(now.Sub(unix(ts))) + " ago"})
		} else {
			row = append(row, Cell{Text: "never", State: Warn})
		}
		s.Table.Rows = append(s.Table.Rows, row)
	}
	return s
}

func runnersSection(ms metrics) Section {
	s := Section{ID: "runners", Title: "Runner label coverage",
		Intro: "Each label of the runner label contract: online runners carrying it against the number required."}
	s.Table.Head = []string{"label", "purpose", "online", "required"}
	required := ms.by("forge_gitea_runner_label_required_runners", "label")
	if len(required) == 0 {
		s.Table.Empty = "No runner label contract is configured, or the runners collector is disabled."
	}
	online := ms.by("forge_gitea_runner_label_online_runners", "label")
	purpose := map[string]string{}
	for _, m := range ms["forge_gitea_runner_label_contract_info"] {
		purpose[label(m, "label")] = label(m, "purpose")
	}
	for _, l := range sortedKeys(required) {
		s.Table.Rows = append(s.Table.Rows, []Cell{
			{Text: l}, {Text: orDash(purpose[l])},
			{Text: fmt.Sprintf("%.0f", online[l]), State: stateIf(online[l] < required[l], Bad, OK)},
			{Text: fmt.Sprintf("%.0f", required[l])},
		})
	}
	return s
}

func findingsSection(ms metrics) Section {
	s := Section{ID: "evidence", Title: "Evidence records and secret findings",
		Intro: "Records per evidence source and suspected secret material found in them, as counts by detector (never the values)."}
	s.Table.Head = []string{"source", "read", "valid", "invalid", "secret findings"}
	up := ms.by("forge_evidence_source_up", "source")
	if len(up) == 0 {
		s.Table.Empty = "No evidence sources are configured, or the drills collector is disabled."
	}
	records := ms.by("forge_evidence_records", "source", "validity")
	findings := map[string][]string{}
	for _, m := range ms["forge_evidence_secret_findings"] {
		if value(m) > 0 {
			findings[label(m, "source")] = append(findings[label(m, "source")], fmt.Sprintf("%s × %.0f", label(m, "detector"), value(m)))
		}
	}
	for _, src := range sortedKeys(up) {
		f := findings[src]
		sort.Strings(f)
		s.Table.Rows = append(s.Table.Rows, []Cell{
			{Text: src},
			{Text: map[bool]string{true: "yes", false: "no"}[up[src] == 1], State: stateIf(up[src] == 1, OK, Warn)},
			{Text: fmt.Sprintf("%.0f", records[src+"/valid"])},
			{Text: fmt.Sprintf("%.0f", records[src+"/invalid"]), State: stateIf(records[src+"/invalid"] > 0, Warn, OK)},
			{Text: orNone(strings.Join(f, ", ")), State: stateIf(len(f) > 0, Bad, OK)},
		})
	}
	return s
}

func sopsSection(ms metrics, now time.Time) Section {
	s := Section{ID: "sops", Title: "SOPS-encrypted files",
		Intro: "The SOPS sentinel's verdict on each configured file: fully encrypted, no secret left in plaintext, the expected recipients (counts, never values)."}
	s.Table.Head = []string{"file", "verdict", "plaintext values", "secret findings", "recipient drift", "last modified"}
	passed := ms.by("forge_sops_file_check_passed", "file")
	if len(passed) == 0 {
		s.Table.Empty = "No SOPS files are configured (sops.files), or the sops collector is disabled."
	}
	readable := ms.by("forge_sops_file_readable", "file")
	plain := ms.by("forge_sops_file_plaintext_values", "file")
	drift := ms.by("forge_sops_file_recipient_drift", "file", "change")
	modified := ms.by("forge_sops_file_last_modified_timestamp_seconds", "file")
	findings := map[string]float64{}
	for _, m := range ms["forge_sops_file_secret_findings"] {
		findings[label(m, "file")] += value(m)
	}
	for _, f := range sortedKeys(passed) {
		row := []Cell{{Text: f}}
		switch {
		case passed[f] == 1:
			row = append(row, Cell{Text: "ok", State: OK})
		case readable[f] == 0:
			row = append(row, Cell{Text: "unreadable", State: Warn})
		default:
			row = append(row, Cell{Text: "failing", State: Warn})
		}
		row = append(row,
			Cell{Text: fmt.Sprintf("%.0f", plain[f]), State: stateIf(plain[f] > 0, Bad, OK)},
			Cell{Text: fmt.Sprintf("%.0f", findings[f]), State: stateIf(findings[f] > 0, Bad, OK)},
		)
		d := drift[f+"/missing"] + drift[f+"/unexpected"]
		row = append(row, Cell{Text: fmt.Sprintf("%.0f missing, %.0f unexpected", drift[f+"/missing"], drift[f+"/unexpected"]), State: stateIf(d > 0, Warn, OK)})
		if ts, ok := modified[f]; ok {
			row = append(row, Cell{Text: unix(ts).UTC().Format(time.DateOnly) + " (" + human(now.Sub(unix(ts))) + " ago)"})
		} else {
			row = append(row, Cell{Text: "—"})
		}
		s.Table.Rows = append(s.Table.Rows, row)
	}
	return s
}

func collectorsSection(ms metrics) Section {
	s := Section{ID: "collectors", Title: "Collectors",
		Intro: "Each collector's last scrape (the one that rendered this page); disabled collectors are listed as such."}
	s.Table.Head = []string{"collector", "state", "duration"}
	enabled := ms.by("forge_exporter_collector_enabled", "collector")
	success := ms.by("forge_exporter_collector_success", "collector")
	dur := ms.by("forge_exporter_collector_duration_seconds", "collector")
	for _, c := range sortedKeys(enabled) {
		row := []Cell{{Text: c}}
		switch {
		case enabled[c] != 1:
			row = append(row, Cell{Text: "disabled", State: Unknown}, Cell{Text: "—"})
		case success[c] == 1:
			row = append(row, Cell{Text: "ok", State: OK}, Cell{Text: fmt.Sprintf("%.3f s", dur[c])})
		default:
			row = append(row, Cell{Text: "failing", State: Warn, Title: "see the exporter's log"}, Cell{Text: fmt.Sprintf("%.3f s", dur[c])})
		}
		s.Table.Rows = append(s.Table.Rows, row)
	}
	return s
}

func sortedKeys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func unix(s float64) time.Time { return time.Unix(0, int64(s*1e9)) }

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// human prints a duration in the largest sensible unit.
func human(d time.Duration) string {
	if d < 0 {
		return "in the future"
	}
	switch {
	case d >= 48*time.Hour:
		days, hours := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
		if hours > 0 && days < 10 {
			return fmt.Sprintf("%dd %dh", days, hours)
		}
		return fmt.Sprintf("%dd", days)
	case d >= 2*time.Hour:
		return fmt.Sprintf("%.0fh", d.Hours())
	case d >= 2*time.Minute:
		return fmt.Sprintf("%.0fm", d.Minutes())
	default:
		return fmt.Sprintf("%.0fs", d.Seconds())
	}
}

var page = template.Must(template.New("status").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Forge data status</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:1rem;color:#1b1f24;background:#f6f8fa;line-height:1.4}
main{max-width:72rem;margin:0 auto}
h1{font-size:1.4rem;margin:0 0 .25rem}h2{font-size:1.1rem;margin:1.5rem 0 .25rem}
p{margin:.25rem 0 .5rem}.meta{color:#57606a;font-size:.85rem}
.verdict{padding:.75rem 1rem;border-radius:.4rem;font-weight:600;margin:.75rem 0}
.summary{display:flex;flex-wrap:wrap;gap:.5rem;margin:.5rem 0}.summary span{padding:.25rem .6rem;border-radius:1rem;font-size:.9rem}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;background:#fff;border:1px solid #d0d7de;border-radius:.4rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{padding:.4rem .6rem;text-align:left;border-bottom:1px solid #eaeef2;white-space:nowrap}
th{background:#f6f8fa;font-weight:600}tr:last-child td{border-bottom:0}
.ok{background:#dafbe1;color:#116329}.warn{background:#fff8c5;color:#6b4b00}.bad{background:#ffebe9;color:#a40e26}.unknown{background:#eaeef2;color:#57606a}
.empty{padding:.6rem;color:#57606a;background:#fff;border:1px dashed #d0d7de;border-radius:.4rem}
nav a{margin-right:.75rem}
</style>
</head>
<body><main>
<h1>Is the forge's data safe to rely on today?</h1>
<p class="meta">forge-exporter {{.Version}} · rendered {{.Now}} from the same state as <a href="{{.MetricsPath}}">the metrics</a> · <a href="/api/v1/trust">trust gates as JSON</a> · <a href="/">exporter</a></p>
<div class="verdict {{.Verdict.State}}" id="verdict">{{.Verdict.Text}}</div>
<div class="summary">{{range .Summary}}<span class="{{.State}}">{{.Text}}</span>{{end}}</div>
<nav>{{range .Sections}}<a href="#{{.ID}}">{{.Title}}</a>{{end}}</nav>
{{range .Sections}}
<section id="{{.ID}}">
<h2>{{.Title}}</h2>
<p>{{.Intro}}</p>
{{if .Table.Rows}}<div class="scroll"><table>
<thead><tr>{{range .Table.Head}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>{{range .Table.Rows}}<tr>{{range .}}<td{{if .State}} class="{{.State}}"{{end}}{{if .Title}} title="{{.Title}}"{{end}}>{{.Text}}</td>{{end}}</tr>
{{end}}</tbody>
</table></div>{{else}}<div class="empty">{{.Table.Empty}}</div>{{end}}
</section>
{{end}}
</main></body>
</html>
`))

// Render writes the page.
func Render(p *Page) ([]byte, error) {
	var b bytes.Buffer
	if err := page.Execute(&b, p); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
