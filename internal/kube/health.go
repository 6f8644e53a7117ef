package kube

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/railiance/forge-exporter/internal/exporter"
)

var (
	availableDesc = prometheus.NewDesc("forge_exporter_kube_resource_available",
		"1 if the Kubernetes resource is served by the API server (CRDs: as of the last discovery), 0 if not installed.",
		[]string{"group", "resource"}, nil)
	lastSyncDesc = prometheus.NewDesc("forge_exporter_kube_last_sync_timestamp_seconds",
		"When the resource's informer cache last heard from the API server: a list or a watch event, including the bookmarks sent about once a minute.",
		[]string{"group", "resource"}, nil)
	errorsDesc = prometheus.NewDesc("forge_exporter_kube_list_watch_errors_total",
		"List or watch attempts for the resource that failed (routine watch expiry excluded).",
		[]string{"group", "resource"}, nil)
	objectsDesc = prometheus.NewDesc("forge_exporter_kube_objects",
		"Objects of the resource in the informer cache.",
		[]string{"group", "resource"}, nil)
	invalidDesc = prometheus.NewDesc("forge_exporter_kube_invalid_objects",
		"Cached objects with a malformed field (for example an unparsable timestamp) that the collectors ignore.",
		[]string{"group", "resource"}, nil)
)

// CollectHealth sends the health metrics of every watched resource.
func (s *Source) CollectHealth(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	order := append([]Resource(nil), s.order...)
	s.mu.Unlock()
	for _, r := range order {
		w := s.watch(r)
		infs, available, known := w.snapshot()
		if !known {
			continue
		}
		ch <- prometheus.MustNewConstMetric(availableDesc, prometheus.GaugeValue, exporter.BoolValue(available), r.Group, r.Resource)
		if ts := w.lastSync.Load(); ts > 0 {
			ch <- prometheus.MustNewConstMetric(lastSyncDesc, prometheus.GaugeValue, float64(ts)/1e9, r.Group, r.Resource)
		}
		ch <- prometheus.MustNewConstMetric(errorsDesc, prometheus.CounterValue, float64(w.errs.Load()), r.Group, r.Resource)
		if !available || infs == nil {
			continue
		}
		n, invalid := 0, 0
		for _, inf := range infs {
			for _, o := range inf.GetStore().List() {
				n++
				if s, ok := o.(*slim); ok && len(invalidFields(s.v)) > 0 {
					invalid++
				}
			}
		}
		ch <- prometheus.MustNewConstMetric(objectsDesc, prometheus.GaugeValue, float64(n), r.Group, r.Resource)
		ch <- prometheus.MustNewConstMetric(invalidDesc, prometheus.GaugeValue, float64(invalid), r.Group, r.Resource)
	}
}

// invalidFields lists the malformed fields of a converted object (kinds
// whose converter checks field formats implement validated).
func invalidFields(v any) []string {
	if o, ok := v.(validated); ok {
		return o.invalidFields()
	}
	return nil
}
