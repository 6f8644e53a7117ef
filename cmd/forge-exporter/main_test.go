package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/klog/v2"

	"github.com/railiance/forge-exporter/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files")

// binary is the forge-exporter built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "forge-exporter-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "forge-exporter")
	build := exec.Command("go", "build", "-race", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building forge-exporter:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is a running forge-exporter binary.
type process struct {
	cmd  *exec.Cmd
	addr string
	logs *testenv.Buffer
}

// startBinary runs the exporter with args and waits until /-/ready answers.
func startBinary(t *testing.T, args ...string) *process {
	t.Helper()
	p := &process{addr: testenv.MustFreeAddr(t), logs: &testenv.Buffer{}}
	p.cmd = exec.Command(binary, append([]string{"--web.listen-address=" + p.addr}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("exporter did not exit cleanly on SIGTERM: %v\n%s", err, p.logs.String())
			}
		case <-time.After(15 * time.Second):
			p.cmd.Process.Kill()
			t.Errorf("exporter did not stop within 15s of SIGTERM")
		}
	})
	waitFor(t, "exporter ready", func() bool {
		resp, err := http.Get("http://" + p.addr + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, p.logs)
	return p
}

func waitFor(t *testing.T, what string, cond func() bool, logs *testenv.Buffer) {
	t.Helper()
	if logs != nil {
		defer func() {
			if t.Failed() {
				t.Logf("exporter log:\n%s", logs.String())
			}
		}()
	}
	testenv.Eventually(t, 30*time.Second, what, cond)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// volatileRE matches series whose values change from run to run.
// statfs of a live filesystem and the scan cache (which distrusts directories
// modified in the second before a scan) change too.
var volatileRE = regexp.MustCompile(`(_duration_seconds|_timestamp_seconds)(\{|\s)|^forge_volume_|^forge_directory_cache_entries`)

// normalize keeps the forge_* families and blanks out values that change
// between runs, so the rest can be compared with a golden file.
func normalize(exposition string) string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(exposition))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name := line
		if strings.HasPrefix(line, "# ") {
			f := strings.Fields(line)
			if len(f) < 3 {
				continue
			}
			name = f[2]
		}
		if !strings.HasPrefix(name, "forge_") {
			continue
		}
		if strings.HasPrefix(line, "forge_exporter_build_info") {
			line = "forge_exporter_build_info{...} 1"
		} else if !strings.HasPrefix(line, "#") && volatileRE.MatchString(line) {
			line = line[:strings.LastIndex(line, " ")] + " <volatile>"
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n") + "\n"
}

func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/forge-exporter -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("exposition differs from %s (run with -update if the change is intended)\n--- got\n%s", path, got)
	}
}

// promtoolCheckMetrics runs the real promtool on an exposition.
func promtoolCheckMetrics(t *testing.T, exposition string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install the Debian prometheus package (.ci/run does)")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestBinaryEndToEnd(t *testing.T) {
	p := startBinary(t, "--config.file=../../examples/forge-exporter.yaml")
	// Directory walks run in samplers: wait for the first scan of each.
	waitFor(t, "first directory scans", func() bool {
		_, body := get(t, "http://"+p.addr+"/metrics")
		return strings.Contains(body, `forge_directory_files{directory="packages"}`) &&
			strings.Contains(body, `forge_directory_files{directory="package-upload"}`)
	}, p.logs)
	code, body := get(t, "http://"+p.addr+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics status %d", code)
	}
	for _, want := range []string{"forge_exporter_build_info{", "forge_exporter_config_last_reload_successful 1", "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	compareGolden(t, "testdata/example.golden.prom", normalize(body))
	promtoolCheckMetrics(t, body)
	// `make run` on the examples is quiet: nothing to warn a newcomer about.
	if logs := p.logs.String(); strings.Contains(logs, "level=WARN") || strings.Contains(logs, "level=ERROR") {
		t.Errorf("the example configuration logs warnings or errors:\n%s", logs)
	}

	code, body = get(t, "http://"+p.addr+"/")
	if code != 200 || !strings.Contains(body, "Collectors") {
		t.Errorf("landing page: %d %q", code, body)
	}
	// Every link on the landing page answers (no links to pprof that 404).
	links := regexp.MustCompile(`href="([^"#]*)"`).FindAllStringSubmatch(body, -1)
	if len(links) < 3 {
		t.Errorf("landing page has %d links, want metrics, health, readiness", len(links))
	}
	for _, l := range links {
		if strings.Contains(l[1], "://") {
			continue // external (project home)
		}
		if code, _ := get(t, "http://"+p.addr+"/"+strings.TrimPrefix(l[1], "/")); code != 200 {
			t.Errorf("landing page links %q, which answers %d", l[1], code)
		}
	}
	if code, _ := get(t, "http://"+p.addr+"/-/healthy"); code != 200 {
		t.Errorf("/-/healthy = %d", code)
	}
	if code, _ := get(t, "http://"+p.addr+"/nope"); code != 404 {
		t.Errorf("/nope = %d, want 404", code)
	}
}

func TestCheckConfig(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"check-config", "--config.file=../../examples/forge-exporter.yaml"}, &out, &errb); code != 0 {
		t.Fatalf("example config: exit %d: %s", code, errb.String())
	}
	files, _ := filepath.Glob("../../internal/config/testdata/invalid-*.yaml")
	if len(files) == 0 {
		t.Fatal("no invalid configs found")
	}
	for _, f := range files {
		out.Reset()
		errb.Reset()
		if code := run([]string{"check-config", "--config.file=" + f}, &out, &errb); code != 1 {
			t.Errorf("%s: exit %d, want 1", f, code)
		}
		if !strings.Contains(errb.String(), f) || !strings.Contains(errb.String(), ": ") {
			t.Errorf("%s: error does not name the file and a field: %q", f, errb.String())
		}
	}
	errb.Reset()
	run([]string{"check-config", "--config.file=../../internal/config/testdata/invalid-unknown-collector.yaml"}, &out, &errb)
	if !strings.Contains(errb.String(), "collectors.volumes: unknown collector") {
		t.Errorf("unknown collector: %q", errb.String())
	}
}

