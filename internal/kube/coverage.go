package kube

import (
	"errors"
	"maps"
	"slices"
	"time"
)

// Mechanism is one thing that backs up a PVC or a database.
type Mechanism struct {
	// Kind is "cronjob", "volumesnapshot" or "scheduledbackup".
	Kind            string
	Namespace, Name string
	// Active is false for a suspended CronJob or ScheduledBackup, and for
	// VolumeSnapshots when none is ready to use.
	Active bool
	// LastSuccess is the CronJob's status.lastSuccessfulTime, the newest
	// ready VolumeSnapshot's creationTime, or the newest completed Backup
	// the ScheduledBackup created; zero when there is none.
	LastSuccess time.Time
	// Count is the number of ready VolumeSnapshots (1 otherwise).
	Count int
	// Interval is the longest time between two runs: of a CronJob's
	// schedule (five-field cron in its spec.timeZone, as the CronJob
	// controller reads it), or between consecutive ready VolumeSnapshots
	// (their observed cadence, from two snapshots on). Zero when unknown.
	Interval time.Duration
}

// Coverage is what backs up one PVC or database.
type Coverage struct {
	Namespace, Name string
	// Protected is true for a PVC listed in the configuration's
	// protected_volumes; a PVC known only from a CronJob's BackupOf
	// annotation is not (the annotation links, it does not protect).
	Protected  bool
	Mechanisms []Mechanism
	// LastSuccess is the newest success over all mechanisms (for a
	// database: the newest completed Backup, scheduled or not).
	LastSuccess time.Time
}

// Configured reports whether any active mechanism backs it up.
func (c *Coverage) Configured() bool {
	for _, m := range c.Mechanisms {
		if m.Active {
			return true
		}
	}
	return false
}

// VolumeCoverages returns the backup coverage of every protected PVC (from
// the configuration) and of every PVC a CronJob claims to back up (by the
// BackupOfAnnotation), keyed by "namespace/pvc". It needs CronJobs and
// VolumeSnapshots (Need). The error says the data is incomplete; the
// result is still the best available.
func (s *Source) VolumeCoverages() (map[string]*Coverage, error) {
	cronjobs, err1 := s.CronJobs()
	snaps, err2 := s.VolumeSnapshots()
	out := map[string]*Coverage{}
	get := func(key string) *Coverage {
		c := out[key]
		if c == nil {
			ns, name := splitKey(key)
			c = &Coverage{Namespace: ns, Name: name}
			out[key] = c
		}
		return c
	}
	byName := map[string]*CronJob{}
	for _, cj := range cronjobs {
		byName[cj.Namespace+"/"+cj.Name] = cj
	}
	linked := map[string]map[string]bool{} // pvc -> cronjob keys
	link := func(pvc, cj string) {
		if linked[pvc] == nil {
			linked[pvc] = map[string]bool{}
		}
		linked[pvc][cj] = true
	}
	for _, pv := range s.opts.ProtectedVolumes {
		key := pv.Namespace + "/" + pv.Name
		get(key).Protected = true
		for _, cj := range pv.CronJobs {
			link(key, cj)
		}
	}
	for _, cj := range cronjobs {
		for _, pvc := range cj.BackupOf {
			get(pvc)
			link(pvc, cj.Namespace+"/"+cj.Name)
		}
	}
	for pvc, cjs := range linked {
		c := get(pvc)
		for _, k := range slices.Sorted(maps.Keys(cjs)) {
			cj := byName[k]
			if cj == nil {
				continue // configured but not found: it backs nothing up
			}
			gap, _ := s.gaps.CronJob(cj.Schedule, cj.TimeZone) // zero when it cannot run
			c.Mechanisms = append(c.Mechanisms, Mechanism{Kind: "cronjob", Namespace: cj.Namespace, Name: cj.Name,
				Active: !cj.Suspended, LastSuccess: cj.LastSuccessful, Count: 1, Interval: gap})
		}
	}
	// Ready snapshots by PVC, so that each PVC looks at its own only.
	ready := map[string][]*VolumeSnapshot{}
	for _, vs := range snaps {
		if vs.ReadyToUse {
			k := vs.Namespace + "/" + vs.PVC
			ready[k] = append(ready[k], vs)
		}
	}
	for key, c := range out {
		var m *Mechanism
		var times []time.Time
		for _, vs := range ready[key] {
			if m == nil {
				m = &Mechanism{Kind: "volumesnapshot", Namespace: vs.Namespace, Active: true}
			}
			m.Count++
			if vs.CreationTime.After(m.LastSuccess) {
				m.LastSuccess, m.Name = vs.CreationTime, vs.Name
			}
			if !vs.CreationTime.IsZero() {
				times = append(times, vs.CreationTime)
			}
		}
		if m != nil {
			m.Interval = longestStep(times)
			c.Mechanisms = append(c.Mechanisms, *m)
		}
		for _, mm := range c.Mechanisms {
			if mm.LastSuccess.After(c.LastSuccess) {
				c.LastSuccess = mm.LastSuccess
			}
		}
		out[key] = c
	}
	return out, errors.Join(err1, err2)
}

