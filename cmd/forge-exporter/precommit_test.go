package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestPreCommitHook ties .pre-commit-hooks.yaml to the CLI: its entry is
// `forge-exporter evidence validate` with flags the CLI accepts, run on the
// example records it passes the valid ones and fails an invalid one, its file
// pattern selects evidence records and nothing else, and docs/evidence.md
// shows the hook's id.
func TestPreCommitHook(t *testing.T) {
	b, err := os.ReadFile("../../.pre-commit-hooks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var hooks []struct {
		ID, Name, Description, Entry, Language, Files string
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&hooks); err != nil {
		t.Fatalf(".pre-commit-hooks.yaml: %v", err)
	}
	if len(hooks) != 1 {
		t.Fatalf("want one hook, got %d", len(hooks))
	}
	h := hooks[0]
	if h.Language != "golang" {
		t.Errorf("language %q: golang makes pre-commit build the CLI from this repository", h.Language)
	}
	entry := strings.Fields(h.Entry)
	if len(entry) < 3 || strings.Join(entry[:3], " ") != "forge-exporter evidence validate" {
		t.Fatalf("entry %q does not run forge-exporter evidence validate", h.Entry)
	}

	// pre-commit appends the staged files that match `files` to the entry.
	valid := []string{"../../examples/evidence/2026-11-24-source-forge.yaml", "../../examples/evidence/2026-05-20-package-blob.json"}
	if code, out, errs := runCLI(append(entry[1:], valid...)...); code != 0 {
		t.Errorf("hook on valid records: exit %d\n%s%s", code, out, errs)
	}
	invalid := "../../examples/evidence-invalid/2026-11-28-secret-delivery-unfinished.yaml" // still holds template TODOs
	if code, out, _ := runCLI(append(entry[1:], append(valid, invalid)...)...); code != 1 || !strings.Contains(out, "2026-11-28-secret-delivery-unfinished.yaml") {
		t.Errorf("hook on an invalid record: exit %d, want 1 naming it\n%s", code, out)
	}

	// pre-commit matches `files` with Python's re.search; this pattern uses
	// only syntax Go's regexp reads the same way.
	re, err := regexp.Compile(h.Files)
	if err != nil {
		t.Fatalf("files %q: %v", h.Files, err)
	}
	for path, want := range map[string]bool{
		"evidence/2026-11-24-source-forge.yaml":      true,
		"evidence/drills/2026/runner.yml":            true,
		"docs/evidence/2026-05-20-package-blob.json": true,
		"evidence/README.md":                         false,
		"evidence/notes.txt":                         false,
		"helm/values.yaml":                           false,
		"not-evidence/x.yaml":                        false,
		"evidence.yaml":                              false,
	} {
		if re.MatchString(path) != want {
			t.Errorf("files pattern %q on %s: match %v, want %v", h.Files, path, !want, want)
		}
	}
	// Every extension the CLI reads is selected.
	for _, ext := range []string{".yaml", ".yml", ".json"} {
		if !re.MatchString("evidence/r" + ext) {
			t.Errorf("files pattern misses %s records", ext)
		}
	}
	examples, _ := filepath.Glob("../../examples/evidence/*")
	for _, p := range examples {
		rel := strings.TrimPrefix(filepath.ToSlash(p), "../../examples/")
		if !re.MatchString(rel) {
			t.Errorf("files pattern misses the example record %s", rel)
		}
	}

	doc, err := os.ReadFile("../../docs/evidence.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "id: "+h.ID) {
		t.Errorf("docs/evidence.md does not show the hook id %s", h.ID)
	}
}
