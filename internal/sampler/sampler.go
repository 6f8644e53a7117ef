// Package sampler runs expensive work (directory walks, API sweeps) off the
// scrape path: each sampler runs on its own interval with jitter, never
// overlaps itself, keeps its last good result, and reports its health.
// A scrape reads the last result and never waits for a sample.
package sampler

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the health metrics shared by all samplers of a process. They
// live in the process-wide registry so counters survive config reloads.
type Metrics struct {
	mu    sync.Mutex
	known map[string]bool

	lastSuccess *prometheus.GaugeVec
	duration    *prometheus.GaugeVec
	errors      *prometheus.CounterVec
}

// NewMetrics creates the sampler metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "forge_exporter_sampler_last_success_timestamp_seconds",
			Help: "When the sampler last finished without error (Unix time); 0 before its first success.",
		}, []string{"sampler"}),
		duration: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "forge_exporter_sampler_duration_seconds",
			Help: "How long the sampler's last run took, successful or not.",
		}, []string{"sampler"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "forge_exporter_sampler_errors_total",
			Help: "Sampler runs that failed or timed out.",
		}, []string{"sampler"}),
	}
	m.known = map[string]bool{}
	reg.MustRegister(m.lastSuccess, m.duration, m.errors)
	return m
}

func (m *Metrics) init(name string) {
	m.mu.Lock()
	m.known[name] = true
	m.mu.Unlock()
	m.lastSuccess.WithLabelValues(name)
	m.duration.WithLabelValues(name)
	m.errors.WithLabelValues(name)
}

// Retain removes the series of samplers not in active, after a reload
// dropped them from the configuration.
func (m *Metrics) Retain(active []string) {
	keep := map[string]bool{}
	for _, n := range active {
		keep[n] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for name := range m.known {
		if keep[name] {
			continue
		}
		delete(m.known, name)
		m.lastSuccess.DeleteLabelValues(name)
		m.duration.DeleteLabelValues(name)
		m.errors.DeleteLabelValues(name)
	}
}

// Func produces one sample. It must return when ctx is done.
type Func[T any] func(ctx context.Context) (T, error)

// Options tune a sampler.
type Options struct {
	// Interval between the end of one run and the start of the next.
	Interval time.Duration
	// Timeout abandons a run; the previous result is kept. Defaults to Interval.
	Timeout time.Duration
	// Jitter spreads runs by up to this fraction of Interval (default 0.1), so
	// many exporters or samplers do not hit a backend in lockstep.
	Jitter float64
}

// Sampler runs a Func periodically and keeps its last good result.
type Sampler[T any] struct {
	name    string
	fn      Func[T]
	opts    Options
	metrics *Metrics
	logger  *slog.Logger

	mu      sync.RWMutex
	value   T
	at      time.Time
	ok      bool
	lastErr error
	// failing is true while consecutive runs fail; the error is logged once
	// when it starts and once when it recovers, never once per run.
	failing bool
	wake    chan struct{}
	// runs counts finished runs and running says one is in progress, so a
	// caller of Trigger can wait for the run it asked for (Runs).
	runs    uint64
	running bool
	// first is closed when the first run finishes (WaitFirst).
	first     chan struct{}
	firstOnce sync.Once
}

// New returns a sampler; call Run to start it.
func New[T any](name string, fn Func[T], opts Options, metrics *Metrics, logger *slog.Logger) *Sampler[T] {
	if opts.Timeout <= 0 {
		opts.Timeout = opts.Interval
	}
	if opts.Jitter == 0 {
		opts.Jitter = 0.1
	}
	metrics.init(name)
	return &Sampler[T]{name: name, fn: fn, opts: opts, metrics: metrics, logger: logger.With("sampler", name), wake: make(chan struct{}, 1), first: make(chan struct{})}
}

// Name returns the sampler's name.
func (s *Sampler[T]) Name() string { return s.name }

// Run samples immediately, then every interval (with jitter), until ctx is
// done. Runs never overlap: the next starts after the previous ends.
func (s *Sampler[T]) Run(ctx context.Context) {
	for {
		s.runOnce(ctx)
		wait := s.opts.Interval
		if j := s.opts.Jitter; j > 0 {
			wait += time.Duration((rand.Float64()*2 - 1) * j * float64(s.opts.Interval))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// Trigger asks for a run as soon as the current one (if any) ends; tests and
// change notifications use it instead of waiting for the interval.
func (s *Sampler[T]) Trigger() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Sampler[T]) runOnce(parent context.Context) {
	if parent.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(parent, s.opts.Timeout)
	defer cancel()
	s.mu.Lock()
	s.running = true
	s.mu.Unlock()
	start := time.Now()
	v, err := s.call(ctx)
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s: %w", s.opts.Timeout, ctx.Err())
	}
	d := time.Since(start)
	s.metrics.duration.WithLabelValues(s.name).Set(d.Seconds())
	s.mu.Lock()
	defer s.mu.Unlock()
	// Closed after the result is stored (deferred calls run last-in first-out).
	defer s.firstOnce.Do(func() { close(s.first) })
	s.runs++
	s.running = false
	s.lastErr = err
	if err != nil {
		if parent.Err() != nil {
			return // shutting down: not a failure of the backend
		}
		s.metrics.errors.WithLabelValues(s.name).Inc()
		if !s.failing {
			s.logger.Error("sampler failed; keeping the last good result", "err", err, "duration_seconds", d.Seconds())
		} else {
			s.logger.Debug("sampler still failing", "err", err)
		}
		s.failing = true
		return
	}
	if s.failing {
		s.logger.Info("sampler recovered", "duration_seconds", d.Seconds())
	}
	s.failing = false
	s.value, s.at, s.ok = v, time.Now(), true
	s.metrics.lastSuccess.WithLabelValues(s.name).Set(float64(s.at.UnixNano()) / 1e9)
}

func (s *Sampler[T]) call(ctx context.Context) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.logger.Error("sampler panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return s.fn(ctx)
}

// Last returns the last good result, when it was taken, and whether there is
// one at all.
func (s *Sampler[T]) Last() (T, time.Time, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.value, s.at, s.ok
}

// WaitFirst waits until the first run has finished (or ctx is done) and
// returns Last. A collector scraped right after a start or reload waits,
// within its scrape deadline, for a quick first sample instead of
// reporting nothing.
func (s *Sampler[T]) WaitFirst(ctx context.Context) (T, time.Time, bool) {
	select {
	case <-s.first:
	case <-ctx.Done():
	}
	return s.Last()
}

// Runs returns the number of runs finished so far and whether a run is in
// progress. After Trigger, the run it asked for has finished once Runs
// reaches finished+1 (idle before) or finished+2 (running before).
func (s *Sampler[T]) Runs() (finished uint64, running bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.runs, s.running
}

// Err returns the error of the last run, nil if it succeeded.
func (s *Sampler[T]) Err() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lastErr
}
