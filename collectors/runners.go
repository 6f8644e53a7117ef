package collectors

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/exporter"
	"github.com/railiance/forge-exporter/internal/gitea"
	"github.com/railiance/forge-exporter/internal/metriccache"
	"github.com/railiance/forge-exporter/internal/sampler"
)

var (
	runnerOnlineDesc = prometheus.NewDesc("forge_gitea_runner_online",
		"1 if Gitea reports the Actions runner online (it polled within the last minute), 0 if offline; sampled every gitea.interval.", []string{"runner"}, nil)
	runnerBusyDesc = prometheus.NewDesc("forge_gitea_runner_busy",
		"1 if Gitea reports the Actions runner busy running a job; sampled every gitea.interval.", []string{"runner"}, nil)
	runnerDisabledDesc = prometheus.NewDesc("forge_gitea_runner_disabled",
		"1 if the Actions runner is disabled in Gitea (takes no new jobs); sampled every gitea.interval.", []string{"runner"}, nil)
	runnerRegistrationsDesc = prometheus.NewDesc("forge_gitea_runner_registrations",
		"Registrations that share this runner name; more than 1 means stale registrations were left behind by a re-registration. Sampled every gitea.interval.", []string{"runner"}, nil)
	runnerLabelInfoDesc = prometheus.NewDesc("forge_gitea_runner_label_info",
		"The runner carries this label; always 1. Sampled every gitea.interval.", []string{"runner", "label"}, nil)
	labelRequiredDesc = prometheus.NewDesc("forge_gitea_runner_label_required_runners",
		"Online runners the label contract (gitea.label_contract) requires for this label.", []string{"label"}, nil)
	labelContractDesc = prometheus.NewDesc("forge_gitea_runner_label_contract_info",
		"A label of the runner label contract and its purpose; always 1.", []string{"label", "purpose"}, nil)
	labelOnlineDesc = prometheus.NewDesc("forge_gitea_runner_label_online_runners",
		"Online, enabled runners carrying this label (0 for a contract label no online runner serves: its jobs wait forever). Every contract label and every label seen on a runner; sampled every gitea.interval.", []string{"label"}, nil)
	unknownLabelDesc = prometheus.NewDesc("forge_gitea_runner_unknown_label_online_runners",
		"Online runners carrying at least one label the label contract does not know (label drift); sampled every gitea.interval.", nil, nil)
	runnerAPIDesc = prometheus.NewDesc("forge_gitea_runner_api_supported",
		"1 if the Gitea server offers the admin runner list (Gitea 1.24 or newer), 0 if it is too old; sampled every gitea.interval.", nil, nil)
)

// runnersSample is one sweep of the admin runner list.
type runnersSample struct {
	// supported is false when the server is older than 1.24.
	supported bool
	version   string
	runners   []gitea.Runner
}

// runnersCollector reports Actions runners against the label contract.
type runnersCollector struct {
	sampler  *sampler.Sampler[runnersSample]
	contract []config.RunnerLabel
	// series keeps the series between scrapes (label pairs built once).
	series *metriccache.Cache
}

var _ exporter.Collector = (*runnersCollector)(nil)

func newRunnersCollector(d *Deps) (exporter.Collector, error) {
	src, err := sharedGitea(d)
	if err != nil {
		return nil, err
	}
	cfg := d.Config.Gitea
	s := sampler.New("gitea_runners", runnersSweep(src), sampler.Options{Interval: cfg.Interval.Std()}, d.Samplers, src.logger)
	d.Go("gitea_runners", s.Run)
	return &runnersCollector{sampler: s, contract: cfg.LabelContract, series: metriccache.New()}, nil
}