func TestServeRefusesBrokenConfig(t *testing.T) {
	cmd := exec.Command(binary, "--config.file=../../internal/config/testdata/invalid-unknown-key.yaml", "--web.listen-address="+testenv.MustFreeAddr(t))
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("exporter started on a broken config")
	}
	if !strings.Contains(string(out), "storage.scan_intervall (line 3): unknown key") {
		t.Errorf("output does not say which field: %s", out)
	}
}

func TestVersion(t *testing.T) {
	// The command and the flag every Prometheus exporter has print the same.
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out bytes.Buffer
		if code := run(args, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "forge_exporter, version") {
			t.Fatalf("%v: %d %q", args, code, out.String())
		}
	}
}

// TestClientGoLogsFollowLogFormat: what client-go logs through klog comes
// out as the exporter's own JSON lines, with the level mapped.
func TestClientGoLogsFollowLogFormat(t *testing.T) {
	buf := &testenv.Buffer{}
	if _, err := newLogger("info", "json", buf); err != nil {
		t.Fatal(err)
	}
	klog.ErrorS(errors.New("connection refused"), "Failed to watch", "reflector", "pvc")
	klog.Info("plain klog line")
	klog.Flush()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 log lines, got %d: %q", len(lines), buf.String())
	}
	for i, want := range []struct{ level, msg string }{{"ERROR", "Failed to watch"}, {"INFO", "plain klog line"}} {
		var rec map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
			t.Fatalf("line %d is not JSON (klog bypassed the exporter's logger): %q", i, lines[i])
		}
		if rec["level"] != want.level || rec["msg"] != want.msg || rec["component"] != "client-go" {
			t.Errorf("line %d = %v, want level %s msg %q component client-go", i, rec, want.level, want.msg)
		}
	}
}

// TestTopLevelHelpShowsServeFlags: `forge-exporter` alone serves, so its
// --help must show serve's flags, and the commands, each once.
func TestTopLevelHelpShowsServeFlags(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"--help"}, &out, io.Discard); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	help := out.String()
	for _, want := range []string{"--config.file=", "--web.listen-address=", "--web.enable-lifecycle", "--log.level=", "--version", "check-config", "evidence validate"} {
		if n := strings.Count(help, want); n != 1 {
			t.Errorf("top-level help shows %q %d times, want once:\n%s", want, n, help)
		}
	}
}

