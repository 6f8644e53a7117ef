package main

import (
	"context"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promcollectors "github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/railiance/forge-exporter/collectors"
	"github.com/railiance/forge-exporter/internal/sampler"
)

// DefaultListenAddress is outside the 9100-9999 range that the Prometheus
// default port allocations page has fully handed out.
const DefaultListenAddress = ":10100"

// ServeCmd serves /metrics.
type ServeCmd struct {
	ConfigFile      string        `name:"config.file" default:"forge-exporter.yaml" help:"Configuration file."`
	ListenAddresses []string      `name:"web.listen-address" default:"${listen}" help:"Addresses to listen on (repeatable)."`
	TelemetryPath   string        `name:"web.telemetry-path" default:"/metrics" help:"Path under which to expose metrics."`
	WebConfigFile   string        `name:"web.config.file" default:"" help:"exporter-toolkit web configuration file (TLS, basic auth, headers)."`
	EnableLifecycle bool          `name:"web.enable-lifecycle" help:"Enable POST /-/reload."`
	ScrapeTimeout   time.Duration `name:"web.scrape-timeout" default:"10s" help:"Collector timeout when Prometheus sends no X-Prometheus-Scrape-Timeout-Seconds header."`
	TimeoutOffset   time.Duration `name:"web.scrape-timeout-offset" default:"500ms" help:"Subtracted from Prometheus's scrape timeout to leave time to send the answer."`
	MaxRequests     int           `name:"web.max-requests" default:"40" help:"Maximum number of scrapes served at once; beyond it a scrape gets 503 at once (0: no limit)."`
}

// instanceState is what one loaded configuration serves.
type instanceState struct {
	inst    *collectors.Instance
	landing http.Handler
}

type server struct {
	cmd      *ServeCmd
	logger   *slog.Logger
	specs    []collectors.Spec
	reg      *prometheus.Registry
	samplers *sampler.Metrics
	ctx      context.Context

	reloadMu      sync.Mutex
	current       atomic.Pointer[instanceState]
	reloadOK      prometheus.Gauge
	reloadSuccess prometheus.Gauge
}

// Run starts the exporter and blocks until SIGTERM or SIGINT.
func (c *ServeCmd) Run(g *Globals) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return c.serve(ctx, g.Logger, listenHooks{})
}

// listenHooks let a test serve on listeners it opened and learn when the
// server is up; the command line never sets them.
type listenHooks struct {
	// listeners, when set, are used instead of --web.listen-address.
	listeners []net.Listener
	// ready, when set, is closed once the server is serving.
	ready chan struct{}
}

func (c *ServeCmd) serve(ctx context.Context, logger *slog.Logger, hooks listenHooks) error {
	logger.Info("starting forge-exporter", "version", version.Info(), "build_context", version.BuildContext())
	if c.WebConfigFile != "" {
		if err := web.Validate(c.WebConfigFile); err != nil {
			return fmt.Errorf("web config file %q: %w", c.WebConfigFile, err)
		}
	}
	if c.MaxRequests < 0 {
		return fmt.Errorf("--web.max-requests %d: must be 0 (no limit) or more", c.MaxRequests)
	}
	if !strings.HasPrefix(c.TelemetryPath, "/") || c.TelemetryPath == "/" || strings.HasPrefix(c.TelemetryPath, "/-/") {
		return fmt.Errorf("--web.telemetry-path %q: must start with / and not be / or under /-/", c.TelemetryPath)
	}
	s := newServer(ctx, c, logger)
	if err := s.reload(); err != nil {
		return err // refuse to start on a broken config
	}
	defer func() {
		if st := s.current.Load(); st != nil {
			st.inst.Stop()
		}
	}()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = s.reload() // logged and reported by reload
			}
		}
	}()

	srv := newHTTPServer(s.handler(), c.ScrapeTimeout, logger)
	flags := &web.FlagConfig{
		WebListenAddresses: &c.ListenAddresses,
		WebSystemdSocket:   new(bool),
		WebConfigFile:      &c.WebConfigFile,
	}
	errc := make(chan error, 1)
	go func() {
		if hooks.listeners != nil {
			errc <- web.ServeMultiple(hooks.listeners, srv, flags, logger)
		} else {
			errc <- web.ListenAndServe(srv, flags, logger)
		}
	}()
	if hooks.ready != nil {
		close(hooks.ready)
	}
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
		logger.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}

