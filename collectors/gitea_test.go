package collectors

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/testenv/giteafake"
)

// fakeToken is the token every fake scenario uses; TestGiteaFakeScenarios
// greps all their outputs for it.
const fakeToken = "forge-collectors-token-5e0b9a21c4"

func intp(i int) *int { return &i }

func fakeConfig(t *testing.T, url string) config.Gitea {
	return config.Gitea{
		URL:                 url,
		TokenFile:           giteafake.WriteToken(t, t.TempDir(), fakeToken),
		Timeout:             config.Duration(500 * time.Millisecond),
		RequestsPerSecond:   1000,
		Interval:            config.Duration(time.Hour), // tests trigger sweeps
		PackageFilesRecheck: config.Duration(24 * time.Hour),
		LabelContract: []config.RunnerLabel{
			{Label: "ubuntu-latest", Purpose: "general CI jobs", MinOnlineRunners: intp(2)},
			{Label: "linux-arm64", Purpose: "arm64 builds"},
			{Label: "gpu", Purpose: "optional GPU jobs", MinOnlineRunners: intp(0)},
		},
	}
}

// TestRunnersAgainstTheLabelContract checks the runner metrics for a mix
// of online, busy, disabled, offline and re-registered runners, against a
// golden exposition produced by this test (-update).
func TestRunnersAgainstTheLabelContract(t *testing.T) {
	f := giteafake.New(t, fakeToken)
	f.MaxItems = 2
	f.Runners = []giteafake.Runner{
		{ID: 1, Name: "runner-a", Online: false, Labels: []string{"ubuntu-latest"}}, // stale registration
		{ID: 7, Name: "runner-a", Online: true, Labels: []string{"ubuntu-latest", "linux-amd64"}},
		{ID: 2, Name: "runner-b", Online: true, Busy: true, Labels: []string{"ubuntu-latest"}},
		{ID: 3, Name: "runner-c", Online: false, Labels: []string{"linux-arm64"}},
		{ID: 4, Name: "runner-d", Online: true, Disabled: true, Labels: []string{"ubuntu-latest", "experimental"}},
	}
	e := startGitea(t, fakeConfig(t, f.URL), "gitea", "runners")
	e.trigger("gitea", "runners") // the version probe runs beside the sweep
	// A scrape reads the last sweep and never calls Gitea.
	requests := f.Requests()
	for range 3 {
		e.scrape()
	}
	if f.Requests() != requests {
		t.Errorf("scrapes made %d requests to Gitea, want 0", f.Requests()-requests)
	}
	out, v := e.scrape()
	for series, want := range map[string]float64{
		`forge_exporter_collector_success{collector="runners"}`:                1,
		`forge_gitea_runner_label_online_runners{label="linux-arm64"}`:         0, // required, nobody online
		`forge_gitea_runner_label_required_runners{label="linux-arm64"}`:       1,
		`forge_gitea_runner_label_online_runners{label="ubuntu-latest"}`:       2, // a and b; d is disabled
		`forge_gitea_runner_label_online_runners{label="gpu"}`:                 0,
		`forge_gitea_runner_unknown_label_online_runners`:                      2, // a (linux-amd64), d (experimental)
		`forge_gitea_runner_online{runner="runner-a"}`:                         1,
		`forge_gitea_runner_registrations{runner="runner-a"}`:                  2,
		`forge_gitea_runner_busy{runner="runner-b"}`:                           1,
		`forge_gitea_runner_disabled{runner="runner-d"}`:                       1,
		`forge_gitea_runner_label_info{label="linux-amd64",runner="runner-a"}`: 1,
		`forge_gitea_runner_api_supported`:                                     1,
	} {
		if got, ok := v[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	// The golden file comes from this test's own run (-update); golden
	// also lints the exposition.
	golden(t, asCollector{c: e.collector("runners"), t: t}, "testdata/runners/want.prom",
		"forge_gitea_runner_api_supported", "forge_gitea_runner_busy", "forge_gitea_runner_disabled",
		"forge_gitea_runner_label_contract_info", "forge_gitea_runner_label_info", "forge_gitea_runner_label_online_runners",
		"forge_gitea_runner_label_required_runners", "forge_gitea_runner_online", "forge_gitea_runner_registrations",
		"forge_gitea_runner_unknown_label_online_runners")
	if !strings.Contains(out, "forge_gitea_runner_online") {
		t.Error("no runner metrics in the exposition")
	}
	e.assertNoSecret(fakeToken)
}

func TestGiteaDownAtStartAndBack(t *testing.T) {
	f := giteafake.New(t, fakeToken)
	var down atomic.Bool
	down.Store(true)
	f.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if down.Load() {
			w.WriteHeader(503)
			fmt.Fprint(w, "upstream unavailable")
		}
		return down.Load()
	}
	f.Runners = []giteafake.Runner{{ID: 1, Name: "r", Online: true, Labels: []string{"ubuntu-latest"}}}
	e := startGitea(t, fakeConfig(t, f.URL), "gitea", "runners", "registry")
	e.trigger("gitea", "runners", "registry")
	_, v := e.scrape()
	for series, want := range map[string]float64{
		`forge_gitea_up`: 0,
		`forge_exporter_collector_success{collector="gitea"}`:    1, // up 0 is a complete answer
		`forge_exporter_collector_success{collector="runners"}`:  0,
		`forge_exporter_collector_success{collector="registry"}`: 0,
		// The contract is configuration and is reported while Gitea is down.
		`forge_gitea_runner_label_required_runners{label="ubuntu-latest"}`: 2,
	} {
		if got, ok := v[series]; !ok || got != want {
			t.Errorf("while down: %s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if _, ok := v[`forge_gitea_runner_label_online_runners{label="ubuntu-latest"}`]; ok {
		t.Error("online runners reported although Gitea never answered")
	}
	// One error line per sampler, not one per run.
	e.trigger("gitea", "runners")
	if n := strings.Count(e.logs.String(), "sampler failed"); n != 3 {
		t.Errorf("%d 'sampler failed' log lines, want 3 (one per sampler):\n%s", n, e.logs.String())
	}

	f.Mu.Lock()
	f.Packages["forgeadmin"] = []giteafake.Package{{ID: 1, Type: "generic", Name: "x", Version: "1", Sizes: []int64{10}}}
	f.Users = []string{"forgeadmin"}
	f.Mu.Unlock()
	down.Store(false)
	e.trigger("gitea", "runners", "registry")
	_, v = e.scrape()
	for series, want := range map[string]float64{
		`forge_gitea_up`:                                                     1,
		`forge_gitea_info{version="1.26.4"}`:                                 1,
		`forge_exporter_collector_success{collector="runners"}`:              1,
		`forge_exporter_collector_success{collector="registry"}`:             1,
		`forge_gitea_runner_label_online_runners{label="ubuntu-latest"}`:     1,
		`forge_gitea_package_files_bytes{owner="forgeadmin",type="generic"}`: 10,
	} {
		if got, ok := v[series]; !ok || got != want {
			t.Errorf("after recovery: %s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if v[`forge_gitea_api_requests_total{code="503",endpoint="/api/v1/version"}`] < 1 {
		t.Error("the failed version probes were not counted")
	}
	e.assertNoSecret(fakeToken)
}

func TestGiteaUnreachableAtStart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	e := startGitea(t, fakeConfig(t, url), "gitea", "runners")
	e.trigger("gitea", "runners")
	_, v := e.scrape()
	if v["forge_gitea_up"] != 0 || v[`forge_exporter_collector_success{collector="runners"}`] != 0 {
		t.Errorf("up %v, runners success %v; want 0 and 0", v["forge_gitea_up"], v[`forge_exporter_collector_success{collector="runners"}`])
	}
	if !strings.Contains(e.logs.String(), "connection refused") {
		t.Errorf("the log does not say what failed:\n%s", e.logs.String())
	}
}

func TestRunnersOnAGiteaTooOld(t *testing.T) {
	f := giteafake.New(t, fakeToken)
	f.Version = "1.23.8"
	e := startGitea(t, fakeConfig(t, f.URL), "gitea", "runners")
	e.trigger("gitea", "runners")
	e.trigger("runners")
	_, v := e.scrape()
	if v["forge_gitea_runner_api_supported"] != 0 || v[`forge_exporter_collector_success{collector="runners"}`] != 0 || v["forge_gitea_up"] != 1 {
		t.Errorf("api_supported %v, runners success %v, up %v; want 0, 0, 1", v["forge_gitea_runner_api_supported"],
			v[`forge_exporter_collector_success{collector="runners"}`], v["forge_gitea_up"])
	}
	if n := strings.Count(e.logs.String(), "too old for the admin runner list"); n != 1 {
		t.Errorf("%d warnings about the old version after two sweeps, want 1:\n%s", n, e.logs.String())
	}
	if f.Count("/api/v1/admin/actions/runners") != 0 {
		t.Error("the runner list was requested from Gitea 1.23")
	}
}

func TestGiteaCollectorsNeedAURL(t *testing.T) {
	for _, name := range []string{"gitea", "runners", "registry"} {
		_, err := Build(Specs(), &config.Config{Collectors: map[string]bool{name: true}}, quietLogger(), nil)
		if err == nil || !strings.Contains(err.Error(), "gitea.url is not set") || !strings.Contains(err.Error(), "collector "+name) {
			t.Errorf("%s without gitea.url: %v", name, err)
		}
	}
}

// TestTokenNeverLeaksFromFakeScenarios runs the error scenarios end to end
// (sampler logs, scrape errors, exposition) with a server that echoes the
// Authorization header into every error answer.
func TestTokenNeverLeaksFromFakeScenarios(t *testing.T) {
	for _, code := range []int{401, 403, 404, 500, 502} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			f := giteafake.New(t, fakeToken)
			f.Hook = func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path == "/api/v1/version" || r.URL.Path == "/api/v1/settings/api" {
					return false
				}
				w.WriteHeader(code)
				fmt.Fprintf(w, `{"message": "rejected %s for %s"}`, r.Header.Get("Authorization"), r.URL)
				return true
			}
			e := startGitea(t, fakeConfig(t, f.URL), "gitea", "runners", "registry")
			e.trigger("gitea", "runners", "registry")
			out, v := e.scrape()
			if v[`forge_exporter_collector_success{collector="runners"}`] != 0 {
				t.Errorf("runners success = 1 against HTTP %d", code)
			}
			if !strings.Contains(e.logs.String(), fmt.Sprintf("HTTP %d", code)) {
				t.Errorf("the log does not name the status:\n%s", e.logs.String())
			}
			if !strings.Contains(e.logs.String(), "<redacted>") && code != 401 && code != 403 {
				t.Errorf("the echoed token was not visibly redacted:\n%s", e.logs.String())
			}
			if strings.Contains(out, fakeToken) {
				t.Error("token in the exposition")
			}
			e.assertNoSecret(fakeToken)
		})
	}
}
