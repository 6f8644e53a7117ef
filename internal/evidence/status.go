package evidence

import (
	"sort"
	"time"

	"github.com/railiance/forge-exporter/internal/secretscan"
)

// DrillPolicy is a configured drill kind and the maximum age of its last
// successful run.
type DrillPolicy struct {
	Kind   string
	MaxAge time.Duration
}

// DrillStatus summarises the valid records of one drill kind.
type DrillStatus struct {
	Kind string
	// MaxAge is 0 when the kind is not configured (records of it exist).
	MaxAge time.Duration
	// Recorded is true when at least one valid record of the kind exists.
	Recorded bool
	// LastRun is the date of the newest valid record; LastPassed its outcome
	// and LastChecks its check results by result.
	LastRun    time.Time
	LastPassed bool
	LastChecks map[string]int
	// LastSuccess is the date of the newest valid passing record (zero if none).
	LastSuccess time.Time
}

// Drills returns the status of every configured drill kind, then of any
// other kind that valid records carry, sorted by the contract's order.
func Drills(results []*Result, policies []DrillPolicy) []DrillStatus {
	byKind := map[string]*DrillStatus{}
	var order []string
	get := func(kind string) *DrillStatus {
		if s, ok := byKind[kind]; ok {
			return s
		}
		s := &DrillStatus{Kind: kind}
		byKind[kind] = s
		order = append(order, kind)
		return s
	}
	for _, p := range policies {
		get(p.Kind).MaxAge = p.MaxAge
	}
	for _, r := range sortedValid(results) {
		s := get(r.Record.Drill)
		s.Recorded = true
		// sortedValid is oldest first, so later records win; on equal
		// dates the source name breaks the tie deterministically.
		s.LastRun = r.Record.Date
		s.LastPassed = r.Record.Passed()
		s.LastChecks = countChecks(r.Record)
		if s.LastPassed {
			s.LastSuccess = r.Record.Date
		}
	}
	out := make([]DrillStatus, 0, len(order))
	for _, k := range order {
		out = append(out, *byKind[k])
	}
	rank := map[string]int{}
	for i, k := range Kinds() {
		rank[k] = i + 1
	}
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := rank[out[i].Kind], rank[out[j].Kind]
		if ri == 0 {
			ri = 1 << 20
		}
		if rj == 0 {
			rj = 1 << 20
		}
		if ri != rj {
			return ri < rj
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

func countChecks(r *Record) map[string]int {
	m := map[string]int{}
	for _, res := range Results() {
		m[res] = 0
	}
	for _, c := range r.Checks {
		m[c.Result]++
	}
	return m
}

// sortedValid returns the valid results, oldest first (ties by source).
func sortedValid(results []*Result) []*Result {
	var v []*Result
	for _, r := range results {
		if r.Valid() {
			v = append(v, r)
		}
	}
	sort.SliceStable(v, func(i, j int) bool {
		if !v[i].Record.Date.Equal(v[j].Record.Date) {
			return v[i].Record.Date.Before(v[j].Record.Date)
		}
		return v[i].Source < v[j].Source
	})
	return v
}

// SourceCounts is what one origin contributed: valid and invalid records
// and secret findings per detector.
type SourceCounts struct {
	Origin   string
	Valid    int
	Invalid  int
	Findings map[string]int
}

// Count tallies results per origin. Every origin in origins is present
// (with zeros) and every detector has an entry, so metrics never vanish.
func Count(results []*Result, origins []string) []SourceCounts {
	idx := map[string]*SourceCounts{}
	var order []string
	get := func(o string) *SourceCounts {
		if c, ok := idx[o]; ok {
			return c
		}
		c := &SourceCounts{Origin: o, Findings: map[string]int{}}
		for _, d := range secretscan.Detectors() {
			c.Findings[d] = 0
		}
		idx[o] = c
		order = append(order, o)
		return c
	}
	for _, o := range origins {
		get(o)
	}
	for _, r := range results {
		c := get(r.Origin)
		if r.Valid() {
			c.Valid++
		} else {
			c.Invalid++
		}
		for _, f := range r.Findings {
			c.Findings[f.Detector]++
		}
	}
	out := make([]SourceCounts, 0, len(order))
	for _, o := range order {
		out = append(out, *idx[o])
	}
	return out
}

// Gate names, in the contract's order. They are metric label values.
const (
	GateBackupMechanism      = "backup_mechanism"
	GateRestoreDrill         = "restore_drill"
	GateConsumerVerification = "consumer_verification"
	GateSecretCustody        = "secret_custody"
	GateRollbackPath         = "rollback_path"
	GateStorageGrowth        = "storage_growth"
	GateNextDrillOwner       = "next_drill_owner"
)

// Gates lists the seven production-trust gates in the contract's order.
func Gates() []string {
	return []string{GateBackupMechanism, GateRestoreDrill, GateConsumerVerification, GateSecretCustody,
		GateRollbackPath, GateStorageGrowth, GateNextDrillOwner}
}

// Signal is a gate input from a live observation: Known is false when there
// is no live signal for it (not linked, or the source is not configured or
// not synced yet), and then the documented config field decides.
type Signal struct {
	Known bool
	OK    bool
}

// AssetInput is everything a trust decision about one asset needs.
type AssetInput struct {
	Name string
	// Drills are the drill kinds that must cover the asset.
	Drills []string
	// Documented* say whether the config documents the gate.
	DocumentedBackup, DocumentedConsumerVerification, DocumentedSecretCustody,
	DocumentedRollback, DocumentedStorageGrowth, DocumentedNextDrillOwner bool
	// LiveBackup: a CNPG ScheduledBackup or a PVC backup seen for every
	// linked cluster/PVC. LiveStorage: the linked directories/volumes are
	// measured by the storage collectors. LiveSecretCustody: every linked
	// SOPS file passes the SOPS sentinel.
	LiveBackup, LiveStorage, LiveSecretCustody Signal
}

// GateResult is one gate's verdict and what decided it.
type GateResult struct {
	Gate string
	OK   bool
	// Source is "live", "evidence" or "config".
	Source string
	// From names the signal or field that decided: the asset's signals
	// for a live verdict, the config field for a documented one.
	From string
}

// gateFields are, per gate, the live signals that can decide it and the
// documented config field it falls back to.
var gateFields = map[string][2]string{
	GateBackupMechanism:      {"signals.cnpg_clusters, signals.persistentvolumeclaims", "backup_mechanism"},
	GateRestoreDrill:         {"", "drills"},
	GateConsumerVerification: {"", "consumer_verification"},
	GateSecretCustody:        {"signals.sops_files", "secret_custody"},
	GateRollbackPath:         {"", "rollback"},
	GateStorageGrowth:        {"signals.directories, signals.volumes", "storage_growth"},
	GateNextDrillOwner:       {"", "next_drill_owner"},
}

// Trust evaluates the seven gates for one asset. The restore drill gate
// holds when, for every drill kind the asset needs, the newest valid record
// of that kind covering the asset passed and is within the kind's maximum
// age: an older success does not outweigh a newer failure.
func Trust(a AssetInput, results []*Result, policies []DrillPolicy, now time.Time) []GateResult {
	pick := func(gate string, live Signal, documented bool) GateResult {
		if live.Known {
			return GateResult{Gate: gate, OK: live.OK, Source: "live", From: gateFields[gate][0]}
		}
		return GateResult{Gate: gate, OK: documented, Source: "config", From: gateFields[gate][1]}
	}
	return []GateResult{
		pick(GateBackupMechanism, a.LiveBackup, a.DocumentedBackup),
		{Gate: GateRestoreDrill, OK: drillCompleted(a, results, policies, now), Source: "evidence", From: "evidence records of the drills"},
		pick(GateConsumerVerification, Signal{}, a.DocumentedConsumerVerification),
		pick(GateSecretCustody, a.LiveSecretCustody, a.DocumentedSecretCustody),
		pick(GateRollbackPath, Signal{}, a.DocumentedRollback),
		pick(GateStorageGrowth, a.LiveStorage, a.DocumentedStorageGrowth),
		pick(GateNextDrillOwner, Signal{}, a.DocumentedNextDrillOwner),
	}
}

// Trusted reports whether every gate holds.
func Trusted(gates []GateResult) bool {
	for _, g := range gates {
		if !g.OK {
			return false
		}
	}
	return len(gates) > 0
}

// NewestPassing returns the newest valid record of the drill kind that
// names the asset and passed, or nil: the record a consumer may cite.
func NewestPassing(results []*Result, kind, asset string) *Result {
	var newest *Result
	for _, r := range sortedValid(results) {
		if r.Record.Drill == kind && r.Record.Covers(asset) && r.Record.Passed() {
			newest = r
		}
	}
	return newest
}

func drillCompleted(a AssetInput, results []*Result, policies []DrillPolicy, now time.Time) bool {
	if len(a.Drills) == 0 {
		return false
	}
	maxAge := map[string]time.Duration{}
	for _, p := range policies {
		maxAge[p.Kind] = p.MaxAge
	}
	valid := sortedValid(results)
	for _, kind := range a.Drills {
		var newest *Record
		for _, r := range valid {
			if r.Record.Drill == kind && r.Record.Covers(a.Name) {
				newest = r.Record
			}
		}
		age, ok := maxAge[kind]
		if newest == nil || !ok || !newest.Passed() || now.Sub(newest.Date) > age {
			return false
		}
	}
	return true
}
