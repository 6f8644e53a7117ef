package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/railiance/forge-exporter/collectors"
)

// The image's documented configuration (Dockerfile, docs/release.md). The
// test checks the built image against it and that docs/release.md states each
// value.
const (
	imageUser       = "65532:65532"
	imageEntrypoint = "/bin/forge-exporter"
	imageConfigDir  = "/etc/forge-exporter/config"
	imageCmd        = "--config.file=" + imageConfigDir + "/forge-exporter.yaml"
	imagePort       = "10100/tcp"
)

// imageSandboxFlags are the podman flags this machine class needs
// (../shared/notes/real-components.md): the runc runtime (crun refuses the
// hybrid cgroups), host networking and rlimits the sandbox can grant.
var imageSandboxFlags = []string{"--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}

// imageRunFlags run a container the way docs/release.md recommends: a
// read-only root filesystem without the tmpfs mounts podman adds by default
// (/tmp, /var/tmp, /run), no IPC namespace mounts (/dev/shm, and /dev/mqueue
// hidden under a read-only tmpfs), no capabilities, no privilege escalation,
// and the image's own user.
var imageRunFlags = []string{"--read-only", "--read-only-tmpfs=false", "--ipc=none", "--tmpfs", "/dev/mqueue:ro,mode=0555",
	"--cap-drop=all", "--security-opt=no-new-privileges"}

// TestImage builds the container image with `make image`, checks its
// configuration, runs it in podman read-only with the example configuration
// and sample data mounted read-only, scrapes /metrics from the host and
// proves that the image's user can write nowhere in the container.
//
// It fails, never skips, when podman or runc is missing: .ci/run installs both.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the container image; skipped with -short (make test runs it)")
	}
	podman := requirePodman(t)
	root := repoRoot(t)
	version, revision := gitDescribe(t, root), gitOutput(t, root, "rev-parse", "HEAD")
	image := "forge-exporter:" + version

	t0 := time.Now()
	runCmd(t, root, "make", "--no-print-directory", "image", "IMAGE="+image)
	t.Logf("make image: %s in %.1fs", image, time.Since(t0).Seconds())

	t.Run("config", func(t *testing.T) { checkImageConfig(t, podman, root, image, version, revision) })

	examples := filepath.Join(root, "examples")
	addr := freeLoopback(t)
	name := fmt.Sprintf("forge-exporter-imagetest-%d", os.Getpid())
	args := append([]string{"--runtime", "runc", "run", "--detach", "--name", name}, imageSandboxFlags...)
	args = append(args, imageRunFlags...)
	args = append(args, "-v", examples+":"+imageConfigDir+":ro", image, imageCmd, "--web.listen-address="+addr)
	start := time.Now()
	runCmd(t, root, podman, args...)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command(podman, "logs", name).CombinedOutput()
			t.Logf("container log:\n%s", out)
		}
		_ = exec.Command(podman, "rm", "--force", "--time", "5", name).Run()
	})

	// The first successful scrape, then every default collector succeeding
	// (the directory collector reports success once its first walk is done).
	var defaults []string
	for _, s := range collectors.Specs() {
		if s.DefaultEnabled {
			defaults = append(defaults, s.Name)
		}
	}
	url := "http://" + addr + "/metrics"
	var families map[string]*dto.MetricFamily
	var firstScrape time.Duration
	deadline := time.Now().Add(90 * time.Second)
	for {
		fams, err := scrape(url)
		if err == nil && firstScrape == 0 {
			firstScrape = time.Since(start)
			t.Logf("start to first scrape: %.2fs (podman run to a 200 from /metrics)", firstScrape.Seconds())
		}
		if err == nil && len(failing(fams, defaults)) == 0 {
			families = fams
			break
		}
		if time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("scraping %s: %v", url, err)
			}
			t.Fatalf("default collectors not succeeding after 90s: %v", failing(fams, defaults))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("default collectors all succeed: %v", defaults)

	bi := families["forge_exporter_build_info"]
	if bi == nil || len(bi.Metric) != 1 {
		t.Fatalf("forge_exporter_build_info: want one series, got %v", bi)
	}
	labels := map[string]string{}
	for _, l := range bi.Metric[0].Label {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["version"] != version || labels["revision"] != revision {
		t.Errorf("build info version=%q revision=%q, want git describe %q and HEAD %q", labels["version"], labels["revision"], version, revision)
	}
	if labels["goos"] != "linux" {
		t.Errorf("build info goos=%q", labels["goos"])
	}

	// The process runs as 65532, with no capabilities and no way to gain any.
	pid := strings.TrimSpace(runCmd(t, root, podman, "inspect", "--format", "{{.State.Pid}}", name))
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatalf("reading the exporter's process status: %v", err)
	}
	for _, want := range []string{`(?m)^Uid:\s+65532\s+65532\s+65532\s+65532$`, `(?m)^Gid:\s+65532\s+65532\s+65532\s+65532$`,
		`(?m)^CapEff:\s+0+$`, `(?m)^CapPrm:\s+0+$`, `(?m)^NoNewPrivs:\s+1$`} {
		if !regexp.MustCompile(want).Match(status) {
			t.Errorf("exporter process status lacks %s:\n%s", want, status)
		}
	}
	// (podman diff is no witness here: podman itself creates the mount points
	// and /etc/passwd entries as it starts the container; the probe below is.)

	t.Run("cannot write", func(t *testing.T) { checkNoWrites(t, podman, root, image, examples) })
}

