package e2e

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/railiance/forge-exporter/internal/testenv"
	"github.com/railiance/forge-exporter/internal/testenv/forgestack"
	"github.com/railiance/forge-exporter/internal/testenv/promenv"
)

// deadline bounds each wait; every step takes a few seconds on a quiet
// machine (1s scrape and evaluation, 2s Gitea sweeps, 1s evidence reads).
const deadline = 2 * time.Minute

// TestWholeForge starts the whole forge (the stack `make demo` shows),
// waits for the alerts its seeded faults deserve to fire and reach
// Alertmanager's webhook through the shipped example routing, repairs each
// fault through the real system (a completed Backup of gitea-db with its
// status, a backup CronJob for the PVC, a runner carrying the unserved
// label registers and polls, a passing drill record is written, the planted
// secret is removed) and waits for each alert to resolve in Prometheus and
// its resolution to reach the webhook.
//
// Prometheus loads the shipped rule file with every `for:` set to 10s: the
// production pending periods (10m to 1h) are longer than CI can wait.
func TestWholeForge(t *testing.T) {
	if testing.Short() {
		t.Skip("the whole-forge test starts every real server; skipped with -short")
	}
	requireBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	t0 := time.Now()
	stack, err := forgestack.Start(ctx, forgestack.Options{Progress: t.Logf})
	if err != nil {
		t.Fatalf("starting the stack: %v", err)
	}
	dir := stack.Dir
	stopped := false
	defer func() {
		if t.Failed() {
			t.Logf("server logs (last lines):\n%s", stack.Logs(30))
		}
		if !stopped {
			stack.Stop()
		}
	}()
	t.Logf("stack up in %.1fs", time.Since(t0).Seconds())

	// 1. The seeded faults fire, and Alertmanager delivers each page.
	want := stack.Expected()
	wctx, wcancel := context.WithTimeout(ctx, deadline)
	err = stack.WaitFiring(wctx, want, func(n, total int) { t.Logf("%d of %d expected alerts firing", n, total) })
	wcancel()
	if err != nil {
		t.Fatalf("expected alerts: %v", err)
	}
	firing, err := stack.Firing(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range firing {
		t.Logf("firing: %s", forgestack.Describe(a))
		if a.Annotations["summary"] == "" || !strings.HasPrefix(a.Annotations["runbook_url"], "https://") {
			t.Errorf("%s fires without a summary or runbook link: %v", a.Name(), a.Annotations)
		}
	}
	for _, e := range want {
		if e.InhibitedBy != "" {
			// Checked below: it must never be notified while inhibited.
			continue
		}
		n := waitNotification(t, stack.Webhook, e, "firing")
		if n.Labels["job"] != "forge-exporter" || n.Labels["severity"] == "" {
			t.Errorf("%s page lacks job or severity: %v", e, n.Labels)
		}
		// docs/alertmanager.example.yml: critical pages, warning tickets,
		// each to the layer that owns the fix.
		kind := map[string]string{"critical": "pager", "warning": "ticket"}[n.Labels["severity"]]
		team := "forge"
		if n.Labels["layer"] == "platform" {
			team = "platform"
		}
		if want := team + "-" + kind; n.Receiver != want || n.Path != "/"+want {
			t.Errorf("%s went to receiver %q at %s, want %s", e, n.Receiver, n.Path, want)
		}
	}

	// Every page make demo prints answers (with its token where it needs one).
	for _, l := range stack.Links(ctx) {
		if code := l.Fetch(ctx); code != http.StatusOK {
			t.Errorf("%s at %s answers %d, want 200 (make demo prints it)", l.What, l.URL, code)
		}
	}

	// 2. Every rule evaluates without error on the real exposition.
	for _, r := range rules(t, stack.Prometheus) {
		if r.Health != "ok" {
			t.Errorf("rule %s: health %s: %s", r.Name, r.Health, r.LastError)
		}
	}

	// 3. Change the world: each fault is repaired through its real source.
	fixes := map[string]func(context.Context) error{
		"CompleteBackup":  stack.CompleteBackup,
		"AddVolumeBackup": stack.AddVolumeBackup,
		"ServeLabel":      stack.ServeLabel,
		"AddPassingDrill": stack.AddPassingDrill,
		"RemoveSecret":    stack.RemoveSecret,
	}
	done := map[string]bool{}
	for _, e := range want {
		fix, ok := fixes[e.Fix]
		if !ok {
			t.Fatalf("%s: no repair %q in this test", e, e.Fix)
		}
		if done[e.Fix] {
			continue
		}
		done[e.Fix] = true
		t.Logf("repair: %s", e.Fix)
		if err := fix(ctx); err != nil {
			t.Fatalf("%s: %v", e.Fix, err)
		}
	}

	// 4. Each alert resolves in Prometheus and the resolution reaches the webhook.
	for _, e := range want {
		waitFor(t, e.String()+" to stop firing in Prometheus", func() bool {
			alerts, err := stack.Prometheus.Alerts(ctx)
			if err != nil {
				t.Logf("alerts: %v", err)
				return false
			}
			for _, a := range alerts {
				if e.Matches(a.Labels) {
					return false
				}
			}
			return true
		})
		if e.InhibitedBy == "" {
			waitNotification(t, stack.Webhook, e, "resolved")
		}
	}
	for _, e := range want {
		if n, ok := stack.Webhook.Match("firing", e.Matches); ok && e.InhibitedBy != "" {
			t.Errorf("%s was notified (to %s) although %s inhibits it", e, n.Receiver, e.InhibitedBy)
		}
	}
	if errs := stack.Webhook.Errors(); len(errs) > 0 {
		t.Errorf("the webhook could not decode Alertmanager's payloads: %v", errs)
	}

	// 5. A clean stop: nothing is left behind.
	stopped = true
	if err := stack.Stop(); err != nil {
		t.Errorf("stopping the stack: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the stack's directory %s is still there after Stop (%v)", dir, err)
	}
	t.Logf("whole-forge scenario took %.1fs", time.Since(t0).Seconds())
}

// requireBinaries builds the real servers this machine has not built yet
// and fails the test when a server is missing (skipped only under -short).
func requireBinaries(t *testing.T) {
	t.Helper()
	for _, name := range forgestack.RealBinaries() {
		testenv.RequireBinary(t, name)
	}
	for _, name := range []string{"prometheus", "prometheus-alertmanager"} {
		if _, err := promenv.Binary(name); err != nil {
			t.Fatal(err)
		}
	}
}

func waitNotification(t *testing.T, hook *promenv.Webhook, e forgestack.Expectation, status string) promenv.Notification {
	t.Helper()
	var got promenv.Notification
	waitFor(t, "Alertmanager to deliver "+status+" "+e.String()+" to the webhook", func() bool {
		var ok bool
		got, ok = hook.Match(status, e.Matches)
		return ok
	})
	return got
}

func rules(t *testing.T, api *promenv.API) []promenv.Rule {
	t.Helper()
	waitFor(t, "every rule evaluated", func() bool { return api.RulesEvaluated(context.Background()) })
	rs, err := api.Rules(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", deadline, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
