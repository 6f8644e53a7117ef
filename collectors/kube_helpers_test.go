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
	deadline := time.Now().Add(20 * time.Second)
	for {
		ch := make(chan prometheus.Metric, 10000)
		err := c.Update(context.Background(), ch)
		if !errors.Is(err, exporter.ErrNoData) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("caches never synced: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
