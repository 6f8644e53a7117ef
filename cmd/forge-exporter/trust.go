package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/version"

	"github.com/railiance/forge-exporter/collectors"
	"github.com/railiance/forge-exporter/internal/evidence"
	"github.com/railiance/forge-exporter/internal/exporter"
)

// trustTimeout bounds how long GET /api/v1/trust waits for the first
// evidence sample after a start or reload.
const trustTimeout = 10 * time.Second

// serveTrust answers GET /api/v1/trust[?asset=NAME] with the trust report
// (docs/trust.schema.json).
func (s *server) serveTrust(w http.ResponseWriter, r *http.Request) {
	st := s.current.Load()
	if st == nil {
		jsonError(w, http.StatusServiceUnavailable, "not ready")
		return
	}
	tc, _ := st.inst.View("trust").(*collectors.TrustCollector)
	if tc == nil {
		jsonError(w, http.StatusNotFound, "the trust collector is disabled in the configuration")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), trustTimeout)
	defer cancel()
	rep, err := tc.Report(ctx)
	if err != nil {
		if errors.Is(err, exporter.ErrNoData) {
			jsonError(w, http.StatusServiceUnavailable, "no evidence sample yet; retry in a few seconds")
			return
		}
		s.logger.Error("trust report", "err", err)
		jsonError(w, http.StatusInternalServerError, "the trust report could not be computed; see the exporter's log")
		return
	}
	if name := r.URL.Query().Get("asset"); name != "" {
		i := slices.IndexFunc(rep.Assets, func(a collectors.AssetReport) bool { return a.Name == name })
		if i < 0 {
			jsonError(w, http.StatusNotFound, "no asset of that name in the inventory")
			return
		}
		rep.Assets = rep.Assets[i : i+1]
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rep)
}

func jsonError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// TrustCmd groups the trust gate's client commands.
type TrustCmd struct {
	Check TrustCheckCmd `cmd:"" help:"Ask a running exporter whether an asset is production-trusted; exit 0 (trusted, or the named gates hold), 1 (not), 2 (no answer). For release pipelines."`
}

// TrustCheckCmd asks GET /api/v1/trust about one asset.
type TrustCheckCmd struct {
	URL            string        `name:"url" required:"" help:"The exporter's base URL (https://forge-exporter.monitoring.svc:10100)."`
	Asset          string        `name:"asset" required:"" help:"The asset's inventory name."`
	Gates          []string      `name:"gate" enum:"backup_mechanism,restore_drill,consumer_verification,secret_custody,rollback_path,storage_growth,next_drill_owner" help:"Require only these gates (repeatable; ${enum}); by default every gate."`
	HTTPConfigFile string        `name:"http.config.file" help:"HTTP client configuration (Prometheus format: basic_auth with password_file, tls_config with ca_file/cert_file/key_file, authorization) matching the exporter's web config."`
	Timeout        time.Duration `name:"timeout" default:"30s" help:"Give up after this long."`
}

// Run queries the exporter and prints the verdict: one line per missing
// gate, or the evidence to cite.
func (c *TrustCheckCmd) Run(g *Globals) error {
	rep, err := c.fetch()
	if err != nil {
		fmt.Fprintf(g.Stderr, "trust check: %v\n", err)
		return exitError(2)
	}
	var asset *collectors.AssetReport
	for i := range rep.Assets {
		if rep.Assets[i].Name == c.Asset {
			asset = &rep.Assets[i]
		}
	}
	if asset == nil {
		fmt.Fprintf(g.Stderr, "trust check: the exporter's inventory has no asset %q\n", c.Asset)
		return exitError(2)
	}
	want := c.Gates
	if len(want) == 0 {
		want = evidence.Gates()
	}
	var missing []collectors.GateReport
	for _, gr := range asset.Gates {
		if slices.Contains(want, gr.Gate) && !gr.OK {
			missing = append(missing, gr)
		}
	}
	scope := "production-trusted"
	if len(c.Gates) > 0 {
		scope = "gates " + strings.Join(c.Gates, ", ") + " hold"
	}
	if !rep.Complete {
		fmt.Fprintln(g.Stdout, "note: the exporter could not read every evidence source; the verdict may miss records")
	}
	if len(missing) > 0 {
		fmt.Fprintf(g.Stdout, "%s: NOT %s (%s)\n", c.Asset, scope, rep.GeneratedAt.Format(time.RFC3339))
		for _, m := range missing {
			fmt.Fprintf(g.Stdout, "  missing %s (%s: %s)\n", m.Gate, m.Source, m.From)
		}
		return exitError(1)
	}
	fmt.Fprintf(g.Stdout, "%s: %s (%s)\n", c.Asset, scope, rep.GeneratedAt.Format(time.RFC3339))
	for _, d := range asset.Drills {
		if d.NewestPassing == nil {
			fmt.Fprintf(g.Stdout, "  cite %s: no passing record\n", d.Kind)
			continue
		}
		p := d.NewestPassing
		fmt.Fprintf(g.Stdout, "  cite %s drill: record %s, %s, backup %s, restored into %s\n", d.Kind, p.Record, p.Date, p.BackupReference, p.RestoredEnvironment)
	}
	return nil
}

// maxTrustBytes bounds the answer the client reads.
const maxTrustBytes = 4 << 20

func (c *TrustCheckCmd) fetch() (*collectors.TrustReport, error) {
	u, err := url.Parse(strings.TrimSuffix(c.URL, "/") + "/api/v1/trust")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url %q is not an http:// or https:// URL", c.URL)
	}
	if u.User != nil {
		return nil, errors.New("--url must not carry credentials; put them in --http.config.file (basic_auth.password_file)")
	}
	u.RawQuery = url.Values{"asset": {c.Asset}}.Encode()
	cfg := &promconfig.HTTPClientConfig{}
	if c.HTTPConfigFile != "" {
		if cfg, _, err = promconfig.LoadHTTPConfigFile(c.HTTPConfigFile); err != nil {
			return nil, fmt.Errorf("--http.config.file: %w", err)
		}
	}
	client, err := promconfig.NewClientFromConfig(*cfg, "forge-exporter-trust-check")
	if err != nil {
		return nil, fmt.Errorf("--http.config.file: %w", err)
	}
	client.Timeout = c.Timeout
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "forge-exporter-trust-check/"+version.Version)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTrustBytes))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		_ = json.Unmarshal(body, &e)
		if e.Error == "" {
			e.Error = http.StatusText(resp.StatusCode)
		}
		return nil, fmt.Errorf("GET %s: HTTP %d: %s", u.Redacted(), resp.StatusCode, e.Error)
	}
	var rep collectors.TrustReport
	if err := json.Unmarshal(body, &rep); err != nil {
		return nil, fmt.Errorf("GET %s: not a trust report: %v", u.Redacted(), err)
	}
	if rep.SchemaVersion != collectors.TrustSchemaVersion {
		return nil, fmt.Errorf("GET %s: trust report schema version %d, this client reads %d", u.Redacted(), rep.SchemaVersion, collectors.TrustSchemaVersion)
	}
	return &rep, nil
}
