package collectors

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/railiance/forge-exporter/internal/evidence"
	"github.com/railiance/forge-exporter/internal/exporter"
)

// DrillsCollector exports the restore-drill status derived from the
// evidence records, and the health of the records themselves.
type DrillsCollector struct {
	src EvidenceSource

	recorded, maxAge, lastRun, lastSuccess, lastResult, checks *prometheus.Desc
	records, findings, sourceUp                                *prometheus.Desc
}

var _ exporter.Collector = (*DrillsCollector)(nil)

func newDrillsSpec() Spec {
	return Spec{
		Name:           "drills",
		Description:    "restore-drill age, result and checks from non-secret evidence records; record validity and secret findings",
		DefaultEnabled: true,
		New: func(d *Deps) (exporter.Collector, error) {
			src, err := sharedEvidence(d)
			if err != nil {
				return nil, err
			}
			return NewDrillsCollector(src), nil
		},
	}
}

// NewDrillsCollector returns a collector reading src.
func NewDrillsCollector(src EvidenceSource) *DrillsCollector {
	const sampled = " Sampled every evidence.interval."
	drill := []string{"drill"}
	return &DrillsCollector{
		src: src,
		recorded: prometheus.NewDesc("forge_restore_drill_recorded",
			"1 if at least one valid evidence record of this drill kind exists, 0 if the drill was never recorded."+sampled, drill, nil),
		maxAge: prometheus.NewDesc("forge_restore_drill_max_age_seconds",
			"Configured maximum age of the last successful drill of this kind (evidence.drills[].max_age).", drill, nil),
		lastRun: prometheus.NewDesc("forge_restore_drill_last_run_timestamp_seconds",
			"Date of the newest valid evidence record of this drill kind, passed or failed (Unix time); absent if never recorded."+sampled, drill, nil),
		lastSuccess: prometheus.NewDesc("forge_restore_drill_last_success_timestamp_seconds",
			"Date of the newest valid evidence record of this drill kind whose checks all passed (Unix time); absent if none."+sampled, drill, nil),
		lastResult: prometheus.NewDesc("forge_restore_drill_last_result",
			"1 if the newest valid record of this drill kind passed (every check passed), 0 if it failed; absent if never recorded."+sampled, drill, nil),
		checks: prometheus.NewDesc("forge_restore_drill_checks",
			"Post-restore checks of the newest valid record of this drill kind, by result."+sampled, []string{"drill", "result"}, nil),
		records: prometheus.NewDesc("forge_evidence_records",
			"Evidence records read from the source (a configured directory or configmap), by validity. Invalid records never count as drills."+sampled, []string{"source", "validity"}, nil),
		findings: prometheus.NewDesc("forge_evidence_secret_findings",
			"Suspected secret material found in the source's evidence records, by detector; any finding makes its record invalid."+sampled, []string{"source", "detector"}, nil),
		sourceUp: prometheus.NewDesc("forge_evidence_source_up",
			"1 if the evidence source could be read completely in the last sample, 0 if not."+sampled, []string{"source"}, nil),
	}
}

// Update implements exporter.Collector. An unreadable source makes it fail
// after reporting what the other sources gave.
func (c *DrillsCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	snap, err := c.src.Snapshot(ctx)
	if err != nil {
		return err
	}
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	for _, s := range evidence.Drills(snap.Results, c.src.Policies()) {
		if s.MaxAge > 0 {
			gauge(c.maxAge, s.MaxAge.Seconds(), s.Kind)
		}
		gauge(c.recorded, oneIf(s.Recorded), s.Kind)
		if !s.Recorded {
			continue
		}
		gauge(c.lastRun, unixSeconds(s.LastRun), s.Kind)
		gauge(c.lastResult, oneIf(s.LastPassed), s.Kind)
		if !s.LastSuccess.IsZero() {
			gauge(c.lastSuccess, unixSeconds(s.LastSuccess), s.Kind)
		}
		for _, r := range evidence.Results() {
			gauge(c.checks, float64(s.LastChecks[r]), s.Kind, r)
		}
	}
	for _, sc := range evidence.Count(snap.Results, c.src.Origins()) {
		gauge(c.records, float64(sc.Valid), sc.Origin, "valid")
		gauge(c.records, float64(sc.Invalid), sc.Origin, "invalid")
		for det, n := range sc.Findings {
			gauge(c.findings, float64(n), sc.Origin, det)
		}
	}
	for _, s := range snap.Sources {
		gauge(c.sourceUp, oneIf(s.Err == nil), s.Origin)
	}
	return sourceErrors(snap)
}

func oneIf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
