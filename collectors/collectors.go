// Package collectors holds forge-exporter's collectors, one file each, and the
// explicit list of them. A collector turns a source (statfs, a directory
// sampler, informer caches, a Gitea sweep, evidence records) into metrics at
// scrape time; anything expensive happens in a sampler or an informer, never
// on the scrape path.
package collectors

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/exporter"
	"github.com/railiance/forge-exporter/internal/sampler"
)

// Spec describes one collector.
type Spec struct {
	Name string
	// Description is shown on the landing page and in docs/.
	Description string
	// DefaultEnabled is used when the config's collectors map does not name it.
	DefaultEnabled bool
	// New builds the collector for one configuration.
	New func(d *Deps) (exporter.Collector, error)
}

// Specs returns every collector the exporter knows, in exposition order.
func Specs() []Spec {
	return []Spec{
		newVolumeSpec(),
		newDirectorySpec(),
		newPVCSpec(),
		newCNPGSpec(),
		newVolumeBackupSpec(),
		newGiteaSpec(),
		newRunnersSpec(),
		newRegistrySpec(),
		newPackageBlobsSpec(),
		newDrillsSpec(),
		newSOPSSpec(),
		newTrustSpec(),
	}
}

// Names returns the names of specs.
func Names(specs []Spec) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.Name
	}
	return out
}

// Deps is what a collector constructor gets: the configuration, a logger,
// sampler metrics and a way to start background work. Sources shared by
// several collectors (a Kubernetes client, a Gitea sweep, evidence records)
// are built once per configuration through Shared.
type Deps struct {
	Logger   *slog.Logger
	Config   *config.Config
	Samplers *sampler.Metrics
	// Now is the clock; tests replace it.
	Now func() time.Time

	enabled map[string]bool
	shared  map[string]any
	runs    []run
	views   map[string]any
}

// Expose makes v available to the HTTP endpoints that present a
// collector's state other than as metrics (the trust API, the status
// page) as Instance.View(name).
func (d *Deps) Expose(name string, v any) {
	if d.views == nil {
		d.views = map[string]any{}
	}
	d.views[name] = v
}

type run struct {
	name string
	fn   func(ctx context.Context)
}

// Enabled reports whether the named collector is enabled in this configuration.
func (d *Deps) Enabled(name string) bool { return d.enabled[name] }

// Go registers background work (a sampler, an informer) that runs while this
// configuration is active and stops when it is replaced or the process ends.
func (d *Deps) Go(name string, fn func(ctx context.Context)) {
	d.runs = append(d.runs, run{name: name, fn: fn})
}

// Shared returns the value built by mk for key, building it on first use, so
// that collectors reading the same backend share one client and one cache.
func Shared[T any](d *Deps, key string, mk func() (T, error)) (T, error) {
	if v, ok := d.shared[key]; ok {
		if err, isErr := v.(error); isErr {
			var zero T
			return zero, err
		}
		return v.(T), nil
	}
	v, err := mk()
	if err != nil {
		d.shared[key] = err
		return v, err
	}
	d.shared[key] = v
	return v, nil
}

// Instance is the set of collectors and background work for one configuration.
type Instance struct {
	Runner  *exporter.Runner
	Enabled []string
	// Disabled collectors, for the log and the landing page.
	Disabled []string
	runs     []run
	views    map[string]any
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// View returns what the collectors of this configuration exposed under
// name (Deps.Expose), or nil.
func (i *Instance) View(name string) any { return i.views[name] }

// Build constructs every enabled collector for cfg. It starts nothing: call
// Start. An error names the collector whose construction failed.
func Build(specs []Spec, cfg *config.Config, logger *slog.Logger, samplers *sampler.Metrics) (*Instance, error) {
	d := &Deps{Logger: logger, Config: cfg, Samplers: samplers, Now: time.Now, enabled: map[string]bool{}, shared: map[string]any{}, views: map[string]any{}}
	for _, s := range specs {
		on := s.DefaultEnabled
		if v, ok := cfg.Collectors[s.Name]; ok {
			on = v
		}
		d.enabled[s.Name] = on
	}
	inst := &Instance{}
	var named []exporter.Named
	var states []exporter.EnabledState
	for _, s := range specs {
		states = append(states, exporter.EnabledState{Name: s.Name, Enabled: d.enabled[s.Name]})
		if !d.enabled[s.Name] {
			inst.Disabled = append(inst.Disabled, s.Name)
			continue
		}
		c, err := s.New(d)
		if err != nil {
			return nil, fmt.Errorf("collector %s: %w", s.Name, err)
		}
		named = append(named, exporter.Named{Name: s.Name, Collector: c})
		inst.Enabled = append(inst.Enabled, s.Name)
	}
	inst.Runner = exporter.NewRunner(logger, named, states)
	inst.runs = d.runs
	inst.views = d.views
	return inst, nil
}

// Start launches the instance's background work.
func (i *Instance) Start(ctx context.Context) {
	ctx, i.cancel = context.WithCancel(ctx)
	for _, r := range i.runs {
		i.wg.Add(1)
		go func() {
			defer i.wg.Done()
			r.fn(ctx)
		}()
	}
}

// Stop ends the instance's background work and waits for it.
func (i *Instance) Stop() {
	if i.cancel != nil {
		i.cancel()
	}
	i.wg.Wait()
}

// RunNames returns the names of the instance's background work, sorted.
func (i *Instance) RunNames() []string {
	out := make([]string, 0, len(i.runs))
	for _, r := range i.runs {
		out = append(out, r.name)
	}
	sort.Strings(out)
	return out
}
