package main

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chromium returns Debian's chromium: a hard requirement, like promtool
// (skipped only under -short, make test-quick).
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the test that runs headless Chromium")
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: install the Debian chromium package (.ci/run does)")
	}
	return p
}

// headless runs chromium in headless mode against url with extra flags
// (--screenshot=FILE, --dump-dom) and returns its standard output.
func headless(t *testing.T, bin, url string, flags ...string) []byte {
	t.Helper()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + t.TempDir()}, flags...)
	cmd := exec.Command(bin, append(args, url)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("chromium %v: %v\n%s", flags, err, stderr.String())
		}
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("chromium %v did not finish within 90s\n%s", flags, stderr.String())
	}
	return stdout.Bytes()
}

// TestStatusPageInChromium loads /status from the real binary (the example
// configuration) in headless Chromium at a phone's width and at a desktop
// width: the DOM holds every asset of the inventory and every section, the
// page loads no script and no external asset, and the screenshots are real
// pictures (not blank). -update refreshes docs/img/status.png.
func TestStatusPageInChromium(t *testing.T) {
	bin := chromium(t)
	p := startBinary(t, "--config.file=../../examples/forge-exporter.yaml")
	url := "http://" + p.addr + "/status"

	code, body := get(t, url)
	if code != 200 {
		t.Fatalf("GET /status: %d", code)
	}
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)<script`), regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//`),
		regexp.MustCompile(`(?i)<link\b`), regexp.MustCompile(`(?i)<img\b`), regexp.MustCompile(`(?i)@import|url\(`),
	} {
		if bad.MatchString(body) {
			t.Errorf("the page loads something (%s)", bad)
		}
	}
	if code, landing := get(t, "http://"+p.addr+"/"); code != 200 || !strings.Contains(landing, `href="/status"`) {
		t.Errorf("the landing page does not link /status")
	}

	dom := string(headless(t, bin, url, "--dump-dom"))
	assets := []string{"gitea-database", "gitea-shared-storage", "source-repositories", "package-registry",
		"runner-registration", "sops-gitea-values", "runtime-secrets", "artifact-evidence"}
	for _, want := range append(assets, "Is the forge's data safe to rely on today?", "Restore drills", "Database backups (CNPG)",
		"Volume backup coverage", "Runner label coverage", "Evidence records and secret findings", "SOPS-encrypted files", "Collectors",
		"source-forge", "gitea-values") {
		if !strings.Contains(dom, strings.ReplaceAll(want, "'", "&#39;")) && !strings.Contains(dom, want) {
			t.Errorf("the DOM Chromium built lacks %q", want)
		}
	}

	for _, shot := range []struct {
		name          string
		width, height int
	}{{"phone", 412, 1800}, {"desktop", 1280, 1600}} {
		file := filepath.Join(t.TempDir(), shot.name+".png")
		headless(t, bin, url, "--hide-scrollbars", "--window-size="+strconv.Itoa(shot.width)+","+strconv.Itoa(shot.height), "--screenshot="+file)
		img := readPNG(t, file)
		b := img.Bounds()
		if b.Dx() != shot.width || b.Dy() != shot.height {
			t.Errorf("%s screenshot is %dx%d, want %dx%d", shot.name, b.Dx(), b.Dy(), shot.width, shot.height)
		}
		colours := map[[3]uint32]bool{}
		for y := b.Min.Y; y < b.Max.Y; y += 3 {
			for x := b.Min.X; x < b.Max.X; x += 3 {
				r, g, bl, _ := img.At(x, y).RGBA()
				colours[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
			}
		}
		// Text, the verdict banner and the green/yellow/red cells: a blank or
		// error page has a handful of colours.
		if len(colours) < 50 {
			t.Errorf("%s screenshot has only %d colours: blank or broken", shot.name, len(colours))
		}
		t.Logf("%s screenshot: %dx%d, %d colours", shot.name, b.Dx(), b.Dy(), len(colours))
		if *update && shot.name == "desktop" {
			data, err := os.ReadFile(file)
			must(t, err)
			must(t, os.WriteFile("../../docs/img/status.png", data, 0o644))
		}
	}
}

func readPNG(t *testing.T, file string) image.Image {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	return img
}
