package collectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/railiance/forge-exporter/internal/evidence"
	"github.com/railiance/forge-exporter/internal/exporter"
	"github.com/railiance/forge-exporter/internal/sampler"
	"github.com/railiance/forge-exporter/internal/secretscan"
)

// EvidenceSource is what the drills and trust collectors read: the last
// snapshot of the evidence records, and the configured drill policies and
// sources. One sampler per configuration re-reads the records (files are
// small and few; ConfigMaps come from an informer cache), shared through
// Shared so both collectors see the same snapshot.
type EvidenceSource interface {
	// Snapshot returns the last snapshot, waiting for the first one until
	// ctx is done; exporter.ErrNoData when there is none yet.
	Snapshot(ctx context.Context) (*evidence.Snapshot, error)
	Policies() []evidence.DrillPolicy
	// Origins are the configured sources (directories, "configmap").
	Origins() []string
}

// evidenceSampler is the EvidenceSource of a running exporter.
type evidenceSampler struct {
	sampler  *sampler.Sampler[*evidence.Snapshot]
	policies []evidence.DrillPolicy
	origins  []string
}

func (e *evidenceSampler) Policies() []evidence.DrillPolicy { return e.policies }
func (e *evidenceSampler) Origins() []string                { return e.origins }

func (e *evidenceSampler) Snapshot(ctx context.Context) (*evidence.Snapshot, error) {
	// The first read of a few small files takes milliseconds; waiting for
	// it (within the scrape deadline) means the first scrape after a start
	// or reload already shows the drills instead of nothing.
	snap, _, ok := e.sampler.WaitFirst(ctx)
	if !ok {
		return nil, exporter.ErrNoData
	}
	return snap, nil
}

// sharedEvidence returns the configuration's evidence sampler, building and
// starting it on first use.
func sharedEvidence(d *Deps) (EvidenceSource, error) {
	return Shared(d, "evidence", func() (EvidenceSource, error) {
		cfg := d.Config.Evidence
		var policies []evidence.DrillPolicy
		for _, dr := range cfg.Drills {
			policies = append(policies, evidence.DrillPolicy{Kind: dr.Kind, MaxAge: dr.MaxAge.Std()})
		}
		var inventory map[string]bool
		if len(d.Config.Assets) > 0 {
			inventory = map[string]bool{}
			for _, a := range d.Config.Assets {
				inventory[a.Name] = true
			}
		}
		var dirs []evidence.Dir
		var origins []string
		for _, dir := range cfg.Directories {
			dirs = append(dirs, evidence.Dir{Name: dir.Name, Path: dir.Path})
			origins = append(origins, dir.Name)
		}
		loader := &evidence.Loader{
			Dirs:       dirs,
			ConfigMaps: evidenceConfigMaps(d),
			Assets:     inventory,
			Scanner:    secretscan.New(),
			Now:        d.Now,
		}
		if loader.ConfigMaps != nil {
			origins = append(origins, evidence.OriginConfigMap)
		}
		logger := d.Logger.With("sampler", "evidence")
		e := &evidenceSampler{policies: policies, origins: origins}
		reporter := newEvidenceReporter(logger)
		fn := func(ctx context.Context) (*evidence.Snapshot, error) {
			snap := loader.Load(ctx)
			if err := ctx.Err(); err != nil {
				return nil, err // abandoned: keep the previous snapshot
			}
			reporter.report(snap)
			return snap, nil
		}
		e.sampler = sampler.New("evidence", fn, sampler.Options{Interval: cfg.Interval.Std(), Timeout: cfg.Interval.Std()}, d.Samplers, d.Logger)
		d.Go(e.sampler.Name(), e.sampler.Run)
		return e, nil
	})
}

// evidenceConfigMaps returns the ConfigMap source (an informer on the
// shared Kubernetes source) when a label selector is configured.
func evidenceConfigMaps(d *Deps) evidence.ConfigMapSource {
	return kubeEvidenceConfigMaps(d, d.Config.Evidence.ConfigMapLabelSelector)
}

// sourceErrors joins the errors of the sources that could not be read.
func sourceErrors(snap *evidence.Snapshot) error {
	var errs []error
	for _, s := range snap.Sources {
		if s.Err != nil {
			errs = append(errs, fmt.Errorf("evidence source %s: %w", s.Origin, s.Err))
		}
	}
	return errors.Join(errs...)
}

// evidenceReporter logs invalid records and unreadable sources when they
// appear or change, never on every sample. Messages name the record, field
// and reason and never carry secret text.
type evidenceReporter struct {
	logger *slog.Logger
	last   map[string]string
}

func newEvidenceReporter(logger *slog.Logger) *evidenceReporter {
	return &evidenceReporter{logger: logger, last: map[string]string{}}
}

func (r *evidenceReporter) report(snap *evidence.Snapshot) {
	now := map[string]string{}
	for _, res := range snap.Results {
		if !res.Valid() {
			now["record "+res.Source] = strings.Join(res.Details(), "; ")
		}
	}
	for _, s := range snap.Sources {
		if s.Err != nil {
			now["source "+s.Origin] = s.Err.Error()
		}
	}
	keys := make([]string, 0, len(now))
	for k := range now {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if r.last[k] == now[k] {
			continue
		}
		if strings.HasPrefix(k, "record ") {
			r.logger.Warn("evidence record is invalid and does not count as a drill", "record", strings.TrimPrefix(k, "record "), "problems", now[k])
		} else {
			r.logger.Error("evidence source cannot be read", "source", strings.TrimPrefix(k, "source "), "err", now[k])
		}
	}
	for k := range r.last {
		if _, still := now[k]; !still {
			r.logger.Info("evidence problem resolved", "what", k)
		}
	}
	r.last = now
}

// unixSeconds converts a time to the float Prometheus timestamps use.
func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
