package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/railiance/forge-exporter/internal/testenv/giteafake"
)

// TestLimitInFlight holds max requests inside the handler and checks that
// the next one is answered 503 at once, and served again once one finishes.
func TestLimitInFlight(t *testing.T) {
	const max = 3
	release, entered := make(chan struct{}), make(chan struct{}, max)
	h := limitInFlight(max, func(w http.ResponseWriter, _ *http.Request) {
		entered <- struct{}{}
		<-release
		fmt.Fprintln(w, "ok")
	})
	var wg sync.WaitGroup
	codes := make(chan int, max)
	for range max {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			h(rec, httptest.NewRequest("GET", "/metrics", nil))
			codes <- rec.Code
		}()
	}
	for range max {
		<-entered
	}
	rec := httptest.NewRecorder()
	start := time.Now()
	h(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "Limit of concurrent requests reached (3)") {
		t.Errorf("request %d: %d %q, want 503 with the limit", max+1, rec.Code, rec.Body.String())
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the rejected request waited %s", d)
	}
	close(release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Errorf("a request within the limit got %d", c)
		}
	}
	rec = httptest.NewRecorder()
	h(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Errorf("after the burst: %d, want 200", rec.Code)
	}

	if unlimited := limitInFlight(0, func(http.ResponseWriter, *http.Request) {}); unlimited == nil {
		t.Error("limit 0 returned no handler")
	}
}

// TestScrapeFlood floods the real binary, whose scrape is large (2,000 Gitea
// runners, 10,000 series), with far more concurrent scrapers than
// --web.max-requests allows: the surplus gets 503 at once, the rest 200,
// nothing else; the exporter's peak RSS stays near what the allowed
// concurrency costs; and the rejections show in its own metrics.
func TestScrapeFlood(t *testing.T) {
	const token = "forge-flood-token-1b7e"
	f := giteafake.New(t, token)
	f.MaxItems = 500
	for i := range 2000 {
		f.Runners = append(f.Runners, giteafake.Runner{ID: int64(i + 1), Name: fmt.Sprintf("runner-%04d", i), Online: i%2 == 0, Labels: []string{"ubuntu-latest", fmt.Sprintf("pool-%d", i%7)}})
	}
	f.Users = []string{"forge"}
	sc := newScenario(t, t.TempDir(), f.URL, token)
	const limit = 3
	p := startBinary(t, "--config.file="+sc.config, "--web.max-requests="+strconv.Itoa(limit))
	base := "http://" + p.addr

	scrapeOnce := func(c *http.Client) int {
		resp, err := c.Get(base + "/metrics")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 100}}
	waitFor(t, "the runners sampled", func() bool {
		_, body := get(t, base+"/metrics")
		return strings.Contains(body, `forge_gitea_runner_online{runner="runner-1999"}`)
	}, p.logs)

	// Warm up at the allowed concurrency: this is the memory the limit admits.
	burst := func(clients int, d time.Duration) map[int]int {
		var mu sync.Mutex
		codes := map[int]int{}
		var wg sync.WaitGroup
		stop := time.Now().Add(d)
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) {
					c := scrapeOnce(client)
					mu.Lock()
					codes[c]++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return codes
	}
	warm := burst(limit, 5*time.Second)
	if warm[200] == 0 || len(warm) != 1 {
		t.Fatalf("at the limit's concurrency every scrape must succeed: %v", warm)
	}
	warmPeak := vmHWM(t, p.cmd.Process.Pid)

	flood := burst(64, 10*time.Second)
	floodPeak := vmHWM(t, p.cmd.Process.Pid)
	t.Logf("scrapes at %d clients: %v, peak RSS %.1f MiB; 64 clients: %v, peak RSS %.1f MiB", limit, warm, warmPeak, flood, floodPeak)
	if flood[503] == 0 || flood[200] == 0 {
		t.Errorf("64 concurrent scrapers with --web.max-requests=%d: %v, want both 200s and 503s", limit, flood)
	}
	for c := range flood {
		if c != 200 && c != 503 {
			t.Errorf("64 concurrent scrapers: %d answers with %d", flood[c], c)
		}
	}
	// 61 rejected requests cost a goroutine and a few KiB each, not a
	// scrape's exposition; the bound leaves room for the race detector's
	// shadow memory and GC timing.
	if bound := warmPeak*1.5 + 32; floodPeak > bound {
		t.Errorf("peak RSS %.1f MiB during the flood, bound %.1f (%.1f MiB at the limit's concurrency)", floodPeak, bound, warmPeak)
	}

	_, body := get(t, base+"/metrics")
	v := series(body)
	if n, _ := strconv.ParseFloat(v[`promhttp_metric_handler_requests_total{code="503"}`], 64); n < float64(flood[503]) {
		t.Errorf("promhttp_metric_handler_requests_total{code=\"503\"} = %v, want at least %d", n, flood[503])
	}
	if _, ok := v["promhttp_metric_handler_requests_in_flight"]; !ok {
		t.Error("promhttp_metric_handler_requests_in_flight is not exported")
	}
}

// vmHWM is a process's peak resident set in MiB.
func vmHWM(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb / 1024
		}
	}
	t.Fatal("no VmHWM in /proc/pid/status")
	return 0
}
