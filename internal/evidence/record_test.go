package evidence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testNow is the clock of the tests: after every testdata record.
var testNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

var inventory = map[string]bool{
	"gitea-database": true, "gitea-shared-storage": true, "source-repositories": true, "package-registry": true,
	"runner-registration": true, "sops-gitea-values": true, "runtime-secrets": true, "artifact-evidence": true,
}

func parseFile(t *testing.T, path string) *Result {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(path, "testdata", data, Options{Now: testNow, Assets: inventory})
}

func TestValidRecords(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*")
	if len(files) < 4 {
		t.Fatalf("want a valid record of every kind, found %d files", len(files))
	}
	kinds := map[string]bool{}
	for _, f := range files {
		r := parseFile(t, f)
		if !r.Valid() {
			t.Errorf("%s: invalid: %v", f, r.Messages())
			continue
		}
		kinds[r.Record.Drill] = true
		if r.Record.SchemaVersion != 1 || len(r.Record.Assets) == 0 || r.Record.Date.IsZero() || r.Record.Operator == "" ||
			r.Record.BackupReference == "" || r.Record.RestoredEnvironment == "" || len(r.Record.Commands) == 0 ||
			len(r.Record.Checks) == 0 || !r.Record.NoSecretMaterialRecorded || r.Record.RollbackNote == "" {
			t.Errorf("%s: a field was not decoded: %+v", f, r.Record)
		}
	}
	for _, k := range Kinds() {
		if !kinds[k] {
			t.Errorf("no valid testdata record of kind %s", k)
		}
	}
	r := parseFile(t, "testdata/valid/runner-substrate-failed.yaml")
	if r.Record.Passed() {
		t.Error("a drill with a failed check passed")
	}
	if want := time.Date(2026, 11, 18, 13, 0, 0, 0, time.UTC); !r.Record.Date.Equal(want) {
		t.Errorf("date %s, want %s", r.Record.Date, want)
	}
	if r := parseFile(t, "testdata/valid/source-forge.yaml"); !r.Record.Passed() {
		t.Error("an all-passed drill did not pass")
	}
}

// invalidCases: every problem must name the field (and line where there is
// one) and the reason. schema says whether docs/evidence.schema.json rejects
// the record too (some rules need the clock, the inventory or the scanner).
var invalidCases = map[string]struct {
	want   []string
	schema bool
}{
	"missing-fields.yaml":           {[]string{"operator: is required", "backup_reference: is required", "restored_environment: is required", "commands: is required", "rollback_note: is required"}, true},
	"unknown-field.yaml":            {[]string{"operater (line 5): unknown field (known: schema_version,", "operator: is required"}, true},
	"duplicate-field.yaml":          {[]string{"no_secret_material_recorded (line 15): appears more than once"}, true},
	"wrong-version.yaml":            {[]string{"schema_version (line 1): unsupported version 2: this exporter reads version 1"}, true},
	"bad-kind.yaml":                 {[]string{`drill (line 2): "nightly-db" is not a drill kind (one of source-forge, package-blob, runner-substrate, secret-delivery)`}, true},
	"bad-date.yaml":                 {[]string{"date (line 4): must be a date (2026-11-20) or an RFC 3339 time"}, true},
	"future-date.yaml":              {[]string{"date (line 4): is in the future"}, false},
	"no-assertion.yaml":             {[]string{"no_secret_material_recorded (line 13): must be true"}, true},
	"assertion-string.yaml":         {[]string{"no_secret_material_recorded (line 13): must be the boolean true"}, true},
	"empty-checks.yaml":             {[]string{"checks (line 10): must not be empty"}, true},
	"bad-check-result.yaml":         {[]string{`checks[0].result (line 12): "ok" is not a result (one of passed, failed, skipped)`}, true},
	"check-missing-result.yaml":     {[]string{"checks[0].result (line 11): is required"}, true},
	"check-not-mapping.yaml":        {[]string{"checks[0] (line 11): must be a mapping {name, result}"}, true},
	"commands-not-list.yaml":        {[]string{"commands (line 8): must be a list of strings"}, true},
	"empty-operator.yaml":           {[]string{"operator (line 5): must not be empty"}, true},
	"bad-asset-name.yaml":           {[]string{"assets[0] (line 3): the value (withheld) is not an asset name", `assets[2] (line 3): duplicate asset "gitea-database"`}, true},
	"todo-left.yaml":                {[]string{"rollback_note (line 14): still holds the template's TODO placeholder"}, true},
	"not-mapping.yaml":              {[]string{"line 1: a record must be a mapping of fields"}, true},
	"multi-doc.yaml":                {[]string{"more than one document: a file holds exactly one record"}, false},
	"malformed.yaml":                {[]string{"invalid YAML/JSON: "}, true},
	"secret-despite-assertion.yaml": {[]string{"commands[0] (line 9): looks like secret material (detector password)"}, false},
	"secret-in-check.json":          {[]string{"checks[0].name (line 4): looks like secret material (detector openbao-token)"}, false},
	"secret-key-name.yaml":          {[]string{"<withheld> (line 15): unknown field", "looks like secret material (detector cloud-access-key)"}, true},
}

