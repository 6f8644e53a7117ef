package collectors

import (
	"context"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"

	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/exporter"
	"github.com/railiance/forge-exporter/internal/gitea"
	"github.com/railiance/forge-exporter/internal/sampler"
)

// giteaSource is the Gitea client and its version probe, shared by the
// gitea, runners and registry collectors of one configuration.
type giteaSource struct {
	client *gitea.Client
	probe  *sampler.Sampler[gitea.ServerInfo]
	logger *slog.Logger
}

// errNoGitea is returned when a Gitea collector is enabled without a Gitea.
var errNoGitea = errors.New("gitea.url is not set: configure the gitea section (url, token_file) or disable the gitea, runners and registry collectors")

// sharedGitea builds the client and starts the version probe once per
// configuration. It makes no request: Gitea may be down at start-up, and
// the exporter must start anyway (forge_gitea_up says 0 until it answers).
func sharedGitea(d *Deps) (*giteaSource, error) {
	return Shared(d, "gitea", func() (*giteaSource, error) {
		cfg := d.Config.Gitea
		if cfg.URL == "" {
			return nil, errNoGitea
		}
		logger := d.Logger.With("gitea", cfg.URL)
		client := NewGiteaClient(cfg, logger)
		probe := sampler.New("gitea", client.Probe, sampler.Options{Interval: cfg.Interval.Std()}, d.Samplers, logger)
		d.Go("gitea", probe.Run)
		return &giteaSource{client: client, probe: probe, logger: logger}, nil
	})
}

// NewGiteaClient returns the Gitea client for cfg (which has a URL).
func NewGiteaClient(cfg config.Gitea, logger *slog.Logger) *gitea.Client {
	return gitea.New(gitea.Options{
		URL:               cfg.URL,
		TokenFile:         cfg.TokenFile,
		Timeout:           cfg.Timeout.Std(),
		RequestsPerSecond: cfg.RequestsPerSecond,
		UserAgent:         "forge-exporter/" + version.Version,
	}, logger)
}

// sampleErr is what a collector reading s returns: the last run's error,
// or ErrNoData before the first sample.
func sampleErr[T any](s *sampler.Sampler[T]) error {
	if err := s.Err(); err != nil {
		return err
	}
	if _, _, ok := s.Last(); !ok {
		return exporter.ErrNoData
	}
	return nil
}

var (
	giteaUpDesc = prometheus.NewDesc("forge_gitea_up",
		"1 if Gitea answered the exporter's last version probe (GET /api/v1/version and /api/v1/settings/api, sampled every gitea.interval), 0 if not.", nil, nil)
	giteaInfoDesc = prometheus.NewDesc("forge_gitea_info",
		"The version Gitea reported at the last successful probe; always 1.", []string{"version"}, nil)
	giteaRequestsDesc = prometheus.NewDesc("forge_gitea_api_requests_total",
		"Requests the exporter made to the Gitea API, by endpoint template and HTTP status code (timeout or error when there was no answer).", []string{"endpoint", "code"}, nil)
)

// giteaCollector reports whether Gitea answers, its version and the
// exporter's own API requests.
type giteaCollector struct {
	src *giteaSource
}

var _ exporter.Collector = (*giteaCollector)(nil)

func newGiteaCollector(d *Deps) (exporter.Collector, error) {
	src, err := sharedGitea(d)
	if err != nil {
		return nil, err
	}
	return &giteaCollector{src: src}, nil
}

// Update never fails for a Gitea that is down: forge_gitea_up 0 is the
// answer, and it is complete.
func (c *giteaCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	info, _, ok := c.src.probe.Last()
	up := 0.0
	if ok && c.src.probe.Err() == nil {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(giteaUpDesc, prometheus.GaugeValue, up)
	if ok {
		ch <- prometheus.MustNewConstMetric(giteaInfoDesc, prometheus.GaugeValue, 1, info.Version)
	}
	for _, r := range c.src.client.Requests() {
		ch <- prometheus.MustNewConstMetric(giteaRequestsDesc, prometheus.CounterValue, float64(r.Count), r.Endpoint, r.Code)
	}
	return nil
}

// newGiteaSpec is the gitea collector's entry in Specs.
func newGiteaSpec() Spec {
	return Spec{
		Name:        "gitea",
		Description: "Gitea reachability and version, and the exporter's Gitea API request counts (needs the gitea section)",
		New:         newGiteaCollector,
	}
}
