package collectors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/railiance/forge-exporter/internal/evidence"
	"github.com/railiance/forge-exporter/internal/exporter"
	"github.com/railiance/forge-exporter/internal/kube"
)

// kubeSource returns the configuration's Kubernetes source, shared by every
// collector that reads the API (pvc, cnpg, volumebackup, evidence
// ConfigMaps): one client, one set of informers, started through d.Go and
// stopped with the configuration. Collectors register what they read with
// Need (or ConfigMaps) in their constructor.
func kubeSource(d *Deps) (*kube.Source, error) {
	return Shared(d, "kubernetes", func() (*kube.Source, error) {
		k := d.Config.Kubernetes
		rc, err := kube.RestConfig(kube.ClientOptions{Kubeconfig: k.Kubeconfig, QPS: k.QPS, Burst: k.Burst})
		if err != nil {
			return nil, err
		}
		clients, err := kube.NewClients(rc)
		if err != nil {
			return nil, err
		}
		var protected []kube.ProtectedVolume
		for _, v := range k.ProtectedVolumes {
			protected = append(protected, kube.ProtectedVolume{Namespace: v.Namespace, Name: v.PersistentVolumeClaim, CronJobs: v.CronJobs})
		}
		src := kube.NewSource(d.Logger.With("source", "kubernetes"), clients, kube.Options{
			Namespaces:        k.Namespaces,
			DiscoveryInterval: k.DiscoveryInterval.Std(),
			ProtectedVolumes:  protected,
			HealthOwner:       kubeHealthOwner(d),
		})
		d.Go("kubernetes", src.Run)
		return src, nil
	})
}

// kubeHealthCollectors export the shared source's health metrics
// (forge_exporter_kube_*): the first enabled one in this order does, so they
// appear once per scrape whichever Kubernetes collectors are enabled.
var kubeHealthCollectors = []string{"pvc", "cnpg", "volumebackup"}

func kubeHealthOwner(d *Deps) string {
	for _, name := range kubeHealthCollectors {
		if d.Enabled(name) {
			return name
		}
	}
	return ""
}

// kubeErr maps a source error to what the runner expects: a cache that has
// not synced yet is "no data yet", a failing list/watch is a failure.
func kubeErr(err error) error {
	if err == nil {
		return nil
	}
	var stale *kube.StaleError
	if !errors.As(err, &stale) && errors.Is(err, kube.ErrNotSynced) {
		return fmt.Errorf("%w: %v", exporter.ErrNoData, err)
	}
	return err
}

func isNoData(err error) bool { return errors.Is(err, exporter.ErrNoData) }

// kubeCoverage answers the trust collector's BackupCoverage from the
// Kubernetes source's caches.
type kubeCoverage struct {
	src                *kube.Source
	databases, volumes bool
}

var _ BackupCoverage = kubeCoverage{}

// CNPGClusterBackup implements BackupCoverage: covered when an unsuspended
// ScheduledBackup targets the cluster; unknown while the caches are not
// synced or failing, or when CNPG is not installed.
func (k kubeCoverage) CNPGClusterBackup(namespace, cluster string) (covered, known bool) {
	if !k.databases || !k.src.Available(kube.ScheduledBackups) {
		return false, false
	}
	c, err := k.src.DatabaseCoverage(namespace, cluster)
	if err != nil {
		return false, false
	}
	return c.Configured(), true
}

// PVCBackup implements BackupCoverage: covered when an unsuspended linked
// CronJob or a ready VolumeSnapshot backs the PVC up.
func (k kubeCoverage) PVCBackup(namespace, pvc string) (covered, known bool) {
	if !k.volumes {
		return false, false
	}
	c, err := k.src.VolumeCoverage(namespace, pvc)
	if err != nil {
		return false, false
	}
	return c.Configured(), true
}

// kubeBackupCoverage returns the live backup signal for the trust
// collector when the cnpg or volumebackup collector runs (and so a cluster
// is configured); nil otherwise.
func kubeBackupCoverage(d *Deps) BackupCoverage {
	dbs, vols := d.Enabled("cnpg"), d.Enabled("volumebackup")
	if !dbs && !vols {
		return nil
	}
	src, err := kubeSource(d)
	if err != nil {
		return nil // the kube collectors' own construction reports it
	}
	if dbs {
		src.Need(kube.Backups, kube.ScheduledBackups)
	}
	if vols {
		src.Need(kube.CronJobs, kube.VolumeSnapshots)
	}
	return kubeCoverage{src: src, databases: dbs, volumes: vols}
}

// kubeConfigMaps lists evidence ConfigMaps from the source's ConfigMap
// informer (filtered server-side by the label selector).
type kubeConfigMaps struct {
	lister kube.ConfigMapLister
	err    error
}

// EvidenceConfigMaps implements evidence.ConfigMapSource. Right after start
// it waits (within ctx) for the first list rather than report an empty set.
func (k kubeConfigMaps) EvidenceConfigMaps(ctx context.Context) ([]evidence.ConfigMap, error) {
	if k.err != nil {
		return nil, k.err
	}
	for {
		cms, err := k.lister.List()
		if errors.Is(err, kube.ErrNotSynced) {
			select {
			case <-ctx.Done():
				return nil, err
			case <-time.After(100 * time.Millisecond):
				continue
			}
		}
		out := make([]evidence.ConfigMap, 0, len(cms))
		for _, cm := range cms {
			out = append(out, evidence.ConfigMap{Namespace: cm.Namespace, Name: cm.Name, Data: cm.Data})
		}
		return out, err
	}
}

// kubeEvidenceConfigMaps returns the evidence ConfigMap source for a label
// selector (nil when none is configured).
func kubeEvidenceConfigMaps(d *Deps, selector string) evidence.ConfigMapSource {
	if selector == "" {
		return nil
	}
	src, err := kubeSource(d)
	if err != nil {
		return kubeConfigMaps{err: err}
	}
	lister, err := src.ConfigMaps(selector)
	return kubeConfigMaps{lister: lister, err: err}
}
