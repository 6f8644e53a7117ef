package collectors

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/exporter"
	"github.com/railiance/forge-exporter/internal/sampler"
)

// evidenceNow is the test clock: after every testdata record.
var evidenceNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

var drillMetrics = []string{
	"forge_restore_drill_recorded", "forge_restore_drill_max_age_seconds", "forge_restore_drill_last_run_timestamp_seconds",
	"forge_restore_drill_last_success_timestamp_seconds", "forge_restore_drill_last_result", "forge_restore_drill_checks",
	"forge_evidence_records", "forge_evidence_secret_findings", "forge_evidence_source_up",
}

// startEvidence builds the shared evidence sampler from cfg the way Build
// does, runs its background work for the test, and returns it with the log.
func startEvidence(t *testing.T, cfg *config.Config) (EvidenceSource, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	d := &Deps{
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Config: cfg,
		Samplers: sampler.NewMetrics(prometheus.NewRegistry()), Now: func() time.Time { return evidenceNow },
		enabled: map[string]bool{"drills": true, "trust": true}, shared: map[string]any{},
	}
	src, err := sharedEvidence(d)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := sharedEvidence(d)
	if again != src {
		t.Fatal("the drills and trust collectors must share one evidence source")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, r := range d.runs {
			go r.fn(ctx)
		}
		<-ctx.Done()
	}()
	t.Cleanup(func() { cancel(); <-done })
	return src, &logs
}

func evidenceConfig(t *testing.T, paths ...string) *config.Config {
	t.Helper()
	var dirs []config.EvidenceDirectory
	for _, p := range paths {
		dirs = append(dirs, config.EvidenceDirectory{Name: filepath.Base(p), Path: p})
	}
	day := config.Duration(24 * time.Hour)
	return &config.Config{
		Evidence: config.Evidence{
			Directories: dirs,
			Interval:    config.Duration(time.Hour),
			Drills: []config.Drill{
				{Kind: "source-forge", MaxAge: 90 * day},
				{Kind: "package-blob", MaxAge: 90 * day},
				{Kind: "secret-delivery", MaxAge: 180 * day},
			},
		},
		Assets: []config.Asset{{Name: "gitea-database"}, {Name: "gitea-shared-storage"}, {Name: "package-registry"},
			{Name: "runner-registration"}, {Name: "runtime-secrets"}},
	}
}

// TestDrillsCollectorGolden reads the real testdata directory through the
// real sampler: a newer failed source-forge drill after older successes, a
// runner-substrate drill recorded but not configured (no max_age), a
// secret-delivery record that leaks a password (invalid: never counted, so
// the kind shows as never recorded), and a malformed file.
func TestDrillsCollectorGolden(t *testing.T) {
	dir, _ := filepath.Abs("testdata/drills/records")
	src, logs := startEvidence(t, evidenceConfig(t, dir))
	c := NewDrillsCollector(src)
	golden(t, asCollector{c: c, t: t}, "testdata/drills/want.prom", drillMetrics...)

	log := logs.String()
	for _, want := range []string{"secret-delivery-leak.yaml", "detector password", "broken.yaml", "invalid YAML/JSON"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "FakeTestOnly0000") {
		t.Errorf("log echoes secret material:\n%s", log)
	}
}

// TestDrillsCollectorUnreadableSource: a missing directory fails the
// collector (success 0) while the readable one is still reported.
func TestDrillsCollectorUnreadableSource(t *testing.T) {
	dir, _ := filepath.Abs("testdata/drills/records")
	missing := filepath.Join(t.TempDir(), "not-mounted")
	src, logs := startEvidence(t, evidenceConfig(t, dir, missing))
	c := NewDrillsCollector(src)
	ch := make(chan prometheus.Metric, 1000)
	err := c.Update(context.Background(), ch)
	close(ch)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Update error %v, want one naming %s", err, missing)
	}
	var text []string
	for m := range ch {
		text = append(text, m.Desc().String())
	}
	all := strings.Join(text, "\n")
	for _, want := range []string{"forge_restore_drill_recorded", "forge_evidence_source_up"} {
		if !strings.Contains(all, want) {
			t.Errorf("a failing source suppressed %s", want)
		}
	}
	if !strings.Contains(logs.String(), "evidence source cannot be read") {
		t.Errorf("unreadable source not logged:\n%s", logs.String())
	}
}

// collectValues runs c once and returns "name{labels}" -> value.
func collectValues(t *testing.T, c exporter.Collector) map[string]float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1000)
	if err := c.Update(context.Background(), ch); err != nil {
		t.Fatalf("Update: %v", err)
	}
	close(ch)
	out := map[string]float64{}
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		var labels []string
		for _, l := range pb.GetLabel() {
			labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
		}
		name := m.Desc().String()
		name = name[strings.Index(name, `fqName: "`)+9:]
		name = name[:strings.Index(name, `"`)]
		out[name+"{"+strings.Join(labels, ",")+"}"] = pb.GetGauge().GetValue()
	}
	return out
}
