// Command demo (`make demo`) starts a whole forge on loopback with
// internal/testenv/forgestack: real Gitea, runners and packages, a package
// blob tree, restore-drill evidence, the exporter, Prometheus with the
// shipped alert rules, and Alertmanager. It prints where to look and which
// alerts fire and why, then waits for Ctrl-C and stops everything, leaving
// no process and no file behind.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/railiance/forge-exporter/internal/testenv/forgestack"
)

func main() {
	alertFor := flag.String("alert-for", forgestack.DefaultAlertFor, "the `for:` every alert rule gets in the demo's copy of the rules (the shipped rules wait up to 1h)")
	keep := flag.Bool("no-wait", false, "stop right after printing the alerts instead of waiting for Ctrl-C (for timing the start-up)")
	flag.Parse()
	os.Exit(run(*alertFor, *keep))
}

func run(alertFor string, noWait bool) int {
	start := time.Now()
	say := func(format string, args ...any) {
		fmt.Printf("[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	// A closed terminal or pipe must not kill the demo before it has
	// stopped its servers.
	signal.Ignore(syscall.SIGPIPE)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer cancel()

	say("forge-exporter demo: a whole forge on loopback (Ctrl-C stops it and removes everything)")
	root, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// forgestack.Start builds the real servers this machine has not built yet
	// (hack/realbin.sh says what it builds; minutes, once per machine).
	stack, err := forgestack.Start(ctx, forgestack.Options{RepoRoot: root, Progress: say, AlertFor: alertFor})
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 1
	}
	defer func() {
		say("stopping every server and removing %s ...", stack.Dir)
		if err := stack.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		}
		say("stopped; nothing left running")
	}()

	want := stack.Expected()
	say("waiting for Prometheus to fire the %d alerts the seeded forge deserves (one per alert name and instance) ...", len(want))
	wctx, wcancel := context.WithTimeout(ctx, 90*time.Second)
	err = stack.WaitFiring(wctx, want, func(n, total int) { say("  %d of %d expected alerts firing", n, total) })
	wcancel()
	if ctx.Err() != nil {
		return 130
	}
	if err != nil {
		say("WARNING: %v", err)
	}
	say("the forge is up (start-up took %.1fs)", time.Since(start).Seconds())

	fmt.Println("\nWhere to look:")
	for _, l := range stack.Links(ctx) {
		line := fmt.Sprintf("  %-26s %s", l.What, l.URL)
		if l.TokenFile != "" {
			line += "  (token: the exporter's read-only token in " + l.TokenFile + ")"
		}
		fmt.Println(line)
	}
	fmt.Printf("  %-26s %s\n", "data, configs, logs", stack.Dir)
	fmt.Printf("  (Prometheus loads the shipped alerts/forge-exporter.rules.yaml with every for: set to %s)\n\n", alertFor)
	firing, err := stack.Firing(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 1
	}
	fmt.Printf("Firing alerts (%d, one line per alert name and instance; %d expected) and why:\n", len(firing), len(want))
	for _, a := range firing {
		fmt.Println("  " + strings.ReplaceAll(forgestack.Describe(a), "\n", "\n  "))
	}
	fmt.Println()
	// Alertmanager delivers within a few seconds of Prometheus firing.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil && !allDelivered(stack, want) {
		time.Sleep(250 * time.Millisecond)
	}
	byReceiver := map[string][]string{}
	var receivers []string
	for _, n := range stack.Webhook.All() {
		if n.Status != "firing" {
			continue
		}
		if _, ok := byReceiver[n.Receiver]; !ok {
			receivers = append(receivers, n.Receiver)
		}
		byReceiver[n.Receiver] = append(byReceiver[n.Receiver], n.Labels["alertname"])
	}
	sort.Strings(receivers)
	fmt.Println("Alertmanager notified (docs/alertmanager.example.yml routing; info alerts notify nobody):")
	for _, r := range receivers {
		fmt.Printf("  %-15s %s\n", r, strings.Join(byReceiver[r], ", "))
	}
	for _, e := range want {
		if e.InhibitedBy != "" {
			fmt.Printf("  (%s is inhibited by %s: one notification per problem)\n", e.Alert, e.InhibitedBy)
		}
	}
	fmt.Println()
	if noWait {
		return 0
	}
	say("running; press Ctrl-C to stop")
	<-ctx.Done()
	fmt.Println()
	return 0
}

func allDelivered(stack *forgestack.Stack, want []forgestack.Expectation) bool {
	for _, e := range want {
		if e.InhibitedBy != "" {
			continue
		}
		if _, ok := stack.Webhook.Match("firing", e.Matches); !ok {
			return false
		}
	}
	return true
}
