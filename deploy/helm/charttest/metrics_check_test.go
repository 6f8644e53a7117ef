package charttest

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const fixtureBackupStopped = "2026-11-30T02:10:00Z"

// fixtureSeries appear once every informer holds the fixtures.
var fixtureSeries = []string{"forge_pvc_info", "forge_cnpg_backup_last_success_timestamp_seconds",
	"forge_cnpg_scheduled_backups", "forge_volume_backup_configured"}

// checkFixtureMetrics asserts what the collectors must report about the
// fixtures when their reads are allowed.
func checkFixtureMetrics(t *testing.T, metrics string) {
	t.Helper()
	stopped, _ := time.Parse(time.RFC3339, fixtureBackupStopped)
	for _, w := range []struct {
		metric string
		labels []string
		value  float64
	}{
		{"forge_pvc_requested_bytes", []string{`persistentvolumeclaim="gitea-shared-storage"`, `namespace="default"`}, 10 << 30},
		{"forge_pvc_capacity_bytes", []string{`persistentvolumeclaim="gitea-shared-storage"`}, 10 << 30},
		{"forge_pvc_info", []string{`persistentvolumeclaim="gitea-shared-storage"`, `node="node-1"`, `local="true"`}, 1},
		{"forge_cnpg_backup_last_success_timestamp_seconds", []string{`cluster="gitea-db"`, `namespace="databases"`}, float64(stopped.Unix())},
		{"forge_cnpg_scheduled_backups", []string{`cluster="gitea-db"`}, 1},
		{"forge_volume_backup_configured", []string{`persistentvolumeclaim="gitea-shared-storage"`}, 1},
	} {
		v, ok := metricValue(metrics, w.metric, w.labels...)
		if !ok {
			t.Errorf("%s{%s} missing:\n%s", w.metric, strings.Join(w.labels, ","), grepMetrics(metrics, w.metric))
		} else if v != w.value {
			t.Errorf("%s{%s} = %v, want %v", w.metric, strings.Join(w.labels, ","), v, w.value)
		}
	}
	if regexp.MustCompile(`forge_exporter_kube_list_watch_errors_total\{[^}]*\} [1-9]`).MatchString(metrics) {
		t.Errorf("list/watch errors with the chart's RBAC:\n%s", grepMetrics(metrics, "forge_exporter_kube_list_watch_errors_total"))
	}
}

// metricValue finds the first sample of name carrying every label pair.
func metricValue(metrics, name string, labels ...string) (float64, bool) {
	for _, line := range strings.Split(metrics, "\n") {
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		all := true
		for _, l := range labels {
			if !strings.Contains(line, l) {
				all = false
			}
		}
		if all {
			v, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
			return v, err == nil
		}
	}
	return 0, false
}

func grepMetrics(metrics, prefix string) string {
	var out []string
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
