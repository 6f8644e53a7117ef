// Package forgestack starts a whole forge on loopback, in one temporary
// directory, for `make demo` (hack/demo) and the whole-forge end-to-end
// test: every server is the real one.
//
//   - a real etcd + kube-apiserver (kubeenv) with the upstream CRDs, seeded
//     with the contract's forge: CNPG Cluster databases/gitea-db, its daily
//     ScheduledBackup and a history of Backups (the newest completed one
//     three days old, two failed since), PVC default/gitea-shared-storage
//     (local-path, 10Gi) bound to a PV, and no backup CronJob for it; the
//     exporter reads it as the ServiceAccount of examples/rbac/cluster.yaml;
//   - a real Gitea (giteaenv: SQLite, Actions, packages) with an admin, a
//     read-only exporter token in a file, runners registered through the
//     runner protocol with the label contract's labels (forge-publish left
//     unserved) and kept online by polling, and a few packages;
//   - a Gitea-shaped package blob tree on disk (internal/walk/blobtree);
//   - restore-drill evidence: a valid recent source-forge and
//     runner-substrate record, an overdue package-blob record and a
//     secret-delivery record with a planted, fake runner token;
//   - the exporter (built from ./cmd/forge-exporter) configured for all of it;
//   - a real Prometheus with alerts/forge-exporter.rules.yaml (1s scrape and
//     evaluation) and a real Alertmanager on the shipped example routing
//     (docs/alertmanager.example.yml), each receiver a path of a webhook
//     receiver in this process that records every notification.
//
// The production rules wait up to an hour (`for:`) before an alert fires;
// Prometheus loads a copy with `for:` set to Options.AlertFor (default 10s)
// so alerts fire within seconds. Everything else is the shipped rule file.
// 10s rather than 0s: Prometheus hands its first targets to the scrape
// loop up to 5s after start, and with 0s ForgeExporterDown (absent up)
// would fire, and page, for those seconds.
//
// Start returns once every server answers; Stop stops them (SIGTERM to each
// process group, SIGKILL after a grace period) and removes the directory.
// The world-changing methods (CompleteBackup, AddVolumeBackup, ServeLabel,
// AddPassingDrill, RemoveSecret) repair what the seeded forge gets wrong.
package forgestack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/railiance/forge-exporter/internal/testenv"
	"github.com/railiance/forge-exporter/internal/testenv/giteaenv"
	"github.com/railiance/forge-exporter/internal/testenv/kubeenv"
	"github.com/railiance/forge-exporter/internal/testenv/proc"
	"github.com/railiance/forge-exporter/internal/testenv/promenv"
)

// DefaultAlertFor is the `for:` of every alert in the stack's copy of the
// rules unless Options.AlertFor says otherwise.
const DefaultAlertFor = "10s"

// Options tune Start.
type Options struct {
	// RepoRoot is the forge-exporter checkout (go.mod, alerts/, hack/);
	// empty means the one containing the working directory.
	RepoRoot string
	// Dir holds everything; empty means a new temporary directory. Stop
	// removes it either way.
	Dir string
	// Progress receives one line per start-up step; nil discards them.
	Progress func(format string, args ...any)
	// AlertFor replaces every alert's `for:` in Prometheus's copy of the
	// rules; empty means "10s".
	AlertFor string
	// Blobs is the number of files in the generated package blob tree;
	// 0 means 2000.
	Blobs int
}

// Stack is a running forge.
type Stack struct {
	// Dir holds every server's data, configuration and logs.
	Dir string
	// ExporterURL, PrometheusURL, AlertmanagerURL, GiteaURL are base URLs
	// (http://127.0.0.1:PORT).
	ExporterURL, PrometheusURL, AlertmanagerURL, GiteaURL string
	// Prometheus is a client of the stack's Prometheus API.
	Prometheus *promenv.API
	// Webhook records what Alertmanager delivers.
	Webhook *promenv.Webhook
	// Gitea is the running Gitea (its admin credentials are the harness's).
	Gitea *giteaenv.Gitea
	// Kube is the running kube-apiserver and etcd.
	Kube *kubeenv.Env

	opts        Options
	root        string
	evidenceDir string
	progress    func(format string, args ...any)
	t           *harnessT

	mu      sync.Mutex
	stops   []stopper
	procs   []*proc.Process
	stopped bool
}

type stopper struct {
	name string
	fn   func() error
}

