// Package exporter runs a set of collectors for one scrape: each collector in
// its own goroutine under its own deadline, with its success and duration
// reported, so one slow, failing or panicking collector never breaks or delays
// the rest of the scrape beyond the timeout.
package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector is what each collector implements. Update sends its metrics to ch
// and returns an error when the data it reports is not complete or not
// trustworthy. It must return when ctx is done.
type Collector interface {
	Update(ctx context.Context, ch chan<- prometheus.Metric) error
}

// ErrNoData tells the runner that a collector has nothing to report yet (for
// example before its first sample); it counts as success, not failure.
var ErrNoData = errors.New("collector has no data yet")

// Named is a collector with its name.
type Named struct {
	Name      string
	Collector Collector
}

var (
	successDesc = prometheus.NewDesc("forge_exporter_collector_success",
		"1 if the collector's last scrape succeeded, 0 if it failed or timed out.", []string{"collector"}, nil)
	durationDesc = prometheus.NewDesc("forge_exporter_collector_duration_seconds",
		"Time the collector took in the last scrape.", []string{"collector"}, nil)
	enabledDesc = prometheus.NewDesc("forge_exporter_collector_enabled",
		"1 if the collector is enabled in the configuration, 0 if it is disabled.", []string{"collector"}, nil)
)

// Runner collects from a fixed set of collectors.
type Runner struct {
	logger     *slog.Logger
	collectors []Named
	enabled    []EnabledState

	// failing holds the last error of each collector while it keeps
	// failing: a failure is logged when it starts or its message changes
	// and on recovery, not at every scrape (Prometheus scrapes every 15 s;
	// a backend down for an hour must not write 240 identical lines).
	mu      sync.Mutex
	failing map[string]string

	// sizes holds how many metrics each collector sent last time, so that
	// the next scrape's buffer is allocated once at the right size.
	sizes []atomic.Int64
}

// EnabledState is a known collector and whether it runs.
type EnabledState struct {
	Name    string
	Enabled bool
}

// NewRunner returns a runner for the enabled collectors; states lists every
// known collector for forge_exporter_collector_enabled.
func NewRunner(logger *slog.Logger, collectors []Named, states []EnabledState) *Runner {
	return &Runner{logger: logger, collectors: collectors, enabled: states, failing: map[string]string{}, sizes: make([]atomic.Int64, len(collectors))}
}

// Scrape returns a prometheus.Collector that, when collected, runs every
// collector concurrently with the given timeout.
func (r *Runner) Scrape(ctx context.Context, timeout time.Duration) prometheus.Collector {
	return &scrape{r: r, ctx: ctx, timeout: timeout}
}

type scrape struct {
	r       *Runner
	ctx     context.Context
	timeout time.Duration
}

// Describe sends nothing: the set of metrics depends on the configuration and
// the data, so this is an unchecked collector (as node_exporter's is).
func (s *scrape) Describe(chan<- *prometheus.Desc) {}

func (s *scrape) Collect(ch chan<- prometheus.Metric) {
	for _, st := range s.r.enabled {
		ch <- prometheus.MustNewConstMetric(enabledDesc, prometheus.GaugeValue, BoolValue(st.Enabled), st.Name)
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	var wg sync.WaitGroup
	for i, c := range s.r.collectors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.r.runOne(ctx, c, &s.r.sizes[i], ch)
		}()
	}
	wg.Wait()
}

type result struct {
	metrics []prometheus.Metric
	err     error
}

// runOne runs one collector, buffering its metrics so that a collector that
// outlives its deadline cannot write into a scrape that has already ended.
func (r *Runner) runOne(ctx context.Context, c Named, size *atomic.Int64, ch chan<- prometheus.Metric) {
	start := time.Now()
	done := make(chan result, 1)
	go func() {
		mch := make(chan prometheus.Metric, 64)
		collected := make(chan []prometheus.Metric, 1)
		go func() {
			ms := make([]prometheus.Metric, 0, size.Load())
			for m := range mch {
				ms = append(ms, m)
			}
			size.Store(int64(len(ms)))
			collected <- ms
		}()
		err := r.safeUpdate(ctx, c, mch)
		close(mch)
		done <- result{metrics: <-collected, err: err}
	}()

	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		res.err = fmt.Errorf("timed out after %s: %w", time.Since(start).Round(time.Millisecond), ctx.Err())
	}
	duration := time.Since(start).Seconds()
	success := 1.0
	if res.err != nil && !errors.Is(res.err, ErrNoData) {
		success = 0
	}
	r.logFailure(c.Name, res.err, success == 0, duration)
	// A failed collector still reports what it had (node_exporter does the
	// same); its success metric says the data is incomplete.
	for _, m := range res.metrics {
		ch <- m
	}
	ch <- prometheus.MustNewConstMetric(durationDesc, prometheus.GaugeValue, duration, c.Name)
	ch <- prometheus.MustNewConstMetric(successDesc, prometheus.GaugeValue, success, c.Name)
}

// logFailure logs a collector's failure once per streak (again when the
// error changes) and its recovery; repeats go to debug.
func (r *Runner) logFailure(name string, err error, failed bool, duration float64) {
	r.mu.Lock()
	prev, was := r.failing[name]
	if failed {
		r.failing[name] = err.Error()
	} else {
		delete(r.failing, name)
	}
	r.mu.Unlock()
	switch {
	case failed && (!was || prev != err.Error()):
		r.logger.Error("collector failed", "collector", name, "duration_seconds", duration, "err", err)
	case failed:
		r.logger.Debug("collector still failing", "collector", name, "err", err)
	case was:
		r.logger.Info("collector recovered", "collector", name, "duration_seconds", duration)
	}
}

// safeUpdate turns a panic in a collector into an error: one broken collector
// must not take the process (and every other signal) down with it.
func (r *Runner) safeUpdate(ctx context.Context, c Named, ch chan<- prometheus.Metric) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.logger.Error("collector panicked", "collector", c.Name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return c.Collector.Update(ctx, ch)
}

// BoolValue is a sample value for a yes/no state: 1 for true, 0 for false.
// Every collector uses it, so a state reads the same in every metric.
func BoolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
