package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/railiance/forge-exporter/internal/testenv/sopsenv"
)

// sopsFixture reads a plaintext fixture; they hold fake secrets on purpose
// (testdata/ is where the repository allows planted secrets).
func sopsFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "sops", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSOPSCheckCLI is the pre-commit hook's view: a repository with a
// .sops.yaml and files the real sops encrypted; the command finds the
// creation rule itself, exits 0 on clean files and 1 on a decrypted file,
// a hand-added plaintext value or a removed recipient, and never prints a
// value.
func TestSOPSCheckCLI(t *testing.T) {
	env := sopsenv.New(t)
	ops, breakGlass := env.NewKey(t), env.NewKey(t)
	rule := sopsenv.Age(ops, breakGlass)
	enc := env.Encrypt(t, "v.yaml", sopsFixture(t, "gitea-values.yaml"), rule)
	encEnv := env.Encrypt(t, "v.env", sopsFixture(t, "gitea.env"), rule)

	repo := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write(".sops.yaml", []byte("creation_rules:\n  - path_regex: ^helm/.*\\.sops\\.(yaml|env)$\n    age: >-\n      "+ops.Recipient+",\n      "+breakGlass.Recipient+"\n"))
	clean := write("helm/gitea-values.sops.yaml", enc)
	cleanEnv := write("helm/gitea.sops.env", encEnv)

	code, out, errs := runCLI("sops", "check", clean, cleanEnv)
	if code != 0 || !strings.Contains(out, "2 SOPS files: 2 ok, 0 failed") || !strings.Contains(out, "as "+filepath.Join(repo, ".sops.yaml")+" expects") {
		t.Fatalf("clean files: exit %d\n%s%s", code, out, errs)
	}

	decrypted := write("helm/decrypted.sops.yaml", env.Decrypt(t, "v.yaml", enc, ops))
	edited := write("helm/edited.sops.yaml", []byte(strings.Replace(string(enc), "gitea:\n", "gitea:\n"+string(sopsFixture(t, "added.txt")), 1)))
	drifted := write("helm/drifted.sops.yaml", env.UpdateKeys(t, "v.yaml", enc, ops, sopsenv.Age(ops)))
	code, out, _ = runCLI("sops", "check", clean, decrypted, edited, drifted)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{
		decrypted + ": FAIL", "no sops metadata", "line 3: gitea.admin.password is not encrypted",
		edited + ": FAIL", "line 2: gitea.smtp_password is not encrypted",
		drifted + ": FAIL", "recipient missing: age " + breakGlass.Recipient,
		"4 SOPS files: 1 ok, 3 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"Adm1n-Pa55", "t0ken-added", "pg-Pa55"} { // the fixtures' planted values
		if strings.Contains(out, secret) {
			t.Errorf("output echoes a value:\n%s", out)
		}
	}

	// Explicit recipients replace the .sops.yaml; standard input needs --format.
	code, out, _ = runCLI("sops", "check", "-q", "--age", ops.Recipient, clean)
	if code != 1 || !strings.Contains(out, "recipient not expected: age "+breakGlass.Recipient) {
		t.Errorf("--age: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI("sops", "check", "--format", "yaml", "--age", ops.Recipient+","+breakGlass.Recipient, clean)
	if code != 0 {
		t.Errorf("--format yaml: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI("sops", "check", filepath.Join(repo, "helm", "absent.sops.yaml"))
	if code != 1 || !strings.Contains(out, "cannot read: no such file or directory") {
		t.Errorf("missing file: exit %d\n%s", code, out)
	}

	// As a pre-commit hook: git runs the binary from the repository root
	// with the staged paths, relative.
	cmd := exec.Command(binary, "sops", "check", "helm/gitea-values.sops.yaml", "helm/decrypted.sops.yaml")
	cmd.Dir = repo
	b, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(b), "helm/decrypted.sops.yaml: FAIL") {
		t.Errorf("hook run: %v\n%s", err, b)
	}
}