// Start builds and starts the stack. On error everything started so far is
// stopped and the directory removed.
func Start(ctx context.Context, opts Options) (s *Stack, err error) {
	if opts.AlertFor == "" {
		opts.AlertFor = DefaultAlertFor
	}
	if opts.Blobs == 0 {
		opts.Blobs = 2000
	}
	s = &Stack{opts: opts, progress: opts.Progress}
	if s.progress == nil {
		s.progress = func(string, ...any) {}
	}
	if s.root = opts.RepoRoot; s.root == "" {
		if s.root, err = testenv.RepoRoot(); err != nil {
			return nil, err
		}
	}
	if s.Dir = opts.Dir; s.Dir == "" {
		if s.Dir, err = os.MkdirTemp("", "forge-stack-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, err
	}
	s.t = &harnessT{s: s}
	defer func() {
		if err != nil {
			if stopErr := s.Stop(); stopErr != nil {
				err = fmt.Errorf("%w (and stopping: %v)", err, stopErr)
			}
			s = nil
		}
	}()
	steps := []struct {
		what string
		fn   func(context.Context) error
	}{
		{"checking the real binaries", s.checkBinaries},
		{"starting etcd and kube-apiserver with the upstream CRDs (../shared/fixtures/crds)", s.startKube},
		{"seeding the contract's forge: CNPG gitea-db, its ScheduledBackup and Backups, PVC gitea-shared-storage", s.seedKube},
		{"binding the exporter's ServiceAccount to examples/rbac/cluster.yaml", s.writeKubeconfig},
		{"building forge-exporter (go build ./cmd/forge-exporter)", s.buildExporter},
		{"starting Gitea 1.26.4 (SQLite, Actions, packages), admin and exporter token", s.startGitea},
		{"registering runners through the runner protocol and uploading packages", s.seedGitea},
		{"generating a Gitea-shaped package blob tree", s.makeBlobTree},
		{"writing restore-drill evidence records", s.writeEvidence},
		{"starting forge-exporter", s.startExporter},
		{"starting Alertmanager (docs/alertmanager.example.yml routing) and the webhook receiver", s.startAlertmanager},
		{"starting Prometheus with alerts/forge-exporter.rules.yaml", s.startPrometheus},
	}
	for _, st := range steps {
		t0 := time.Now()
		s.progress("%s ...", st.what)
		if err := st.fn(ctx); err != nil {
			return s, fmt.Errorf("%s: %w", st.what, err)
		}
		s.progress("  done in %.1fs", time.Since(t0).Seconds())
	}
	return s, nil
}

// onStop registers fn to run at Stop, in reverse order of registration.
func (s *Stack) onStop(name string, fn func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stops = append(s.stops, stopper{name, fn})
}

func (s *Stack) addProcess(p *proc.Process) {
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	s.onStop(p.Name, func() error { return p.Stop(15 * time.Second) })
}

// Stop stops every server (the last started first) and removes Dir.
func (s *Stack) Stop() error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	stops := s.stops
	s.stops = nil
	s.mu.Unlock()
	var errs []error
	for i := len(stops) - 1; i >= 0; i-- {
		if err := stops[i].fn(); err != nil {
			errs = append(errs, fmt.Errorf("stopping %s: %w", stops[i].name, err))
		}
	}
	if err := os.RemoveAll(s.Dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Logs returns the last lines of each server's log, for failure reports.
func (s *Stack) Logs(lines int) string {
	s.mu.Lock()
	procs := append([]*proc.Process(nil), s.procs...)
	s.mu.Unlock()
	var b strings.Builder
	for _, p := range procs {
		fmt.Fprintf(&b, "--- %s (%s)\n%s\n", p.Name, p.LogPath, p.Tail(lines))
	}
	if s.Gitea != nil {
		g := s.Gitea.Logs()
		if ls := strings.Split(g, "\n"); len(ls) > lines {
			g = strings.Join(ls[len(ls)-lines:], "\n")
		}
		fmt.Fprintf(&b, "--- gitea\n%s\n", g)
	}
	return b.String()
}

func (s *Stack) checkBinaries(ctx context.Context) error {
	for _, name := range []string{"prometheus", "prometheus-alertmanager"} {
		if _, err := promenv.Binary(name); err != nil {
			return err
		}
	}
	for _, name := range realBinaries {
		// Builds what this machine has not built yet; realbin says so.
		if _, err := testenv.EnsureBinary(s.root, name); err != nil {
			return err
		}
	}
	return nil
}

// realBinaries are the servers hack/realbin.sh builds that the stack runs.
var realBinaries = []string{"etcd", "kube-apiserver", "gitea"}

// RealBinaries lists the binaries Start needs from hack/realbin.sh.
func RealBinaries() []string { return append([]string(nil), realBinaries...) }

func (s *Stack) buildExporter(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(s.Dir, "bin", "forge-exporter"), "./cmd/forge-exporter")
	cmd.Dir = s.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v\n%s", err, out)
	}
	return nil
}
