// Package dashboards generates the Grafana dashboards under dashboards/ from
// Go: the committed JSON files are this package's output, and its test fails
// when they differ (go test ./dashboards -update rewrites them). The Helm
// chart ships the JSON (make chart-sync); alerts/ tests evaluate every query
// against a real Prometheus.
package dashboards

import "encoding/json"

// Files returns every dashboard this package generates, by file name.
func Files() map[string]Dashboard {
	return map[string]Dashboard{"forge-exporter-overview.json": Overview()}
}

// Render returns a dashboard's committed JSON form.
func Render(d Dashboard) ([]byte, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
