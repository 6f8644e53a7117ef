// Package promenv runs a real Prometheus and Alertmanager (Debian's
// prometheus and prometheus-alertmanager packages) on loopback for tests and
// the demo, with a webhook receiver that records what Alertmanager delivers
// and a small client of Prometheus's HTTP API.
//
//	hook := &promenv.Webhook{}
//	hookURL, stopHook, _ := proc.Serve(hook)
//	am, _ := promenv.StartAlertmanager(ctx, dir, promenv.RouteAllTo(hookURL+"/hook"))
//	prom, _ := promenv.StartPrometheus(ctx, dir, promenv.PrometheusConfig{
//		Interval: time.Second, RuleFiles: []string{rules}, Alertmanager: am.Addr, Targets: []string{exporterAddr}})
//	prom.API.Alerts(ctx)                  // what is pending or firing, and why (annotations)
//	hook.Find("ForgeDatabaseBackupStale", "resolved")
package promenv

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/railiance/forge-exporter/internal/testenv"
	"github.com/railiance/forge-exporter/internal/testenv/proc"
)

// Binary finds a Debian-packaged server (prometheus, prometheus-alertmanager).
func Binary(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found: install the Debian prometheus and prometheus-alertmanager packages (apt-get install -y prometheus prometheus-alertmanager; .ci/run does)", name)
	}
	return p, nil
}

// Server is a running Prometheus or Alertmanager.
type Server struct {
	*proc.Process
	// Addr is 127.0.0.1:PORT; URL is http://Addr.
	Addr, URL string
}

// PrometheusConfig is what the test Prometheus scrapes and evaluates.
type PrometheusConfig struct {
	// Interval is the scrape and evaluation interval.
	Interval time.Duration
	// RuleFiles are loaded as they are.
	RuleFiles []string
	// Alertmanager is the host:port alerts are sent to; empty sends none.
	Alertmanager string
	// Job is the scrape job name; empty means forge-exporter.
	Job string
	// Targets are host:port scrape targets of the job.
	Targets []string
	// HonorLabels keeps the targets' own job and instance labels.
	HonorLabels bool
}

// StartPrometheus writes prometheus.yml into dir and starts Prometheus with
// its TSDB under dir, waiting until /-/ready answers.
func StartPrometheus(ctx context.Context, dir string, c PrometheusConfig) (*Server, error) {
	bin, err := Binary("prometheus")
	if err != nil {
		return nil, err
	}
	if c.Job == "" {
		c.Job = "forge-exporter"
	}
	iv := fmt.Sprintf("%dms", c.Interval.Milliseconds())
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n", iv, iv, iv)
	fmt.Fprintf(&b, "rule_files: %s\n", jsonList(c.RuleFiles))
	if c.Alertmanager != "" {
		fmt.Fprintf(&b, "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [%q]\n", c.Alertmanager)
	}
	fmt.Fprintf(&b, "scrape_configs:\n  - job_name: %q\n    honor_labels: %t\n    static_configs:\n      - targets: %s\n", c.Job, c.HonorLabels, jsonList(c.Targets))
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	return start(ctx, dir, "prometheus", bin, func(addr string) []string {
		return []string{"--config.file=" + cfg, "--storage.tsdb.path=" + filepath.Join(dir, "prometheus-data"),
			"--web.listen-address=" + addr, "--rules.alert.resend-delay=1s", "--log.level=warn"}
	})
}

// RouteAllTo is an Alertmanager configuration that sends every alert, and
// its resolution, to one webhook at once (1s group timers).
func RouteAllTo(webhookURL string) string {
	return fmt.Sprintf(`global:
  resolve_timeout: 1m
route:
  receiver: webhook
  group_by: [alertname, namespace, cluster]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: webhook
    webhook_configs:
      - url: %s
        send_resolved: true
`, webhookURL)
}

var (
	exampleHookRE  = regexp.MustCompile(`http://([a-z-]+)\.invalid/hook`)
	exampleTimerRE = regexp.MustCompile(`(?m)^(\s+)(group_wait|group_interval): \S+$`)
)

