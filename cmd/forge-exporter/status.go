package main

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/common/version"

	"github.com/railiance/forge-exporter/collectors"
	"github.com/railiance/forge-exporter/internal/status"
)

// serveStatus renders the status page from one scrape of the current
// collectors and the trust report: the same state /metrics and
// /api/v1/trust serve.
func (s *server) serveStatus(w http.ResponseWriter, r *http.Request) {
	st, reg, ok := s.scrape(w, r)
	if !ok {
		return
	}
	// A collector that fails still leaves the others' families; its own
	// failure shows in the collectors section.
	fams, _ := reg.Gather()
	in := status.Input{Now: time.Now(), Version: version.Version, Families: fams, MetricsPath: s.cmd.TelemetryPath}
	if tc, _ := st.inst.View("trust").(*collectors.TrustCollector); tc != nil {
		ctx, cancel := context.WithTimeout(r.Context(), trustTimeout)
		rep, err := tc.Report(ctx)
		cancel()
		if err == nil {
			in.Trust = rep
		}
	}
	page, err := status.Render(status.Build(in))
	if err != nil {
		s.logger.Error("status page", "err", err)
		http.Error(w, "the status page could not be rendered; see the exporter's log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The page loads nothing: no script, no external style or image.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	_, _ = w.Write(page)
}
