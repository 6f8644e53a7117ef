package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Each invalid file must fail with an error that names the key path and the
// reason. The expectations are substrings of the full error text.
var invalidCases = map[string][]string{
	"invalid-unknown-key.yaml":           {"storage.scan_intervall (line 3): unknown key"},
	"invalid-inline-token.yaml":          {"gitea.token (line 3): secrets are never accepted inline", "gitea.token_file"},
	"invalid-url-credentials.yaml":       {"gitea.url: must not contain credentials"},
	"invalid-wrong-type.yaml":            {"storage.scan_concurrency (line 2): cannot unmarshal string `lots` into int"},
	"invalid-duration.yaml":              {"storage.scan_interval (line 2):", "is not a valid duration"},
	"invalid-volume-missing-path.yaml":   {"storage.volumes[0].path: is required"},
	"invalid-duplicate-directory.yaml":   {`storage.directories[1].name: duplicate name "packages"`},
	"invalid-scan-cache.yaml":            {"storage.scan_cache_max_dirs: must not be negative"},
	"invalid-directory-incremental.yaml": {"storage.directories[0].incremental (line 5): cannot unmarshal string `sometimes` into bool"},
	"invalid-bad-name.yaml":              {`storage.directories[0].name: "Package Store" must match`},
	"invalid-kube-pvc-all-mixed.yaml":    {`kubernetes.persistentvolumeclaims[0]: "*" reports every watched PVC: list it alone`},
	"invalid-namespace.yaml":             {`kubernetes.namespaces[0]: "Databases" is not a valid namespace name`},
	"invalid-cronjob-ref.yaml":           {`kubernetes.protected_volumes[0].cronjobs[0]: "backup-gitea" must be namespace/name`},
	"invalid-kube-pvc-ref.yaml":          {`kubernetes.persistentvolumeclaims[0]: "gitea-shared-storage" must be namespace/name`, "kubernetes.discovery_interval: must be at least 1s"},
	"invalid-gitea-url.yaml":             {"gitea.url: must be an http:// or https:// URL"},
	"invalid-gitea-missing-token.yaml":   {"gitea.token_file: is required when url is set"},
	"invalid-gitea-label-contract.yaml":  {`gitea.label_contract[1].label: duplicate label "ubuntu-latest"`, "gitea.label_contract[1].min_online_runners: must not be negative", "gitea.label_contract[2].label: is required", `gitea.label_contract[3].label: "two words" must not contain spaces`},
	"invalid-gitea-owners.yaml":          {"gitea.package_owners[1]: must not be empty", `gitea.package_owners[2]: duplicate owner "acme"`, `gitea.package_owners[3]: "a/b" is not a Gitea user or organisation name`},
	"invalid-packages.yaml":              {"packages.check_interval: must be at least 1s", "packages.check_concurrency: must be between 1 and 256"},
	"invalid-gitea-interval.yaml":        {"gitea.interval: must be at least 1s", "gitea.requests_per_second: must be positive"},
	"invalid-drill-max-age.yaml":         {"evidence.drills[0].max_age: is required and must be positive"},
	"invalid-asset-secret-custody.yaml":  {"assets[0].secret_custody[1]: looks like secret material (detector openbao-token)", "assets[0].consumer_verification: looks like secret material (detector password)"},
	"invalid-asset-drill-kind.yaml":      {`assets[0].drills[1]: "nightly" is not a drill kind of the contract`, `assets[0].drills[0]: drill kind "source-forge" has no evidence.drills entry`},
	"invalid-drill-kind.yaml":            {`evidence.drills[0].kind: "nightly" is not a drill kind of the contract (one of source-forge, package-blob, runner-substrate, secret-delivery)`},
	"invalid-asset-signals.yaml":         {`assets[0].signals.cnpg_clusters[0]: "gitea-db" must be namespace/name`, `assets[0].signals.directories[0]: "packages" is not a storage.directories name`, `assets[0].signals.volumes[0]: "gitea-data" is not a storage.volumes name`},
	"invalid-evidence-directory.yaml":    {`evidence.directories[0].name: "configmap" is reserved`, "evidence.directories[1].path: is required"},
	"invalid-yaml-syntax.yaml":           {"invalid YAML"},
	"invalid-sops.yaml": {"sops.interval: must be at least 1s", `sops.expected_recipients.age[0]: "age1notarecipient" is not an age recipient`,
		"sops.expected_recipients.age[1]: is an age identity (a private key)", `sops.expected_recipients.pgp[0]: "85D77543" is not a PGP fingerprint`,
		"sops.files[0]: set path or gitea, not both", `sops.files[1].name: duplicate name "gitea-values"`, `sops.files[1].gitea.repository: "forge" must be owner/name`,
		"sops.files[1].gitea.path: must not contain ..", "sops.files[1].gitea: needs the gitea section", "sops.files[2]: set path (a mounted file) or gitea",
		"sops.files[3].format: cannot tell the format from the file name", `sops.files[4].format: "toml" is not a SOPS format`,
		`assets[0].signals.sops_files[1]: "missing" is not a sops.files name`},
	"invalid-sops-no-recipients.yaml": {"sops.files[0].expected_recipients: is required (here or in sops.expected_recipients)"},
	"invalid-collectors-type.yaml":    {"collectors.volume (line 2): cannot unmarshal string `yes please` into bool"},
	"invalid-unwatched-namespace.yaml": {
		`kubernetes.protected_volumes[0].namespace: the protected PVC gitea/gitea-shared-storage is in namespace "gitea", which kubernetes.namespaces (default, databases) does not watch`,
		`kubernetes.protected_volumes[0].cronjobs[0]: the CronJob backups/files is in namespace "backups"`,
		`kubernetes.persistentvolumeclaims[1]: the PVC gitea/data is in namespace "gitea"`,
		`storage.volumes[0].namespace: the volume's PVC gitea/gitea-shared-storage is in namespace "gitea"`,
		`assets[0].signals.cnpg_clusters[0]: the CNPG cluster postgres/gitea-db is in namespace "postgres"`,
		`assets[0].signals.persistentvolumeclaims[0]: the PVC gitea/gitea-shared-storage is in namespace "gitea"`,
	},
}

func TestInvalidConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		if name == "invalid-unknown-collector.yaml" {
			continue // needs the collector list: tested in cmd/forge-exporter
		}
		want, ok := invalidCases[name]
		if !ok {
			t.Errorf("%s has no expectation in invalidCases", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			_, err := Load(f)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, f) {
				t.Errorf("error does not name the file %q: %s", f, msg)
			}
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if strings.Contains(msg, "hunter2") || strings.Contains(msg, "0123456789abcdef") || strings.Contains(msg, "FAKEconfigTestOnly") || strings.Contains(msg, "FakeCfgOnly99") {
				t.Errorf("error echoes a secret value: %s", msg)
			}
		})
	}
	for name := range invalidCases {
		if _, err := os.Stat(filepath.Join("testdata", name)); err != nil {
			t.Errorf("expectation for missing file %s", name)
		}
	}
}

func TestDefaultsAndRelativePaths(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "c.yaml")
	data := "storage:\n  directories:\n    - name: packages\n      path: sample/packages\n"
	if err := os.WriteFile(f, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Storage.Directories[0].Path, filepath.Join(dir, "sample/packages"); got != want {
		t.Errorf("relative path resolved to %q, want %q", got, want)
	}
	if got := time.Duration(cfg.Storage.ScanInterval); got != 5*time.Minute {
		t.Errorf("default scan_interval = %s, want 5m", got)
	}
	if got := time.Duration(cfg.Gitea.Timeout); got != 10*time.Second {
		t.Errorf("default gitea.timeout = %s, want 10s", got)
	}
}

func TestEmptyConfigIsValid(t *testing.T) {
	if _, err := Parse("empty.yaml", nil); err != nil {
		t.Fatalf("empty config: %v", err)
	}
}

func TestCheckCollectorNames(t *testing.T) {
	cfg, err := Load("testdata/invalid-unknown-collector.yaml")
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.CheckCollectorNames("x.yaml", []string{"volume", "directory"})
	if err == nil || !strings.Contains(err.Error(), "collectors.volumes: unknown collector (known: volume, directory)") {
		t.Fatalf("got %v", err)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		data, _ := os.ReadFile(file)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if err == nil && cfg == nil {
			t.Fatal("nil config without error")
		}
	})
}
