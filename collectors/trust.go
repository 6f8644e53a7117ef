package collectors

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/evidence"
	"github.com/railiance/forge-exporter/internal/exporter"
)

// BackupCoverage answers, from the Kubernetes collectors' caches, whether a
// backup mechanism is seen for a CNPG cluster or a PVC. known is false when
// there is no answer (cache not synced, CRDs absent): the trust gate then
// falls back to the documented config field instead of failing.
type BackupCoverage interface {
	CNPGClusterBackup(namespace, cluster string) (covered, known bool)
	PVCBackup(namespace, pvc string) (covered, known bool)
}

// TrustCollector exports the seven production-trust gates of each asset in
// the inventory and whether the asset is production-trusted.
type TrustCollector struct {
	assets   []config.Asset
	src      EvidenceSource
	coverage BackupCoverage // nil: no live backup signal
	// measured reports whether the storage collectors measure the named
	// directory ("directory") or volume ("volume").
	measured func(kind, name string) bool
	// sops reports whether the named SOPS files pass the sentinel; nil
	// when the sops collector does not run.
	sops func(ctx context.Context, names []string) (ok, known bool)
	now  func() time.Time
	// dirs are the evidence directories, to name records relative to them.
	dirs []config.EvidenceDirectory

	gate, trusted *prometheus.Desc
}

var _ exporter.Collector = (*TrustCollector)(nil)

func newTrustSpec() Spec {
	return Spec{
		Name:           "trust",
		Description:    "production-trust gates of each asset in the inventory, from evidence, live signals and documented config",
		DefaultEnabled: true,
		New: func(d *Deps) (exporter.Collector, error) {
			src, err := sharedEvidence(d)
			if err != nil {
				return nil, err
			}
			measured := func(kind, name string) bool {
				// config validation guarantees the named entry exists; it is
				// measured when its collector runs.
				return d.Enabled(kind)
			}
			c := NewTrustCollector(d.Config.Assets, src, backupCoverage(d), measured, d.Now)
			c.dirs = d.Config.Evidence.Directories
			d.Expose("trust", c)
			if d.Enabled("sops") {
				s, err := sharedSOPS(d)
				if err != nil {
					return nil, err
				}
				c.WithSOPS(s)
			}
			return c, nil
		},
	}
}

// backupCoverage returns the live backup signal from the Kubernetes caches
// when the cnpg or volumebackup collector runs; otherwise the backup gate
// uses the documented backup_mechanism.
func backupCoverage(d *Deps) BackupCoverage { return kubeBackupCoverage(d) }

// NewTrustCollector returns a collector for assets. coverage may be nil.
func NewTrustCollector(assets []config.Asset, src EvidenceSource, coverage BackupCoverage, measured func(kind, name string) bool, now func() time.Time) *TrustCollector {
	return &TrustCollector{
		assets: assets, src: src, coverage: coverage, measured: measured, now: now,
		gate: prometheus.NewDesc("forge_asset_trust_gate",
			"1 if the production-trust gate holds for the asset, 0 if it is missing. Gates: backup_mechanism, restore_drill, consumer_verification, secret_custody, rollback_path, storage_growth, next_drill_owner; a live signal (backup seen, drill evidence, storage measured, SOPS files pass the sentinel) beats the documented config field.",
			[]string{"asset", "gate"}, nil),
		trusted: prometheus.NewDesc("forge_asset_production_trusted",
			"1 if every production-trust gate holds for the asset, 0 if any is missing (use it for smoke, development and migration only).",
			[]string{"asset"}, nil),
	}
}

// WithSOPS makes the SOPS sentinel the live signal of the secret custody
// gate for assets that link sops files (signals.sops_files).
func (c *TrustCollector) WithSOPS(src SOPSSource) *TrustCollector {
	if src != nil {
		c.sops = sopsVerdicts{src: src}.Passed
	}
	return c
}

// Update implements exporter.Collector.
func (c *TrustCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	if len(c.assets) == 0 {
		return nil
	}
	snap, err := c.src.Snapshot(ctx)
	if err != nil {
		return err
	}
	now := c.now()
	for _, a := range c.assets {
		gates := evidence.Trust(c.input(ctx, a), snap.Results, c.src.Policies(), now)
		for _, g := range gates {
			ch <- prometheus.MustNewConstMetric(c.gate, prometheus.GaugeValue, oneIf(g.OK), a.Name, g.Gate)
		}
		ch <- prometheus.MustNewConstMetric(c.trusted, prometheus.GaugeValue, oneIf(evidence.Trusted(gates)), a.Name)
	}
	// The drill gate depends on every record; an unreadable source makes
	// the verdicts incomplete.
	return sourceErrors(snap)
}

func documented(s string) bool { return strings.TrimSpace(s) != "" }

// input gathers one asset's gate inputs: documented config fields and the
// live signals that exist.
func (c *TrustCollector) input(ctx context.Context, a config.Asset) evidence.AssetInput {
	in := evidence.AssetInput{
		Name:                           a.Name,
		Drills:                         a.Drills,
		DocumentedBackup:               documented(a.BackupMechanism),
		DocumentedConsumerVerification: documented(a.ConsumerVerification),
		DocumentedSecretCustody:        len(a.SecretCustody) > 0,
		DocumentedRollback:             documented(a.Rollback),
		DocumentedStorageGrowth:        documented(a.StorageGrowth),
		DocumentedNextDrillOwner:       documented(a.NextDrillOwner),
	}
	in.LiveBackup = c.liveBackup(a.Signals)
	in.LiveStorage = c.liveStorage(a.Signals)
	if c.sops != nil {
		ok, known := c.sops(ctx, a.Signals.SOPSFiles)
		in.LiveSecretCustody = evidence.Signal{Known: known, OK: ok}
	}
	return in
}

// liveBackup holds when every linked CNPG cluster and PVC has a backup
// mechanism; it is unknown when nothing is linked or any answer is unknown.
func (c *TrustCollector) liveBackup(s config.AssetSignals) evidence.Signal {
	if c.coverage == nil || len(s.CNPGClusters)+len(s.PersistentVolumeClaims) == 0 {
		return evidence.Signal{}
	}
	clusters, known := allCovered(s.CNPGClusters, c.coverage.CNPGClusterBackup)
	if !known {
		return evidence.Signal{}
	}
	pvcs, known := allCovered(s.PersistentVolumeClaims, c.coverage.PVCBackup)
	if !known {
		return evidence.Signal{}
	}
	ok := clusters && pvcs
	return evidence.Signal{Known: true, OK: ok}
}

// allCovered asks lookup about each namespace/name ref: covered when all
// are, known only when every answer is.
func allCovered(refs []string, lookup func(namespace, name string) (covered, known bool)) (covered, known bool) {
	covered = true
	for _, ref := range refs {
		ns, name, _ := strings.Cut(ref, "/")
		c, k := lookup(ns, name)
		if !k {
			return false, false
		}
		covered = covered && c
	}
	return covered, true
}

// liveStorage holds when the asset links directories or volumes and every
// one of them is measured; unknown when none is linked or a collector is off.
func (c *TrustCollector) liveStorage(s config.AssetSignals) evidence.Signal {
	if len(s.Directories)+len(s.Volumes) == 0 || c.measured == nil {
		return evidence.Signal{}
	}
	for _, n := range s.Directories {
		if !c.measured("directory", n) {
			return evidence.Signal{}
		}
	}
	for _, n := range s.Volumes {
		if !c.measured("volume", n) {
			return evidence.Signal{}
		}
	}
	return evidence.Signal{Known: true, OK: true}
}