// runnersSweep lists the runners. A server too old for the admin runner
// list is a result, not a sweep error: it is logged once (again only after
// an upgrade and a downgrade) and reported by forge_gitea_runner_api_supported.
func runnersSweep(src *giteaSource) sampler.Func[runnersSample] {
	var warned atomic.Bool
	return func(ctx context.Context) (runnersSample, error) {
		runners, err := src.client.Runners(ctx)
		if errors.Is(err, gitea.ErrRunnerListUnsupported) {
			info, _ := src.client.Info(ctx)
			if !warned.Swap(true) {
				src.logger.Warn("Gitea is too old for the admin runner list; the runners collector reports nothing until Gitea is upgraded to 1.24 or newer", "version", info.Version)
			}
			return runnersSample{supported: false, version: info.Version}, nil
		}
		if err != nil {
			return runnersSample{}, err
		}
		warned.Store(false)
		return runnersSample{supported: true, runners: runners}, nil
	}
}

func (c *runnersCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	s := c.series.Scrape()
	defer s.Done()
	// The contract is configuration: it is reported even while Gitea is down,
	// so an alert comparing online with required runners has both sides.
	known := map[string]bool{}
	for _, l := range c.contract {
		known[l.Label] = true
		ch <- s.Gauge(labelRequiredDesc, float64(l.Required()), l.Label)
		ch <- s.Gauge(labelContractDesc, 1, l.Label, l.Purpose)
	}
	sample, _, ok := c.sampler.Last()
	if !ok {
		return sampleErr(c.sampler)
	}
	if !sample.supported {
		ch <- s.Gauge(runnerAPIDesc, 0)
		return fmt.Errorf("server version %s: %w", sample.version, gitea.ErrRunnerListUnsupported)
	}
	ch <- s.Gauge(runnerAPIDesc, 1)

	// Runner names, not IDs, are the label: an ID changes on every
	// re-registration. Registrations sharing a name are reported as one
	// runner, the online (then newest) registration standing for the name.
	byName := map[string][]gitea.Runner{}
	for _, r := range sample.runners {
		byName[r.Name] = append(byName[r.Name], r)
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		regs := byName[name]
		best := regs[0]
		for _, r := range regs[1:] {
			if (r.Online && !best.Online) || (r.Online == best.Online && r.ID > best.ID) {
				best = r
			}
		}
		ch <- s.Gauge(runnerOnlineDesc, boolValue(best.Online), name)
		ch <- s.Gauge(runnerBusyDesc, boolValue(best.Busy), name)
		ch <- s.Gauge(runnerDisabledDesc, boolValue(best.Disabled), name)
		ch <- s.Gauge(runnerRegistrationsDesc, float64(len(regs)), name)
		for _, l := range uniqueSorted(best.Labels) {
			ch <- s.Gauge(runnerLabelInfoDesc, 1, name, l)
		}
	}

	// Label counts count registrations: two online runners that share a
	// name are two pollers that can each take a job.
	online := map[string]int{}
	for l := range known {
		online[l] = 0
	}
	drift := 0
	for _, r := range sample.runners {
		labels := uniqueSorted(r.Labels)
		for _, l := range labels {
			if _, ok := online[l]; !ok {
				online[l] = 0
			}
		}
		if !r.Online {
			continue
		}
		unknown := false
		for _, l := range labels {
			if !r.Disabled {
				online[l]++
			}
			if !known[l] {
				unknown = true
			}
		}
		if unknown {
			drift++
		}
	}
	for l, n := range online {
		ch <- s.Gauge(labelOnlineDesc, float64(n), l)
	}
	ch <- s.Gauge(unknownLabelDesc, float64(drift))
	// Data from an older sweep is still reported, but success says it is stale.
	return c.sampler.Err()
}

func uniqueSorted(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	j := 0
	for i, s := range out {
		if i == 0 || s != out[i-1] {
			out[j] = s
			j++
		}
	}
	return out[:j]
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// newRunnersSpec is the runners collector's entry in Specs.
func newRunnersSpec() Spec {
	return Spec{
		Name:        "runners",
		Description: "Gitea Actions runners (online, busy, disabled, labels) against the runner label contract (needs the gitea section and a site-admin token with read:admin)",
		New:         newRunnersCollector,
	}
}
