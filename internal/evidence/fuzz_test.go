package evidence

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input makes the parser panic, that a valid
// record is complete, and that a record with findings is never valid. The
// seed corpus is every testdata record.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/valid", "testdata/invalid"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	for _, k := range Kinds() {
		tmpl, _ := Template(k, testNow)
		f.Add([]byte(tmpl))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := Parse("fuzz.yaml", "fuzz", data, Options{Now: testNow, Assets: inventory})
		if r == nil {
			t.Fatal("nil result")
		}
		if r.Valid() {
			rec := r.Record
			if len(r.Findings) > 0 || rec.Drill == "" || len(rec.Assets) == 0 || rec.Date.IsZero() || len(rec.Checks) == 0 || !rec.NoSecretMaterialRecorded {
				t.Fatalf("valid but incomplete: %+v findings %v", rec, r.Findings)
			}
		}
		_ = r.Messages()
	})
}
