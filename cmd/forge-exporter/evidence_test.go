package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/railiance/forge-exporter/internal/evidence"
	"github.com/railiance/forge-exporter/internal/secretscan"
)

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestEvidenceValidateValid(t *testing.T) {
	code, out, errs := runCLI("evidence", "validate", "../../internal/evidence/testdata/valid")
	if code != 0 || !strings.Contains(out, "4 records: 4 valid, 0 invalid; 0 secret findings") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "runner-substrate-failed.yaml: ok (runner-substrate drill failed on 2026-11-18") {
		t.Errorf("a valid failed drill is not reported as such:\n%s", out)
	}
	if errs != "" {
		t.Errorf("stderr not empty: %s", errs)
	}
}

// TestEvidenceExamples: what a newcomer runs on the shipped examples does
// what docs/evidence.md says: the records `make run` reads are valid, the
// teaching example under evidence-invalid/ is not.
func TestEvidenceExamples(t *testing.T) {
	code, out, errs := runCLI("evidence", "validate", "--config.file=../../examples/forge-exporter.yaml", "../../examples/evidence/")
	if code != 0 || !strings.Contains(out, "0 invalid; 0 secret findings") {
		t.Errorf("examples/evidence: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = runCLI("evidence", "validate", "../../examples/evidence-invalid/")
	if code != 1 || !strings.Contains(out, "still holds the template's TODO placeholder") {
		t.Errorf("examples/evidence-invalid: exit %d, want 1 naming the unfinished fields\n%s", code, out)
	}
}

func TestEvidenceValidateInvalid(t *testing.T) {
	dir := "../../internal/evidence/testdata/invalid"
	code, out, _ := runCLI("evidence", "validate", "-q", dir, "../../internal/evidence/testdata/valid/source-forge.yaml")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{
		filepath.Join(dir, "bad-check-result.yaml") + `: checks[0].result (line 12): "ok" is not a result`,
		filepath.Join(dir, "secret-despite-assertion.yaml") + ": commands[0] (line 9): looks like secret material (detector password)",
		"24 records: 1 valid, 23 invalid;",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "source-forge.yaml: ok") {
		t.Errorf("-q printed a valid record")
	}
	if strings.Contains(out, "Fake0nly4Tests9x") || strings.Contains(out, "AKIAFAKE0123456789AB") {
		t.Errorf("output echoes secret material:\n%s", out)
	}
	if code, _, errs := runCLI("evidence", "validate", "no/such/file.yaml"); code != 1 || !strings.Contains(errs, "no/such/file.yaml: cannot read") {
		t.Errorf("missing file: exit %d, %q", code, errs)
	}
	if code, _, errs := runCLI("evidence", "validate", t.TempDir()); code != 1 || !strings.Contains(errs, "no evidence records found") {
		t.Errorf("empty directory: exit %d, %q", code, errs)
	}
}

func TestEvidenceValidateChecksInventory(t *testing.T) {
	dir := t.TempDir()
	data, _ := os.ReadFile("../../internal/evidence/testdata/valid/source-forge.yaml")
	rec := filepath.Join(dir, "r.yaml")
	os.WriteFile(rec, bytes.Replace(data, []byte("source-repositories]"), []byte("source-repos]"), 1), 0o644)
	if code, out, _ := runCLI("evidence", "validate", rec); code != 0 {
		t.Fatalf("without a config any asset name is accepted: exit %d\n%s", code, out)
	}
	code, out, errs := runCLI("evidence", "validate", "--config.file=../../examples/forge-exporter.yaml", rec)
	if code != 1 || !strings.Contains(out, `assets[2] (line 4): "source-repos" is not in the configured asset inventory`) {
		t.Errorf("exit %d\n%s%s", code, out, errs)
	}
}

// TestEvidenceValidateCatchesEveryCategory puts each case of the secret
// corpus (every forbidden category of the contract, fake values) into an
// otherwise valid record: validate must fail, name the detector, and print
// nothing of the secret.
func TestEvidenceValidateCatchesEveryCategory(t *testing.T) {
	base, err := os.ReadFile("../../internal/evidence/testdata/valid/source-forge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../../internal/secretscan/testdata/secrets/*")
	dir := t.TempDir()
	caught := map[string]bool{}
	n := 0
	for _, f := range files {
		data, _ := os.ReadFile(f)
		det := strings.SplitN(filepath.Base(f), ".", 2)[0]
		var cases []string
		if strings.HasSuffix(f, ".lines") {
			for _, l := range strings.Split(string(data), "\n") {
				if strings.TrimSpace(l) != "" && !strings.HasPrefix(l, "#") {
					cases = append(cases, l)
				}
			}
		} else {
			cases = append(cases, string(data))
		}
		for _, c := range cases {
			n++
			// The case goes into the rollback note as a block scalar, in
			// front of the original note.
			rec := strings.Replace(string(base), "rollback_note: ", "rollback_note: |\n  "+strings.ReplaceAll(strings.TrimRight(c, "\n"), "\n", "\n  ")+"\n  cleanup: ", 1)
			path := filepath.Join(dir, "case.yaml")
			if err := os.WriteFile(path, []byte(rec), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errs := runCLI("evidence", "validate", path)
			if code != 1 {
				t.Errorf("%s: exit %d for a record holding %s material\n%s", filepath.Base(f), code, det, out)
				continue
			}
			if strings.Contains(out, "detector "+det) {
				caught[det] = true
			} else {
				t.Errorf("%s: output does not name detector %s:\n%s", filepath.Base(f), det, out)
			}
			for _, w := range secretWordRE.FindAllString(c, -1) {
				if identRE.MatchString(w) || secretscan.SafeKey(w) == w {
					continue
				}
				if strings.Contains(out+errs, w) {
					t.Errorf("%s: output echoes %q:\n%s", filepath.Base(f), w, out)
				}
			}
		}
	}
	for _, d := range secretscan.Detectors() {
		if !caught[d] {
			t.Errorf("no corpus case caught by detector %s through the CLI", d)
		}
	}
	t.Logf("%d secret cases checked through evidence validate", n)
}

var (
	secretWordRE = regexp.MustCompile(`[A-Za-z0-9+/=_.~-]{8,}`)
	identRE      = regexp.MustCompile(`^[a-z_.-]+$`)
)

func TestEvidenceNew(t *testing.T) {
	dir := t.TempDir()
	for _, k := range evidence.Kinds() {
		code, out, errs := runCLI("evidence", "new", "--drill", k)
		if code != 0 {
			t.Fatalf("%s: exit %d %s", k, code, errs)
		}
		for _, f := range evidence.Fields() {
			if !strings.Contains(out, "\n"+f+":") {
				t.Errorf("%s template lacks %s", k, f)
			}
		}
		// An unedited template never validates; filled in, it does.
		path := filepath.Join(dir, k+".yaml")
		os.WriteFile(path, []byte(out), 0o644)
		if code, vout, _ := runCLI("evidence", "validate", path); code != 1 || !strings.Contains(vout, "TODO placeholder") {
			t.Errorf("%s: unedited template: exit %d\n%s", k, code, vout)
		}
		filled := regexp.MustCompile(`"TODO: passed, failed or skipped"`).ReplaceAllString(out, "passed")
		filled = regexp.MustCompile(`"TODO: [^"]*"`).ReplaceAllString(filled, "drill-value")
		filled = strings.Replace(filled, "TODO-asset-name", "gitea-database", 1)
		filled = strings.Replace(filled, "no_secret_material_recorded: false", "no_secret_material_recorded: true", 1)
		os.WriteFile(path, []byte(filled), 0o644)
		if code, vout, _ := runCLI("evidence", "validate", path); code != 0 {
			t.Errorf("%s: filled-in template: exit %d\n%s\n%s", k, code, vout, filled)
		}
	}
	if code, _, errs := runCLI("evidence", "new", "--drill", "weekly"); code == 0 || !strings.Contains(errs, "source-forge") {
		t.Errorf("unknown kind: exit %d %q", code, errs)
	}
}
