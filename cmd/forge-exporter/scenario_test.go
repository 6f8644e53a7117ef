package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A scenario is a copy of examples/ (the example config, its blob tree and
// evidence records) in a temporary directory, optionally with the Gitea
// collectors pointed at a fake Gitea: every non-Kubernetes collector runs
// on real files. The hardening, restart and read-only tests share it.
type scenario struct {
	root    string // the copy of examples/
	config  string // root/forge-exporter.yaml
	tokenFn string // outside root: the tree never holds the token
}

// newScenario copies examples/ to dir/name and writes its config; giteaURL
// (optional) enables the gitea, runners and registry collectors.
func newScenario(t *testing.T, dir, giteaURL, token string) *scenario {
	t.Helper()
	sc := &scenario{root: filepath.Join(dir, "examples")}
	if out, err := exec.Command("cp", "-a", "../../examples", sc.root).CombinedOutput(); err != nil {
		t.Fatalf("copying examples: %v\n%s", err, out)
	}
	sc.config = filepath.Join(sc.root, "forge-exporter.yaml")
	b, err := os.ReadFile(sc.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	if giteaURL != "" {
		sc.tokenFn = filepath.Join(dir, "gitea-token")
		if err := os.WriteFile(sc.tokenFn, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(cfg, "\ncollectors: {}\n") {
			t.Fatal("examples/forge-exporter.yaml no longer has `collectors: {}`: update newScenario")
		}
		cfg = strings.Replace(cfg, "\ncollectors: {}\n", "\ncollectors: {gitea: true, runners: true, registry: true}\n", 1)
		cfg += fmt.Sprintf(`
gitea:
  url: %s
  token_file: %s
  timeout: 2s
  interval: 1s
  label_contract:
    - label: ubuntu-latest
      purpose: general CI jobs
`, giteaURL, sc.tokenFn)
	}
	if err := os.WriteFile(sc.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return sc
}

// series parses an exposition into "name{labels}" -> value text.
func series(exposition string) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(exposition))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndex(l, " ")
		if i < 0 {
			continue
		}
		out[l[:i]] = l[i+1:]
	}
	return out
}

// collectorSuccess returns forge_exporter_collector_success by collector.
func collectorSuccess(exposition string) map[string]string {
	out := map[string]string{}
	for k, v := range series(exposition) {
		if name, ok := strings.CutPrefix(k, `forge_exporter_collector_success{collector="`); ok {
			out[strings.TrimSuffix(name, `"}`)] = v
		}
	}
	return out
}

// allSucceed reports whether every enabled collector's last scrape
// succeeded and the samplers delivered their first results.
func allSucceed(body string, want ...string) bool {
	s := collectorSuccess(body)
	if len(s) == 0 {
		return false
	}
	for _, v := range s {
		if v != "1" {
			return false
		}
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			return false
		}
	}
	return true
}

// stop sends SIGTERM and waits until the exporter has exited (it is a
// zombie until the test's cleanup reaps it and checks its exit status).
func (p *process) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stat := fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid)
	waitFor(t, "exporter exited", func() bool {
		b, err := os.ReadFile(stat)
		if err != nil {
			return true
		}
		// pid (comm) state ...: the state follows the last ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndex(s, ")")+1:])
		return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
	}, p.logs)
}

// do sends a request and returns the status, headers and body.
func do(t *testing.T, method, url string, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, resp.Header, b.String()
}
