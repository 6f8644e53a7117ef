package exporter

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type funcCollector func(ctx context.Context, ch chan<- prometheus.Metric) error

func (f funcCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	return f(ctx, ch)
}

var valueDesc = prometheus.NewDesc("forge_test_value", "A test value.", nil, nil)

func ok(v float64) funcCollector {
	return func(_ context.Context, ch chan<- prometheus.Metric) error {
		ch <- prometheus.MustNewConstMetric(valueDesc, prometheus.GaugeValue, v)
		return nil
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// successes scrapes once and returns forge_exporter_collector_success by collector.
func successes(t *testing.T, r *Runner, timeout time.Duration) (map[string]float64, time.Duration) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.Scrape(context.Background(), timeout))
	start := time.Now()
	mfs, err := reg.Gather()
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "forge_exporter_collector_success" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	return out, elapsed
}

func TestHangingCollectorTimesOutOthersSucceed(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	hang := funcCollector(func(ctx context.Context, ch chan<- prometheus.Metric) error {
		<-release // ignores ctx on purpose: the runner must not wait for it
		return nil
	})
	r := NewRunner(quietLogger(), []Named{{"hang", hang}, {"good", ok(1)}}, nil)
	got, elapsed := successes(t, r, 200*time.Millisecond)
	if got["hang"] != 0 || got["good"] != 1 {
		t.Fatalf("success = %v, want hang=0 good=1", got)
	}
	// Not a timing assertion on speed: a scrape that waited for the hanging
	// collector would never return at all (release is closed only at the end).
	_ = elapsed
}

func TestPanickingCollectorIsRecovered(t *testing.T) {
	boom := funcCollector(func(context.Context, chan<- prometheus.Metric) error { panic("boom") })
	r := NewRunner(quietLogger(), []Named{{"boom", boom}, {"good", ok(2)}}, nil)
	got, _ := successes(t, r, time.Second)
	if got["boom"] != 0 || got["good"] != 1 {
		t.Fatalf("success = %v, want boom=0 good=1", got)
	}
}

func TestFailingCollectorReportsPartialData(t *testing.T) {
	fail := funcCollector(func(_ context.Context, ch chan<- prometheus.Metric) error {
		ch <- prometheus.MustNewConstMetric(valueDesc, prometheus.GaugeValue, 7)
		return errors.New("backend down")
	})
	r := NewRunner(quietLogger(), []Named{{"fail", fail}}, []EnabledState{{"fail", true}, {"off", false}})
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.Scrape(context.Background(), time.Second))
	want := `
# HELP forge_exporter_collector_enabled 1 if the collector is enabled in the configuration, 0 if it is disabled.
# TYPE forge_exporter_collector_enabled gauge
forge_exporter_collector_enabled{collector="fail"} 1
forge_exporter_collector_enabled{collector="off"} 0
# HELP forge_exporter_collector_success 1 if the collector's last scrape succeeded, 0 if it failed or timed out.
# TYPE forge_exporter_collector_success gauge
forge_exporter_collector_success{collector="fail"} 0
# HELP forge_test_value A test value.
# TYPE forge_test_value gauge
forge_test_value 7
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"forge_exporter_collector_enabled", "forge_exporter_collector_success", "forge_test_value"); err != nil {
		t.Fatal(err)
	}
}

func TestNoDataIsNotFailure(t *testing.T) {
	empty := funcCollector(func(context.Context, chan<- prometheus.Metric) error { return ErrNoData })
	r := NewRunner(quietLogger(), []Named{{"empty", empty}}, nil)
	got, _ := successes(t, r, time.Second)
	if got["empty"] != 1 {
		t.Fatalf("success = %v, want empty=1", got)
	}
}

func TestFailureIsLoggedOncePerStreak(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	errs := []error{errors.New("backend down"), errors.New("backend down"), errors.New("backend down"), errors.New("token rejected"), nil, errors.New("backend down")}
	i := 0
	c := funcCollector(func(context.Context, chan<- prometheus.Metric) error { err := errs[i]; i++; return err })
	r := NewRunner(logger, []Named{{"c", c}}, nil)
	for range errs {
		successes(t, r, time.Second)
	}
	mu.Lock()
	defer mu.Unlock()
	out := logs.String()
	if n := strings.Count(out, "collector failed"); n != 3 {
		t.Errorf("%d 'collector failed' lines for 3 streaks/changes, want 3:\n%s", n, out)
	}
	if n := strings.Count(out, "collector recovered"); n != 1 {
		t.Errorf("%d 'collector recovered' lines, want 1:\n%s", n, out)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
