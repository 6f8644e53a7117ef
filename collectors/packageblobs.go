package collectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/exporter"
	"github.com/railiance/forge-exporter/internal/pkgstore"
	"github.com/railiance/forge-exporter/internal/sampler"
)

// errNoBlobDir is returned when the packageblobs collector is enabled
// without a package store.
var errNoBlobDir = errors.New("packages.blob_dir is not set: point it at Gitea's local package storage (read-only) or disable the packageblobs collector")

// OrphanGrace: an unreferenced blob written less than this before the
// metadata was read is not called orphaned yet (clock skew between the
// exporter and the node, an upload between two listings).
const OrphanGrace = 10 * time.Minute

// maxRelist bounds the versions re-listed per check to confirm problems; a
// wholesale loss (an empty volume) is reported from the index beyond it.
const maxRelist = 100

// BlobCheck is the last package blob check: its result and when the last
// one that read the whole store finished.
type BlobCheck struct {
	pkgstore.Result
	// LastComplete is when the last check without read errors finished.
	LastComplete time.Time
}

// blobChecker runs the consistency check in a sampler.
type blobChecker struct {
	reg    *registrySource
	root   string
	opts   pkgstore.Options
	logger *slog.Logger

	lastComplete time.Time
	// problems is whether the previous check found missing or mismatched
	// blobs, so the log says it once when it starts and once when it ends.
	problems bool
}

func (b *blobChecker) run(ctx context.Context) (BlobCheck, error) {
	select {
	case <-b.reg.reg.Ready():
	case <-ctx.Done():
		return BlobCheck{}, fmt.Errorf("waiting for the first complete package registry sweep (gitea_registry sampler): %w", ctx.Err())
	}
	idx, _ := b.reg.reg.Index()
	res, err := pkgstore.Check(ctx, b.root, idx, b.opts)
	if err != nil {
		return BlobCheck{}, err
	}
	if res.Errors == 0 {
		b.lastComplete = res.Start.Add(res.Duration)
	}
	missing, mismatched := 0, 0
	for _, g := range res.Groups {
		missing += g.Missing
		mismatched += g.SizeMismatch
	}
	switch bad := missing+mismatched > 0; {
	case bad && !b.problems:
		b.logger.Warn("package files without their blob: consumers cannot install them; `forge-exporter packages verify` names them",
			"missing", missing, "size_mismatch", mismatched, "blob_dir", b.root)
	case !bad && b.problems:
		b.logger.Info("every package file has its blob again", "blob_dir", b.root)
	}
	b.problems = missing+mismatched > 0
	if res.Errors > 0 {
		b.logger.Debug("package blob check could not read part of the store", "errors", res.Errors, "examples", res.ErrorSamples)
	}
	return BlobCheck{Result: res, LastComplete: b.lastComplete}, nil
}

// PackageBlobsCollector reports the last package blob check.
type PackageBlobsCollector struct {
	sampler *sampler.Sampler[BlobCheck]

	missing, mismatch, checked, orphaned, orphanedBytes, recent, foreign, errs, stored, storedBytes, lastCheck, duration *prometheus.Desc
}

var _ exporter.Collector = (*PackageBlobsCollector)(nil)

func newPackageBlobsSpec() Spec {
	return Spec{
		Name:        "packageblobs",
		Description: "Gitea package metadata against the local blob store: missing, size-mismatched and orphaned blobs (needs the gitea section, packages.blob_dir mounted read-only, and a token with read:package)",
		New:         newPackageBlobsCollector,
	}
}