// ExampleRouting returns the shipped example routing
// (docs/alertmanager.example.yml) with each receiver's URL
// http://NAME.invalid/hook pointed at webhookURL/NAME, and group_wait and
// group_interval shortened to 1s, so a test sees which receiver got what.
func ExampleRouting(example []byte, webhookURL string) string {
	am := exampleHookRE.ReplaceAllString(string(example), webhookURL+"/$1")
	return exampleTimerRE.ReplaceAllString(am, "${1}${2}: 1s")
}

// StartAlertmanager writes config to dir/alertmanager.yml and starts
// Alertmanager without cluster gossip, waiting until /-/ready answers.
func StartAlertmanager(ctx context.Context, dir, config string) (*Server, error) {
	bin, err := Binary("prometheus-alertmanager")
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		return nil, err
	}
	return start(ctx, dir, "alertmanager", bin, func(addr string) []string {
		return []string{"--config.file=" + cfg, "--storage.path=" + filepath.Join(dir, "alertmanager-data"),
			"--web.listen-address=" + addr, "--cluster.listen-address=", "--log.level=warn"}
	})
}

func start(ctx context.Context, dir, name, bin string, args func(addr string) []string) (*Server, error) {
	addr, err := testenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	p, err := proc.Start(name, bin, filepath.Join(dir, name+".log"), args(addr), proc.Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := p.WaitReady(ctx, "http://"+addr+"/-/ready"); err != nil {
		p.Stop(5 * time.Second)
		return nil, err
	}
	return &Server{Process: p, Addr: addr, URL: "http://" + addr}, nil
}

func jsonList(s []string) string {
	if s == nil {
		s = []string{}
	}
	b, _ := json.Marshal(s)
	return string(b)
}

var forRE = regexp.MustCompile(`(?m)^(\s+)for: \S+$`)

// ShortenFor returns rule file text with every alert's `for:` replaced by
// d (a Prometheus duration such as "0s"): the production pending periods
// (up to an hour) are longer than a test or a demo can wait.
func ShortenFor(rules []byte, d string) []byte {
	return forRE.ReplaceAll(rules, []byte("${1}for: "+d))
}

// API is a small client of Prometheus's HTTP API.
type API struct {
	Base   string
	Client *http.Client
}

// NewAPI returns a client of the Prometheus at base (http://host:port).
func NewAPI(base string) *API {
	return &API{Base: base, Client: &http.Client{Timeout: 10 * time.Second}}
}

// Get calls path with params and decodes the data field of the answer.
func (a *API) Get(ctx context.Context, path string, params url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", a.Base+path+"?"+params.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := a.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Status != "success" {
		return fmt.Errorf("%s %v: HTTP %d: %s %s", path, params, resp.StatusCode, env.Error, body)
	}
	return json.Unmarshal(env.Data, out)
}

// Sample is one element of an instant vector.
type Sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// Query evaluates expr now and returns the vector's samples (a scalar
// result is returned as one sample without labels).
func (a *API) Query(ctx context.Context, expr string) ([]Sample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := a.Get(ctx, "/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		var v [2]any
		if err := json.Unmarshal(data.Result, &v); err != nil {
			return nil, err
		}
		return []Sample{{Value: v}}, nil
	}
	var out []Sample
	return out, json.Unmarshal(data.Result, &out)
}

// LabelValues returns the values of label on series matching match.
func (a *API) LabelValues(ctx context.Context, label, match string) ([]string, error) {
	var out []string
	return out, a.Get(ctx, "/api/v1/label/"+label+"/values", url.Values{"match[]": {match}}, &out)
}

// Alert is a pending or firing alert as Prometheus reports it.
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
	ActiveAt    time.Time         `json:"activeAt"`
}

// Name is the alertname label.
func (a Alert) Name() string { return a.Labels["alertname"] }

