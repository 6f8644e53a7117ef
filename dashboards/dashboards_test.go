package dashboards

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the committed dashboard JSON")

// TestCommittedJSONUpToDate fails when a committed dashboard differs from
// what the generator produces, and when a JSON file has no generator.
func TestCommittedJSONUpToDate(t *testing.T) {
	files := Files()
	for name, d := range files {
		got, err := Render(d)
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(name, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("%v (run go test ./dashboards -update)", err)
		}
		if !bytes.Equal(want, got) {
			t.Errorf("%s is not what the generator produces: run go test ./dashboards -update and commit it", name)
		}
	}
	committed, _ := filepath.Glob("*.json")
	for _, f := range committed {
		if _, ok := files[f]; !ok {
			t.Errorf("%s has no generator in this package", f)
		}
	}
}

// TestPanelsAreWellFormed checks what Grafana needs to import and lay out
// the dashboard, and what an operator needs to act on a panel.
func TestPanelsAreWellFormed(t *testing.T) {
	for name, d := range Files() {
		ids := map[int]bool{}
		var check func(p Panel, inRow bool)
		check = func(p Panel, inRow bool) {
			if ids[p.ID] {
				t.Errorf("%s: duplicate panel id %d (%s)", name, p.ID, p.Title)
			}
			ids[p.ID] = true
			g := p.GridPos
			if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
				t.Errorf("%s: panel %q is off the 24-column grid: %+v", name, p.Title, g)
			}
			if p.Type == "row" {
				if inRow {
					t.Errorf("%s: row %q inside a row", name, p.Title)
				}
				if len(p.Panels) == 0 {
					t.Errorf("%s: row %q is empty", name, p.Title)
				}
				for _, c := range p.Panels {
					if c.GridPos.Y <= g.Y {
						t.Errorf("%s: panel %q is not below its row %q", name, c.Title, p.Title)
					}
					check(c, true)
				}
				return
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("%s: panel %q does not use the datasource variable", name, p.Title)
			}
			if p.Description == "" {
				t.Errorf("%s: panel %q has no description", name, p.Title)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", name, p.Title)
			}
			for _, tg := range p.Targets {
				if tg.RefID == "" || strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s: panel %q has a target without refId or expr", name, p.Title)
				}
				if strings.Contains(tg.Expr, "forge_") && !strings.Contains(tg.Expr, "$instance") {
					t.Errorf("%s: panel %q: query ignores the instance variable: %s", name, p.Title, tg.Expr)
				}
			}
			for _, l := range p.Links {
				file := filepath.Join("..", "docs", "runbooks", filepath.Base(l.URL))
				if _, err := os.Stat(file); err != nil {
					t.Errorf("%s: panel %q links to a missing runbook: %v", name, p.Title, err)
				}
			}
		}
		for _, p := range d.Panels {
			check(p, false)
		}
		vars := map[string]bool{}
		for _, v := range d.Templating.List {
			vars[v.Name] = true
		}
		for _, v := range []string{"datasource", "namespace", "instance"} {
			if !vars[v] {
				t.Errorf("%s: no %s template variable", name, v)
			}
		}
	}
}