// maxRequestBodyBytes bounds what a client may send in a request body. No
// endpoint takes a body (POST /-/reload reads the config from disk), so this
// only stops a client from making the server read an endless upload.
const maxRequestBodyBytes = 4 << 10

// newHTTPServer sets every timeout and size limit, so a slow or hostile
// client can hold neither a connection nor memory for long.
func newHTTPServer(h http.Handler, scrapeTimeout time.Duration, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           http.MaxBytesHandler(h, maxRequestBodyBytes),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Long enough for the slowest allowed scrape plus sending the answer.
		WriteTimeout:   scrapeTimeout + 2*time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

func newServer(ctx context.Context, c *ServeCmd, logger *slog.Logger) *server {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		versioncollector.NewCollector(program),
		// go_gc_heap_live_bytes (/gc/heap/live:bytes) is the heap after the
		// last GC, the number a leak moves (make soak judges it).
		promcollectors.NewGoCollector(promcollectors.WithGoCollectorRuntimeMetrics(
			promcollectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		promcollectors.NewProcessCollector(promcollectors.ProcessCollectorOpts{}),
	)
	s := &server{
		cmd: c, logger: logger, specs: collectors.Specs(), reg: reg, ctx: ctx,
		samplers: sampler.NewMetrics(reg),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "forge_exporter_config_last_reload_successful",
			Help: "1 if the last configuration load succeeded, 0 if it failed (the previous configuration stays in use).",
		}),
		reloadSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "forge_exporter_config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded successfully (Unix time).",
		}),
	}
	reg.MustRegister(s.reloadOK, s.reloadSuccess)
	return s
}

// reload loads the config file and swaps in a new instance; on any error the
// running instance stays in use.
func (s *server) reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	cfg, err := loadConfig(s.cmd.ConfigFile)
	if err == nil {
		var inst *collectors.Instance
		inst, err = collectors.Build(s.specs, cfg, s.logger, s.samplers)
		if err == nil {
			st := &instanceState{inst: inst, landing: s.landing(inst)}
			old := s.current.Load()
			if old != nil {
				old.inst.Stop()
			}
			inst.Start(s.ctx)
			s.current.Store(st)
			s.samplers.Retain(inst.RunNames())
			s.reloadOK.Set(1)
			s.reloadSuccess.SetToCurrentTime()
			for _, name := range inst.Disabled {
				s.logger.Info("collector disabled in the configuration", "collector", name)
			}
			s.logger.Info("configuration loaded", "file", s.cmd.ConfigFile, "collectors", strings.Join(inst.Enabled, ","))
			return nil
		}
	}
	s.reloadOK.Set(0)
	if s.current.Load() != nil {
		s.logger.Error("configuration reload failed; keeping the previous configuration", "err", err)
	}
	return err
}

