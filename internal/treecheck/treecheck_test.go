package treecheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRepositoryTreeIsClean fails when the repository tracks an executable
// or a file over 1 MiB (a build output committed by mistake).
func TestRepositoryTreeIsClean(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files, err := TrackedFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 50 {
		t.Fatalf("git ls-files listed only %d files under %s: not the repository", len(files), root)
	}
	findings, err := Check(root, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		t.Errorf("committed file that must not be: %s (remove it from git; build outputs are ignored by .gitignore)", f)
	}
}

// TestCheckCatchesPlantedFiles plants an ELF binary, a Mach-O binary and a
// 2 MiB file in a scratch git repository next to ordinary files, and expects
// exactly the planted ones back.
func TestCheckCatchesPlantedFiles(t *testing.T) {
	dir, git := scratchRepo(t)
	write := func(name string, b []byte) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The exact 1 MiB limit is allowed; one byte more is not.
	write("docs/at-limit.txt", bytes.Repeat([]byte("a"), MaxFileBytes))
	write("main.go", []byte("package main\n"))
	write("tiny", []byte{0x7f}) // shorter than any magic
	elf, err := os.ReadFile(testBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	write("forge-exporter", elf)
	write("bin/darwin/forge-exporter", append([]byte{0xcf, 0xfa, 0xed, 0xfe}, make([]byte, 64)...))
	write("testdata/big.json", bytes.Repeat([]byte(" "), MaxFileBytes+1))
	git("add", "-A")
	git("commit", "-q", "-m", "planted")

	files, err := TrackedFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	findings, err := Check(dir, files)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range findings {
		got[f.Path] += f.Reason + ";"
	}
	want := map[string]string{
		"forge-exporter":            "executable",
		"bin/darwin/forge-exporter": "Mach-O",
		"testdata/big.json":         "over the 1048576-byte limit",
	}
	for p, reason := range want {
		if !strings.Contains(got[p], reason) {
			t.Errorf("%s: got findings %q, want one mentioning %q", p, got[p], reason)
		}
	}
	if len(got) != len(want) {
		t.Errorf("findings %v, want exactly %v", got, want)
	}
}

// testBinary is a real ELF executable of this platform: the running test
// binary itself, so the check is proven on what `go build` writes.
func testBinary(t *testing.T) string {
	t.Helper()
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// scratchRepo makes an empty git repository and returns it with a function
// that runs git in it (as a fixed author, failing the test on error).
func scratchRepo(t *testing.T) (string, func(args ...string)) {
	t.Helper()
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	return dir, git
}
