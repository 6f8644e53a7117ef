// Package charttest tests the Helm chart in deploy/helm/forge-exporter with
// real binaries: helm lint --strict, golden renders of several values sets,
// the values schema (its exporter-config part generated from
// internal/config), the copies of alerts/ and dashboards/ that
// `make chart-sync` puts into the chart, and, against a real kube-apiserver,
// server-side validation of every rendered manifest and the rendered RBAC.
// The package has no code of its own; it lives outside the chart directory so
// that `helm package` does not ship Go files.
package charttest
