package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/crypto/bcrypt"

	"github.com/railiance/forge-exporter/internal/secretscan"
	"github.com/railiance/forge-exporter/internal/testenv"
	"github.com/railiance/forge-exporter/internal/testenv/kubeenv"
)

// trustFixture is a running exporter (the real binary) behind TLS and
// basic auth, with one asset, gitea-database, whose backup gate is a live
// CNPG signal (or documented, without Kubernetes) and whose restore drill
// gate reads an evidence directory the test writes records into.
type trustFixture struct {
	dir, url, httpConfig, drills string
	pool                         *x509.CertPool
	logs                         *testenv.Buffer
}

const trustPassword = "trust-check-pass"

func startTrustFixture(t *testing.T, kubeconfig string) *trustFixture {
	t.Helper()
	f := &trustFixture{dir: t.TempDir(), logs: &testenv.Buffer{}}
	f.drills = filepath.Join(f.dir, "drills")
	must(t, os.MkdirAll(f.drills, 0o755))
	certFile, keyFile, pool := writeSelfSignedCert(t, f.dir)
	f.pool = pool
	hash, err := bcrypt.GenerateFromPassword([]byte(trustPassword), bcrypt.MinCost)
	must(t, err)
	webCfg := filepath.Join(f.dir, "web.yml")
	must(t, os.WriteFile(webCfg, []byte("tls_server_config:\n  cert_file: "+certFile+"\n  key_file: "+keyFile+
		"\nbasic_auth_users:\n  release-ci: "+string(hash)+"\n"), 0o600))
	// The client side: Prometheus's HTTP client format, the password in a file.
	must(t, os.WriteFile(filepath.Join(f.dir, "password"), []byte(trustPassword+"\n"), 0o600))
	f.httpConfig = filepath.Join(f.dir, "http.yml")
	must(t, os.WriteFile(f.httpConfig, []byte("basic_auth:\n  username: release-ci\n  password_file: password\ntls_config:\n  ca_file: tls.crt\n"), 0o600))

	backup := "    backup_mechanism: CNPG ScheduledBackup databases/gitea-db-daily\n"
	kube := ""
	if kubeconfig != "" {
		backup = "    signals:\n      cnpg_clusters: [databases/gitea-db]\n"
		kube = fmt.Sprintf("collectors: {cnpg: true}\nkubernetes:\n  kubeconfig: %s\n  namespaces: [databases]\n  persistentvolumes: false\n  discovery_interval: 1s\n", kubeconfig)
	}
	cfg := filepath.Join(f.dir, "config.yaml")
	must(t, os.WriteFile(cfg, []byte(kube+`evidence:
  directories:
    - name: drills
      path: drills
  interval: 1s
  drills:
    - kind: source-forge
      max_age: 90d
assets:
  - name: gitea-database
    description: CNPG cluster databases/gitea-db
    drills: [source-forge]
    consumer_verification: make gitea-status
    secret_custody: [databases/gitea-db-app]
    rollback: restore the previous backup into a new cluster and switch the service
    storage_growth: forge_cnpg_* metrics and the CNPG dashboard
    next_drill_owner: platform-oncall
`+backup), 0o644))

	addr := testenv.MustFreeAddr(t)
	f.url = "https://" + addr
	cmd := exec.Command(binary, "--config.file="+cfg, "--web.listen-address="+addr, "--web.config.file="+webCfg)
	cmd.Stdout, cmd.Stderr = f.logs, f.logs
	must(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Errorf("exporter did not stop within 15s of SIGTERM")
		}
	})
	waitFor(t, "exporter ready over TLS", func() bool {
		code, _ := f.get(t, "/-/ready", true)
		return code == http.StatusOK
	}, f.logs)
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// get fetches path over TLS, with or without the credentials.
func (f *trustFixture) get(t *testing.T, path string, auth bool) (int, string) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.pool}}, Timeout: 10 * time.Second}
	req, _ := http.NewRequest("GET", f.url+path, nil)
	if auth {
		req.SetBasicAuth("release-ci", trustPassword)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// check runs `forge-exporter trust check` (the real binary, as a release
// pipeline would) and returns its exit code and output.
func (f *trustFixture) check(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"trust", "check", "--url", f.url, "--http.config.file", f.httpConfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// waitCheck waits until trust check exits with want.
func (f *trustFixture) waitCheck(t *testing.T, want int, args ...string) string {
	t.Helper()
	return f.waitCheckSaying(t, want, "", args...)
}

// waitCheckSaying waits until trust check exits with want and its output
// contains saying.
func (f *trustFixture) waitCheckSaying(t *testing.T, want int, saying string, args ...string) string {
	t.Helper()
	var out string
	deadline := time.Now().Add(60 * time.Second)
	for {
		var code int
		code, out = f.check(t, args...)
		if code == want && strings.Contains(out, saying) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("trust check %v exits %d, want %d:\n%s\nexporter log:\n%s", args, code, want, out, f.logs.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// writeDrill records a passed source-forge drill for gitea-database.
func (f *trustFixture) writeDrill(t *testing.T, date time.Time) {
	t.Helper()
	rec := fmt.Sprintf(`schema_version: 1
drill: source-forge
assets: [gitea-database]
date: %s
operator: platform-oncall (drill-runner)
backup_reference: CNPG backup databases/gitea-db-%s
restored_environment: namespace forge-restore-drill on the staging cluster
commands:
  - kubectl apply -n forge-restore-drill -f restore/gitea-db-recovery.yaml
checks:
  - name: Gitea starts in the isolated namespace
    result: passed
  - name: railiance/forge is listed and clones
    result: passed
no_secret_material_recorded: true
rollback_note: namespace forge-restore-drill deleted
`, date.UTC().Format(time.RFC3339), date.UTC().Format("20060102"))
	must(t, os.WriteFile(filepath.Join(f.drills, "source-forge-"+date.UTC().Format(time.DateOnly)+".yaml"), []byte(rec), 0o644))
}

// validateTrustJSON checks a response body against docs/trust.schema.json
// and the secret scan.
func validateTrustJSON(t *testing.T, body string) {
	t.Helper()
	raw, err := os.ReadFile("../../docs/trust.schema.json")
	must(t, err)
	schemaDoc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(raw)))
	must(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	must(t, c.AddResource("trust.schema.json", schemaDoc))
	s, err := c.Compile("trust.schema.json")
	must(t, err)
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
	must(t, err)
	if err := s.Validate(doc); err != nil {
		t.Errorf("GET /api/v1/trust does not validate against docs/trust.schema.json: %v\n%s", err, body)
	}
	if f := secretscan.New().Scan([]byte(body)); len(f) > 0 {
		t.Errorf("GET /api/v1/trust holds something the secret scan flags: %v", f)
	}
	for _, s := range []string{"drill-runner", "kubectl", "rollback_note", "namespace forge-restore-drill deleted"} {
		if strings.Contains(body, s) {
			t.Errorf("GET /api/v1/trust carries record content beyond the citable fields (%q)", s)
		}
	}
}

// TestTrustAPIEndToEnd: the real binary serves /api/v1/trust behind its
// web config (TLS and basic auth), and `trust check` reads it with the
// documented client file: exit 1 with the missing gate, then 0 with the
// evidence to cite once a passing drill record is added.
func TestTrustAPIEndToEnd(t *testing.T) {
	f := startTrustFixture(t, "")
	if code, _ := f.get(t, "/api/v1/trust", false); code != http.StatusUnauthorized {
		t.Errorf("without credentials: %d, want 401 (the same web config as /metrics)", code)
	}
	out := f.waitCheck(t, 1, "--asset", "gitea-database")
	if !strings.Contains(out, "gitea-database: NOT production-trusted") || !strings.Contains(out, "missing restore_drill (evidence: evidence records of the drills)") ||
		strings.Contains(out, "missing backup_mechanism") {
		t.Errorf("before the drill:\n%s", out)
	}
	// The gates that hold, asked for alone, pass.
	if code, out := f.check(t, "--asset", "gitea-database", "--gate", "backup_mechanism", "--gate", "secret_custody"); code != 0 || !strings.Contains(out, "gates backup_mechanism, secret_custody hold") {
		t.Errorf("--gate: exit %d\n%s", code, out)
	}

	f.writeDrill(t, time.Now().Add(-48*time.Hour))
	out = f.waitCheck(t, 0, "--asset", "gitea-database")
	day := time.Now().Add(-48 * time.Hour).UTC()
	want := fmt.Sprintf("cite source-forge drill: record drills/source-forge-%s.yaml, %s, backup CNPG backup databases/gitea-db-%s, restored into namespace forge-restore-drill on the staging cluster",
		day.Format(time.DateOnly), day.Format(time.DateOnly), day.Format("20060102"))
	if !strings.Contains(out, "gitea-database: production-trusted") || !strings.Contains(out, want) {
		t.Errorf("after the drill:\n%s\nwant a line %q", out, want)
	}

	code, body := f.get(t, "/api/v1/trust", true)
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/trust: %d %s", code, body)
	}
	validateTrustJSON(t, body)
	if code, body := f.get(t, "/api/v1/trust?asset=nope", true); code != http.StatusNotFound || !strings.Contains(body, "no asset") {
		t.Errorf("unknown asset: %d %s", code, body)
	}
	if code, out := f.check(t, "--asset", "nope"); code != 2 || !strings.Contains(out, "no asset") {
		t.Errorf("unknown asset: exit %d\n%s", code, out)
	}
	// A client without the credentials gets no answer, and says so.
	cmd := exec.Command(binary, "trust", "check", "--url", f.url, "--asset", "gitea-database")
	b, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("without --http.config.file: %v\n%s", err, b)
	}
}

// TestTrustCheckFollowsCNPGBackup: with the backup gate linked to a CNPG
// cluster in a real kube-apiserver, trust check flips from 1 to 0 only
// when both a passing drill record and a ScheduledBackup exist.
func TestTrustCheckFollowsCNPGBackup(t *testing.T) {
	ctx := context.Background()
	kubeenv.RequireBinaries(t)
	env, err := kubeenv.Start(ctx, kubeenv.Options{})
	if err != nil {
		t.Fatalf("real kube-apiserver: %v", err)
	}
	t.Cleanup(func() { env.Stop() })
	if _, err := env.Apply(ctx, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: databases}\n---\napiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata: {name: gitea-db, namespace: databases}\nspec:\n  instances: 1\n  storage: {size: 1Gi}\n")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	must(t, env.WriteKubeconfig(kubeconfig, env.Config()))
	f := startTrustFixture(t, kubeconfig)

	// Once the informers have synced, the live signal decides: no
	// ScheduledBackup for the cluster.
	out := f.waitCheckSaying(t, 1, "missing backup_mechanism (live: signals.cnpg_clusters, signals.persistentvolumeclaims)", "--asset", "gitea-database")
	if !strings.Contains(out, "missing restore_drill") {
		t.Errorf("before: no missing restore_drill in\n%s", out)
	}
	f.writeDrill(t, time.Now().Add(-24*time.Hour))
	f.waitCheck(t, 0, "--asset", "gitea-database", "--gate", "restore_drill")
	if code, out := f.check(t, "--asset", "gitea-database"); code != 1 || !strings.Contains(out, "missing backup_mechanism (live") {
		t.Errorf("trusted without a backup mechanism: exit %d\n%s", code, out)
	}

	if _, err := env.Apply(ctx, []byte("apiVersion: postgresql.cnpg.io/v1\nkind: ScheduledBackup\nmetadata: {name: gitea-db-daily, namespace: databases}\nspec:\n  schedule: \"0 0 2 * * *\"\n  cluster: {name: gitea-db}\n")); err != nil {
		t.Fatal(err)
	}
	out = f.waitCheck(t, 0, "--asset", "gitea-database")
	if !strings.Contains(out, "gitea-database: production-trusted") || !strings.Contains(out, "cite source-forge drill") {
		t.Errorf("after the backup:\n%s", out)
	}
	code, body := f.get(t, "/api/v1/trust?asset=gitea-database", true)
	if code != http.StatusOK || !strings.Contains(body, `"source": "live"`) {
		t.Errorf("GET /api/v1/trust: %d\n%s", code, body)
	}
	validateTrustJSON(t, body)
}
