package kubeenv

import (
	"context"
	"os"
	"testing"
)

// ForTest starts an Env for a test and stops it on cleanup; on failure the
// last lines of the server's log are added to the test output. When the
// real binaries are not built it fails under CI=true (CI must run the real
// thing) and skips otherwise, saying how to build them.
func ForTest(t testing.TB, opts Options) *Env {
	t.Helper()
	RequireBinaries(t)
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	env, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("starting kube-apiserver: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kube-apiserver log (last lines):\n%s", env.Logs("kube-apiserver", 30))
		}
		if err := env.Stop(); err != nil {
			t.Errorf("stopping kube-apiserver: %v", err)
		}
	})
	return env
}

// RequireBinaries fails (CI=true) or skips the test when etcd or
// kube-apiserver is not built yet.
func RequireBinaries(t testing.TB) {
	t.Helper()
	for _, name := range []string{"etcd", "kube-apiserver"} {
		if _, err := Binary(name); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%v", err)
			}
			t.Skipf("skipping outside CI: %v", err)
		}
	}
}
