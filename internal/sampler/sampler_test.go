package sampler

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/railiance/forge-exporter/internal/testenv"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, what, cond)
}

func TestKeepsLastGoodResultAndCountsErrors(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	var calls atomic.Int32
	s := New("t", func(context.Context) (int, error) {
		n := calls.Add(1)
		if n == 1 {
			return 42, nil
		}
		return 0, errors.New("backend down")
	}, Options{Interval: time.Hour}, m, quiet())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	waitFor(t, "first sample", func() bool { _, _, ok := s.Last(); return ok })
	s.Trigger()
	waitFor(t, "second (failing) sample", func() bool { return s.Err() != nil })
	v, at, ok := s.Last()
	if !ok || v != 42 || at.IsZero() {
		t.Fatalf("Last() = %v %v %v, want the first good value 42", v, at, ok)
	}
	if got := testutil.ToFloat64(m.errors.WithLabelValues("t")); got != 1 {
		t.Errorf("errors_total = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.lastSuccess.WithLabelValues("t")); got < float64(at.Unix()) {
		t.Errorf("last_success_timestamp = %v, want >= %d", got, at.Unix())
	}
	cancel()
	<-done
}

func TestRunsNeverOverlap(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	var running, maxRunning, runs atomic.Int32
	s := New("o", func(context.Context) (int, error) {
		n := running.Add(1)
		for {
			old := maxRunning.Load()
			if n <= old || maxRunning.CompareAndSwap(old, n) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
		running.Add(-1)
		runs.Add(1)
		return 0, nil
	}, Options{Interval: time.Millisecond}, m, quiet())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	for i := 0; i < 50; i++ {
		s.Trigger()
	}
	waitFor(t, "10 runs", func() bool { return runs.Load() >= 10 })
	cancel()
	<-done
	if maxRunning.Load() != 1 {
		t.Fatalf("max concurrent runs = %d, want 1", maxRunning.Load())
	}
}

func TestTimeoutKeepsPreviousAndPanicRecovered(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	var calls atomic.Int32
	s := New("slow", func(ctx context.Context) (string, error) {
		switch calls.Add(1) {
		case 1:
			return "good", nil
		case 2:
			<-ctx.Done()
			return "late", nil // returned after the deadline: must not replace "good"
		default:
			panic("sampler bug")
		}
	}, Options{Interval: time.Hour, Timeout: 20 * time.Millisecond}, m, quiet())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	waitFor(t, "first", func() bool { _, _, ok := s.Last(); return ok })
	s.Trigger()
	waitFor(t, "timeout", func() bool { return calls.Load() >= 2 && s.Err() != nil })
	s.Trigger()
	waitFor(t, "panic", func() bool { return calls.Load() >= 3 && s.Err() != nil && strings.Contains(s.Err().Error(), "panic") })
	if v, _, _ := s.Last(); v != "good" {
		t.Fatalf("Last() = %q, want good", v)
	}
	cancel()
	<-done
}

func TestRetainDropsRemovedSamplers(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	New("a", func(context.Context) (int, error) { return 0, nil }, Options{Interval: time.Hour}, m, quiet())
	New("b", func(context.Context) (int, error) { return 0, nil }, Options{Interval: time.Hour}, m, quiet())
	m.Retain([]string{"a"})
	if n := testutil.CollectAndCount(m.duration); n != 1 {
		t.Fatalf("series after Retain = %d, want 1", n)
	}
}

// TestWaitFirst: a caller that asks before the first run ends gets that run's
// result, not "nothing yet"; a done context stops the wait.
func TestWaitFirst(t *testing.T) {
	release := make(chan struct{})
	s := New("first", func(ctx context.Context) (int, error) {
		<-release
		return 42, nil
	}, Options{Interval: time.Hour}, NewMetrics(prometheus.NewRegistry()), quiet())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	go s.Run(ctx)
	if _, _, ok := s.WaitFirst(short); ok {
		t.Fatal("WaitFirst returned a value before the first run finished")
	}
	got := make(chan int, 1)
	go func() {
		v, _, ok := s.WaitFirst(context.Background())
		if !ok {
			v = -1
		}
		got <- v
	}()
	close(release)
	if v := <-got; v != 42 {
		t.Fatalf("WaitFirst = %d, want the first run's 42", v)
	}
}
