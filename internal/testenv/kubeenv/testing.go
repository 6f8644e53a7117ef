package kubeenv

import (
	"context"
	"testing"

	"github.com/railiance/forge-exporter/internal/testenv"
)

// ForTest starts an Env for a test and stops it on cleanup; on failure the
// last lines of the server's log are added to the test output. When the
// real binaries are not built yet it builds them (RequireBinaries).
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

// RequireBinaries builds etcd and kube-apiserver when this machine has not
// yet (saying so), fails the test when they cannot be built, and skips it
// only under -short (make test-quick).
func RequireBinaries(t testing.TB) {
	t.Helper()
	for _, name := range []string{"etcd", "kube-apiserver"} {
		testenv.RequireBinary(t, name)
	}
}
