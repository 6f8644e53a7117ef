package collectors

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/railiance/forge-exporter/internal/exporter"
	"github.com/railiance/forge-exporter/internal/gitea"
	"github.com/railiance/forge-exporter/internal/sampler"
)

var (
	packagesDesc = prometheus.NewDesc("forge_gitea_packages",
		"Packages (distinct names) in Gitea's package registry, by owner and package type; sampled every gitea.interval.", []string{"owner", "type"}, nil)
	packageVersionsDesc = prometheus.NewDesc("forge_gitea_package_versions",
		"Package versions in Gitea's package registry, by owner and package type; sampled every gitea.interval.", []string{"owner", "type"}, nil)
	packageBytesDesc = prometheus.NewDesc("forge_gitea_package_files_bytes",
		"Sum of the file sizes the packages API reports, by owner and package type. Not bytes on disk: blobs shared by versions count once per version here but are stored once, and deleted packages' blobs stay on disk until the cleanup cron runs. Sampled every gitea.interval.", []string{"owner", "type"}, nil)
)

// registryCollector reports package registry metadata from the packages API.
type registryCollector struct {
	sampler *sampler.Sampler[gitea.RegistrySample]
}

var _ exporter.Collector = (*registryCollector)(nil)

// registrySource is the registry sweep and its sampler, shared by the
// registry collector and the package blob check.
type registrySource struct {
	reg     *gitea.Registry
	sampler *sampler.Sampler[gitea.RegistrySample]
	logger  *slog.Logger
}

func sharedRegistry(d *Deps) (*registrySource, error) {
	return Shared(d, "gitea_registry", func() (*registrySource, error) {
		src, err := sharedGitea(d)
		if err != nil {
			return nil, err
		}
		cfg := d.Config.Gitea
		reg := gitea.NewRegistry(src.client, gitea.RegistryOptions{
			Owners:  cfg.PackageOwners,
			Recheck: cfg.PackageFilesRecheck.Std(),
			Now:     d.Now,
		})
		s := sampler.New("gitea_registry", reg.Sweep, sampler.Options{Interval: cfg.Interval.Std()}, d.Samplers, src.logger)
		d.Go("gitea_registry", s.Run)
		return &registrySource{reg: reg, sampler: s, logger: src.logger}, nil
	})
}

func newRegistryCollector(d *Deps) (exporter.Collector, error) {
	rs, err := sharedRegistry(d)
	if err != nil {
		return nil, err
	}
	return &registryCollector{sampler: rs.sampler}, nil
}

func (c *registryCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	sample, _, ok := c.sampler.Last()
	if !ok {
		return sampleErr(c.sampler)
	}
	for _, t := range sample.Totals {
		ch <- prometheus.MustNewConstMetric(packagesDesc, prometheus.GaugeValue, float64(t.Packages), t.Owner, t.Type)
		ch <- prometheus.MustNewConstMetric(packageVersionsDesc, prometheus.GaugeValue, float64(t.Versions), t.Owner, t.Type)
		ch <- prometheus.MustNewConstMetric(packageBytesDesc, prometheus.GaugeValue, float64(t.Bytes), t.Owner, t.Type)
	}
	return c.sampler.Err()
}

// newRegistrySpec is the registry collector's entry in Specs.
func newRegistrySpec() Spec {
	return Spec{
		Name:        "registry",
		Description: "Gitea package registry: packages, versions and file sizes per owner and type, swept incrementally (needs the gitea section and a token with read:package, plus read:admin to discover owners)",
		New:         newRegistryCollector,
	}
}