// VolumeCoverage is the coverage of one PVC (see VolumeCoverages): what
// backs up namespace/pvc and when it last succeeded. A PVC that nothing
// backs up has no mechanisms (Configured() is false).
func (s *Source) VolumeCoverage(namespace, pvc string) (*Coverage, error) {
	all, err := s.VolumeCoverages()
	if c := all[namespace+"/"+pvc]; c != nil {
		return c, err
	}
	return &Coverage{Namespace: namespace, Name: pvc}, err
}

// DatabaseCoverage is what backs up the CNPG cluster namespace/name: its
// ScheduledBackups (active unless suspended, each with the newest completed
// Backup it created) and the newest completed Backup of any kind. It needs
// Backups and ScheduledBackups (Need).
func (s *Source) DatabaseCoverage(namespace, cluster string) (*Coverage, error) {
	backups, err1 := s.Backups()
	sbs, err2 := s.ScheduledBackups()
	c := &Coverage{Namespace: namespace, Name: cluster}
	newest := map[string]time.Time{}
	for _, b := range backups {
		if b.Namespace != namespace || b.Cluster != cluster || b.Phase != PhaseCompleted {
			continue
		}
		if b.StoppedAt.After(c.LastSuccess) {
			c.LastSuccess = b.StoppedAt
		}
		if b.ScheduledBy != "" && b.StoppedAt.After(newest[b.ScheduledBy]) {
			newest[b.ScheduledBy] = b.StoppedAt
		}
	}
	for _, sb := range sbs {
		if sb.Namespace != namespace || sb.Cluster != cluster {
			continue
		}
		c.Mechanisms = append(c.Mechanisms, Mechanism{Kind: "scheduledbackup", Namespace: sb.Namespace, Name: sb.Name,
			Active: !sb.Suspended, LastSuccess: newest[sb.Name], Count: 1})
	}
	return c, errors.Join(err1, err2)
}

// CNPG Backup phases (api/v1 backup_types.go).
const (
	PhasePending             = "pending"
	PhaseStarted             = "started"
	PhaseRunning             = "running"
	PhaseCompleted           = "completed"
	PhaseFinalizing          = "finalizing"
	PhaseFailed              = "failed"
	PhaseWalArchivingFailing = "walArchivingFailing"
	// PhaseInvalidDefinition is terminal: the Backup never runs.
	PhaseInvalidDefinition = "invalid backup definition"
)

// longestStep is the longest time between consecutive instants (zero for
// fewer than two).
func longestStep(ts []time.Time) time.Duration {
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	var longest time.Duration
	for i := 1; i < len(ts); i++ {
		longest = max(longest, ts[i].Sub(ts[i-1]))
	}
	return longest
}

func splitKey(key string) (string, string) {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[:i], key[i+1:]
		}
	}
	return "", key
}
