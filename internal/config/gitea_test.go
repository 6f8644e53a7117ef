package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExampleGiteaSectionIsValid uncomments the gitea section of the
// example configuration and loads it, so the documented example cannot rot.
func TestExampleGiteaSectionIsValid(t *testing.T) {
	b, err := os.ReadFile("../../examples/forge-exporter.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var section []string
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		if l == "# gitea:" {
			in = true
		}
		if in && !strings.HasPrefix(l, "#") {
			break
		}
		if in {
			section = append(section, strings.TrimPrefix(strings.TrimPrefix(l, "#"), " "))
		}
	}
	if len(section) < 5 {
		t.Fatal("no commented gitea: section in examples/forge-exporter.yaml")
	}
	f := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(f, []byte(strings.Join(section, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(f)
	if err != nil {
		t.Fatalf("the example gitea section does not load: %v", err)
	}
	g := cfg.Gitea
	if g.URL == "" || g.TokenFile == "" || len(g.LabelContract) < 2 {
		t.Errorf("example gitea section = %+v", g)
	}
	for _, l := range g.LabelContract {
		if l.Purpose == "" {
			t.Errorf("contract label %s has no purpose", l.Label)
		}
	}
}

func TestGiteaDefaults(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte("gitea:\n  url: https://g.example.org\n  token_file: tok\n  label_contract:\n    - label: a\n    - label: b\n      min_online_runners: 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Gitea
	if g.Timeout.Std() != 10*time.Second || g.Interval.Std() != time.Minute || g.RequestsPerSecond != 10 || g.PackageFilesRecheck.Std() != 24*time.Hour {
		t.Errorf("defaults = %+v", g)
	}
	if g.LabelContract[0].Required() != 1 || g.LabelContract[1].Required() != 0 {
		t.Errorf("required = %d, %d; want 1 (default), 0", g.LabelContract[0].Required(), g.LabelContract[1].Required())
	}
	if !filepath.IsAbs(g.TokenFile) {
		t.Errorf("token_file %q not resolved against the config directory", g.TokenFile)
	}
}
