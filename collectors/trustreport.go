package collectors

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/railiance/forge-exporter/internal/evidence"
)

// TrustSchemaVersion is the version of the trust report's JSON schema
// (docs/trust.schema.json). It changes only when a field changes meaning or
// goes away; new fields may appear within a version.
const TrustSchemaVersion = 1

// TrustReport is what GET /api/v1/trust answers: per asset, each gate's
// state and what decided it, and per drill kind the newest valid passing
// record's citable fields. It carries nothing else from the records (no
// operator, commands, checks or notes) and no configuration text.
type TrustReport struct {
	SchemaVersion int       `json:"schema_version"`
	GeneratedAt   time.Time `json:"generated_at"`
	// Complete is false when an evidence source could not be read: the
	// verdicts may then miss records.
	Complete bool          `json:"complete"`
	Assets   []AssetReport `json:"assets"`
}

// AssetReport is one asset of the inventory.
type AssetReport struct {
	Name              string        `json:"name"`
	ProductionTrusted bool          `json:"production_trusted"`
	Gates             []GateReport  `json:"gates"`
	Drills            []DrillReport `json:"drills"`
}

// GateReport is one production-trust gate.
type GateReport struct {
	Gate string `json:"gate"`
	OK   bool   `json:"ok"`
	// Source is "live" (a signal the exporter observes), "evidence" (drill
	// records) or "config" (a documented field of the asset inventory).
	Source string `json:"source"`
	// From names the signal or the field.
	From string `json:"from"`
}

// DrillReport is one drill kind the asset needs.
type DrillReport struct {
	Kind string `json:"kind"`
	// MaxAgeSeconds is the kind's configured maximum age (0 if none).
	MaxAgeSeconds float64 `json:"max_age_seconds"`
	// NewestPassing is the record to cite, or null when no valid record of
	// the kind naming the asset passed.
	NewestPassing *Citation `json:"newest_passing"`
}

// Citation is the part of an evidence record the contract lets consumers
// cite: its name, date, backup reference and restored environment.
type Citation struct {
	Record              string `json:"record"`
	Date                string `json:"date"`
	BackupReference     string `json:"backup_reference"`
	RestoredEnvironment string `json:"restored_environment"`
}

// Report evaluates every asset's gates now, from the same inputs as the
// metrics.
func (c *TrustCollector) Report(ctx context.Context) (*TrustReport, error) {
	snap, err := c.src.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	now := c.now()
	rep := &TrustReport{SchemaVersion: TrustSchemaVersion, GeneratedAt: now.UTC().Truncate(time.Second), Complete: sourceErrors(snap) == nil, Assets: []AssetReport{}}
	maxAge := map[string]time.Duration{}
	for _, p := range c.src.Policies() {
		maxAge[p.Kind] = p.MaxAge
	}
	for _, a := range c.assets {
		gates := evidence.Trust(c.input(ctx, a), snap.Results, c.src.Policies(), now)
		ar := AssetReport{Name: a.Name, ProductionTrusted: evidence.Trusted(gates), Gates: []GateReport{}, Drills: []DrillReport{}}
		for _, g := range gates {
			ar.Gates = append(ar.Gates, GateReport{Gate: g.Gate, OK: g.OK, Source: g.Source, From: g.From})
		}
		for _, kind := range a.Drills {
			dr := DrillReport{Kind: kind, MaxAgeSeconds: maxAge[kind].Seconds()}
			if r := evidence.NewestPassing(snap.Results, kind, a.Name); r != nil {
				dr.NewestPassing = &Citation{
					Record:              c.recordName(r),
					Date:                r.Record.Date.UTC().Format(time.DateOnly),
					BackupReference:     r.Record.BackupReference,
					RestoredEnvironment: r.Record.RestoredEnvironment,
				}
			}
			ar.Drills = append(ar.Drills, dr)
		}
		rep.Assets = append(rep.Assets, ar)
	}
	return rep, nil
}

// recordName names a record as its source does: configmap/NS/NAME/KEY, or
// the configured directory's name and the file's path inside it (a
// machine's absolute path means nothing to a consumer).
func (c *TrustCollector) recordName(r *evidence.Result) string {
	for _, d := range c.dirs {
		if rel, err := filepath.Rel(d.Path, r.Source); err == nil && !strings.HasPrefix(rel, "..") {
			return d.Name + "/" + filepath.ToSlash(rel)
		}
	}
	return r.Source
}
