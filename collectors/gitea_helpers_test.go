package collectors

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/exporter"
	"github.com/railiance/forge-exporter/internal/sampler"
	"github.com/railiance/forge-exporter/internal/testenv"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// giteaEnv runs some of the Gitea collectors for one configuration and
// records every output (logs, scrape errors, expositions), so a test can
// check that a secret appears in none of them.
type giteaEnv struct {
	t       *testing.T
	deps    *Deps
	named   []exporter.Named
	logs    *testenv.Buffer
	outputs []string
	mu      sync.Mutex
}

// startGitea builds the named collectors for cfg (as collectors.Build does)
// and starts their background work until the test ends.
func startGitea(t *testing.T, cfg config.Gitea, names ...string) *giteaEnv {
	t.Helper()
	return startCollectors(t, &config.Config{Gitea: cfg}, names...)
}

// startCollectors is startGitea for a whole configuration.
func startCollectors(t *testing.T, cfg *config.Config, names ...string) *giteaEnv {
	t.Helper()
	logs := &testenv.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := &giteaEnv{t: t, logs: logs}
	e.deps = &Deps{
		Logger:   logger,
		Config:   cfg,
		Samplers: sampler.NewMetrics(prometheus.NewRegistry()),
		Now:      time.Now,
		enabled:  map[string]bool{},
		shared:   map[string]any{},
	}
	for _, s := range Specs() {
		for _, n := range names {
			if s.Name != n {
				continue
			}
			c, err := s.New(e.deps)
			if err != nil {
				t.Fatalf("collector %s: %v", n, err)
			}
			e.named = append(e.named, exporter.Named{Name: n, Collector: c})
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, r := range e.deps.runs {
		wg.Add(1)
		go func() { defer wg.Done(); r.fn(ctx) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	// Wait for the first run of every sampler, so that a later trigger
	// causes exactly one run (a trigger sent before a sampler starts would
	// add a second run after its first).
	for _, n := range names {
		for _, s := range e.samplers(n) {
			deadline := time.Now().Add(60 * time.Second)
			for {
				if runs, running := s.Runs(); runs >= 1 && !running {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("sampler of %s did not finish its first run within 60s", n)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	return e
}

func (e *giteaEnv) collector(name string) exporter.Collector {
	for _, n := range e.named {
		if n.Name == name {
			return n.Collector
		}
	}
	e.t.Fatalf("collector %s not started", name)
	return nil
}

// sweeper is the part of a sampler the tests drive.
type sweeper interface {
	Trigger()
	Runs() (uint64, bool)
}

// samplers returns the samplers behind the named collectors.
func (e *giteaEnv) samplers(names ...string) []sweeper {
	var ss []sweeper
	for _, n := range names {
		switch c := e.collector(n).(type) {
		case *runnersCollector:
			ss = append(ss, c.sampler)
		case *registryCollector:
			ss = append(ss, c.sampler)
		case *giteaCollector:
			ss = append(ss, c.src.probe)
		case *SOPSCollector:
			ss = append(ss, c.src.(*sopsSampler).sampler)
		case *PackageBlobsCollector:
			ss = append(ss, c.sampler)
		}
	}
	return ss
}

// trigger asks every sampler of the named collectors for a new sweep and
// waits until each has finished one that started after this call.
func (e *giteaEnv) trigger(names ...string) {
	e.t.Helper()
	ss := e.samplers(names...)
	target := make([]uint64, len(ss))
	for i, s := range ss {
		n, running := s.Runs()
		target[i] = n + 1
		if running {
			target[i] = n + 2 // the run in progress ends first
		}
		s.Trigger()
	}
	deadline := time.Now().Add(60 * time.Second)
	for i, s := range ss {
		for {
			if n, _ := s.Runs(); n >= target[i] {
				break
			}
			if time.Now().After(deadline) {
				e.t.Fatalf("sampler of %v did not finish a run within 60s\n%s", names, e.logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// scrape runs the collectors as a scrape does and returns the exposition
// (forge_ families only) and the values by series.
func (e *giteaEnv) scrape() (string, map[string]float64) {
	e.t.Helper()
	r := exporter.NewRunner(e.deps.Logger, e.named, nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.Scrape(context.Background(), 10*time.Second))
	mfs, err := reg.Gather()
	if err != nil {
		e.t.Fatalf("gather: %v", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	values := map[string]float64{}
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			e.t.Fatal(err)
		}
		for _, m := range mf.Metric {
			values[seriesKey(mf.GetName(), m)] = metricValue(m)
		}
	}
	out := buf.String()
	e.mu.Lock()
	e.outputs = append(e.outputs, out)
	e.mu.Unlock()
	return out, values
}

// value scrapes and returns one series' value; missing series are -1.
func (e *giteaEnv) value(series string) float64 {
	_, vs := e.scrape()
	if v, ok := vs[series]; ok {
		return v
	}
	return -1
}

// waitValue scrapes until series has value want, triggering sweeps of the
// named collectors between scrapes.
func (e *giteaEnv) waitValue(series string, want float64, timeout time.Duration, names ...string) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := e.value(series)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			out, _ := e.scrape()
			e.t.Fatalf("%s = %v, want %v after %s\n%s\nlogs:\n%s", series, got, want, timeout, out, e.logs.String())
		}
		e.trigger(names...)
		time.Sleep(200 * time.Millisecond)
	}
}

// assertNoSecret fails if secret appears in any log line or exposition.
func (e *giteaEnv) assertNoSecret(secret string) {
	e.t.Helper()
	if strings.Contains(e.logs.String(), secret) {
		e.t.Errorf("the token appears in the logs")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, o := range e.outputs {
		if strings.Contains(o, secret) {
			e.t.Errorf("the token appears in an exposition")
		}
	}
	if len(e.outputs) == 0 {
		e.t.Errorf("no exposition was captured")
	}
}

func seriesKey(name string, m *dto.Metric) string {
	var ls []string
	for _, l := range m.Label {
		ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	sort.Strings(ls)
	if len(ls) == 0 {
		return name
	}
	return name + "{" + strings.Join(ls, ",") + "}"
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}
