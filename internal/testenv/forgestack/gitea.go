package forgestack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/railiance/forge-exporter/internal/testenv/giteaenv"
)

// The label contract the exporter is configured with (the contract's
// semantic labels) and the runners the stack registers. forge-publish is
// required but no runner carries it until ServeLabel.
var (
	labelContract = []struct {
		label, purpose string
		min            int
	}{
		{"ubuntu-latest", "general CI jobs (act_runner's default label)", 1},
		{UnservedLabel, "jobs that publish Python packages and container images to the forge registry", 1},
		{"restore-drill", "non-production restore-drill sample jobs, run on demand", 0},
	}
	seedRunners = []struct {
		name   string
		labels []string
	}{
		{"ci-runner-1", []string{"ubuntu-latest"}},
		{"ci-runner-2", []string{"ubuntu-latest", "restore-drill"}},
	}
)

// UnservedLabel is the required runner label no seeded runner carries.
const UnservedLabel = "forge-publish"

// runnerPoll is how often the stack's runners poll Gitea (act_runner
// polls every 2 s by default; Gitea marks a runner offline after a minute).
const runnerPoll = 10 * time.Second

// harnessT lets giteaenv (written for tests) run in the stack: Fatal
// panics with a harnessFatal that guard turns back into an error, and
// cleanups run at Stop.
type harnessT struct{ s *Stack }

type harnessFatal struct{ msg string }

func (h *harnessT) Helper()           {}
func (h *harnessT) Fatal(args ...any) { panic(harnessFatal{fmt.Sprint(args...)}) }
func (h *harnessT) Fatalf(format string, args ...any) {
	panic(harnessFatal{fmt.Sprintf(format, args...)})
}
func (h *harnessT) Skipf(format string, args ...any) {
	panic(harnessFatal{fmt.Sprintf(format, args...)})
}
func (h *harnessT) Cleanup(f func()) {
	h.s.onStop("gitea harness", func() error { f(); return nil })
}
func (h *harnessT) TempDir() string {
	d, err := os.MkdirTemp(h.s.Dir, "gitea-")
	if err != nil {
		h.Fatal(err)
	}
	return d
}

var _ giteaenv.TB = (*harnessT)(nil)

// guard runs fn with the harness T and returns its Fatal as an error.
func (s *Stack) guard(fn func(t giteaenv.TB)) (err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(harnessFatal)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("%s", f.msg)
		}
	}()
	fn(s.t)
	return nil
}

func (s *Stack) startGitea(ctx context.Context) error {
	return s.guard(func(t giteaenv.TB) {
		s.Gitea = giteaenv.Start(t, giteaenv.Options{})
		s.GiteaURL = s.Gitea.URL
		// The exporter's token: the documented minimum scopes, in a 0600
		// file (never in the configuration).
		tok := s.Gitea.CreateToken(t, "forge-exporter", "read:admin", "read:package")
		dir := filepath.Join(s.Dir, "secrets")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "gitea-token"), []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	})
}

func (s *Stack) seedGitea(ctx context.Context) error {
	return s.guard(func(t giteaenv.TB) {
		for _, r := range seedRunners {
			s.Gitea.RegisterRunner(t, r.name, r.labels...).KeepOnline(t, runnerPoll)
		}
		g := s.Gitea
		g.CreateOrg(t, "railiance")
		g.UploadGeneric(t, "railiance", "forge-cli", "1.0.0", "forge-cli-linux-amd64.tar.gz", make([]byte, 64<<10))
		g.UploadGeneric(t, "railiance", "forge-cli", "1.1.0", "forge-cli-linux-amd64.tar.gz", make([]byte, 96<<10))
		g.UploadPyPI(t, "railiance", "railiance-tool", "1.2.3", []byte("railiance-tool 1.2.3 sdist"))
		g.UploadGeneric(t, g.AdminUser, "drill-sample", "0.1.0", "sample.txt", []byte("restore drill sample\n"))
	})
}

// ServeLabel registers a runner that carries UnservedLabel and keeps it
// online: ForgeRunnerLabelUnserved resolves.
func (s *Stack) ServeLabel(ctx context.Context) error {
	return s.guard(func(t giteaenv.TB) {
		s.Gitea.RegisterRunner(t, "publish-runner-1", UnservedLabel, "ubuntu-latest").KeepOnline(t, runnerPoll)
	})
}
