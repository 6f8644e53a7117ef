package collectors

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/railiance/forge-exporter/internal/exporter"
	"github.com/railiance/forge-exporter/internal/kube"
	"github.com/railiance/forge-exporter/internal/kube/kubefake"
	"github.com/railiance/forge-exporter/internal/testenv"
)

// fakeKube returns a source on client-go fakes holding the objects of a
// testdata YAML file, with the given CRD resources served. The caller
// builds its collector (which registers what it needs) and then calls run.
func fakeKube(t *testing.T, file string, opts kube.Options, served ...kube.Resource) (*kube.Source, *kubefake.Env) {
	t.Helper()
	objs, err := kubefake.LoadObjects(file)
	must(t, err)
	f := kubefake.New(objs...)
	f.Discovery.Serve(served...)
	if opts.DiscoveryInterval == 0 {
		opts.DiscoveryInterval = 20 * time.Millisecond
	}
	return kube.NewSource(quietLogger(), f.Clients(), opts), f
}

// runKube runs src until the test ends and waits until c reports data.
func runKube(t *testing.T, src *kube.Source, c exporter.Collector) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		src.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	testenv.Eventually(t, 20*time.Second, "the kube caches to sync", func() bool {
		ch := make(chan prometheus.Metric, 10000)
		return !errors.Is(c.Update(context.Background(), ch), exporter.ErrNoData)
	})
}
