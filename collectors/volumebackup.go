package collectors

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/railiance/forge-exporter/internal/exporter"
	"github.com/railiance/forge-exporter/internal/kube"
)

// VolumeBackupCollector reports, for each protected PVC (kubernetes.
// protected_volumes), which mechanisms back it up (CronJobs configured for it
// or annotated with forge.railiance.io/backup-of) and when they last succeeded:
// CronJobs (status.lastSuccessfulTime) and ready VolumeSnapshots of it
// (status.creationTime). forge_volume_backup_configured 0 is the
// "no backup resources were observed" caveat, as a signal.
type VolumeBackupCollector struct {
	src    *kube.Source
	health bool

	configured, lastSuccess, mechanisms, interval *prometheus.Desc
}

var _ exporter.Collector = (*VolumeBackupCollector)(nil)

// volumeMechanisms are always reported per PVC (0 when absent).
var volumeMechanisms = []string{"cronjob", "volumesnapshot"}

// NewVolumeBackupCollector returns a volumebackup collector reading src
// (whose options carry the protected volumes).
func NewVolumeBackupCollector(src *kube.Source) *VolumeBackupCollector {
	src.Need(kube.CronJobs, kube.VolumeSnapshots)
	const when = " From the informer cache (kept current by a watch), read at scrape time."
	l := []string{"namespace", "persistentvolumeclaim"}
	return &VolumeBackupCollector{
		src: src, health: src.ExportsHealth("volumebackup"),
		configured: prometheus.NewDesc("forge_volume_backup_configured",
			"1 if at least one active mechanism (an unsuspended CronJob linked by configuration or annotation, or a ready VolumeSnapshot) backs up the PVC, 0 if nothing does."+when, l, nil),
		lastSuccess: prometheus.NewDesc("forge_volume_backup_last_success_timestamp_seconds",
			"Newest success per mechanism: a linked CronJob's status.lastSuccessfulTime, or the newest ready VolumeSnapshot's status.creationTime."+when, append(l, "mechanism"), nil),
		mechanisms: prometheus.NewDesc("forge_volume_backup_mechanisms",
			"Active mechanisms backing up the PVC: unsuspended linked CronJobs, ready VolumeSnapshots."+when, append(l, "mechanism"), nil),
		interval: prometheus.NewDesc("forge_volume_backup_interval_seconds",
			"Longest time between two runs of the mechanism: mechanism=cronjob, the shortest such interval among the active linked CronJobs' spec.schedule (five-field cron in the CronJob's spec.timeZone, read as the CronJob controller reads it, over the whole calendar cycle and its clock changes); mechanism=volumesnapshot, the longest gap between consecutive ready VolumeSnapshots of the PVC (absent below two)."+when, append(l, "mechanism"), nil),
	}
}

func newVolumeBackupSpec() Spec {
	return Spec{
		Name:        "volumebackup",
		Description: "backup coverage of protected PVCs: linked CronJobs and VolumeSnapshots, last success (needs a cluster)",
		New: func(d *Deps) (exporter.Collector, error) {
			src, err := kubeSource(d)
			if err != nil {
				return nil, err
			}
			return NewVolumeBackupCollector(src), nil
		},
	}
}

// Update implements exporter.Collector.
func (c *VolumeBackupCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	if c.health {
		c.src.CollectHealth(ch)
	}
	covs, err := c.src.VolumeCoverages()
	err = kubeErr(err)
	if isNoData(err) {
		return err // do not report "not configured" from a cache that has not synced
	}
	for _, cov := range covs {
		if !cov.Protected {
			// Only protected_volumes get series: a CronJob annotated for
			// another PVC must not make one look protected (or, once
			// suspended, page for it). Asset signals still see the link.
			continue
		}
		ns, pvc := cov.Namespace, cov.Name
		ch <- prometheus.MustNewConstMetric(c.configured, prometheus.GaugeValue, exporter.BoolValue(cov.Configured()), ns, pvc)
		for _, kind := range volumeMechanisms {
			active := 0
			var last time.Time
			var interval time.Duration
			for _, m := range cov.Mechanisms {
				if m.Kind != kind {
					continue
				}
				if m.Active {
					active += m.Count
					if m.Interval > 0 && (interval == 0 || m.Interval < interval) {
						interval = m.Interval
					}
				}
				if m.LastSuccess.After(last) {
					last = m.LastSuccess
				}
			}
			ch <- prometheus.MustNewConstMetric(c.mechanisms, prometheus.GaugeValue, float64(active), ns, pvc, kind)
			if !last.IsZero() {
				ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, unixSeconds(last), ns, pvc, kind)
			}
			if interval > 0 {
				ch <- prometheus.MustNewConstMetric(c.interval, prometheus.GaugeValue, interval.Seconds(), ns, pvc, kind)
			}
		}
	}
	return err
}
