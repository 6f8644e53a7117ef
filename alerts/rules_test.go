package alerts

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const (
	rulesFile = "forge-exporter.rules.yaml"
	// runbookBase is where runbook_url points: docs/runbooks/ on the main
	// branch of this repository.
	runbookBase = "https://github.com/railiance/forge-exporter/blob/main/docs/runbooks/"
)

// ruleFile is the part of the Prometheus rule file format the tests read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return rf
}

// promtool returns the path of the real promtool. It is a hard requirement:
// .ci/run installs Debian's prometheus package.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install the Debian prometheus package (.ci/run does)")
	}
	return p
}

func TestPromtoolCheckRules(t *testing.T) {
	out, err := exec.Command(promtool(t), "check", "rules", rulesFile).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool check rules did not report success:\n%s", out)
	}
}

func TestPromtoolTestRules(t *testing.T) {
	t.Parallel() // the slowest test here besides the end-to-end one
	files, err := filepath.Glob("tests/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no promtool test files in tests/ (%v)", err)
	}
	out, err := exec.Command(promtool(t), append([]string{"test", "rules"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "SUCCESS"); n != len(files) {
		t.Fatalf("promtool test rules: %d of %d files succeeded:\n%s", n, len(files), out)
	}
}

// testFile is the part of promtool's unit test format the coverage check reads.
type testFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestEveryAlertIsTested checks that each alert has at least one promtool
// case where it fires, asserting its labels and every annotation, and one
// where it does not fire; and that each severity of an alert with several
// rules fires in some case.
func TestEveryAlertIsTested(t *testing.T) {
	rf := loadRules(t)
	type variant struct{ severity string }
	alerts := map[string]map[variant]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if alerts[r.Alert] == nil {
				alerts[r.Alert] = map[variant]bool{}
			}
			alerts[r.Alert][variant{severity: r.Labels["severity"]}] = false
		}
	}
	fires := map[string]map[variant]bool{}
	silent := map[string]bool{}
	files, _ := filepath.Glob("tests/*.yaml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tf testFile
		if err := yaml.Unmarshal(b, &tf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(tf.RuleFiles) != 1 || tf.RuleFiles[0] != "../"+rulesFile {
			t.Errorf("%s: rule_files must be exactly [../%s], got %v", f, rulesFile, tf.RuleFiles)
		}
		for _, tc := range tf.Tests {
			for _, at := range tc.AlertRuleTest {
				if _, ok := alerts[at.Alertname]; !ok {
					t.Errorf("%s: tests unknown alert %q", f, at.Alertname)
					continue
				}
				if len(at.ExpAlerts) == 0 {
					silent[at.Alertname] = true
				}
				for _, ea := range at.ExpAlerts {
					for _, a := range []string{"summary", "description", "runbook_url"} {
						if ea.ExpAnnotations[a] == "" {
							t.Errorf("%s: a firing case of %s does not assert the %s annotation", f, at.Alertname, a)
						}
					}
					for _, l := range []string{"severity", "layer"} {
						if ea.ExpLabels[l] == "" {
							t.Errorf("%s: a firing case of %s does not assert the %s label", f, at.Alertname, l)
						}
					}
					if fires[at.Alertname] == nil {
						fires[at.Alertname] = map[variant]bool{}
					}
					fires[at.Alertname][variant{severity: ea.ExpLabels["severity"]}] = true
				}
			}
		}
	}
	names := make([]string, 0, len(alerts))
	for n := range alerts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for v := range alerts[n] {
			if !fires[n][v] {
				t.Errorf("alert %s (severity %s) has no promtool case where it fires", n, v.severity)
			}
		}
		if !silent[n] {
			t.Errorf("alert %s has no promtool case where it must not fire", n)
		}
	}
}

