package charttest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/railiance/forge-exporter/collectors"
	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/testenv"
)

// durationPattern accepts what config.Duration (Prometheus's
// model.ParseDuration) accepts: units from y to ms in that order, or 0.
const durationPattern = `^(0|([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?)$`

var (
	durationType = reflect.TypeOf(config.Duration(0))
	unmarshaler  = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

// configSchema derives the JSON schema of the exporter's configuration file
// from the Go types the strict decoder fills, so the chart rejects exactly
// the keys the exporter rejects. Known collector names come from
// collectors.Specs().
func configSchema() map[string]any {
	s := typeSchema(reflect.TypeOf(config.Config{}))
	names := collectors.Names(collectors.Specs())
	if len(names) > 0 {
		sort.Strings(names)
		s["properties"].(map[string]any)["collectors"].(map[string]any)["propertyNames"] = map[string]any{"enum": names}
	}
	s["description"] = "The exporter's configuration file (generated from internal/config by `make chart-sync`; do not edit by hand)."
	return s
}

func typeSchema(t reflect.Type) map[string]any {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		return map[string]any{"type": "string", "minLength": 1, "pattern": durationPattern}
	case reflect.PointerTo(t).Implements(unmarshaler):
		// A type with its own decoder: its Go kind says nothing about the YAML.
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": typeSchema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": typeSchema(t.Elem())}
	case reflect.Struct:
		props := map[string]any{}
		addStructFields(t, props)
		return map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	}
	return map[string]any{}
}

func addStructFields(t reflect.Type, props map[string]any) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			addStructFields(ft, props)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml.v3's default
		}
		props[name] = typeSchema(f.Type)
	}
}

// TestConfigSchema keeps the "config" part of values.schema.json equal to the
// exporter's configuration types; -update (run by `make chart-sync`) rewrites it.
func TestConfigSchema(t *testing.T) {
	path := filepath.Join(chartDir(t), "values.schema.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	props := schema["properties"].(map[string]any)
	want := configSchema()
	if *update {
		props["config"] = want
		out, err := json.MarshalIndent(schema, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	gotJSON, _ := json.MarshalIndent(props["config"], "", "  ")
	wantJSON, _ := json.MarshalIndent(want, "", "  ")
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("values.schema.json's config schema is out of date with internal/config (run make chart-sync):\n%s",
			lineDiff(string(wantJSON), string(gotJSON)))
	}
}

// syncedSets are the repository directories copied into the chart by
// `make chart-sync` (Helm cannot read files outside the chart).
var syncedSets = []struct{ src, dst, glob string }{
	{"alerts", "files/alerts", "*.yaml"},
	{"dashboards", "files/dashboards", "*.json"},
}

func listFiles(t testing.TB, dir, glob string) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, glob))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

// TestChartSyncedFiles fails when the chart's copies of alerts/ and
// dashboards/ differ from the sources in either direction.
func TestChartSyncedFiles(t *testing.T) {
	for _, s := range syncedSets {
		src := listFiles(t, filepath.Join(testenv.MustRepoRoot(t), s.src), s.glob)
		dst := listFiles(t, filepath.Join(chartDir(t), s.dst), s.glob)
		if len(src) == 0 && len(dst) == 0 {
			t.Logf("%s/%s: nothing in the repository yet, and nothing in the chart: in sync", s.src, s.glob)
		}
		for name, b := range src {
			d, ok := dst[name]
			switch {
			case !ok:
				t.Errorf("%s/%s is not in the chart's %s (run make chart-sync)", s.src, name, s.dst)
			case !bytes.Equal(b, d):
				t.Errorf("the chart's %s/%s differs from %s/%s (run make chart-sync)", s.dst, name, s.src, name)
			}
		}
		for name := range dst {
			if _, ok := src[name]; !ok {
				t.Errorf("the chart's %s/%s has no source %s/%s (run make chart-sync)", s.dst, name, s.src, name)
			}
		}
	}
}

// TestSyncedFilesRendered checks what the golden files leave out: the
// PrometheusRule carries exactly the groups of alerts/*.yaml, and each
// dashboard ConfigMap carries its JSON byte for byte. Without synced files,
// enabling either fails with a message that says so.
func TestSyncedFilesRendered(t *testing.T) {
	rules := listFiles(t, filepath.Join(chartDir(t), "files/alerts"), "*.yaml")
	dashboards := listFiles(t, filepath.Join(chartDir(t), "files/dashboards"), "*.json")

	out, err := render(t, "", "--set", "prometheusRule.enabled=true")
	if len(rules) == 0 {
		if err == nil || !strings.Contains(err.Error(), "holds no alert rules") {
			t.Errorf("prometheusRule.enabled without synced rules: want a clear failure, got %v", err)
		}
	} else {
		if err != nil {
			t.Fatal(err)
		}
		var want []any
		names := make([]string, 0, len(rules))
		for n := range rules {
			names = append(names, n)
		}
		sort.Strings(names) // .Files.Glob iterates in name order
		for _, n := range names {
			var f struct {
				Groups []any `yaml:"groups"`
			}
			if err := yaml.Unmarshal(rules[n], &f); err != nil {
				t.Fatalf("files/alerts/%s: %v", n, err)
			}
			want = append(want, f.Groups...)
		}
		pr := find(manifests(t, out), "PrometheusRule", "")
		if pr == nil {
			t.Fatal("no PrometheusRule rendered")
		}
		got := pr["spec"].(map[string]any)["groups"]
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		if !bytes.Equal(gj, wj) {
			t.Errorf("PrometheusRule groups differ from files/alerts:\n%s", lineDiff(string(wj), string(gj)))
		}
	}

	out, err = render(t, "", "--set", "dashboards.enabled=true")
	if len(dashboards) == 0 {
		if err == nil || !strings.Contains(err.Error(), "holds no dashboards") {
			t.Errorf("dashboards.enabled without synced dashboards: want a clear failure, got %v", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, d := range manifests(t, out) {
		if d["kind"] != "ConfigMap" {
			continue
		}
		labels, _ := d["metadata"].(map[string]any)["labels"].(map[string]any)
		if labels["grafana_dashboard"] != "1" {
			continue
		}
		for k, v := range d["data"].(map[string]any) {
			seen++
			if want, ok := dashboards[k]; !ok || v.(string) != string(want) {
				t.Errorf("dashboard ConfigMap key %s does not equal files/dashboards/%s", k, k)
			}
		}
	}
	if seen != len(dashboards) {
		t.Errorf("rendered %d dashboards, the chart holds %d", seen, len(dashboards))
	}
}