func TestReloadBySignalAndHTTP(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "c.yaml")
	write := func(s string) {
		if err := os.WriteFile(cfgFile, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("collectors: {}\n")
	p := startBinary(t, "--config.file="+cfgFile, "--web.enable-lifecycle")
	metric := func() string {
		_, body := get(t, "http://"+p.addr+"/metrics")
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, "forge_exporter_config_last_reload_successful ") {
				return strings.Fields(l)[1]
			}
		}
		return ""
	}
	if m := metric(); m != "1" {
		t.Fatalf("initial reload_successful = %q", m)
	}

	// A bad config through SIGHUP keeps the old one and reports 0.
	write("storage:\n  bogus: 1\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "reload_successful 0 after SIGHUP", func() bool { return metric() == "0" }, p.logs)
	if code, _ := get(t, "http://"+p.addr+"/-/ready"); code != 200 {
		t.Errorf("not ready after a failed reload")
	}

	// A good config through POST /-/reload.
	write("collectors: {}\n")
	resp, err := http.Post("http://"+p.addr+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || metric() != "1" {
		t.Fatalf("POST /-/reload: %d, reload_successful %s", resp.StatusCode, metric())
	}
	// GET is refused.
	if code, _ := get(t, "http://"+p.addr+"/-/reload"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload = %d, want 405", code)
	}
	// A bad config through HTTP answers 500 and names the field.
	write("storage:\n  bogus: 1\n")
	resp, err = http.Post("http://"+p.addr+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || !strings.Contains(string(b), "storage.bogus") {
		t.Errorf("bad POST /-/reload: %d %s", resp.StatusCode, b)
	}
}

func TestReloadDisabledByDefault(t *testing.T) {
	p := startBinary(t, "--config.file=../../examples/forge-exporter.yaml")
	resp, err := http.Post("http://"+p.addr+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST /-/reload without --web.enable-lifecycle = %d, want 403", resp.StatusCode)
	}
}

// metricRefRE matches a metric name in docs/metrics.md.
var metricRefRE = regexp.MustCompile("^\\| `(forge_[a-z0-9_]+)`")

// codeMetricRE matches metric names written as string literals in Go code.
var codeMetricRE = regexp.MustCompile(`"(forge_[a-z0-9_]+)"`)

// TestMetricReferenceMatchesCode checks that every metric name the code can
// emit is in docs/metrics.md, and every documented one exists.
func TestMetricReferenceMatchesCode(t *testing.T) {
	readme, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, l := range strings.Split(string(readme), "\n") {
		if m := metricRefRE.FindStringSubmatch(l); m != nil {
			documented[m[1]] = true
		}
	}
	inCode := map[string]bool{"forge_exporter_build_info": true} // named by client_golang's version collector
	err = filepath.Walk("../..", func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() && (info.Name() == ".git" || info.Name() == "testdata" || info.Name() == "bin") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range codeMetricRE.FindAllStringSubmatch(string(b), -1) {
			if m[1] != program { // the program name, not a metric
				inCode[m[1]] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var missing, stale []string
	for n := range inCode {
		if !documented[n] {
			missing = append(missing, n)
		}
	}
	for n := range documented {
		if !inCode[n] {
			stale = append(stale, n)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("metrics in the code but not in docs/metrics.md: %v", missing)
	}
	if len(stale) > 0 {
		t.Errorf("metrics in docs/metrics.md that the code does not emit: %v", stale)
	}
}

// TestHelpDoesNotDependOnConfig: the same metrics have the same HELP text
// whatever the configured values (intervals, ages), since HELP that changes
// on reload breaks the series' metadata in Prometheus.
func TestHelpDoesNotDependOnConfig(t *testing.T) {
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	base, err := os.ReadFile(filepath.Join(examples, "forge-exporter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Relative paths resolve against the config file's directory: make them
	// absolute so the copy in a temporary directory reads the same data.
	cfg := regexp.MustCompile(`(?m)^(\s+path: )(data|evidence)`).ReplaceAllString(string(base), "${1}"+examples+"/$2")
	changed := strings.NewReplacer("scan_interval: 1m", "scan_interval: 7m", "full_scan_interval: 1h", "full_scan_interval: 3h",
		"interval: 1m", "interval: 2m", "max_age: 90d", "max_age: 45d").Replace(cfg)
	if changed == cfg {
		t.Fatal("the example configuration has none of the values this test changes")
	}
	helps := func(config string) map[string]string {
		file := filepath.Join(t.TempDir(), "forge-exporter.yaml")
		if err := os.WriteFile(file, []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
		p := startBinary(t, "--config.file="+file)
		var body string
		waitFor(t, "first directory scans", func() bool {
			_, body = get(t, "http://"+p.addr+"/metrics")
			return strings.Contains(body, "forge_directory_files{")
		}, p.logs)
		out := map[string]string{}
		for _, l := range strings.Split(body, "\n") {
			if rest, ok := strings.CutPrefix(l, "# HELP "); ok {
				name, help, _ := strings.Cut(rest, " ")
				out[name] = help
			}
		}
		return out
	}
	a, b := helps(cfg), helps(changed)
	if len(a) < 20 {
		t.Fatalf("only %d HELP lines: the exporter did not start as expected", len(a))
	}
	for name, help := range a {
		if other, ok := b[name]; ok && other != help {
			t.Errorf("HELP of %s depends on the configuration:\n  %s\n  %s", name, help, other)
		}
	}
}
