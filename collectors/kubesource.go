package collectors

import (
	"errors"
	"fmt"

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
		rc, err := kube.RestConfig(k)
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
		})
		d.Go("kubernetes", src.Run)
		return src, nil
	})
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

// kubeBool is 1 for true, 0 for false.
func kubeBool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func isNoData(err error) bool { return errors.Is(err, exporter.ErrNoData) }
