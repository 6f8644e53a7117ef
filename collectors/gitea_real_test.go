package collectors

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/testenv/giteaenv"
)

// TestRealGitea runs the gitea, runners and registry collectors against a
// real Gitea 1.26.4 with real runners (registered through the runner
// protocol) and real packages (uploaded through the package API), using a
// token with only the documented scopes.
func TestRealGitea(t *testing.T) {
	// Pages of 2 items, so every list the exporter reads spans pages.
	g := giteaenv.Start(t, giteaenv.Options{MaxResponseItems: 2})
	tok := g.CreateToken(t, "exporter", "read:admin", "read:package")
	tokFile := g.WriteTokenFile(t, tok)
	g.CreateOrg(t, "acme")
	g.CreateUser(t, "alice")

	// runner-c polls once at registration and never again: Gitea marks it
	// offline a minute later (RunnerOfflineTime is a constant, not a
	// setting), which the test checks last, so the wait overlaps the rest.
	a := g.RegisterRunner(t, "runner-a", "ubuntu-latest", "linux-amd64")
	b := g.RegisterRunner(t, "runner-b", "ubuntu-latest")
	g.RegisterRunner(t, "runner-c", "ubuntu-latest", "experimental")
	a.KeepOnline(t, 5*time.Second)
	b.KeepOnline(t, 5*time.Second)

	g.UploadGeneric(t, "acme", "tool", "1.0.0", "tool-linux.tar.gz", bytes.Repeat([]byte("l"), 1000))
	g.UploadGeneric(t, "acme", "tool", "1.0.0", "tool-darwin.tar.gz", bytes.Repeat([]byte("d"), 500))
	g.UploadGeneric(t, "acme", "other", "2.0", "other.bin", bytes.Repeat([]byte("o"), 10))
	g.UploadPyPI(t, "alice", "forge-demo", "0.1.0", bytes.Repeat([]byte("p"), 321))

	cfg := config.Gitea{
		URL:                 g.URL,
		TokenFile:           tokFile,
		Timeout:             config.Duration(10 * time.Second),
		RequestsPerSecond:   50,
		Interval:            config.Duration(time.Hour), // the test triggers sweeps
		PackageFilesRecheck: config.Duration(24 * time.Hour),
		LabelContract: []config.RunnerLabel{
			{Label: "ubuntu-latest", Purpose: "general CI jobs", MinOnlineRunners: intp(2)},
			{Label: "linux-amd64", Purpose: "amd64 builds"},
			{Label: "linux-arm64", Purpose: "arm64 builds"},
		},
	}
	e := startGitea(t, cfg, "gitea", "runners", "registry")
	e.trigger("gitea", "runners", "registry")
	_, v := e.scrape()
	for series, want := range map[string]float64{
		`forge_exporter_collector_success{collector="gitea"}`:    1,
		`forge_exporter_collector_success{collector="runners"}`:  1,
		`forge_exporter_collector_success{collector="registry"}`: 1,
		`forge_gitea_up`:                                                       1,
		`forge_gitea_info{version="1.26.4"}`:                                   1,
		`forge_gitea_runner_api_supported`:                                     1,
		`forge_gitea_runner_online{runner="runner-a"}`:                         1,
		`forge_gitea_runner_online{runner="runner-c"}`:                         1,
		`forge_gitea_runner_label_info{label="linux-amd64",runner="runner-a"}`: 1,
		`forge_gitea_runner_label_online_runners{label="ubuntu-latest"}`:       3,
		// A required label no online runner serves reads 0.
		`forge_gitea_runner_label_online_runners{label="linux-arm64"}`:   0,
		`forge_gitea_runner_label_required_runners{label="linux-arm64"}`: 1,
		`forge_gitea_runner_unknown_label_online_runners`:                1, // runner-c: experimental
		`forge_gitea_packages{owner="acme",type="generic"}`:              2,
		`forge_gitea_package_versions{owner="acme",type="generic"}`:      2,
		`forge_gitea_package_files_bytes{owner="acme",type="generic"}`:   1510,
		`forge_gitea_packages{owner="alice",type="pypi"}`:                1,
		`forge_gitea_package_files_bytes{owner="alice",type="pypi"}`:     321,
	} {
		if got, ok := v[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if t.Failed() {
		out, _ := e.scrape()
		t.Fatalf("exposition:\n%s\nlogs:\n%s", out, e.logs.String())
	}
	// Three runners and three owners with pages of 2: more than one page each.
	if v[`forge_gitea_api_requests_total{code="200",endpoint="/api/v1/admin/actions/runners"}`] < 2 {
		t.Errorf("the runner list was not paginated")
	}

	t.Run("new version shows after the next sweep, listing only its files", func(t *testing.T) {
		filesSeries := `forge_gitea_api_requests_total{code="200",endpoint="/api/v1/packages/{owner}/{type}/{name}/{version}/files"}`
		before := e.value(filesSeries)
		g.UploadGeneric(t, "acme", "tool", "1.1.0", "tool-linux.tar.gz", bytes.Repeat([]byte("n"), 700))
		e.trigger("registry")
		_, v := e.scrape()
		if got := v[`forge_gitea_package_versions{owner="acme",type="generic"}`]; got != 3 {
			t.Errorf("versions = %v, want 3", got)
		}
		if got := v[`forge_gitea_package_files_bytes{owner="acme",type="generic"}`]; got != 2210 {
			t.Errorf("bytes = %v, want 2210", got)
		}
		if got := v[filesSeries] - before; got != 1 {
			t.Errorf("the sweep listed files of %v versions, want only the new one", got)
		}
	})

	t.Run("a runner declaring a required label serves it", func(t *testing.T) {
		if err := a.Declare(context.Background(), "ubuntu-latest", "linux-amd64", "linux-arm64"); err != nil {
			t.Fatal(err)
		}
		e.waitValue(`forge_gitea_runner_label_online_runners{label="linux-arm64"}`, 1, 30*time.Second, "runners")
	})

	t.Run("a busy runner", func(t *testing.T) {
		// Gitea reports a runner busy for 10 s after its last task update;
		// keep updating while waiting.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			for ctx.Err() == nil {
				b.MarkBusy(ctx)
				time.Sleep(2 * time.Second)
			}
		}()
		e.waitValue(`forge_gitea_runner_busy{runner="runner-b"}`, 1, 30*time.Second, "runners")
	})

	t.Run("token rotation without restart", func(t *testing.T) {
		newTok := g.CreateToken(t, "exporter-rotated", "read:admin", "read:package")
		if err := os.WriteFile(tokFile, []byte(newTok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		g.DeleteToken(t, "exporter")
		e.trigger("runners", "registry")
		_, v := e.scrape()
		if v[`forge_exporter_collector_success{collector="runners"}`] != 1 || v[`forge_exporter_collector_success{collector="registry"}`] != 1 {
			t.Errorf("after rotating the token: runners %v, registry %v; want success 1\n%s",
				v[`forge_exporter_collector_success{collector="runners"}`], v[`forge_exporter_collector_success{collector="registry"}`], e.logs.String())
		}
		if !strings.Contains(e.logs.String(), "token file changed") {
			t.Error("the rotation was not logged")
		}
		e.assertNoSecret(newTok)
	})

	t.Run("a runner going offline drops the count", func(t *testing.T) {
		e.waitValue(`forge_gitea_runner_online{runner="runner-c"}`, 0, 3*time.Minute, "runners")
		_, v := e.scrape()
		if got := v[`forge_gitea_runner_label_online_runners{label="ubuntu-latest"}`]; got != 2 {
			t.Errorf("ubuntu-latest online runners = %v, want 2", got)
		}
		if got := v[`forge_gitea_runner_unknown_label_online_runners`]; got != 0 {
			t.Errorf("unknown-label online runners = %v, want 0", got)
		}
	})

	e.assertNoSecret(tok)
	if strings.Contains(g.Logs(), tok) {
		t.Error("the token appears in Gitea's own log")
	}
}
