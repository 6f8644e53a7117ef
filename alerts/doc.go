// Package alerts holds no Go code of its own: it is the home of
// forge-exporter.rules.yaml (recording rules and alerts), their promtool
// unit tests in tests/, and the Go tests that run promtool, check that every
// alert is tested, documented in a runbook and built only on metrics the
// exporter exports, and drive the rules end to end through a real
// Prometheus and Alertmanager.
package alerts
