package forgestack

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/railiance/forge-exporter/internal/testenv"
	"github.com/railiance/forge-exporter/internal/testenv/proc"
	"github.com/railiance/forge-exporter/internal/testenv/promenv"
)

// Interval is the stack's pace: Prometheus scrapes and evaluates rules this
// often, and the exporter re-reads evidence at this interval.
const Interval = time.Second

// giteaInterval is the exporter's Gitea sweep interval.
const giteaInterval = 2 * time.Second

// exporterConfig is the exporter's configuration for the stack.
func (s *Stack) exporterConfig() string {
	var b strings.Builder
	fmt.Fprintf(&b, `# forge-exporter configuration written by internal/testenv/forgestack.
collectors:
  gitea: true
  runners: true
  registry: true
  pvc: true
  cnpg: true
  volumebackup: true
kubernetes:
  kubeconfig: %[7]q
  discovery_interval: 5s
  persistentvolumeclaims: [default/gitea-shared-storage]
  protected_volumes:
    - namespace: default
      persistentvolumeclaim: gitea-shared-storage
storage:
  volumes:
    - name: gitea-data
      path: %[1]q
      namespace: default
      persistentvolumeclaim: gitea-shared-storage
  directories:
    - name: gitea-data
      path: %[1]q
    - name: packages
      path: %[2]q
    - name: package-upload
      path: %[3]q
      incremental: false
  scan_interval: 5s
gitea:
  url: %[4]q
  token_file: %[5]q
  interval: %[6]s
  requests_per_second: 50
  label_contract:
`, s.storageDir(), filepath.Join(s.storageDir(), "packages"), filepath.Join(s.storageDir(), "tmp", "package-upload"),
		s.GiteaURL, filepath.Join(s.Dir, "secrets", "gitea-token"), giteaInterval, s.kubeconfig())
	for _, l := range labelContract {
		fmt.Fprintf(&b, "    - label: %s\n      purpose: %s\n      min_online_runners: %d\n", l.label, l.purpose, l.min)
	}
	fmt.Fprintf(&b, "evidence:\n  directories:\n    - name: drills\n      path: %q\n  interval: %s\n  drills:\n", s.evidenceDir, Interval)
	for _, d := range drillPolicies {
		fmt.Fprintf(&b, "    - kind: %s\n      max_age: %s\n", d.kind, d.maxAge)
	}
	b.WriteString(assetsConfig)
	return b.String()
}

// assetsConfig is the contract's two storage assets; the others are in
// examples/forge-exporter.yaml.
const assetsConfig = `assets:
  - name: gitea-database
    description: Gitea application database, CNPG cluster databases/gitea-db
    backup_mechanism: CNPG ScheduledBackup databases/gitea-db-daily (barman-cloud)
    drills: [source-forge]
    consumer_verification: after a restore, log in and list repositories and packages
    secret_custody: [Kubernetes Secret databases/gitea-db-app]
    rollback: point Gitea back at databases/gitea-db and delete the recovery cluster
    storage_growth: kubectl cnpg status gitea-db -n databases
    next_drill_owner: platform-oncall
    signals:
      cnpg_clusters: [databases/gitea-db]
  - name: gitea-shared-storage
    description: PVC default/gitea-shared-storage mounted at /data; package blobs under /data/packages
    drills: [source-forge, package-blob]
    consumer_verification: git clone of a known repository and a package install after restore
    secret_custody: [none stored on the volume]
    rollback: scale Gitea down, re-attach the previous PV, scale up
    storage_growth: forge_directory_size_bytes{directory="packages"}
    next_drill_owner: platform-oncall
    signals:
      persistentvolumeclaims: [default/gitea-shared-storage]
      volumes: [gitea-data]
      directories: [packages]
`

func (s *Stack) startExporter(ctx context.Context) error {
	cfg := filepath.Join(s.Dir, "forge-exporter.yaml")
	if err := os.WriteFile(cfg, []byte(s.exporterConfig()), 0o644); err != nil {
		return err
	}
	addr, err := testenv.FreeAddr()
	if err != nil {
		return err
	}
	p, err := proc.Start("forge-exporter", filepath.Join(s.Dir, "bin", "forge-exporter"), filepath.Join(s.Dir, "forge-exporter.log"),
		[]string{"--config.file=" + cfg, "--web.listen-address=" + addr, "--web.enable-lifecycle"}, proc.Options{Dir: s.Dir})
	if err != nil {
		return err
	}
	s.addProcess(p)
	s.ExporterURL = "http://" + addr
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := p.WaitReady(ctx, s.ExporterURL+"/-/ready"); err != nil {
		return err
	}
	// Prometheus starts only when every collector has data: its first
	// scrapes would otherwise fire alerts about the exporter starting up.
	var failing []string
	for {
		failing = s.failingCollectors(ctx)
		if len(failing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			s.progress("  still failing after a minute (the alerts will say why): %s", strings.Join(failing, ", "))
			return nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// failingCollectors scrapes the exporter and returns the collectors whose
// forge_exporter_collector_success is not 1 (or "scrape" when it fails).
func (s *Stack) failingCollectors(ctx context.Context) []string {
	req, err := http.NewRequestWithContext(ctx, "GET", s.ExporterURL+"/metrics", nil)
	if err != nil {
		return []string{"scrape"}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return []string{"scrape"}
	}
	defer resp.Body.Close()
	var failing []string
	seen := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := successRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		seen++
		if m[2] != "1" {
			failing = append(failing, m[1])
		}
	}
	if seen == 0 {
		return []string{"scrape"}
	}
	return failing
}

var successRE = regexp.MustCompile(`^forge_exporter_collector_success\{collector="([^"]+)"\} (\S+)$`)

func (s *Stack) startAlertmanager(ctx context.Context) error {
	s.Webhook = &promenv.Webhook{}
	hookURL, stopHook, err := proc.Serve(s.Webhook)
	if err != nil {
		return err
	}
	s.onStop("webhook receiver", func() error { stopHook(); return nil })
	// The shipped example routing, each receiver a path of the webhook.
	example, err := os.ReadFile(filepath.Join(s.root, "docs", "alertmanager.example.yml"))
	if err != nil {
		return err
	}
	am, err := promenv.StartAlertmanager(ctx, s.Dir, promenv.ExampleRouting(example, hookURL))
	if err != nil {
		return err
	}
	s.addProcess(am.Process)
	s.AlertmanagerURL = am.URL
	return nil
}

func (s *Stack) startPrometheus(ctx context.Context) error {
	rules, err := os.ReadFile(filepath.Join(s.root, "alerts", "forge-exporter.rules.yaml"))
	if err != nil {
		return err
	}
	rulesCopy := filepath.Join(s.Dir, "forge-exporter.rules.yaml")
	if err := os.WriteFile(rulesCopy, promenv.ShortenFor(rules, s.opts.AlertFor), 0o644); err != nil {
		return err
	}
	prom, err := promenv.StartPrometheus(ctx, s.Dir, promenv.PrometheusConfig{
		Interval:     Interval,
		RuleFiles:    []string{rulesCopy},
		Alertmanager: strings.TrimPrefix(s.AlertmanagerURL, "http://"),
		Targets:      []string{strings.TrimPrefix(s.ExporterURL, "http://")},
	})
	if err != nil {
		return err
	}
	s.addProcess(prom.Process)
	s.PrometheusURL = prom.URL
	s.Prometheus = promenv.NewAPI(prom.URL)
	return nil
}
