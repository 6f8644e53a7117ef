package collectors

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/railiance/forge-exporter/internal/exporter"
	"github.com/railiance/forge-exporter/internal/kube"
	"github.com/railiance/forge-exporter/internal/metriccache"
	"github.com/railiance/forge-exporter/internal/schedule"
)

// CNPGCollector reports CloudNativePG backup health from Backup,
// ScheduledBackup and Cluster objects (and barman-cloud ObjectStores). Backup
// recency comes from the Backup objects themselves (newest stoppedAt of a
// completed Backup, whatever its method), never from the deprecated
// Cluster.status.lastSuccessfulBackup, which backup plugins leave unset.
type CNPGCollector struct {
	logger *slog.Logger
	src    *kube.Source
	health bool
	// gaps memoises the longest gap of each schedule text.
	gaps *schedule.Cache

	mu sync.Mutex
	// warned holds the ScheduledBackups whose unusable schedule was logged
	// ("namespace/name" -> schedule), so each is logged once.
	warned map[string]string

	lastSuccess, lastFailure, backups, lastDuration, recoverability, scheduled,
	sbLast, sbNext, sbInterval, sbValid, sbSuspended, archiving, lastSucceeded *prometheus.Desc
	// series keeps the series between scrapes (label pairs built once).
	series *metriccache.Cache
}

var _ exporter.Collector = (*CNPGCollector)(nil)

// cnpgPhases are every phase CNPG sets (api/v1 backup_types.go), always
// reported (0 when no Backup is in them), so an alert on failed backups has
// a series to look at from the start. Treatment: completed is a success;
// failed and "invalid backup definition" (terminal, the Backup never runs)
// are failures (forge_cnpg_backup_last_failure_timestamp_seconds,
// ForgeDatabaseBackupFailed); pending, started, running, finalizing (a
// volume snapshot waiting for readyToUse) and walArchivingFailing (CNPG
// retries; ForgeWALArchivingFailing pages on the cluster's condition) are in
// progress: neither, so a backup stuck in them ends in ForgeDatabaseBackupStale.
var cnpgPhases = []string{kube.PhasePending, kube.PhaseStarted, kube.PhaseRunning, kube.PhaseFinalizing, kube.PhaseCompleted,
	kube.PhaseFailed, kube.PhaseWalArchivingFailing, kube.PhaseInvalidDefinition}

// phaseRE bounds what an unexpected phase from the API may put in a label.
var phaseRE = regexp.MustCompile(`^[A-Za-z]{1,40}$`)

// NewCNPGCollector returns a cnpg collector reading src.
func NewCNPGCollector(logger *slog.Logger, src *kube.Source) *CNPGCollector {
	src.Need(kube.Backups, kube.ScheduledBackups, kube.Clusters, kube.ObjectStores)
	const when = " From the informer cache (kept current by a watch), read at scrape time."
	cl := []string{"namespace", "cluster"}
	sb := []string{"namespace", "cluster", "scheduledbackup"}
	return &CNPGCollector{
		logger: logger, src: src, health: src.ExportsHealth("cnpg"), gaps: schedule.NewCache(), warned: map[string]string{}, series: metriccache.New(),
		lastSuccess: prometheus.NewDesc("forge_cnpg_backup_last_success_timestamp_seconds",
			"Newest status.stoppedAt of the cluster's Backups in phase completed, any method (barmanObjectStore, volumeSnapshot, plugin)."+when, cl, nil),
		lastFailure: prometheus.NewDesc("forge_cnpg_backup_last_failure_timestamp_seconds",
			"When the cluster's newest failed Backup (phase failed or invalid backup definition) stopped (else started, else was created)."+when, cl, nil),
		backups: prometheus.NewDesc("forge_cnpg_backups",
			"Backup objects of the cluster by status.phase (unknown: no or malformed phase)."+when, append(cl, "phase"), nil),
		lastDuration: prometheus.NewDesc("forge_cnpg_backup_last_duration_seconds",
			"stoppedAt minus startedAt of the cluster's newest completed Backup."+when, cl, nil),
		recoverability: prometheus.NewDesc("forge_cnpg_recoverability_point_timestamp_seconds",
			"Earliest point in time the cluster can be restored to: from the barman-cloud ObjectStore's status.serverRecoveryWindow (source=objectstore) when present, else the deprecated Cluster status.firstRecoverabilityPoint (source=cluster)."+when,
			append(cl, "source"), nil),
		scheduled: prometheus.NewDesc("forge_cnpg_scheduled_backups",
			"ScheduledBackups that target the cluster (0: no backup is scheduled)."+when, cl, nil),
		sbLast: prometheus.NewDesc("forge_cnpg_scheduled_backup_last_timestamp_seconds",
			"status.lastScheduleTime of the ScheduledBackup."+when, sb, nil),
		sbNext: prometheus.NewDesc("forge_cnpg_scheduled_backup_next_timestamp_seconds",
			"status.nextScheduleTime of the ScheduledBackup."+when, sb, nil),
		sbInterval: prometheus.NewDesc("forge_cnpg_scheduled_backup_interval_seconds",
			"Longest gap between two runs of the ScheduledBackup's spec.schedule, read as CNPG reads it (robfig/cron v1: six fields seconds first, five without the day of week, or a descriptor; UTC), over the whole 400-year calendar cycle; absent when the schedule cannot run."+when, sb, nil),
		sbValid: prometheus.NewDesc("forge_cnpg_scheduled_backup_schedule_valid",
			"1 if CNPG can run the ScheduledBackup's spec.schedule, 0 if it cannot (CNPG's parser rejects it, or no time ever matches it): CNPG then creates no Backups from it."+when, sb, nil),
		sbSuspended: prometheus.NewDesc("forge_cnpg_scheduled_backup_suspended",
			"1 if the ScheduledBackup is suspended (spec.suspend)."+when, sb, nil),
		archiving: prometheus.NewDesc("forge_cnpg_continuous_archiving",
			"The Cluster's ContinuousArchiving condition: 1 True, 0 False; absent when the condition is not set."+when, cl, nil),
		lastSucceeded: prometheus.NewDesc("forge_cnpg_last_backup_succeeded",
			"The Cluster's LastBackupSucceeded condition: 1 True, 0 False; absent when the condition is not set."+when, cl, nil),
	}
}

