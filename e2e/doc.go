// Package e2e holds the whole-forge end-to-end test (whole_forge_test.go):
// the stack of internal/testenv/forgestack — real Gitea, runners, packages,
// evidence, the exporter, Prometheus with the shipped rules, Alertmanager
// and a webhook — driven from broken to repaired.
package e2e