// checkImageConfig compares the image's configuration with the documented one.
func checkImageConfig(t *testing.T, podman, root, image, version, revision string) {
	var inspect []struct {
		Architecture string
		Os           string
		Size         int64
		Config       struct {
			User         string
			Entrypoint   []string
			Cmd          []string
			ExposedPorts map[string]struct{}
			Env          []string
			Labels       map[string]string
		}
	}
	if err := json.Unmarshal([]byte(runCmd(t, root, podman, "image", "inspect", image)), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("podman image inspect %s: %v", image, err)
	}
	img := inspect[0]
	t.Logf("image %s: %s/%s, %.1f MB", image, img.Os, img.Architecture, float64(img.Size)/1e6)
	c := img.Config
	if c.User != imageUser {
		t.Errorf("User %q, want %q", c.User, imageUser)
	}
	if strings.Join(c.Entrypoint, " ") != imageEntrypoint {
		t.Errorf("Entrypoint %q, want [%s]", c.Entrypoint, imageEntrypoint)
	}
	if strings.Join(c.Cmd, " ") != imageCmd {
		t.Errorf("Cmd %q, want [%s]", c.Cmd, imageCmd)
	}
	if _, ok := c.ExposedPorts[imagePort]; !ok || len(c.ExposedPorts) != 1 {
		t.Errorf("ExposedPorts %v, want only %s", c.ExposedPorts, imagePort)
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.title":       "forge-exporter",
		"org.opencontainers.image.source":      "https://github.com/railiance/forge-exporter",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.version":     version,
		"org.opencontainers.image.revision":    revision,
		"org.opencontainers.image.description": "",
	}
	for k, want := range wantLabels {
		got, ok := c.Labels[k]
		if !ok || got == "" || (want != "" && got != want) {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}

	// What docs/release.md and the chart say.
	doc, err := os.ReadFile(filepath.Join(root, "docs", "release.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{imageUser, imageEntrypoint, imageCmd, strings.TrimSuffix(imagePort, "/tcp")} {
		if !bytes.Contains(doc, []byte("`"+s+"`")) {
			t.Errorf("docs/release.md does not document `%s`", s)
		}
	}
	for k := range wantLabels {
		if !bytes.Contains(doc, []byte("`"+k+"`")) {
			t.Errorf("docs/release.md does not document label `%s`", k)
		}
	}
	helpers, err := os.ReadFile(filepath.Join(root, "deploy", "helm", "forge-exporter", "templates", "_helpers.tpl"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(helpers, []byte("- "+imageCmd+"\n")) {
		t.Errorf("the chart's container args do not pass the image's default %s", imageCmd)
	}
}

// checkNoWrites runs writeprobe (testdata/writeprobe) in the image with the
// exporter's flags and mounts: it must find no place to write. A second run
// with a writable tmpfs proves the probe finds one when there is one.
func checkNoWrites(t *testing.T, podman, root, image, examples string) {
	probe := filepath.Join(t.TempDir(), "writeprobe")
	build := exec.Command("go", "build", "-o", probe, "./testdata/writeprobe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building writeprobe: %v\n%s", err, out)
	}
	run := func(extra ...string) string {
		args := append([]string{"--runtime", "runc", "run", "--rm"}, imageSandboxFlags...)
		args = append(args, imageRunFlags...)
		args = append(args, extra...)
		args = append(args, "-v", examples+":"+imageConfigDir+":ro", "-v", probe+":/writeprobe:ro", "--entrypoint", "/writeprobe", image)
		return runCmd(t, root, podman, args...)
	}
	out := run()
	t.Logf("writeprobe: %s", strings.TrimSpace(out))
	if strings.Contains(out, "writable") || !strings.Contains(out, "uid=65532 gid=65532") {
		t.Errorf("the image's user can write in the container:\n%s", out)
	}
	if !regexp.MustCompile(`checked [1-9]\d* directories and [1-9]\d* files`).MatchString(out) {
		t.Errorf("writeprobe checked nothing: %s", out)
	}
	if canary := run("--tmpfs", "/canary:rw,mode=1777"); !strings.Contains(canary, "writable dir: /canary") {
		t.Errorf("writeprobe missed a writable tmpfs at /canary:\n%s", canary)
	}
}

// failing returns the default collectors whose success is not 1.
func failing(fams map[string]*dto.MetricFamily, names []string) []string {
	ok := map[string]bool{}
	if f := fams["forge_exporter_collector_success"]; f != nil {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == "collector" && m.GetGauge().GetValue() == 1 {
					ok[l.GetValue()] = true
				}
			}
		}
	}
	var out []string
	for _, n := range names {
		if !ok[n] {
			out = append(out, n)
		}
	}
	return out
}

func scrape(url string) (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(bytes.NewReader(body))
}

// requirePodman returns podman's path, failing the test when podman or the
// runc runtime this machine class needs is missing.
func requirePodman(t *testing.T) string {
	t.Helper()
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Fatal("podman is not installed: install the Debian packages podman and runc (.ci/run does)")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Fatal("runc is not installed: install the Debian package runc (.ci/run does); podman's default crun refuses this sandbox's cgroups")
	}
	return podman
}

func repoRoot(t *testing.T) string {
	t.Helper()
	return gitOutput(t, ".", "rev-parse", "--show-toplevel")
}

// gitDescribe is the version the Makefile stamps into builds.
func gitDescribe(t *testing.T, dir string) string {
	t.Helper()
	return gitOutput(t, dir, "describe", "--tags", "--always", "--dirty", "--abbrev=12")
}

func gitOutput(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return strings.TrimSpace(runCmd(t, dir, "git", args...))
}

// runCmd runs a command in dir and returns its standard output; it fails the
// test with the command's output when the command fails.
func runCmd(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func freeLoopback(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
