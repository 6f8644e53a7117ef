package secretscan

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzScan checks that no input makes the scanner panic, that it is
// deterministic, and that findings only name known detectors and real lines.
// The seed corpus is every secret and allowed fixture, so `go test` runs them.
func FuzzScan(f *testing.F) {
	for _, dir := range []string{"testdata/secrets", "testdata/allowed"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("password: \"\xff\xfe\x00\"\n"))
	f.Add([]byte("a: &x [*x, *x]\n"))
	known := map[string]bool{}
	for _, d := range Detectors() {
		known[d] = true
	}
	s := New()
	f.Fuzz(func(t *testing.T, data []byte) {
		got := s.Scan(data)
		if again := s.Scan(data); !reflect.DeepEqual(got, again) {
			t.Fatalf("scan is not deterministic: %v vs %v", got, again)
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, fd := range got {
			if !known[fd.Detector] {
				t.Errorf("unknown detector %q", fd.Detector)
			}
			if fd.Line < 0 || fd.Line > lines+1 {
				t.Errorf("line %d outside 0..%d", fd.Line, lines+1)
			}
		}
		s.ScanValue("field", "password", string(data))
		s.LooksLikeSecret(string(data))
		SafeKey(string(data))
	})
}
