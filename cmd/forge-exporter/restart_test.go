package main

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/railiance/forge-exporter/internal/testenv/giteafake"
)

// restartVolatileRE matches series whose value legitimately differs after a
// restart: points in time, durations, counters (Prometheus handles their
// reset), statfs of a live filesystem and the walker's cache size.
var restartVolatileRE = regexp.MustCompile(`_timestamp_seconds|_duration_seconds|_total\{|_total$|^forge_volume_|^forge_directory_cache_entries`)

// TestRestartRebuildsEveryMetric runs the binary on every non-Kubernetes
// source (files, evidence, a fake Gitea), stops it, starts a new process on
// the same sources and checks that every forge_ series of the first run is
// back with the same value (points in time, durations and counters only
// need to be present): nothing the exporter reports lives only in memory.
func TestRestartRebuildsEveryMetric(t *testing.T) {
	const token = "forge-restart-token-51d0"
	f := giteafake.New(t, token)
	f.Runners = []giteafake.Runner{{ID: 1, Name: "runner-a", Online: true, Busy: true, Labels: []string{"ubuntu-latest", "extra"}}}
	f.Users = []string{"forgeadmin"}
	f.Packages["forgeadmin"] = []giteafake.Package{{ID: 1, Type: "generic", Name: "tool", Version: "1.0", Sizes: []int64{42, 8}}}
	sc := newScenario(t, t.TempDir(), f.URL, token)
	want := []string{
		`forge_gitea_package_files_bytes{owner="forgeadmin",type="generic"} 50`,
		`forge_gitea_runner_label_online_runners{label="ubuntu-latest"} 1`,
		`forge_directory_files{directory="packages"}`,
		`forge_directory_files{directory="package-upload"}`,
		`forge_evidence_records{`,
	}
	run := func() map[string]string {
		p := startBinary(t, "--config.file="+sc.config)
		var body string
		waitFor(t, "every collector succeeds with every source sampled", func() bool {
			_, body = get(t, "http://"+p.addr+"/metrics")
			return allSucceed(body, want...)
		}, p.logs)
		p.stop(t)
		out := map[string]string{}
		for k, v := range series(body) {
			if strings.HasPrefix(k, "forge_") {
				out[k] = v
			}
		}
		return out
	}
	first := run()
	second := run()
	var missing, changed []string
	for k, v := range first {
		w, ok := second[k]
		switch {
		case !ok:
			missing = append(missing, k)
		case v != w && !restartVolatileRE.MatchString(k):
			changed = append(changed, k+": "+v+" -> "+w)
		}
	}
	sort.Strings(missing)
	sort.Strings(changed)
	if len(missing) > 0 {
		t.Errorf("series lost by a restart:\n%s", strings.Join(missing, "\n"))
	}
	if len(changed) > 0 {
		t.Errorf("series changed by a restart:\n%s", strings.Join(changed, "\n"))
	}
	if len(first) < 50 {
		t.Errorf("only %d forge_ series: the scenario does not exercise the collectors", len(first))
	}
	t.Logf("%d forge_ series rebuilt after the restart", len(first))
}
