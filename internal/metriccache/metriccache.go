// Package metriccache keeps the const metrics a collector builds between
// scrapes. Collectors here report slowly changing state (informer caches,
// samples): building every series afresh at each scrape, label pairs
// included, made one scrape allocate about three times what a plain
// client_golang registry allocates for the same series. Through a Cache the
// label pairs of a series are built once, and a series whose value has not
// changed is the very prometheus.Metric sent at the previous scrape.
//
// A Cache belongs to one collector. Each Update opens a Scrape, sends the
// metrics it returns, and closes it with Done, which forgets the series that
// scrape did not send (deleted objects), so the cache holds about the
// series of one scrape: what a GaugeVec would hold.
package metriccache

import (
	"hash/maphash"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Cache holds the series of one collector.
type Cache struct {
	mu      sync.Mutex
	seed    maphash.Seed
	gen     uint64
	entries map[uint64][]*entry // by hash of desc and label values
}

type entry struct {
	desc   *prometheus.Desc
	labels []string
	gen    uint64
	typ    prometheus.ValueType
	value  float64
	pairs  []*dto.LabelPair
	metric prometheus.Metric
}

// New returns an empty cache.
func New() *Cache {
	return &Cache{seed: maphash.MakeSeed(), entries: map[uint64][]*entry{}}
}

// Len is the number of series held.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, es := range c.entries {
		n += len(es)
	}
	return n
}

// Scrape is one Update's use of the cache. Scrapes of the same cache may run
// concurrently (concurrent /metrics requests).
type Scrape struct {
	c   *Cache
	gen uint64
}

// Scrape starts a scrape.
func (c *Cache) Scrape() *Scrape {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	return &Scrape{c: c, gen: c.gen}
}

// Done forgets every series not sent since this scrape started. A
// concurrent scrape that started earlier may still send one of them: it is
// then built again, never wrong.
func (s *Scrape) Done() {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, es := range c.entries {
		kept := es[:0]
		for _, e := range es {
			if e.gen >= s.gen {
				kept = append(kept, e)
			}
		}
		clear(es[len(kept):])
		if len(kept) == 0 {
			delete(c.entries, h)
		} else {
			c.entries[h] = kept
		}
	}
}

// Gauge returns a gauge, as prometheus.MustNewConstMetric does.
func (s *Scrape) Gauge(desc *prometheus.Desc, value float64, labelValues ...string) prometheus.Metric {
	return s.Metric(desc, prometheus.GaugeValue, value, labelValues...)
}

// Counter returns a counter, as prometheus.MustNewConstMetric does.
func (s *Scrape) Counter(desc *prometheus.Desc, value float64, labelValues ...string) prometheus.Metric {
	return s.Metric(desc, prometheus.CounterValue, value, labelValues...)
}

// Metric returns the series of desc with labelValues and value: the one
// sent before when nothing changed, else a new one reusing its label pairs.
// Like prometheus.MustNewConstMetric it panics on a label count that does
// not match desc (the collector runner turns a panic into a failed
// collector).
func (s *Scrape) Metric(desc *prometheus.Desc, typ prometheus.ValueType, value float64, labelValues ...string) prometheus.Metric {
	c := s.c
	var h maphash.Hash
	h.SetSeed(c.seed)
	maphash.WriteComparable(&h, desc)
	for _, v := range labelValues {
		h.WriteString(v)
		h.WriteByte(0xff) // not valid UTF-8: no label value holds it
	}
	key := h.Sum64()

	c.mu.Lock()
	defer c.mu.Unlock()
	var e *entry
	for _, cand := range c.entries[key] {
		if cand.desc == desc && equal(cand.labels, labelValues) {
			e = cand
			break
		}
	}
	if e == nil {
		// Validation (label count, UTF-8) and the label pairs, once.
		m := prometheus.MustNewConstMetric(desc, typ, value, labelValues...)
		var out dto.Metric
		if err := m.Write(&out); err != nil {
			panic(err)
		}
		e = &entry{desc: desc, labels: append([]string(nil), labelValues...), typ: typ, value: value, pairs: out.Label, metric: m}
		c.entries[key] = append(c.entries[key], e)
	} else if e.typ != typ || !same(e.value, value) {
		e.typ, e.value, e.metric = typ, value, newMetric(desc, typ, value, e.pairs)
	}
	e.gen = max(e.gen, s.gen)
	return e.metric
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// same compares values bit for bit (NaN equals NaN, 0 and -0 differ), as
// the exposition would.
func same(a, b float64) bool {
	return a == b && (a != 0 || 1/a == 1/b) || a != a && b != b
}

// metric is a const metric built on shared label pairs.
type metric struct {
	desc *prometheus.Desc
	out  dto.Metric
}

func newMetric(desc *prometheus.Desc, typ prometheus.ValueType, value float64, pairs []*dto.LabelPair) prometheus.Metric {
	m := &metric{desc: desc}
	m.out.Label = pairs
	switch typ {
	case prometheus.CounterValue:
		m.out.Counter = &dto.Counter{Value: &value}
	case prometheus.UntypedValue:
		m.out.Untyped = &dto.Untyped{Value: &value}
	default:
		m.out.Gauge = &dto.Gauge{Value: &value}
	}
	return m
}

func (m *metric) Desc() *prometheus.Desc { return m.desc }

// Write shares the metric's parts, as client_golang's const metrics do:
// the registry only reads them.
func (m *metric) Write(out *dto.Metric) error {
	out.Label, out.Counter, out.Gauge, out.Untyped = m.out.Label, m.out.Counter, m.out.Gauge, m.out.Untyped
	return nil
}
