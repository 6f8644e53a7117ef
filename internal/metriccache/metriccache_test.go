package metriccache

import (
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

var (
	desc  = prometheus.NewDesc("forge_test_bytes", "Test.", []string{"namespace", "name"}, prometheus.Labels{"const": "c"})
	other = prometheus.NewDesc("forge_test_other", "Test.", []string{"namespace", "name"}, nil)
)

func write(t *testing.T, m prometheus.Metric) *dto.Metric {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// A series is the same Metric while its value stays, a new one (on the same
// label pairs) when it changes, and exposes what MustNewConstMetric would.
func TestSeriesAreReused(t *testing.T) {
	c := New()
	s := c.Scrape()
	a := s.Gauge(desc, 1, "ns", "a")
	s.Done()

	s = c.Scrape()
	if again := s.Gauge(desc, 1, "ns", "a"); again != a {
		t.Error("an unchanged series was built again")
	}
	b := s.Gauge(desc, 2, "ns", "a")
	if b == a {
		t.Fatal("a changed value returned the old metric")
	}
	if write(t, a).Label[0] != write(t, b).Label[0] {
		t.Error("the new value does not share the label pairs")
	}
	if other := s.Gauge(other, 2, "ns", "a"); other == b {
		t.Error("two descs with the same label values share a series")
	}
	cnt := s.Counter(desc, 5, "ns", "b")
	s.Done()

	for _, tc := range []struct {
		got  prometheus.Metric
		want prometheus.Metric
	}{
		{b, prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, 2, "ns", "a")},
		{cnt, prometheus.MustNewConstMetric(desc, prometheus.CounterValue, 5, "ns", "b")},
	} {
		if got, want := write(t, tc.got).String(), write(t, tc.want).String(); got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}

// Label values that would collide when concatenated are distinct series.
func TestLabelValuesAreNotConcatenated(t *testing.T) {
	s := New().Scrape()
	x := s.Gauge(desc, 1, "ab", "c")
	y := s.Gauge(desc, 1, "a", "bc")
	if x == y || write(t, x).String() == write(t, y).String() {
		t.Error(`("ab","c") and ("a","bc") are one series`)
	}
}

// NaN stays NaN without rebuilding; 0 and -0 are different values.
func TestSpecialValues(t *testing.T) {
	s := New().Scrape()
	n := s.Gauge(desc, math.NaN(), "ns", "a")
	if s.Gauge(desc, math.NaN(), "ns", "a") != n {
		t.Error("NaN was rebuilt")
	}
	z := s.Gauge(desc, 0, "ns", "b")
	if s.Gauge(desc, math.Copysign(0, -1), "ns", "b") == z {
		t.Error("-0 returned the metric of 0")
	}
}

// Done forgets the series a scrape did not send.
func TestDoneForgetsUnsentSeries(t *testing.T) {
	c := New()
	s := c.Scrape()
	for _, n := range []string{"a", "b", "c"} {
		s.Gauge(desc, 1, "ns", n)
	}
	s.Done()
	s = c.Scrape()
	s.Gauge(desc, 1, "ns", "b")
	s.Done()
	if c.Len() != 1 {
		t.Errorf("%d series held after a scrape that sent one", c.Len())
	}
}

// Invalid label values panic, as MustNewConstMetric does.
func TestInvalidLabelsPanic(t *testing.T) {
	for name, labels := range map[string][]string{"count": {"only-one"}, "utf8": {"ns", "\xff"}} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			New().Scrape().Gauge(desc, 1, labels...)
		})
	}
}

// Concurrent scrapes of one cache (run with -race) each get complete,
// correct series, and the cache ends with the series of the last scrape.
func TestConcurrentScrapes(t *testing.T) {
	c := New()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				s := c.Scrape()
				reg := prometheus.NewPedanticRegistry()
				coll := collectorFunc(func(ch chan<- prometheus.Metric) {
					for k := range 20 {
						ch <- s.Gauge(desc, float64(j%3), "ns", strings.Repeat("x", k+1))
					}
				})
				reg.MustRegister(coll)
				if n, err := testutil.GatherAndCount(reg); err != nil || n != 20 {
					t.Errorf("scrape %d/%d: %d series, %v", i, j, n, err)
				}
				s.Done()
			}
		}()
	}
	wg.Wait()
	if c.Len() != 20 {
		t.Errorf("%d series held, want 20", c.Len())
	}
}

type collectorFunc func(ch chan<- prometheus.Metric)

func (f collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- desc }
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }
