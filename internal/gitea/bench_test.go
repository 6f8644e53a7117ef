package gitea

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/railiance/forge-exporter/internal/testenv/giteafake"
)

// BenchmarkSweep measures one sweep at forge scale against the httptest
// fake Gitea (giteafake, real HTTP over loopback; not a real Gitea): 500
// runners, and 5,000 package versions (2 files each) of 10 owners, with
// Gitea's default page size of 50 and no rate limit, so the numbers are the
// exporter's own cost. At the default requests_per_second (10) a sweep takes
// at least requests/10 seconds; a cold registry sweep that exceeds the
// interval continues in the next one (progress is kept).
func BenchmarkSweep(b *testing.B) {
	f := giteafake.New(b, "bench-token")
	for i := range 500 {
		f.Runners = append(f.Runners, giteafake.Runner{ID: int64(i + 1), Name: fmt.Sprintf("runner-%03d", i), Online: i%5 != 0, Busy: i%7 == 0,
			Labels: []string{"ubuntu-latest", fmt.Sprintf("pool-%d", i%4)}})
	}
	var owners []string
	id := int64(1)
	for o := range 10 {
		owner := fmt.Sprintf("owner-%d", o)
		owners = append(owners, owner)
		for v := range 500 {
			f.Packages[owner] = append(f.Packages[owner], giteafake.Package{ID: id, Type: []string{"pypi", "container", "generic"}[v%3],
				Name: fmt.Sprintf("pkg-%d", v%25), Version: fmt.Sprintf("1.%d", v), Sizes: []int64{1 << 20, 4096}})
			id++
		}
	}
	f.Users = owners
	dir := b.TempDir()
	c := New(Options{URL: f.URL, TokenFile: giteafake.WriteToken(b, dir, "bench-token"), Timeout: 30 * time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	if _, err := c.Probe(ctx); err != nil {
		b.Fatal(err)
	}

	b.Run("runners=500", func(b *testing.B) {
		start := c.RequestTotal()
		for b.Loop() {
			rs, err := c.Runners(ctx)
			if err != nil || len(rs) != 500 {
				b.Fatalf("%d runners, %v", len(rs), err)
			}
		}
		b.ReportMetric(float64(c.RequestTotal()-start)/float64(b.N), "requests/sweep")
	})
	b.Run("registry=5000-versions/cold", func(b *testing.B) {
		start := c.RequestTotal()
		for b.Loop() {
			reg := NewRegistry(c, RegistryOptions{}) // empty cache: lists every version's files
			s, err := reg.Sweep(ctx)
			if err != nil || s.FileListings != 5000 {
				b.Fatalf("%d listings, %v", s.FileListings, err)
			}
		}
		b.ReportMetric(float64(c.RequestTotal()-start)/float64(b.N), "requests/sweep")
	})
	b.Run("registry=5000-versions/incremental", func(b *testing.B) {
		reg := NewRegistry(c, RegistryOptions{})
		if _, err := reg.Sweep(ctx); err != nil {
			b.Fatal(err)
		}
		start := c.RequestTotal()
		for b.Loop() {
			s, err := reg.Sweep(ctx)
			if err != nil || s.FileListings != 0 {
				b.Fatalf("%d listings, %v", s.FileListings, err)
			}
		}
		b.ReportMetric(float64(c.RequestTotal()-start)/float64(b.N), "requests/sweep")
	})
}