// TestAlertsAreComplete checks every alert's labels and annotations and
// that its runbook exists with the sections an on-call reader needs.
func TestAlertsAreComplete(t *testing.T) {
	rf := loadRules(t)
	seen := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			switch r.Labels["severity"] {
			case "critical", "warning", "info":
			default:
				t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, r.Labels["severity"])
			}
			switch r.Labels["layer"] {
			case "forge", "platform", "cluster":
			default:
				t.Errorf("%s: layer %q, want forge, platform or cluster", r.Alert, r.Labels["layer"])
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			if !strings.Contains(r.Annotations["description"], "{{") {
				t.Errorf("%s: the description names no value or label", r.Alert)
			}
			if want := runbookBase + r.Alert + ".md"; r.Annotations["runbook_url"] != want {
				t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
			if seen[r.Alert] {
				continue
			}
			seen[r.Alert] = true
			checkRunbook(t, r.Alert)
		}
	}
	// No runbook without an alert.
	files, _ := filepath.Glob("../docs/runbooks/*.md")
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".md")
		if name != "README" && !seen[name] {
			t.Errorf("%s: no alert named %s", f, name)
		}
	}
}

// runbookSections are the headings every runbook has, in this order.
var runbookSections = []string{"## Meaning", "## Confirm", "## Act", "## Owner"}

// secretShapes are values that must never appear in a runbook example
// (the contract's forbidden list); placeholders like <token> are fine.
var secretShapes = regexp.MustCompile(`(?i)(password|passwd|secret|token|access[_-]?key)\s*[:=]\s*['"]?[A-Za-z0-9+/_\-]{8,}|postgres(ql)?://[^:\s]+:[^@\s]+@|-----BEGIN [A-Z ]*PRIVATE KEY-----|AGE-SECRET-KEY-1|\bAKIA[0-9A-Z]{16}\b|\bhvs\.[A-Za-z0-9_-]{20,}|\bey[A-Za-z0-9_-]{10,}\.ey[A-Za-z0-9_-]{10,}\.`)

func checkRunbook(t *testing.T, alert string) {
	t.Helper()
	path := filepath.Join("..", "docs", "runbooks", alert+".md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%s: no runbook: %v", alert, err)
		return
	}
	text := string(b)
	if !strings.HasPrefix(text, "# "+alert+"\n") {
		t.Errorf("%s: must start with the heading \"# %s\"", path, alert)
	}
	last := -1
	for _, s := range runbookSections {
		i := strings.Index(text, "\n"+s)
		if i < 0 {
			t.Errorf("%s: no %q section", path, s)
			continue
		}
		if i < last {
			t.Errorf("%s: section %q out of order (want %v)", path, s, runbookSections)
		}
		last = i
	}
	if i := strings.Index(text, "\n## Owner"); i >= 0 {
		owner := text[i:]
		if !strings.Contains(owner, "forge") && !strings.Contains(owner, "platform") && !strings.Contains(owner, "cluster") {
			t.Errorf("%s: the Owner section names no layer (forge, platform, cluster)", path)
		}
	}
	if m := secretShapes.FindString(text); m != "" {
		t.Errorf("%s: looks like secret material in an example (%d characters matched); use a placeholder", path, len(m))
	}
}

// TestAlertmanagerExampleConfig checks the example routing with the real
// amtool (the end-to-end test runs it in a real Alertmanager).
func TestAlertmanagerExampleConfig(t *testing.T) {
	amtool, err := exec.LookPath("amtool")
	if err != nil {
		t.Fatal("amtool not found: install the Debian prometheus-alertmanager package (.ci/run does)")
	}
	out, err := exec.Command(amtool, "check-config", "../docs/alertmanager.example.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
	// Each severity reaches the receiver the labels promise.
	for _, c := range []struct{ labels, want string }{
		{"severity=critical layer=platform alertname=ForgeDatabaseBackupStale", "platform-pager"},
		{"severity=critical layer=forge alertname=ForgeRunnerLabelUnserved", "forge-pager"},
		{"severity=warning layer=platform alertname=ForgeVolumeBackupMissing", "platform-ticket"},
		{"severity=warning layer=forge alertname=ForgeRunnerOffline", "forge-ticket"},
		{"severity=info layer=forge alertname=ForgeAssetNotProductionTrusted", "null"},
	} {
		args := append([]string{"config", "routes", "test", "--config.file=../docs/alertmanager.example.yml"}, strings.Fields(c.labels)...)
		out, err := exec.Command(amtool, args...).Output() // stderr has a warning about --alertmanager.url
		if err != nil {
			t.Fatalf("amtool %v: %v\n%s", args, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != c.want {
			t.Errorf("%s routes to %q, want %q", c.labels, got, c.want)
		}
	}
}
