package treecheck

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/railiance/forge-exporter/internal/testenv"
)

type leak struct {
	File   string
	RuleID string
	Secret string
	Commit string
}

// gitleaks runs `gitleaks git` with the repository's .gitleaks.toml over the
// git repository dir and returns its findings.
func gitleaks(t *testing.T, bin, config, dir string) []leak {
	t.Helper()
	report := filepath.Join(t.TempDir(), "report.json")
	cmd := exec.Command(bin, "git", "--no-banner", "--redact", "--config", config,
		"--report-format", "json", "--report-path", report, "--exit-code", "0", dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gitleaks git %s: %v\n%s", dir, err, out)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var leaks []leak
	if err := json.Unmarshal(b, &leaks); err != nil {
		t.Fatalf("gitleaks report: %v", err)
	}
	return leaks
}

// TestRepositoryScansCleanWithGitleaks: the repository's whole history scans
// clean with its own .gitleaks.toml, so a fork that adds gitleaks to its CI
// does not fail on the planted test fixtures.
func TestRepositoryScansCleanWithGitleaks(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := testenv.RequireBinary(t, "gitleaks")
	for _, l := range gitleaks(t, bin, filepath.Join(root, ".gitleaks.toml"), root) {
		// --redact: the report never holds the secret itself.
		t.Errorf("gitleaks finding outside the testdata allowlist: %s (rule %s, commit %.12s)", l.File, l.RuleID, l.Commit)
	}
}

// TestGitleaksAllowlistIsScoped: the same configuration still reports a
// secret committed outside testdata/, and only that one.
func TestGitleaksAllowlistIsScoped(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := testenv.RequireBinary(t, "gitleaks")
	dir, git := scratchRepo(t)
	// A GitHub personal access token's shape, made up at run time so that
	// this source file holds no token for any scanner to find.
	const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	r := rand.New(rand.NewPCG(1, 2))
	tok := []byte("ghp_")
	for range 36 {
		tok = append(tok, alnum[r.IntN(len(alnum))])
	}
	line := "token: " + string(tok) + "\n"
	for _, p := range []string{"deploy/values.yaml", "internal/x/testdata/token.yaml"} {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("add", "-A")
	git("commit", "-q", "-m", "planted")

	leaks := gitleaks(t, bin, filepath.Join(root, ".gitleaks.toml"), dir)
	var files []string
	for _, l := range leaks {
		files = append(files, l.File)
		if strings.Contains(l.Secret, string(tok[4:])) {
			t.Errorf("gitleaks report holds the secret despite --redact")
		}
	}
	if len(files) != 1 || files[0] != "deploy/values.yaml" {
		t.Errorf("findings in %v, want exactly [deploy/values.yaml] (the testdata copy allowed, the other reported)", files)
	}
}
