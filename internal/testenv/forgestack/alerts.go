package forgestack

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/railiance/forge-exporter/internal/testenv/promenv"
)

// Expectation is an alert the seeded forge must fire, and the change to the
// world that resolves it.
type Expectation struct {
	Alert  string
	Labels map[string]string
	// Fix names the Stack method that resolves it.
	Fix string
	// InhibitedBy is the alert whose notification covers this one in
	// docs/alertmanager.example.yml: Alertmanager notifies neither its
	// firing nor its resolution.
	InhibitedBy string
}

func (e Expectation) String() string {
	keys := make([]string, 0, len(e.Labels))
	for k := range e.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, e.Labels[k])
	}
	return e.Alert + "{" + strings.Join(parts, ",") + "}"
}

// Matches reports whether labels (an alert's or a notification's) are
// this expectation's.
func (e Expectation) Matches(labels map[string]string) bool {
	if labels["alertname"] != e.Alert {
		return false
	}
	for k, v := range e.Labels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// Expected lists the alerts the seeded forge fires.
func (s *Stack) Expected() []Expectation {
	db := map[string]string{"namespace": "databases", "cluster": "gitea-db"}
	return []Expectation{
		{Alert: "ForgeDatabaseBackupStale", Labels: db, Fix: "CompleteBackup"},
		{Alert: "ForgeDatabaseBackupFailed", Labels: db, Fix: "CompleteBackup", InhibitedBy: "ForgeDatabaseBackupStale"},
		{Alert: "ForgeVolumeBackupMissing", Labels: map[string]string{"namespace": "default", "persistentvolumeclaim": "gitea-shared-storage"}, Fix: "AddVolumeBackup"},
		{Alert: "ForgeRunnerLabelUnserved", Labels: map[string]string{"label": UnservedLabel}, Fix: "ServeLabel"},
		{Alert: "ForgeRestoreDrillOverdue", Labels: map[string]string{"drill": overdueDrill}, Fix: "AddPassingDrill"},
		{Alert: "ForgeEvidenceContainsSecret", Labels: map[string]string{"source": "drills"}, Fix: "RemoveSecret"},
		// The record with the secret is invalid, so its drill counts as never run.
		{Alert: "ForgeEvidenceRecordInvalid", Labels: map[string]string{"source": "drills"}, Fix: "RemoveSecret"},
		{Alert: "ForgeRestoreDrillOverdue", Labels: map[string]string{"drill": "secret-delivery"}, Fix: "RemoveSecret"},
	}
}

// Firing returns the alerts Prometheus reports as firing.
func (s *Stack) Firing(ctx context.Context) ([]promenv.Alert, error) {
	all, err := s.Prometheus.Alerts(ctx)
	if err != nil {
		return nil, err
	}
	var out []promenv.Alert
	for _, a := range all {
		if a.State == "firing" {
			out = append(out, a)
		}
	}
	return out, nil
}

// WaitFiring polls until every expectation is firing in Prometheus, calling
// progress with the count whenever it changes, or until ctx ends.
func (s *Stack) WaitFiring(ctx context.Context, want []Expectation, progress func(firing, total int)) error {
	last := -1
	for {
		firing, err := s.Firing(ctx)
		if err == nil {
			n := 0
			var missing []string
			for _, e := range want {
				if anyMatch(e, firing) {
					n++
				} else {
					missing = append(missing, e.String())
				}
			}
			if n != last && progress != nil {
				progress(n, len(want))
				last = n
			}
			if n == len(want) {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("not firing: %s", strings.Join(missing, ", "))
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func anyMatch(e Expectation, alerts []promenv.Alert) bool {
	for _, a := range alerts {
		if e.Matches(a.Labels) {
			return true
		}
	}
	return false
}

// Describe renders an alert as the demo prints it: name, the labels that
// say which object, severity, and the summary and description (the why).
func Describe(a promenv.Alert) string {
	var which []string
	for _, k := range []string{"namespace", "cluster", "persistentvolumeclaim", "label", "runner", "drill", "source", "asset", "volume", "directory", "collector"} {
		if v, ok := a.Labels[k]; ok {
			which = append(which, k+"="+v)
		}
	}
	desc := strings.Join(strings.Fields(a.Annotations["description"]), " ")
	return fmt.Sprintf("%s {%s} severity=%s\n    %s\n    %s", a.Name(), strings.Join(which, ","), a.Labels["severity"], a.Annotations["summary"], desc)
}
