// Package testenv is the small toolkit every test harness shares: the
// repository root, free loopback ports, a synchronized buffer for the logs
// of servers under test, and the real server binaries hack/realbin.sh
// builds. Processes are started with internal/testenv/proc.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

const module = "module github.com/railiance/forge-exporter\n"

// RepoRoot returns the forge-exporter checkout that holds the working
// directory (tests run in their package directory; hack tools in the root).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte(module)) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: not inside the forge-exporter repository")
		}
		dir = parent
	}
}

// TB is the part of testing.TB the helpers use (the demo harness passes its
// own implementation).
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// MustRepoRoot is RepoRoot for tests.
func MustRepoRoot(t TB) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return root
}

// FreePorts returns n distinct free loopback ports. They are held open
// together while chosen, so they differ; another process could still take
// one before the caller binds it, which is rare enough on a test machine.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// FreeAddr returns a free 127.0.0.1:PORT.
func FreeAddr() (string, error) {
	p, err := FreePorts(1)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", p[0]), nil
}

// MustFreeAddr is FreeAddr for tests.
func MustFreeAddr(t TB) string {
	t.Helper()
	a, err := FreeAddr()
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	return a
}

// Buffer is a bytes.Buffer safe for a process writing its output while the
// test reads it.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Binary returns the path of a real binary built by hack/realbin.sh (etcd,
// kube-apiserver, kubectl, gitea, helm, gitleaks, ...), building it first
// when this machine has not yet: the build says what it is doing on stderr,
// and concurrent callers wait for one build.
func Binary(name string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return EnsureBinary(root, name)
}

// EnsureBinary is Binary for the checkout at root (the demo, run from it).
func EnsureBinary(root, name string) (string, error) {
	cmd := exec.Command(filepath.Join(root, "hack", "realbin.sh"), "ensure", name)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("testenv: building %s with hack/realbin.sh ensure %s: %v", name, name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// RequireBinary returns the real binary name, building it if needed. Under
// `go test -short` (make test-quick) the test is skipped instead, saying
// what it needed; otherwise a binary that cannot be built fails the test.
func RequireBinary(t TB, name string) string {
	t.Helper()
	if testing.Testing() && testing.Short() {
		t.Skipf("-short: skipping a test that runs the real %s", name)
	}
	p, err := Binary(name)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}

// Eventually polls cond until it holds, and fails the test, naming what it
// waited for, when timeout passes first.
func Eventually(t TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, timeout, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}