func newCNPGSpec() Spec {
	return Spec{
		Name:        "cnpg",
		Description: "CloudNativePG backup recency, failures, schedules, WAL archiving and recoverability from Backup/ScheduledBackup/Cluster objects (needs a cluster)",
		New: func(d *Deps) (exporter.Collector, error) {
			src, err := kubeSource(d)
			if err != nil {
				return nil, err
			}
			return NewCNPGCollector(d.Logger, src), nil
		},
	}
}

type cnpgCluster struct {
	namespace, name string
	cluster         *kube.Cluster
	phases          map[string]int
	lastOK          *kube.Backup
	lastFailure     time.Time
	scheduled       int
}

// Update implements exporter.Collector.
func (c *CNPGCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	if c.health {
		c.src.CollectHealth(ch)
	}
	backups, err1 := c.src.Backups()
	sbs, err2 := c.src.ScheduledBackups()
	clusters, err3 := c.src.Clusters()
	stores, err4 := c.src.ObjectStores()
	err := kubeErr(errors.Join(err1, err2, err3, err4))
	if errors.Is(err, exporter.ErrNoData) {
		return err
	}
	s := c.series.Scrape()
	defer s.Done()

	// A struct key: building a "namespace/name" string per Backup would
	// allocate 10,000 strings a scrape.
	type key struct{ ns, name string }
	byKey := map[key]*cnpgCluster{}
	get := func(ns, name string) *cnpgCluster {
		k := key{ns, name}
		cc := byKey[k]
		if cc == nil {
			cc = &cnpgCluster{namespace: ns, name: name, phases: map[string]int{}}
			byKey[k] = cc
		}
		return cc
	}
	for _, cl := range clusters {
		get(cl.Namespace, cl.Name).cluster = cl
	}
	for _, b := range backups {
		if b.Cluster == "" {
			continue // invalid per the CRD schema; nothing to attribute it to
		}
		cc := get(b.Namespace, b.Cluster)
		phase := b.Phase
		if !phaseRE.MatchString(phase) && phase != kube.PhaseInvalidDefinition {
			phase = "unknown"
		}
		cc.phases[phase]++
		switch b.Phase {
		case kube.PhaseCompleted:
			if !b.StoppedAt.IsZero() && (cc.lastOK == nil || b.StoppedAt.After(cc.lastOK.StoppedAt)) {
				cc.lastOK = b
			}
		case kube.PhaseFailed, kube.PhaseInvalidDefinition:
			t := b.StoppedAt
			if t.IsZero() {
				t = b.StartedAt
			}
			if t.IsZero() {
				t = b.Created
			}
			if t.After(cc.lastFailure) {
				cc.lastFailure = t
			}
		}
	}
	for _, sb := range sbs {
		if sb.Cluster != "" {
			get(sb.Namespace, sb.Cluster).scheduled++
		}
	}
	storeByKey := map[key]*kube.ObjectStore{}
	for _, st := range stores {
		storeByKey[key{st.Namespace, st.Name}] = st
	}

	for _, cc := range byKey {
		ns, name := cc.namespace, cc.name
		for _, ph := range cnpgPhases {
			ch <- s.Gauge(c.backups, float64(cc.phases[ph]), ns, name, ph)
		}
		extra := make([]string, 0)
		for ph := range cc.phases {
			if !slices.Contains(cnpgPhases, ph) {
				extra = append(extra, ph)
			}
		}
		sort.Strings(extra)
		for _, ph := range extra {
			ch <- s.Gauge(c.backups, float64(cc.phases[ph]), ns, name, ph)
		}
		if b := cc.lastOK; b != nil {
			ch <- s.Gauge(c.lastSuccess, unixSeconds(b.StoppedAt), ns, name)
			if !b.StartedAt.IsZero() && !b.StartedAt.After(b.StoppedAt) {
				ch <- s.Gauge(c.lastDuration, b.StoppedAt.Sub(b.StartedAt).Seconds(), ns, name)
			}
		}
		if !cc.lastFailure.IsZero() {
			ch <- s.Gauge(c.lastFailure, unixSeconds(cc.lastFailure), ns, name)
		}
		ch <- s.Gauge(c.scheduled, float64(cc.scheduled), ns, name)
		if cl := cc.cluster; cl != nil {
			c.conditionMetric(s, ch, c.archiving, cl.Conditions["ContinuousArchiving"], ns, name)
			c.conditionMetric(s, ch, c.lastSucceeded, cl.Conditions["LastBackupSucceeded"], ns, name)
			var rp time.Time
			source := ""
			if st := storeByKey[key{ns, cl.BarmanObjectStore}]; cl.BarmanObjectStore != "" && st != nil {
				if w, ok := st.Windows[cl.BarmanServerName]; ok && !w.FirstRecoverabilityPoint.IsZero() {
					rp, source = w.FirstRecoverabilityPoint, "objectstore"
				}
			}
			if rp.IsZero() && !cl.FirstRecoverabilityPoint.IsZero() {
				rp, source = cl.FirstRecoverabilityPoint, "cluster"
			}
			if !rp.IsZero() {
				ch <- s.Gauge(c.recoverability, unixSeconds(rp), ns, name, source)
			}
		}
	}

	for _, sb := range sbs {
		l := []string{sb.Namespace, sb.Cluster, sb.Name}
		if !sb.LastSchedule.IsZero() {
			ch <- s.Gauge(c.sbLast, unixSeconds(sb.LastSchedule), l...)
		}
		if !sb.NextSchedule.IsZero() {
			ch <- s.Gauge(c.sbNext, unixSeconds(sb.NextSchedule), l...)
		}
		ch <- s.Gauge(c.sbSuspended, exporter.BoolValue(sb.Suspended), l...)
		gap, gapErr := c.gaps.CNPG(sb.Schedule)
		ch <- s.Gauge(c.sbValid, exporter.BoolValue(gapErr == nil), l...)
		if gapErr != nil {
			c.warnOnce(sb, gapErr)
			continue
		}
		ch <- s.Gauge(c.sbInterval, gap.Seconds(), l...)
	}
	return err
}

// warnOnce logs a ScheduledBackup whose schedule CNPG cannot run, once per
// object and schedule text.
func (c *CNPGCollector) warnOnce(sb *kube.ScheduledBackup, err error) {
	key := sb.Namespace + "/" + sb.Name
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.warned[key]; ok && s == sb.Schedule {
		return
	}
	if len(c.warned) >= 10000 {
		clear(c.warned) // bound the memory against churn
	}
	c.warned[key] = sb.Schedule
	c.logger.Warn("ScheduledBackup schedule cannot run; its backups are not scheduled and ForgeDatabaseBackupStale falls back to the other schedules or 26h",
		"namespace", sb.Namespace, "scheduledbackup", sb.Name, "schedule", sb.Schedule, "err", err)
}

func (c *CNPGCollector) conditionMetric(s *metriccache.Scrape, ch chan<- prometheus.Metric, d *prometheus.Desc, status, ns, name string) {
	switch status {
	case "True":
		ch <- s.Gauge(d, 1, ns, name)
	case "False":
		ch <- s.Gauge(d, 0, ns, name)
	}
}
