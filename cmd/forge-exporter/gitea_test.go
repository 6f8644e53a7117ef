package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/railiance/forge-exporter/internal/testenv/giteafake"
)

// TestBinaryGiteaDownAtStartAndTokenNeverShown runs the binary with the
// Gitea collectors against a Gitea that is down at start-up, then answers
// with errors that echo the request's Authorization header, then works; the
// token must appear in no log line, no /metrics answer and not on the
// landing page.
func TestBinaryGiteaDownAtStartAndTokenNeverShown(t *testing.T) {
	const token = "forge-binary-token-0b7e55d1f3a9"
	f := giteafake.New(t, token)
	f.Runners = []giteafake.Runner{{ID: 1, Name: "runner-a", Online: true, Labels: []string{"ubuntu-latest"}}}
	f.Users = []string{"forgeadmin"}
	f.Packages["forgeadmin"] = []giteafake.Package{{ID: 1, Type: "generic", Name: "tool", Version: "1.0", Sizes: []int64{42}}}
	var phase atomic.Int32 // 0 down, 2 healthy, then 1 echoing errors
	f.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		switch phase.Load() {
		case 0:
			w.WriteHeader(503)
			return true
		case 1:
			if r.URL.Path == "/api/v1/admin/actions/runners" {
				w.WriteHeader(500)
				fmt.Fprintf(w, "proxy error handling %s with %s", r.URL, r.Header.Get("Authorization"))
				return true
			}
		}
		return false
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`collectors: {gitea: true, runners: true, registry: true}
gitea:
  url: %s
  token_file: token
  interval: 1s
  label_contract:
    - label: ubuntu-latest
      purpose: general CI jobs
`, f.URL)
	cfgFile := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startBinary(t, "--config.file="+cfgFile)
	var bodies []string
	metrics := func() string {
		_, body := get(t, "http://"+p.addr+"/metrics")
		bodies = append(bodies, body)
		return body
	}
	waitFor(t, "forge_gitea_up 0 while Gitea is down", func() bool {
		return strings.Contains(metrics(), "forge_gitea_up 0")
	}, p.logs)

	phase.Store(2)
	waitFor(t, "runner metrics", func() bool {
		b := metrics()
		return strings.Contains(b, "forge_gitea_up 1") &&
			strings.Contains(b, `forge_gitea_runner_label_online_runners{label="ubuntu-latest"} 1`) &&
			strings.Contains(b, `forge_gitea_package_files_bytes{owner="forgeadmin",type="generic"} 42`)
	}, p.logs)
	promtoolCheckMetrics(t, metrics())

	// A new failure is logged once, with the echoed token scrubbed.
	phase.Store(1)
	waitFor(t, "the echoed error in the log", func() bool {
		return strings.Contains(p.logs.String(), "HTTP 500")
	}, p.logs)
	metrics()
	_, landing := get(t, "http://"+p.addr+"/")
	bodies = append(bodies, landing)
	for _, b := range bodies {
		if strings.Contains(b, token) {
			t.Fatal("the token appears in an HTTP answer of the exporter")
		}
	}
	if strings.Contains(p.logs.String(), token) {
		t.Fatal("the token appears in the exporter's log")
	}
	if !strings.Contains(p.logs.String(), "<redacted>") {
		t.Errorf("the echoed token was not visibly redacted in the log:\n%s", p.logs.String())
	}
}
