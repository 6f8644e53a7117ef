package collectors

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/secretscan"
)

// trustSchema compiles docs/trust.schema.json.
func trustSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	raw, err := os.ReadFile("../docs/trust.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("trust.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("trust.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTrustReport: the report gives the same verdicts as the metrics, says
// what decided each gate, cites the newest passing record of each drill
// kind by its four citable fields only, and validates against the
// documented schema.
func TestTrustReport(t *testing.T) {
	c, dir := goldenTrust(t)
	day := 24 * time.Hour
	c.dirs = []config.EvidenceDirectory{{Name: "records", Path: dir}}
	rep, err := c.Report(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(js)))
	if err != nil {
		t.Fatal(err)
	}
	if err := trustSchema(t).Validate(doc); err != nil {
		t.Fatalf("the report does not validate against docs/trust.schema.json: %v\n%s", err, js)
	}
	if f := secretscan.New().Scan(js); len(f) > 0 {
		t.Errorf("the report holds something the secret scan flags: %v", f)
	}
	for _, s := range []string{"drill-operator", dir, "documented command"} {
		if strings.Contains(string(js), s) {
			t.Errorf("the report carries %q (record fields other than the citable four, paths, config text)", s)
		}
	}

	// The verdicts equal the metrics'.
	metrics := collectValues(t, c)
	for _, a := range rep.Assets {
		if want := metrics[`forge_asset_production_trusted{asset="`+a.Name+`"}`]; oneIf(a.ProductionTrusted) != want {
			t.Errorf("%s: trusted %v, metric %v", a.Name, a.ProductionTrusted, want)
		}
		for _, g := range a.Gates {
			if want := metrics[`forge_asset_trust_gate{asset="`+a.Name+`",gate="`+g.Gate+`"}`]; oneIf(g.OK) != want {
				t.Errorf("%s/%s: %v, metric %v", a.Name, g.Gate, g.OK, want)
			}
		}
	}

	storage := rep.Assets[1]
	if storage.Name != "gitea-shared-storage" {
		t.Fatalf("assets out of order: %s", storage.Name)
	}
	gates := map[string]GateReport{}
	for _, g := range storage.Gates {
		gates[g.Gate] = g
	}
	for gate, want := range map[string]GateReport{
		"backup_mechanism": {Gate: "backup_mechanism", OK: false, Source: "live", From: "signals.cnpg_clusters, signals.persistentvolumeclaims"},
		"restore_drill":    {Gate: "restore_drill", OK: false, Source: "evidence", From: "evidence records of the drills"},
		"storage_growth":   {Gate: "storage_growth", OK: true, Source: "live", From: "signals.directories, signals.volumes"},
		"rollback_path":    {Gate: "rollback_path", OK: true, Source: "config", From: "rollback"},
	} {
		if gates[gate] != want {
			t.Errorf("%s = %+v, want %+v", gate, gates[gate], want)
		}
	}
	// source-forge: the newest record (2026-11-01) failed, so the gate is
	// missing; the newest passing one is still what can be cited.
	want := []DrillReport{
		{Kind: "source-forge", MaxAgeSeconds: (90 * day).Seconds(), NewestPassing: &Citation{Record: "records/source-forge-2026-10-01.yaml", Date: "2026-10-01", BackupReference: "backup-2026-10-01", RestoredEnvironment: "drill-2026-10-01"}},
		{Kind: "package-blob", MaxAgeSeconds: (90 * day).Seconds(), NewestPassing: &Citation{Record: "records/package-blob-2026-11-25.yaml", Date: "2026-11-25", BackupReference: "backup-2026-11-25", RestoredEnvironment: "drill-2026-11-25"}},
	}
	if len(storage.Drills) != 2 {
		t.Fatalf("drills %+v", storage.Drills)
	}
	for i, d := range storage.Drills {
		if d.Kind != want[i].Kind || d.MaxAgeSeconds != want[i].MaxAgeSeconds || d.NewestPassing == nil || *d.NewestPassing != *want[i].NewestPassing {
			t.Errorf("drill %d = %+v %+v, want %+v %+v", i, d, d.NewestPassing, want[i], want[i].NewestPassing)
		}
	}
	// An asset never drilled has a null citation, which the schema allows.
	if last := rep.Assets[len(rep.Assets)-1]; last.Name != "artifact-evidence" || len(last.Drills) != 0 || last.ProductionTrusted {
		t.Errorf("artifact-evidence: %+v", last)
	}
}
