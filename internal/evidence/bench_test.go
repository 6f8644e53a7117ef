package evidence

import (
	"os"
	"testing"
)

// BenchmarkParse measures parsing, validating and scanning a typical record.
func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile("testdata/valid/source-forge.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		Parse("r.yaml", "d", data, Options{Now: testNow, Assets: inventory})
	}
}
