package collectors

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/railiance/forge-exporter/internal/exporter"
	"github.com/railiance/forge-exporter/internal/kube"
	"github.com/railiance/forge-exporter/internal/kube/kubefake"
)

// scrapeFixture is the Kubernetes collectors over caches holding 2,000 PVCs
// bound to PVs, 200 CNPG clusters with a ScheduledBackup and 2,000 Backups,
// as serve runs them (a registry per scrape, promhttp, gzip), and a plain
// client_golang registry holding the very same series in GaugeVecs and
// CounterVecs (what the cost of an exposition is without us).
type scrapeFixture struct {
	exporter, plain http.Handler
	series          int
}

func newScrapeFixture(t testing.TB) *scrapeFixture {
	t.Helper()
	objs := scaleObjects(2000, 200, 2000, true)
	f := kubefake.New(objs...)
	f.Discovery.Serve(kube.Backups, kube.ScheduledBackups, kube.Clusters, kube.ObjectStores, kube.VolumeSnapshots)
	src := kube.NewSource(quietLogger(), f.Clients(), kube.Options{DiscoveryInterval: time.Hour})
	pvc := NewPVCCollector(src, allPVCs())
	cnpg := NewCNPGCollector(quietLogger(), src)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { src.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(time.Minute); ; {
		b, err1 := src.Backups()
		p, err2 := src.PVCs()
		sbs, err3 := src.ScheduledBackups()
		cls, err4 := src.Clusters()
		_, err5 := src.ObjectStores()
		_, err6 := src.PVs()
		if err := errors.Join(err1, err2, err3, err4, err5, err6); err == nil && len(b) == 2000 && len(p) == 2000 && len(sbs) == 200 && len(cls) == 200 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("caches never synced: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := exporter.NewRunner(quietLogger(), []exporter.Named{{Name: "pvc", Collector: pvc}, {Name: "cnpg", Collector: cnpg}}, nil)
	fx := &scrapeFixture{exporter: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// As serve's /metrics: a registry per scrape around the runner.
		reg := prometheus.NewRegistry()
		reg.MustRegister(r.Scrape(req.Context(), 10*time.Second))
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(w, req)
	})}

	// The plain twin, built from what the exporter exposes.
	body := scrapeText(t, fx.exporter, false)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	plain := prometheus.NewRegistry()
	for name, mf := range mfs {
		if len(mf.Metric) == 0 {
			continue
		}
		var labels []string
		for _, lp := range mf.Metric[0].Label {
			labels = append(labels, lp.GetName())
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: mf.GetHelp()}, labels)
			plain.MustRegister(v)
			for _, m := range mf.Metric {
				v.With(labelMap(m)).Add(m.GetCounter().GetValue())
			}
		default:
			v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: mf.GetHelp()}, labels)
			plain.MustRegister(v)
			for _, m := range mf.Metric {
				v.With(labelMap(m)).Set(m.GetGauge().GetValue() + m.GetUntyped().GetValue())
			}
		}
		fx.series += len(mf.Metric)
	}
	fx.plain = promhttp.HandlerFor(plain, promhttp.HandlerOpts{})
	if got := scrapeText(t, fx.plain, false); got != body {
		t.Fatalf("the plain registry does not expose the same series:\n%s\n---\n%s", body, got)
	}
	return fx
}

func labelMap(m *dto.Metric) prometheus.Labels {
	out := prometheus.Labels{}
	for _, lp := range m.Label {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

// scrapeText scrapes h once.
func scrapeText(t testing.TB, h http.Handler, gzip bool) string {
	t.Helper()
	req := httptest.NewRequest("GET", "/metrics", nil)
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body.String())
	}
	return rec.Body.String()
}

// allocsPerScrape returns the bytes and allocations one gzip scrape of h
// costs, averaged over n scrapes.
func allocsPerScrape(h http.Handler, n int) (bytes, allocs float64) {
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	w := discard{http.Header{}}
	h.ServeHTTP(w, req) // warm pools
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		h.ServeHTTP(w, req)
	}
	runtime.ReadMemStats(&after)
	return float64(after.TotalAlloc-before.TotalAlloc) / float64(n), float64(after.Mallocs-before.Mallocs) / float64(n)
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{ h http.Header }

func (d discard) Header() http.Header       { return d.h }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}

// maxAllocRatio is how much more one scrape may allocate per series than a
// plain client_golang registry exposing the same series (issue 19).
const maxAllocRatio = 1.5

// BenchmarkScrapeAllocations (make bench-scrape) prints the bytes and
// allocations per series of one /metrics scrape of the Kubernetes
// collectors next to a plain client_golang registry with the same series,
// measured in one run, and their ratio.
func BenchmarkScrapeAllocations(b *testing.B) {
	fx := newScrapeFixture(b)
	b.ResetTimer()
	eb, ea := allocsPerScrape(fx.exporter, b.N)
	b.StopTimer()
	pb, pa := allocsPerScrape(fx.plain, b.N)
	n := float64(fx.series)
	b.ReportMetric(n, "series")
	b.ReportMetric(eb/n, "B/series")
	b.ReportMetric(ea/n, "allocs/series")
	b.ReportMetric(pb/n, "plain-B/series")
	b.ReportMetric(pa/n, "plain-allocs/series")
	b.ReportMetric(eb/pb, "B-ratio")
	b.ReportMetric(ea/pa, "allocs-ratio")
}

// TestScrapeAllocationsNearPlainRegistry keeps the per-scrape cost of the
// exporter within maxAllocRatio of a plain registry's.
func TestScrapeAllocationsNearPlainRegistry(t *testing.T) {
	fx := newScrapeFixture(t)
	eb, ea := allocsPerScrape(fx.exporter, 5)
	pb, pa := allocsPerScrape(fx.plain, 5)
	n := float64(fx.series)
	t.Logf("%d series: exporter %.0f B, %.2f allocs per series; plain registry %.0f B, %.2f allocs per series", fx.series, eb/n, ea/n, pb/n, pa/n)
	if eb > pb*maxAllocRatio || ea > pa*maxAllocRatio {
		t.Errorf("a scrape allocates %.2f× the bytes and %.2f× the allocations of a plain registry, want at most %.1f×", eb/pb, ea/pa, maxAllocRatio)
	}
}
