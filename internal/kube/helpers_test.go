package kube_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/railiance/forge-exporter/internal/kube"
	"github.com/railiance/forge-exporter/internal/kube/kubefake"
	"github.com/railiance/forge-exporter/internal/testenv"
)

// startSource runs a source on fake clients until the test ends.
func startSource(t *testing.T, f *kubefake.Env, opts kube.Options, need ...kube.Resource) *kube.Source {
	t.Helper()
	s := newTestSource(f, opts)
	s.Need(need...)
	runSource(t, s)
	return s
}

func newTestSource(f *kubefake.Env, opts kube.Options) *kube.Source {
	if opts.DiscoveryInterval == 0 {
		opts.DiscoveryInterval = 20 * time.Millisecond
	}
	return kube.NewSource(slog.New(slog.NewTextHandler(io.Discard, nil)), f.Clients(), opts)
}

func runSource(t *testing.T, s *kube.Source) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, what, cond)
}

// metricValue gathers c and returns the sum of the named family's values.
func metricValue(t *testing.T, c prometheus.Collector, name string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return sum
}