func TestInvalidRecords(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*")
	for _, f := range files {
		name := filepath.Base(f)
		c, ok := invalidCases[name]
		if !ok {
			t.Errorf("%s has no expectation in invalidCases", name)
			continue
		}
		r := parseFile(t, f)
		if r.Valid() {
			t.Errorf("%s: valid, want invalid", name)
			continue
		}
		msgs := strings.Join(r.Messages(), "\n")
		for _, m := range r.Messages() {
			if !strings.HasPrefix(m, f+": ") {
				t.Errorf("%s: message does not name the record: %q", name, m)
			}
		}
		for _, w := range c.want {
			if !strings.Contains(msgs, w) {
				t.Errorf("%s: messages do not contain %q:\n%s", name, w, msgs)
			}
		}
		for _, secret := range []string{"Fake0nly4Tests9x", "FAKEfakeFAKEfake", "AKIAFAKE0123456789AB"} {
			if strings.Contains(msgs, secret) {
				t.Errorf("%s: messages echo secret material:\n%s", name, msgs)
			}
		}
	}
	for name := range invalidCases {
		if _, err := os.Stat(filepath.Join("testdata/invalid", name)); err != nil {
			t.Errorf("expectation for missing file %s", name)
		}
	}
}

func TestUnknownAssetNeedsInventory(t *testing.T) {
	data, _ := os.ReadFile("testdata/valid/source-forge.yaml")
	r := Parse("x.yaml", "d", data, Options{Now: testNow, Assets: map[string]bool{"gitea-database": true}})
	msgs := strings.Join(r.Messages(), "\n")
	if r.Valid() || !strings.Contains(msgs, `x.yaml: assets[1] (line 4): "gitea-shared-storage" is not in the configured asset inventory`) {
		t.Errorf("unknown asset accepted or badly reported:\n%s", msgs)
	}
	if r := Parse("x.yaml", "d", data, Options{Now: testNow}); !r.Valid() {
		t.Errorf("without an inventory any asset name is accepted: %v", r.Messages())
	}
}

func TestHugeAndBinaryInputs(t *testing.T) {
	huge := []byte("schema_version: 1\nnote: \"" + strings.Repeat("x", MaxRecordBytes) + "\"\n")
	if r := Parse("huge.yaml", "d", huge, Options{Now: testNow}); r.Valid() || !strings.Contains(strings.Join(r.Messages(), ""), "larger than 256 KiB") {
		t.Errorf("huge record: %v", r.Messages())
	}
	bin := []byte("\x7fELF\x02\x01\x01\x00\x00\x00password: x\n")
	if r := Parse("bin.yaml", "d", bin, Options{Now: testNow}); r.Valid() || !strings.Contains(strings.Join(r.Messages(), ""), "not a text file") {
		t.Errorf("binary record: %v", r.Messages())
	}
	if r := Parse("empty.yaml", "d", nil, Options{Now: testNow}); r.Valid() || !strings.Contains(strings.Join(r.Messages(), ""), "empty record") {
		t.Errorf("empty record: %v", r.Messages())
	}
	// An alias bomb is refused by the YAML library, not expanded.
	bomb := "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
	if r := Parse("bomb.yaml", "d", []byte(bomb), Options{Now: testNow}); r.Valid() {
		t.Error("alias bomb accepted")
	}
}

func TestTemplate(t *testing.T) {
	for _, k := range Kinds() {
		tmpl, err := Template(k, testNow)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range Fields() {
			if !strings.Contains(tmpl, "\n"+f+":") {
				t.Errorf("%s template lacks field %s", k, f)
			}
		}
		for _, c := range ContractChecks(k) {
			if !strings.Contains(tmpl, c) {
				t.Errorf("%s template lacks the contract check %q", k, c)
			}
		}
		// The template parses and names every field, but an unedited
		// template never counts.
		r := Parse("new.yaml", "d", []byte(tmpl), Options{Now: testNow})
		if r.Record == nil || r.Record.Drill != k {
			t.Fatalf("%s template does not parse: %v", k, r.Messages())
		}
		msgs := strings.Join(r.Messages(), "\n")
		for _, w := range []string{"operator (line", "still holds the template's TODO placeholder", "no_secret_material_recorded (line", "must be true"} {
			if !strings.Contains(msgs, w) {
				t.Errorf("%s template: messages lack %q:\n%s", k, w, msgs)
			}
		}
		if len(r.Findings) > 0 {
			t.Errorf("%s template has secret findings: %v", k, r.Findings)
		}
	}
	if _, err := Template("weekly", testNow); err == nil {
		t.Error("unknown kind accepted")
	}
}

// TestMessagesNeverEchoValues: whatever is malformed around a secret (a
// syntax error next to it, a wrong type, a bad enum value, an unknown key),
// no message carries it.
func TestMessagesNeverEchoValues(t *testing.T) {
	const tok = "hvs.FAKEmsgTestOnly0123456789abcdEF"
	base, _ := os.ReadFile("testdata/valid/source-forge.yaml")
	docs := []string{
		"drill: [" + tok + "\n",
		"drill: " + tok + "\n",
		"schema_version: " + tok + "\n",
		tok + ": 1\n",
		"checks:\n  - name: x\n    result: " + tok + "\n",
		"assets: [" + tok + "]\n",
		"date: " + tok + "\n",
		"no_secret_material_recorded: " + tok + "\n",
		"{\"operator\": \"" + tok + "\", }\n",
		"operator: \"" + tok + "\n",
		"a:\n\t- " + tok + "\n",
		strings.Replace(string(base), "operator: platform-oncall (jdoe)", "operator: "+tok+": x: y", 1),
		strings.Replace(string(base), "date: 2026-11-24T09:30:00Z", "date: 2026-11-24T09:30:00Z\n  "+tok, 1),
	}
	for _, d := range docs {
		r := Parse("m.yaml", "d", []byte(d), Options{Now: testNow})
		msgs := strings.Join(r.Messages(), "\n")
		if r.Valid() {
			t.Errorf("valid: %q", d)
		}
		if strings.Contains(msgs, "FAKEmsgTestOnly") {
			t.Errorf("message echoes the value for %q:\n%s", d, msgs)
		}
	}
}
