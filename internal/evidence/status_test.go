package evidence

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// rec builds a valid record from the source-forge testdata, changing kind,
// assets, date and outcome.
func rec(t *testing.T, source, kind string, assets []string, date string, passed bool) *Result {
	t.Helper()
	data, err := os.ReadFile("testdata/valid/source-forge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	s = strings.Replace(s, "drill: source-forge", "drill: "+kind, 1)
	s = strings.Replace(s, "assets: [gitea-database, gitea-shared-storage, source-repositories]", "assets: ["+strings.Join(assets, ", ")+"]", 1)
	s = strings.Replace(s, "date: 2026-11-24T09:30:00Z", "date: "+date, 1)
	if !passed {
		s = strings.Replace(s, "result: passed", "result: failed", 1)
	}
	r := Parse(source, "d", []byte(s), Options{Now: testNow, Assets: inventory})
	if !r.Valid() {
		t.Fatalf("%s: %v", source, r.Messages())
	}
	return r
}

func day(s string) time.Time {
	t, _ := time.Parse(time.DateOnly, s)
	return t
}

func TestDrills(t *testing.T) {
	invalid := Parse("bad.yaml", "d", []byte("drill: package-blob\n"), Options{Now: testNow})
	results := []*Result{
		rec(t, "sf-old-pass", KindSourceForge, []string{"gitea-database"}, "2026-09-01", true),
		rec(t, "sf-new-fail", KindSourceForge, []string{"gitea-database"}, "2026-11-01", false),
		rec(t, "sf-mid-pass", KindSourceForge, []string{"gitea-database"}, "2026-10-01", true),
		rec(t, "rs-pass", KindRunnerSubstrate, []string{"runner-registration"}, "2026-11-20", true),
		invalid,
	}
	policies := []DrillPolicy{{KindSourceForge, 90 * 24 * time.Hour}, {KindPackageBlob, 90 * 24 * time.Hour}, {KindSecretDelivery, 180 * 24 * time.Hour}}
	got := Drills(results, policies)
	var kinds []string
	for _, d := range got {
		kinds = append(kinds, d.Kind)
	}
	if want := []string{KindSourceForge, KindPackageBlob, KindRunnerSubstrate, KindSecretDelivery}; !reflect.DeepEqual(kinds, want) {
		t.Fatalf("kinds %v, want %v (configured and recorded, in contract order)", kinds, want)
	}
	sf, pb, rs := got[0], got[1], got[2]
	if !sf.Recorded || !sf.LastRun.Equal(day("2026-11-01")) || sf.LastPassed || !sf.LastSuccess.Equal(day("2026-10-01")) {
		t.Errorf("source-forge: %+v (want last run 11-01 failed, last success 10-01)", sf)
	}
	if sf.LastChecks["failed"] != 1 || sf.LastChecks["passed"] != 2 || sf.LastChecks["skipped"] != 0 {
		t.Errorf("source-forge checks %v", sf.LastChecks)
	}
	if pb.Recorded || !pb.LastRun.IsZero() || pb.MaxAge != 90*24*time.Hour {
		t.Errorf("package-blob: an invalid record must not count: %+v", pb)
	}
	if !rs.Recorded || rs.MaxAge != 0 || !rs.LastPassed {
		t.Errorf("runner-substrate (recorded, not configured): %+v", rs)
	}
}

func TestTrustGates(t *testing.T) {
	policies := []DrillPolicy{{KindSourceForge, 90 * 24 * time.Hour}, {KindPackageBlob, 30 * 24 * time.Hour}}
	documented := AssetInput{
		Name: "gitea-database", Drills: []string{KindSourceForge},
		DocumentedBackup: true, DocumentedConsumerVerification: true, DocumentedSecretCustody: true,
		DocumentedRollback: true, DocumentedStorageGrowth: true, DocumentedNextDrillOwner: true,
	}
	pass := rec(t, "pass", KindSourceForge, []string{"gitea-database", "gitea-shared-storage"}, "2026-11-20", true)
	fail := rec(t, "fail", KindSourceForge, []string{"gitea-database"}, "2026-11-25", false)
	old := rec(t, "old", KindPackageBlob, []string{"gitea-shared-storage"}, "2026-09-01", true)
	recent := rec(t, "recent", KindPackageBlob, []string{"gitea-shared-storage"}, "2026-11-29", true)
	without := func(a AssetInput, f func(*AssetInput)) AssetInput { f(&a); return a }

	cases := []struct {
		name    string
		asset   AssetInput
		results []*Result
		want    map[string]bool // gates expected false; all others true
		source  map[string]string
	}{
		{"all documented, recent passing drill", documented, []*Result{pass}, nil, nil},
		{"no drill record", documented, nil, map[string]bool{GateRestoreDrill: false}, nil},
		{"newer failed drill outweighs older success", documented, []*Result{pass, fail}, map[string]bool{GateRestoreDrill: false}, nil},
		{"drill of another asset does not count", without(documented, func(a *AssetInput) { a.Name = "source-repositories" }), []*Result{pass}, map[string]bool{GateRestoreDrill: false}, nil},
		{"no drill kinds listed", without(documented, func(a *AssetInput) { a.Drills = nil }), []*Result{pass}, map[string]bool{GateRestoreDrill: false}, nil},
		{"every listed kind must hold: one overdue", without(documented, func(a *AssetInput) {
			a.Name, a.Drills = "gitea-shared-storage", []string{KindSourceForge, KindPackageBlob}
		}), []*Result{pass, old}, map[string]bool{GateRestoreDrill: false}, nil},
		{"every listed kind holds", without(documented, func(a *AssetInput) {
			a.Name, a.Drills = "gitea-shared-storage", []string{KindSourceForge, KindPackageBlob}
		}), []*Result{pass, old, recent}, nil, nil},
		{"live backup missing beats documented mechanism", without(documented, func(a *AssetInput) { a.LiveBackup = Signal{Known: true, OK: false} }),
			[]*Result{pass}, map[string]bool{GateBackupMechanism: false}, map[string]string{GateBackupMechanism: "live"}},
		{"live backup seen without documentation", without(documented, func(a *AssetInput) {
			a.DocumentedBackup, a.LiveBackup = false, Signal{Known: true, OK: true}
		}), []*Result{pass}, nil, map[string]string{GateBackupMechanism: "live"}},
		{"storage measured live without a documented procedure", without(documented, func(a *AssetInput) {
			a.DocumentedStorageGrowth, a.LiveStorage = false, Signal{Known: true, OK: true}
		}), []*Result{pass}, nil, map[string]string{GateStorageGrowth: "live"}},
		{"nothing documented", AssetInput{Name: "artifact-evidence"}, []*Result{pass}, map[string]bool{
			GateBackupMechanism: false, GateRestoreDrill: false, GateConsumerVerification: false, GateSecretCustody: false,
			GateRollbackPath: false, GateStorageGrowth: false, GateNextDrillOwner: false,
		}, map[string]string{GateBackupMechanism: "config", GateRestoreDrill: "evidence"}},
	}
	for _, c := range cases {
		gates := Trust(c.asset, c.results, policies, testNow)
		if len(gates) != len(Gates()) {
			t.Fatalf("%s: %d gates", c.name, len(gates))
		}
		allOK := true
		for i, g := range gates {
			if g.Gate != Gates()[i] {
				t.Errorf("%s: gate %d is %s, want %s", c.name, i, g.Gate, Gates()[i])
			}
			want := true
			if v, ok := c.want[g.Gate]; ok {
				want = v
			}
			if g.OK != want {
				t.Errorf("%s: gate %s = %v, want %v", c.name, g.Gate, g.OK, want)
			}
			if s, ok := c.source[g.Gate]; ok && g.Source != s {
				t.Errorf("%s: gate %s decided by %s, want %s", c.name, g.Gate, g.Source, s)
			}
			allOK = allOK && want
		}
		if Trusted(gates) != allOK {
			t.Errorf("%s: trusted = %v, want %v", c.name, Trusted(gates), allOK)
		}
	}
}
