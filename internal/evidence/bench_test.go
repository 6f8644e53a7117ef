package evidence

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
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

// benchDir writes 1,000 records (a year of daily drills of four kinds is
// ~1,500) into a temporary directory.
func benchDir(b *testing.B) string {
	data, err := os.ReadFile("testdata/valid/source-forge.yaml")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	for i := range 1000 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("r%04d.yaml", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkLoadDirCold: one sample of 1,000 records read, parsed,
// validated and scanned from scratch (the first sample after a start).
func BenchmarkLoadDirCold(b *testing.B) {
	dir := benchDir(b)
	for b.Loop() {
		l := &Loader{Dirs: []Dir{{Name: "bench", Path: dir}}, Assets: inventory, Now: func() time.Time { return testNow }}
		if snap := l.Load(context.Background()); len(snap.Results) != 1000 || !snap.Results[0].Valid() {
			b.Fatalf("%d results", len(snap.Results))
		}
	}
}

// BenchmarkLoadDirWarm: the following samples, when no record changed.
func BenchmarkLoadDirWarm(b *testing.B) {
	dir := benchDir(b)
	l := &Loader{Dirs: []Dir{{Name: "bench", Path: dir}}, Assets: inventory, Now: func() time.Time { return testNow }}
	l.Load(context.Background())
	for b.Loop() {
		if snap := l.Load(context.Background()); len(snap.Results) != 1000 || !snap.Results[0].Valid() {
			b.Fatalf("%d results", len(snap.Results))
		}
	}
}