func newPackageBlobsCollector(d *Deps) (exporter.Collector, error) {
	cfg := d.Config.Packages
	if cfg.BlobDir == "" {
		return nil, errNoBlobDir
	}
	rs, err := sharedRegistry(d)
	if err != nil {
		return nil, err
	}
	logger := d.Logger.With("collector", "packageblobs")
	b := &blobChecker{
		reg:    rs,
		root:   cfg.BlobDir,
		logger: logger,
		opts: pkgstore.Options{
			Concurrency: cfg.CheckConcurrency,
			Grace:       OrphanGrace,
			Confirm:     rs.reg.Relist,
			MaxConfirm:  maxRelist,
		},
	}
	s := sampler.New("package_blobs", b.run, sampler.Options{Interval: cfg.CheckInterval.Std(), Timeout: cfg.MaxCheckDuration.Std()}, d.Samplers, logger)
	d.Go(s.Name(), s.Run)
	return NewPackageBlobsCollector(s, cfg.CheckInterval.Std()), nil
}

// NewPackageBlobsCollector returns a collector reading the checks of s;
// interval is quoted in the HELP texts.
func NewPackageBlobsCollector(s *sampler.Sampler[BlobCheck], interval time.Duration) *PackageBlobsCollector {
	when := fmt.Sprintf(" Sampled by a walk of the package store every %s (packages.check_interval).", config.Duration(interval))
	group := []string{"owner", "type"}
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc(name, help+when, labels, nil)
	}
	return &PackageBlobsCollector{
		sampler:       s,
		missing:       d("forge_package_blobs_missing", "Package files whose blob is not in the store (or is not a regular file): consumers cannot fetch them. Confirmed by re-listing the version first.", group),
		mismatch:      d("forge_package_blobs_size_mismatch", "Package files whose blob has another size than the packages API lists (truncated or replaced content).", group),
		checked:       d("forge_package_blobs_checked_files", "Package files the last check looked up in the store.", group),
		orphaned:      d("forge_package_blobs_orphaned", "Blobs no package file references (reclaimable, or the database is older than the volume); blobs newer than the metadata are not counted.", nil),
		orphanedBytes: d("forge_package_blobs_orphaned_bytes", "Bytes of the orphaned blobs.", nil),
		recent:        d("forge_package_blobs_unreferenced_recent", "Unreferenced blobs written after the oldest file list was read (an upload in flight, a file added to a version since); judged by a later check.", nil),
		foreign:       d("forge_package_blobs_foreign_entries", "Entries in the store that are not blobs of Gitea's layout (a wrong name or directory, a symlink, a directory where a blob belongs).", nil),
		errs:          d("forge_package_blobs_check_errors", "Directories or blobs the last check could not read (permission denied); the files they would hold are left out of the counts.", nil),
		stored:        d("forge_package_blobs_stored", "Blobs (regular files named by their sha256) in the store.", nil),
		storedBytes:   d("forge_package_blobs_stored_bytes", "Bytes of the blobs in the store.", nil),
		lastCheck:     prometheus.NewDesc("forge_package_blobs_last_check_timestamp_seconds", "When the last package blob check that read the whole store finished (Unix time).", nil, nil),
		duration:      prometheus.NewDesc("forge_package_blobs_check_duration_seconds", "How long the last package blob check took.", nil, nil),
	}
}

// Update implements exporter.Collector.
func (c *PackageBlobsCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	r, _, ok := c.sampler.Last()
	if !ok {
		return sampleErr(c.sampler)
	}
	g := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	for _, gr := range r.Groups {
		g(c.missing, float64(gr.Missing), gr.Owner, gr.Type)
		g(c.mismatch, float64(gr.SizeMismatch), gr.Owner, gr.Type)
		g(c.checked, float64(gr.Files), gr.Owner, gr.Type)
	}
	g(c.orphaned, float64(r.Orphaned))
	g(c.orphanedBytes, float64(r.OrphanedBytes))
	g(c.recent, float64(r.Recent))
	g(c.foreign, float64(r.Foreign))
	g(c.errs, float64(r.Errors))
	g(c.stored, float64(r.Blobs))
	g(c.storedBytes, float64(r.BlobBytes))
	if !r.LastComplete.IsZero() {
		g(c.lastCheck, float64(r.LastComplete.UnixNano())/1e9)
	}
	g(c.duration, r.Duration.Seconds())
	return c.sampler.Err()
}