// Alerts returns every pending and firing alert, sorted by name and labels.
func (a *API) Alerts(ctx context.Context) ([]Alert, error) {
	var data struct {
		Alerts []Alert `json:"alerts"`
	}
	if err := a.Get(ctx, "/api/v1/alerts", nil, &data); err != nil {
		return nil, err
	}
	sort.Slice(data.Alerts, func(i, j int) bool {
		return labelKey(data.Alerts[i].Labels) < labelKey(data.Alerts[j].Labels)
	})
	return data.Alerts, nil
}

// AlertsNamed returns the pending and firing alerts called name.
func (a *API) AlertsNamed(ctx context.Context, name string) ([]Alert, error) {
	all, err := a.Alerts(ctx)
	var out []Alert
	for _, al := range all {
		if al.Name() == name {
			out = append(out, al)
		}
	}
	return out, err
}

// Rule is one rule's evaluation state.
type Rule struct {
	Name           string `json:"name"`
	Health         string `json:"health"`
	LastError      string `json:"lastError"`
	LastEvaluation string `json:"lastEvaluation"`
}

// Rules returns every loaded rule.
func (a *API) Rules(ctx context.Context) ([]Rule, error) {
	var data struct {
		Groups []struct {
			Rules []Rule `json:"rules"`
		} `json:"groups"`
	}
	if err := a.Get(ctx, "/api/v1/rules", nil, &data); err != nil {
		return nil, err
	}
	var out []Rule
	for _, g := range data.Groups {
		out = append(out, g.Rules...)
	}
	return out, nil
}

// RulesEvaluated reports whether every loaded rule has been evaluated.
func (a *API) RulesEvaluated(ctx context.Context) bool {
	rules, err := a.Rules(ctx)
	if err != nil {
		return false
	}
	for _, r := range rules {
		if r.Health == "unknown" || strings.HasPrefix(r.LastEvaluation, "0001-") {
			return false
		}
	}
	return len(rules) > 0
}

// Target is a scrape target's health.
type Target struct {
	ScrapeURL string `json:"scrapeUrl"`
	Health    string `json:"health"`
	LastError string `json:"lastError"`
}

// Targets returns the active scrape targets.
func (a *API) Targets(ctx context.Context) ([]Target, error) {
	var data struct {
		Active []Target `json:"activeTargets"`
	}
	return data.Active, a.Get(ctx, "/api/v1/targets", nil, &data)
}

func labelKey(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(l["alertname"])
	for _, k := range keys {
		fmt.Fprintf(&b, "\x00%s=%s", k, l[k])
	}
	return b.String()
}

// Notification is one alert in a webhook delivery.
type Notification struct {
	// Receiver is the Alertmanager receiver; Path the URL path it posted to.
	Receiver, Path string
	Status         string // firing or resolved
	Labels         map[string]string
	Annotations    map[string]string
	Received       time.Time
}

// Webhook records every alert Alertmanager delivers (an http.Handler).
type Webhook struct {
	mu   sync.Mutex
	got  []Notification
	errs []string
}

func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p struct {
		Receiver string `json:"receiver"`
		Alerts   []struct {
			Status      string            `json:"status"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"alerts"`
	}
	err := json.NewDecoder(r.Body).Decode(&p)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.errs = append(h.errs, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now()
	for _, a := range p.Alerts {
		h.got = append(h.got, Notification{Receiver: p.Receiver, Path: r.URL.Path, Status: a.Status,
			Labels: a.Labels, Annotations: a.Annotations, Received: now})
	}
}

// Find returns the first delivered notification of alert with status.
func (h *Webhook) Find(alert, status string) (Notification, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range h.got {
		if n.Labels["alertname"] == alert && n.Status == status {
			return n, true
		}
	}
	return Notification{}, false
}

// Match returns the first delivered notification with status whose labels
// satisfy match.
func (h *Webhook) Match(status string, match func(labels map[string]string) bool) (Notification, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range h.got {
		if n.Status == status && match(n.Labels) {
			return n, true
		}
	}
	return Notification{}, false
}

// All returns every delivered notification so far.
func (h *Webhook) All() []Notification {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Notification(nil), h.got...)
}

// Errors returns the payloads that could not be decoded.
func (h *Webhook) Errors() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.errs...)
}
