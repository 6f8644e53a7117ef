// Package treecheck finds what must never be committed: build outputs
// (ELF and Mach-O executables) and files over the size limit. Its test runs
// it over the repository's own tracked files, so `make test` fails the
// moment a binary or a large file is added to git.
package treecheck

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// MaxFileBytes is the largest file the repository may track (1 MiB).
const MaxFileBytes = 1 << 20

// executableMagic lists the first bytes of the executable formats a Go build
// writes on the platforms the release targets (linux: ELF; darwin: Mach-O,
// 32/64-bit in both byte orders, and the universal "fat" header).
var executableMagic = []struct {
	format string
	magic  []byte
}{
	{"ELF", []byte{0x7f, 'E', 'L', 'F'}},
	{"Mach-O", []byte{0xfe, 0xed, 0xfa, 0xce}},
	{"Mach-O", []byte{0xfe, 0xed, 0xfa, 0xcf}},
	{"Mach-O", []byte{0xce, 0xfa, 0xed, 0xfe}},
	{"Mach-O", []byte{0xcf, 0xfa, 0xed, 0xfe}},
	{"Mach-O universal", []byte{0xca, 0xfe, 0xba, 0xbe}},
}

// Finding is one tracked file that must not be committed.
type Finding struct {
	Path   string
	Reason string
}

func (f Finding) String() string { return f.Path + ": " + f.Reason }

// TrackedFiles lists the files git tracks in the work tree at root.
func TrackedFiles(root string) ([]string, error) {
	cmd := exec.Command("git", "-C", root, "ls-files", "-z")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files in %s: %v: %s", root, err, strings.TrimSpace(stderr.String()))
	}
	var files []string
	for _, p := range strings.Split(string(out), "\x00") {
		if p != "" {
			files = append(files, p)
		}
	}
	return files, nil
}

// Check inspects each path (relative to root) and returns what must not be
// committed. A tracked file deleted from the work tree is not a finding.
func Check(root string, paths []string) ([]Finding, error) {
	var findings []Finding
	head := make([]byte, 4)
	for _, p := range paths {
		full := filepath.Join(root, p)
		info, err := os.Lstat(full)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !info.Mode().IsRegular() {
			continue
		}
		if info.Size() > MaxFileBytes {
			findings = append(findings, Finding{p, fmt.Sprintf("%d bytes, over the %d-byte limit", info.Size(), MaxFileBytes)})
		}
		f, err := os.Open(full)
		if err != nil {
			return nil, err
		}
		n, err := io.ReadFull(f, head)
		f.Close()
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		for _, m := range executableMagic {
			if n == len(m.magic) && bytes.Equal(head, m.magic) {
				findings = append(findings, Finding{p, m.format + " executable (a build output)"})
				break
			}
		}
	}
	return findings, nil
}
