package collectors

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/exporter"
)

// StatfsFunc is statfs(2); tests hand in the real one on a filesystem they
// mounted themselves.
type StatfsFunc func(path string, st *unix.Statfs_t) error

// VolumeCollector reports capacity, usage and inodes of mounted volumes from
// statfs(2), labelled with the PVC they belong to. It exists because kubelet
// reports no kubelet_volume_stats_* for local-path and hostPath volumes.
// statfs is cheap, so it runs at scrape time (the runner's timeout covers a
// hung network filesystem).
type VolumeCollector struct {
	volumes []config.Volume
	statfs  StatfsFunc

	capacity, used, available, inodes, inodesFree *prometheus.Desc
}

var _ exporter.Collector = (*VolumeCollector)(nil)

// NewVolumeCollector returns a collector for volumes using statfs.
func NewVolumeCollector(volumes []config.Volume, statfs StatfsFunc) *VolumeCollector {
	labels := []string{"namespace", "persistentvolumeclaim", "volume"}
	const when = " Read with statfs(2) at scrape time; on a hostPath or local-path volume this is the node filesystem that holds it."
	return &VolumeCollector{
		volumes: volumes,
		statfs:  statfs,
		capacity: prometheus.NewDesc("forge_volume_capacity_bytes",
			"Size of the filesystem holding the volume in bytes."+when, labels, nil),
		used: prometheus.NewDesc("forge_volume_used_bytes",
			"Bytes in use on the filesystem holding the volume (capacity minus free, as df's Used)."+when, labels, nil),
		available: prometheus.NewDesc("forge_volume_available_bytes",
			"Bytes available to unprivileged users on the filesystem holding the volume."+when, labels, nil),
		inodes: prometheus.NewDesc("forge_volume_inodes",
			"Inodes of the filesystem holding the volume."+when, labels, nil),
		inodesFree: prometheus.NewDesc("forge_volume_inodes_free",
			"Free inodes of the filesystem holding the volume."+when, labels, nil),
	}
}

func newVolumeSpec() Spec {
	return Spec{
		Name:           "volume",
		Description:    "capacity, usage and inodes of the configured volume mounts (statfs)",
		DefaultEnabled: true,
		New: func(d *Deps) (exporter.Collector, error) {
			return NewVolumeCollector(d.Config.Storage.Volumes, unix.Statfs), nil
		},
	}
}

// Update implements exporter.Collector. A volume that cannot be read is left
// out and makes the collector fail; the others are still reported.
func (c *VolumeCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	var errs []error
	for _, v := range c.volumes {
		if err := ctx.Err(); err != nil {
			return err
		}
		var st unix.Statfs_t
		if err := c.statfs(v.Path, &st); err != nil {
			errs = append(errs, fmt.Errorf("volume %s: statfs %s: %w", v.Name, v.Path, err))
			continue
		}
		unit := blockUnit(&st)
		lv := []string{v.Namespace, v.PersistentVolumeClaim, v.Name}
		gauge := func(d *prometheus.Desc, val uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(val), lv...)
		}
		gauge(c.capacity, st.Blocks*unit)
		gauge(c.used, (st.Blocks-st.Bfree)*unit)
		gauge(c.available, st.Bavail*unit)
		gauge(c.inodes, st.Files)
		gauge(c.inodesFree, st.Ffree)
	}
	return errors.Join(errs...)
}
