package gitea

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/railiance/forge-exporter/internal/testenv/giteaenv"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkRealGiteaSweep measures one sweep against a real Gitea 1.26.4
// (SQLite, loopback, default page size 50) filled through its own APIs:
// FORGE_BENCH_RUNNERS runners registered through the runner protocol
// (default 500) and FORGE_BENCH_VERSIONS generic package versions of one
// file each, spread over 10 owners (default 5000). Filling takes minutes;
// it is not part of make test.
func BenchmarkRealGiteaSweep(b *testing.B) {
	nRunners, nVersions := envInt("FORGE_BENCH_RUNNERS", 500), envInt("FORGE_BENCH_VERSIONS", 5000)
	g := giteaenv.Start(b, giteaenv.Options{})
	fill := time.Now()
	var owners []string
	for o := range 10 {
		owners = append(owners, fmt.Sprintf("owner-%d", o))
		g.CreateOrg(b, owners[o])
	}
	work := make(chan func(), 64)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				f()
			}
		}()
	}
	for i := range nRunners {
		work <- func() {
			g.RegisterRunner(b, fmt.Sprintf("runner-%03d", i), "ubuntu-latest", fmt.Sprintf("pool-%d", i%4))
		}
	}
	for i := range nVersions {
		work <- func() {
			g.UploadGeneric(b, owners[i%10], fmt.Sprintf("pkg-%d", i%25), fmt.Sprintf("1.%d", i), "f.bin", []byte(fmt.Sprint(i)))
		}
	}
	close(work)
	wg.Wait()
	b.Logf("filled a real Gitea with %d runners and %d package versions in %s", nRunners, nVersions, time.Since(fill).Round(time.Second))

	tok := g.CreateToken(b, "bench", "read:admin", "read:package")
	c := New(Options{URL: g.URL, TokenFile: g.WriteTokenFile(b, tok), Timeout: time.Minute}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	if _, err := c.Probe(ctx); err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("runners=%d", nRunners), func(b *testing.B) {
		start := c.RequestTotal()
		for b.Loop() {
			rs, err := c.Runners(ctx)
			if err != nil || len(rs) != nRunners {
				b.Fatalf("%d runners, %v", len(rs), err)
			}
		}
		b.ReportMetric(float64(c.RequestTotal()-start)/float64(b.N), "requests/sweep")
	})
	reg := NewRegistry(c, RegistryOptions{})
	b.Run(fmt.Sprintf("registry=%d-versions/cold", nVersions), func(b *testing.B) {
		start := c.RequestTotal()
		for b.Loop() {
			reg = NewRegistry(c, RegistryOptions{})
			s, err := reg.Sweep(ctx)
			if err != nil || s.FileListings != nVersions {
				b.Fatalf("%d listings, %v", s.FileListings, err)
			}
		}
		b.ReportMetric(float64(c.RequestTotal()-start)/float64(b.N), "requests/sweep")
	})
	b.Run(fmt.Sprintf("registry=%d-versions/incremental", nVersions), func(b *testing.B) {
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