func (s *server) landing(inst *collectors.Instance) http.Handler {
	var b strings.Builder
	b.WriteString("<h2>Collectors</h2><ul>")
	for _, sp := range s.specs {
		state := "disabled"
		for _, n := range inst.Enabled {
			if n == sp.Name {
				state = "enabled"
			}
		}
		fmt.Fprintf(&b, "<li><b>%s</b> (%s): %s</li>", html.EscapeString(sp.Name), state, html.EscapeString(sp.Description))
	}
	b.WriteString("</ul>")
	h, err := web.NewLandingPage(web.LandingConfig{
		Name:        "Forge Exporter",
		Description: "Backup, restore, storage and runner signals of a Gitea forge",
		Version:     version.Info(),
		ExtraHTML:   b.String(),
		// No pprof is served: the toolkit's default profiling links would
		// answer 404.
		Profiling: "false",
		Links: []web.LandingLinks{
			{Address: s.cmd.TelemetryPath, Text: "Metrics"},
			{Address: "/status", Text: "Status: is the forge's data safe to rely on today?"},
			{Address: "/api/v1/trust", Text: "Trust gates (JSON)"},
			{Address: "/-/healthy", Text: "Health"},
			{Address: "/-/ready", Text: "Readiness"},
		},
	})
	if err != nil {
		// The landing page is static text; failing to build it is a bug, not
		// a reason to stop exporting.
		s.logger.Error("building landing page", "err", err)
		return http.NotFoundHandler()
	}
	return h
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	// Instrumented as node_exporter's: promhttp_metric_handler_requests_in_flight
	// and promhttp_metric_handler_requests_total{code} (code="503": rejected).
	mux.Handle(s.cmd.TelemetryPath, promhttp.InstrumentMetricHandler(s.reg, readOnly(limitInFlight(s.cmd.MaxRequests, s.serveMetrics))))
	mux.HandleFunc("/api/v1/trust", readOnly(s.serveTrust))
	// The page runs a scrape: bounded like /metrics.
	mux.HandleFunc("/status", readOnly(limitInFlight(s.cmd.MaxRequests, s.serveStatus)))
	mux.HandleFunc("/-/healthy", readOnly(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Healthy")
	}))
	mux.HandleFunc("/-/ready", readOnly(func(w http.ResponseWriter, _ *http.Request) {
		if s.current.Load() == nil {
			http.Error(w, "Not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	}))
	mux.HandleFunc("/-/reload", func(w http.ResponseWriter, r *http.Request) {
		if !s.cmd.EnableLifecycle {
			http.Error(w, "Lifecycle API is not enabled (--web.enable-lifecycle).", http.StatusForbidden)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "Only POST requests allowed.", http.StatusMethodNotAllowed)
			return
		}
		if err := s.reload(); err != nil {
			http.Error(w, "failed to reload config: "+err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "Reloaded")
	})
	mux.HandleFunc("/", readOnly(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		st := s.current.Load()
		if st == nil {
			http.Error(w, "Not ready", http.StatusServiceUnavailable)
			return
		}
		st.landing.ServeHTTP(w, r)
	}))
	return mux
}

// readOnly answers 405 to anything but GET and HEAD: the read endpoints
// change nothing, so no other method has a meaning there.
func readOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "Method not allowed.", http.StatusMethodNotAllowed)
			return
		}
		h(w, r)
	}
}

// limitInFlight serves at most max requests at once and answers 503 at once
// beyond, so a burst of scrapes cannot pile up their allocations (each holds
// the whole exposition until it is written). It is promhttp's
// MaxRequestsInFlight with the same answer: that one lives inside a handler,
// and the metrics handler is built per request (the collectors' context and
// timeout come from the request). max 0 means no limit.
func limitInFlight(max int, h http.HandlerFunc) http.HandlerFunc {
	if max <= 0 {
		return h
	}
	sem := make(chan struct{}, max)
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
			h(w, r)
		default:
			http.Error(w, fmt.Sprintf("Limit of concurrent requests reached (%d), try again later.", max), http.StatusServiceUnavailable)
		}
	}
}

// scrapeTimeout follows blackbox_exporter: Prometheus's own timeout minus an
// offset, so collectors give up before Prometheus does.
func (s *server) scrapeTimeout(r *http.Request) time.Duration {
	timeout := s.cmd.ScrapeTimeout
	if v := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs > 0 {
			timeout = time.Duration(secs*float64(time.Second)) - s.cmd.TimeoutOffset
		}
	}
	if timeout < 100*time.Millisecond {
		timeout = 100 * time.Millisecond
	}
	return timeout
}

// scrape runs one scrape of the current collectors into a fresh registry
// (/metrics and /status); it answers 503 and returns false before the
// first configuration is loaded.
func (s *server) scrape(w http.ResponseWriter, r *http.Request) (*instanceState, *prometheus.Registry, bool) {
	st := s.current.Load()
	if st == nil {
		http.Error(w, "Not ready", http.StatusServiceUnavailable)
		return nil, nil, false
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(st.inst.Runner.Scrape(r.Context(), s.scrapeTimeout(r)))
	return st, reg, true
}

func (s *server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	_, reg, ok := s.scrape(w, r)
	if !ok {
		return
	}
	promhttp.HandlerFor(prometheus.Gatherers{s.reg, reg}, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(s.logger.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	}).ServeHTTP(w, r)
}
