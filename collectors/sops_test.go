package collectors

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/evidence"
	"github.com/railiance/forge-exporter/internal/sampler"
	"github.com/railiance/forge-exporter/internal/testenv/sopsenv"
)

// sopsDeps builds Deps for cfg and runs their background work for the test.
func sopsDeps(t *testing.T, cfg *config.Config) (*Deps, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	d := &Deps{
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Config: cfg,
		Samplers: sampler.NewMetrics(prometheus.NewRegistry()), Now: time.Now,
		enabled: map[string]bool{"sops": true, "trust": true}, shared: map[string]any{},
	}
	return d, &logs
}

func startRuns(t *testing.T, d *Deps) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	for _, r := range d.runs {
		go r.fn(ctx)
	}
	t.Cleanup(cancel)
}

// TestSOPSCollectorRealFiles checks four files sops really encrypted:
// clean, decrypted, drifted and missing; the exposition has no value and
// no key name, and the secret custody gate follows the verdicts.
func TestSOPSCollectorRealFiles(t *testing.T) {
	env := sopsenv.New(t)
	ops, breakGlass := env.NewKey(t), env.NewKey(t)
	dir := t.TempDir()
	// The plaintext holds a fake password on purpose (testdata/ is where
	// the repository allows planted secrets).
	plain, err := os.ReadFile("testdata/sops/gitea-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const planted = "Adm1n-Pa55"
	if !strings.Contains(string(plain), planted) {
		t.Fatal("the fixture lost its planted password")
	}
	enc := env.Encrypt(t, "v.yaml", plain, sopsenv.Age(ops, breakGlass))
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	clean := write("clean.sops.yaml", enc)
	decrypted := write("decrypted.sops.yaml", env.Decrypt(t, "v.yaml", enc, ops))
	drifted := write("drifted.sops.yaml", env.UpdateKeys(t, "v.yaml", enc, ops, sopsenv.Age(ops)))
	cfg := &config.Config{
		SOPS: config.SOPS{
			Interval:           config.Duration(time.Hour),
			ExpectedRecipients: config.Recipients{Age: []string{ops.Recipient, breakGlass.Recipient}},
			Files: []config.SOPSFile{
				{Name: "clean", Path: clean},
				{Name: "decrypted", Path: decrypted},
				{Name: "drifted", Path: drifted},
				{Name: "missing", Path: filepath.Join(dir, "missing.sops.yaml")},
			},
		},
	}
	d, logs := sopsDeps(t, cfg)
	src, err := sharedSOPS(d)
	if err != nil {
		t.Fatal(err)
	}
	startRuns(t, d)
	c := NewSOPSCollector(src)
	want := `
# HELP forge_sops_file_check_passed 1 if the file passed every check of the sentinel (what ` + "`forge-exporter sops check`" + ` exits 0 for), 0 if not. Sampled every sops.interval.
# TYPE forge_sops_file_check_passed gauge
forge_sops_file_check_passed{file="clean"} 1
forge_sops_file_check_passed{file="decrypted"} 0
forge_sops_file_check_passed{file="drifted"} 0
forge_sops_file_check_passed{file="missing"} 0
# HELP forge_sops_file_readable 1 if the configured SOPS file could be read and parsed (YAML, JSON or dotenv), 0 if not. Sampled every sops.interval.
# TYPE forge_sops_file_readable gauge
forge_sops_file_readable{file="clean"} 1
forge_sops_file_readable{file="decrypted"} 1
forge_sops_file_readable{file="drifted"} 1
forge_sops_file_readable{file="missing"} 0
# HELP forge_sops_file_metadata_present 1 if the file carries valid sops metadata (lastmodified, one encryption rule, recipients), 0 if not: a decrypted file has none. Sampled every sops.interval.
# TYPE forge_sops_file_metadata_present gauge
forge_sops_file_metadata_present{file="clean"} 1
forge_sops_file_metadata_present{file="decrypted"} 0
forge_sops_file_metadata_present{file="drifted"} 1
# HELP forge_sops_file_mac_present 1 if the file's sops metadata holds an encrypted MAC, 0 if not. Sampled every sops.interval.
# TYPE forge_sops_file_mac_present gauge
forge_sops_file_mac_present{file="clean"} 1
forge_sops_file_mac_present{file="decrypted"} 0
forge_sops_file_mac_present{file="drifted"} 1
# HELP forge_sops_file_fully_encrypted 1 if every value and comment the file's encryption rule covers is encrypted, 0 if not. Sampled every sops.interval.
# TYPE forge_sops_file_fully_encrypted gauge
forge_sops_file_fully_encrypted{file="clean"} 1
forge_sops_file_fully_encrypted{file="decrypted"} 0
forge_sops_file_fully_encrypted{file="drifted"} 1
# HELP forge_sops_file_plaintext_values Values and comments the file's encryption rule covers that are in plaintext (decrypted, or added by hand). Sampled every sops.interval.
# TYPE forge_sops_file_plaintext_values gauge
forge_sops_file_plaintext_values{file="clean"} 0
forge_sops_file_plaintext_values{file="decrypted"} 2
forge_sops_file_plaintext_values{file="drifted"} 0
# HELP forge_sops_file_unencrypted_values Values the file's encryption rule leaves in plaintext (unencrypted_suffix, unencrypted_regex, ...); they are scanned for secrets. Sampled every sops.interval.
# TYPE forge_sops_file_unencrypted_values gauge
forge_sops_file_unencrypted_values{file="clean"} 1
forge_sops_file_unencrypted_values{file="decrypted"} 1
forge_sops_file_unencrypted_values{file="drifted"} 1
# HELP forge_sops_file_recipient_drift Recipients that differ from sops.expected_recipients: missing (expected, not in the file) or unexpected (in the file, not expected). Sampled every sops.interval.
# TYPE forge_sops_file_recipient_drift gauge
forge_sops_file_recipient_drift{change="missing",file="clean"} 0
forge_sops_file_recipient_drift{change="missing",file="drifted"} 1
forge_sops_file_recipient_drift{change="unexpected",file="clean"} 0
forge_sops_file_recipient_drift{change="unexpected",file="drifted"} 0
`
	names := []string{"forge_sops_file_check_passed", "forge_sops_file_readable", "forge_sops_file_metadata_present",
		"forge_sops_file_mac_present", "forge_sops_file_fully_encrypted", "forge_sops_file_plaintext_values",
		"forge_sops_file_unencrypted_values", "forge_sops_file_recipient_drift"}
	if err := testutil.CollectAndCompare(asCollector{c: c, t: t}, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(asCollector{c: c, t: t}); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	exposition := valuesText(collectValues(t, c))
	for _, s := range []string{planted, "gitea/gitea", "password", "admin", "image_unencrypted", ops.Recipient} {
		if strings.Contains(exposition, s) {
			t.Errorf("the exposition contains %q", s)
		}
	}
	if !strings.Contains(exposition, `forge_sops_file_recipients{file="clean",type="age"} 2`) ||
		!strings.Contains(exposition, `forge_sops_file_info{file="clean",format="yaml",version="3.13.3"} 1`) {
		t.Errorf("recipients or info missing:\n%s", exposition)
	}
	if strings.Contains(logs.String(), planted) {
		t.Errorf("the log carries a value:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "gitea.admin.password is not encrypted") {
		t.Errorf("the log does not name the plaintext key path:\n%s", logs.String())
	}

	// The secret custody gate follows the linked files.
	assets := []config.Asset{
		{Name: "sops-values", SecretCustody: []string{"helm/gitea-values.sops.yaml"}, Signals: config.AssetSignals{SOPSFiles: []string{"clean"}}},
		{Name: "sops-leaky", SecretCustody: []string{"helm/other.sops.yaml"}, Signals: config.AssetSignals{SOPSFiles: []string{"clean", "decrypted"}}},
		{Name: "documented-only", SecretCustody: []string{"databases/gitea-db-app"}},
	}
	tc := NewTrustCollector(assets, fixedEvidence{snap: &evidence.Snapshot{}}, nil, nil, time.Now).WithSOPS(src)
	got := valuesText(collectValues(t, tc))
	for _, line := range []string{
		`forge_asset_trust_gate{asset="sops-values",gate="secret_custody"} 1`,
		`forge_asset_trust_gate{asset="sops-leaky",gate="secret_custody"} 0`,
		`forge_asset_trust_gate{asset="documented-only",gate="secret_custody"} 1`,
	} {
		if !strings.Contains(got, line) {
			t.Errorf("missing %s in\n%s", line, got)
		}
	}
}

// valuesText renders collectValues' map as exposition-like lines.
func valuesText(m map[string]float64) string {
	var b strings.Builder
	for k, v := range m {
		fmt.Fprintf(&b, "%s %g\n", k, v)
	}
	return b.String()
}

// TestSOPSWithoutFiles: with no sops.files the sops and trust collectors
// build (the sentinel is simply absent) and export nothing about SOPS.
func TestSOPSWithoutFiles(t *testing.T) {
	cfg := &config.Config{Assets: []config.Asset{{Name: "a", SecretCustody: []string{"ns/secret"}}}}
	inst, err := Build(Specs(), cfg, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)), sampler.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range inst.RunNames() {
		if n == "sops" {
			t.Errorf("a sops sampler runs without files")
		}
	}
	got := valuesText(collectValues(t, NewSOPSCollector(nil)))
	if got != "" {
		t.Errorf("metrics without files:\n%s", got)
	}
}
