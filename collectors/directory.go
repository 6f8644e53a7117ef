package collectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/railiance/forge-exporter/internal/exporter"
	"github.com/railiance/forge-exporter/internal/sampler"
	"github.com/railiance/forge-exporter/internal/walk"
)

// DirectorySource is the last result of a directory scan: a sampler.
type DirectorySource interface {
	Last() (walk.Result, time.Time, bool)
	Err() error
}

// Directory is one configured directory and the source of its scans.
type Directory struct {
	Name   string
	Source DirectorySource
}

// DirectoryCollector reports the last completed scan of each configured
// directory tree (size, allocated bytes, files, directories, errors). The
// walks run in samplers; a scrape only reads their last result.
type DirectoryCollector struct {
	dirs []Directory

	size, allocated, files, dirsDesc, scanErrors, lastScan, scanDuration, cacheEntries *prometheus.Desc
}

var _ exporter.Collector = (*DirectoryCollector)(nil)

// NewDirectoryCollector returns a collector for dirs. HELP texts name the
// configuration fields, never their values: a value changes on reload, and
// HELP that changes breaks the series' metadata in Prometheus.
func NewDirectoryCollector(dirs []Directory) *DirectoryCollector {
	labels := []string{"directory"}
	const when = " Sampled by a tree walk every storage.scan_interval; forge_directory_last_scan_timestamp_seconds says when."
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help+when, labels, nil)
	}
	const upd = " Updated by each tree walk (every storage.scan_interval)."
	u := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help+upd, labels, nil)
	}
	return &DirectoryCollector{
		dirs:         dirs,
		size:         d("forge_directory_size_bytes", "Apparent size of the directory tree in bytes (sum of st_size, hard links once, as du -sb --apparent-size)."),
		allocated:    d("forge_directory_allocated_bytes", "Disk space allocated to the directory tree in bytes (st_blocks × 512, hard links once, as du -sB1)."),
		files:        d("forge_directory_files", "Regular files in the directory tree (as find -type f)."),
		dirsDesc:     d("forge_directory_dirs", "Directories in the directory tree, the top one included (as find -type d)."),
		scanErrors:   d("forge_directory_scan_errors", "Entries the last completed scan could not read (permission denied, vanished while scanned); the totals leave them out."),
		lastScan:     u("forge_directory_last_scan_timestamp_seconds", "When the last successful scan of the directory tree finished (Unix time)."),
		scanDuration: u("forge_directory_scan_duration_seconds", "How long the last successful scan of the directory tree took."),
		cacheEntries: u("forge_directory_cache_entries", "Directories remembered for incremental rescans (bounded by storage.scan_cache_max_dirs)."),
	}
}

func newDirectorySpec() Spec {
	return Spec{
		Name:           "directory",
		Description:    "size, allocated bytes and file counts of the configured directory trees (incremental walks in samplers)",
		DefaultEnabled: true,
		New:            newDirectoryFromDeps,
	}
}

// newDirectoryFromDeps builds one scanner and one sampler per configured
// directory and starts them with the configuration.
func newDirectoryFromDeps(d *Deps) (exporter.Collector, error) {
	st := d.Config.Storage
	var dirs []Directory
	for _, dc := range st.Directories {
		sc := walk.New(dc.Path, walk.Options{
			Concurrency:      st.ScanConcurrency,
			Incremental:      dc.IsIncremental(),
			MaxCacheEntries:  st.ScanCacheMaxDirs,
			FullScanInterval: st.FullScanInterval.Std(),
		})
		s := sampler.New("directory:"+dc.Name, scanFunc(sc, d.Logger.With("directory", dc.Name)),
			sampler.Options{Interval: st.ScanInterval.Std(), Timeout: st.MaxScanDuration.Std()}, d.Samplers, d.Logger)
		d.Go(s.Name(), s.Run)
		dirs = append(dirs, Directory{Name: dc.Name, Source: s})
	}
	return NewDirectoryCollector(dirs), nil
}

// scanFunc adapts a scanner to a sampler. Errors inside the tree do not fail
// the scan (they are counted); they are logged when they first appear and
// when they clear, not on every scan.
func scanFunc(sc *walk.Scanner, logger *slog.Logger) sampler.Func[walk.Result] {
	var hadErrors bool
	return func(ctx context.Context) (walk.Result, error) {
		res, err := sc.Scan(ctx)
		if err != nil {
			return res, err
		}
		switch {
		case res.Errors > 0 && !hadErrors:
			logger.Warn("directory scan could not read some entries; they are left out of the totals",
				"path", sc.Root(), "errors", res.Errors, "examples", res.ErrorSamples)
		case res.Errors == 0 && hadErrors:
			logger.Info("directory scan reads every entry again", "path", sc.Root())
		}
		hadErrors = res.Errors > 0
		logger.Debug("directory scanned", "path", sc.Root(), "files", res.Files, "full", res.Full,
			"reused_dirs", res.ReusedDirs, "duration_seconds", res.Duration.Seconds())
		return res, nil
	}
}

// Update implements exporter.Collector. A directory whose last scan failed
// (or was abandoned at max_scan_duration) still reports its previous result,
// and the collector fails so the staleness is visible.
func (c *DirectoryCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	var errs []error
	have := false
	for _, d := range c.dirs {
		if err := d.Source.Err(); err != nil {
			errs = append(errs, fmt.Errorf("directory %s: last scan failed: %w", d.Name, err))
		}
		res, _, ok := d.Source.Last()
		if !ok {
			continue
		}
		have = true
		g := func(desc *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, d.Name)
		}
		g(c.size, float64(res.Bytes))
		g(c.allocated, float64(res.Allocated))
		g(c.files, float64(res.Files))
		g(c.dirsDesc, float64(res.Dirs))
		g(c.scanErrors, float64(res.Errors))
		g(c.lastScan, float64(res.Start.Add(res.Duration).UnixNano())/1e9)
		g(c.scanDuration, res.Duration.Seconds())
		g(c.cacheEntries, float64(res.CacheEntries))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if !have && len(c.dirs) > 0 {
		return exporter.ErrNoData
	}
	return nil
}
