package collectors

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/evidence"
	"github.com/railiance/forge-exporter/internal/exporter"
)

// fakeCoverage is a BackupCoverage with fixed answers; a missing key is
// unknown (cache not synced).
type fakeCoverage map[string]bool

func (f fakeCoverage) CNPGClusterBackup(ns, name string) (bool, bool) {
	v, ok := f["cnpg/"+ns+"/"+name]
	return v, ok
}

func (f fakeCoverage) PVCBackup(ns, name string) (bool, bool) {
	v, ok := f["pvc/"+ns+"/"+name]
	return v, ok
}

// fixedEvidence is an EvidenceSource over a snapshot read once.
type fixedEvidence struct {
	snap     *evidence.Snapshot
	policies []evidence.DrillPolicy
}

func (f fixedEvidence) Snapshot(context.Context) (*evidence.Snapshot, error) {
	if f.snap == nil {
		return nil, exporter.ErrNoData
	}
	return f.snap, nil
}
func (f fixedEvidence) Policies() []evidence.DrillPolicy { return f.policies }
func (f fixedEvidence) Origins() []string                { return []string{"records"} }

func trustAssets() []config.Asset {
	full := func(name string, drills ...string) config.Asset {
		return config.Asset{
			Name: name, Drills: drills,
			BackupMechanism:      "documented mechanism",
			ConsumerVerification: "documented command",
			SecretCustody:        []string{"databases/gitea-db-app"},
			Rollback:             "documented rollback",
			StorageGrowth:        "documented procedure",
			NextDrillOwner:       "platform-oncall",
		}
	}
	db := full("gitea-database", "source-forge")
	// Live backup seen for the cluster: the documented mechanism is not needed.
	db.BackupMechanism = ""
	db.Signals.CNPGClusters = []string{"databases/gitea-db"}

	storage := full("gitea-shared-storage", "source-forge", "package-blob")
	// Live: no backup seen for the PVC beats the documented mechanism.
	storage.Signals.PersistentVolumeClaims = []string{"default/gitea-shared-storage"}
	storage.StorageGrowth = ""
	storage.Signals.Directories = []string{"packages"}

	registry := full("package-registry", "package-blob")
	// The PVC backup answer is unknown (cache not synced): documentation decides.
	registry.Signals.PersistentVolumeClaims = []string{"default/not-synced"}
	// Linked volume whose collector is off: documentation decides, and there is none.
	registry.StorageGrowth = ""
	registry.Signals.Volumes = []string{"gitea-data"}

	runners := full("runner-registration", "runner-substrate")
	runners.NextDrillOwner = ""

	return []config.Asset{db, storage, registry, runners, {Name: "artifact-evidence"}}
}

// TestTrustCollectorGolden computes the gates for mixed live and
// documented inputs over the real testdata records (package-blob passed on
// 2026-11-25 for gitea-shared-storage and package-registry; the newest
// source-forge drill, 2026-11-01, failed for gitea-database and
// gitea-shared-storage).
func TestTrustCollectorGolden(t *testing.T) {
	c, _ := goldenTrust(t)
	golden(t, asCollector{c: c, t: t}, "testdata/trust/want.prom", "forge_asset_trust_gate", "forge_asset_production_trusted")
}

// goldenTrust is the trust collector of the golden test: trustAssets over
// the testdata records with live coverage for some assets; it returns the
// records' directory too.
func goldenTrust(t *testing.T) (*TrustCollector, string) {
	t.Helper()
	dir, _ := filepath.Abs("testdata/drills/records")
	results, err := evidence.ReadDir(context.Background(), dir, "records", evidence.Options{Now: evidenceNow})
	if err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	src := fixedEvidence{
		snap: &evidence.Snapshot{Results: results, Sources: []evidence.SourceStatus{{Origin: "records"}}},
		policies: []evidence.DrillPolicy{
			{Kind: "source-forge", MaxAge: 90 * day}, {Kind: "package-blob", MaxAge: 90 * day}, {Kind: "runner-substrate", MaxAge: 90 * day},
		},
	}
	cov := fakeCoverage{"cnpg/databases/gitea-db": true, "pvc/default/gitea-shared-storage": false}
	measured := func(kind, name string) bool { return kind == "directory" }
	return NewTrustCollector(trustAssets(), src, cov, measured, func() time.Time { return evidenceNow }), dir
}

// TestTrustCollectorTrustedAsset: with a passing drill within max age and
// every gate documented, the asset is trusted; the same drill past its max
// age is not.
func TestTrustCollectorTrustedAsset(t *testing.T) {
	dir, _ := filepath.Abs("testdata/drills/records")
	results, _ := evidence.ReadDir(context.Background(), dir, "records", evidence.Options{Now: evidenceNow})
	assets := trustAssets()[2:3] // package-registry: package-blob passed 2026-11-25
	assets[0].StorageGrowth = "documented procedure"
	for _, tc := range []struct {
		maxAge time.Duration
		want   float64
	}{{30 * 24 * time.Hour, 1}, {24 * time.Hour, 0}} {
		src := fixedEvidence{snap: &evidence.Snapshot{Results: results}, policies: []evidence.DrillPolicy{{Kind: "package-blob", MaxAge: tc.maxAge}}}
		c := NewTrustCollector(assets, src, nil, nil, func() time.Time { return evidenceNow })
		got := collectValues(t, c)
		if got[`forge_asset_production_trusted{asset="package-registry"}`] != tc.want {
			t.Errorf("max age %s: trusted = %v, want %v (%v)", tc.maxAge, got[`forge_asset_production_trusted{asset="package-registry"}`], tc.want, got)
		}
	}
	// No assets configured: nothing to report, success.
	if got := collectValues(t, NewTrustCollector(nil, fixedEvidence{}, nil, nil, time.Now)); len(got) != 0 {
		t.Errorf("no assets: %v", got)
	}
}
