package collectors

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/exporter"
	"github.com/railiance/forge-exporter/internal/sampler"
	"github.com/railiance/forge-exporter/internal/secretscan"
	"github.com/railiance/forge-exporter/internal/sops"
)

// SOPSResult is the sentinel's verdict on one configured SOPS file.
type SOPSResult struct {
	// Name is the configured name (the metrics' file label).
	Name string
	// Source is "path" or "gitea".
	Source string
	// Err is set when the file could not be read; Report is nil then.
	Err    error
	Report *sops.Report
	// Commit is the newest commit that changed a file read from Gitea.
	Commit string
}

// Passed reports whether the file was read and passed every check.
func (r SOPSResult) Passed() bool { return r.Err == nil && r.Report != nil && r.Report.OK() }

// SOPSSource is the last verdict on every configured SOPS file; the sops
// and trust collectors (and the status page) read the same sample.
type SOPSSource interface {
	// Results waits for the first sample until ctx is done and returns the
	// last one, in configuration order; exporter.ErrNoData before any.
	Results(ctx context.Context) ([]SOPSResult, error)
}

// sopsFileReader reads one configured file.
type sopsFileReader func(ctx context.Context) (data []byte, commit string, err error)

type sopsSampler struct {
	sampler *sampler.Sampler[[]SOPSResult]
	last    atomic.Pointer[[]SOPSResult]
	first   chan struct{}
}

func (s *sopsSampler) Results(ctx context.Context) ([]SOPSResult, error) {
	select {
	case <-s.first:
	case <-ctx.Done():
	}
	if r := s.last.Load(); r != nil {
		return *r, nil
	}
	return nil, exporter.ErrNoData
}

// sharedSOPS builds the sentinel's sampler once per configuration; nil
// when no file is configured.
func sharedSOPS(d *Deps) (SOPSSource, error) {
	s, err := Shared(d, "sops", func() (*sopsSampler, error) { return newSOPSSampler(d) })
	if s == nil || err != nil {
		return nil, err // a nil *sopsSampler must not become a non-nil SOPSSource
	}
	return s, nil
}

func newSOPSSampler(d *Deps) (*sopsSampler, error) {
	cfg := d.Config.SOPS
	if len(cfg.Files) == 0 {
		return nil, nil
	}
	type file struct {
		cfg      config.SOPSFile
		expected []sops.Recipient
		format   sops.Format
		read     sopsFileReader
	}
	var files []file
	for _, f := range cfg.Files {
		fl := file{cfg: f, expected: cfg.Expected(f), format: f.FormatOf()}
		if f.Path != "" {
			path := f.Path
			fl.read = func(context.Context) ([]byte, string, error) {
				data, err := readLimited(path, sops.MaxFileBytes)
				return data, "", err
			}
		} else {
			src, err := sharedGitea(d)
			if err != nil {
				return nil, err
			}
			g := f.Gitea
			fl.read = func(ctx context.Context) ([]byte, string, error) {
				res, err := src.client.File(ctx, g.Repository, g.Path, g.Ref)
				return res.Content, res.LastCommit, err
			}
		}
		files = append(files, fl)
	}
	logger := d.Logger.With("sampler", "sops")
	s := &sopsSampler{first: make(chan struct{})}
	scanner := secretscan.New()
	reporter := &sopsReporter{logger: logger, last: map[string]string{}}
	var once sync.Once
	fn := func(ctx context.Context) ([]SOPSResult, error) {
		defer once.Do(func() { close(s.first) })
		out := make([]SOPSResult, 0, len(files))
		for _, f := range files {
			res := SOPSResult{Name: f.cfg.Name, Source: "path"}
			if f.cfg.Path == "" {
				res.Source = "gitea"
			}
			data, commit, err := f.read(ctx)
			if ctx.Err() != nil {
				return nil, ctx.Err() // abandoned: keep the previous sample
			}
			res.Commit = commit
			if err != nil {
				res.Err = err
			} else {
				res.Report = sops.Check(f.cfg.Name, data, sops.Options{Format: f.format, Expected: f.expected, Scanner: scanner})
			}
			out = append(out, res)
		}
		reporter.report(out)
		s.last.Store(&out)
		return out, nil
	}
	s.sampler = sampler.New("sops", fn, sampler.Options{Interval: cfg.Interval.Std()}, d.Samplers, d.Logger)
	d.Go(s.sampler.Name(), s.sampler.Run)
	return s, nil
}

// readLimited reads a file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
}

// sopsReporter logs a file's problems when they appear or change, never on
// every sample. The messages carry key paths and recipients, never values.
type sopsReporter struct {
	logger *slog.Logger
	last   map[string]string
}

func (r *sopsReporter) report(results []SOPSResult) {
	now := map[string]string{}
	for _, res := range results {
		switch {
		case res.Err != nil:
			now[res.Name] = "cannot read: " + res.Err.Error()
		case !res.Report.OK():
			now[res.Name] = strings.Join(res.Report.Messages(), "; ")
		}
	}
	names := make([]string, 0, len(now))
	for n := range now {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if r.last[n] != now[n] {
			r.logger.Warn("SOPS file fails the sentinel's checks", "file", n, "problems", now[n])
		}
	}
	for n := range r.last {
		if _, still := now[n]; !still {
			r.logger.Info("SOPS file passes the sentinel's checks again", "file", n)
		}
	}
	r.last = now
}

// SOPSCollector exports the sentinel's verdict on each configured file.
type SOPSCollector struct {
	src SOPSSource

	readable, metadata, mac, fully, plaintext, unencrypted, findings *prometheus.Desc
	recipients, drift, lastModified, info, passed                    *prometheus.Desc
}

var _ exporter.Collector = (*SOPSCollector)(nil)

func newSOPSSpec() Spec {
	return Spec{
		Name:           "sops",
		Description:    "SOPS sentinel: each configured SOPS file (path or Gitea repository) is fully encrypted, leaves no secret in plaintext and has the expected recipients; never decrypts, never exports a value",
		DefaultEnabled: true,
		New: func(d *Deps) (exporter.Collector, error) {
			src, err := sharedSOPS(d)
			if err != nil {
				return nil, err
			}
			return NewSOPSCollector(src), nil
		},
	}
}

// NewSOPSCollector returns a collector reading src (nil: no files).
func NewSOPSCollector(src SOPSSource) *SOPSCollector {
	const sampled = " Sampled every sops.interval."
	file := []string{"file"}
	return &SOPSCollector{
		src: src,
		readable: prometheus.NewDesc("forge_sops_file_readable",
			"1 if the configured SOPS file could be read and parsed (YAML, JSON or dotenv), 0 if not."+sampled, file, nil),
		metadata: prometheus.NewDesc("forge_sops_file_metadata_present",
			"1 if the file carries valid sops metadata (lastmodified, one encryption rule, recipients), 0 if not: a decrypted file has none."+sampled, file, nil),
		mac: prometheus.NewDesc("forge_sops_file_mac_present",
			"1 if the file's sops metadata holds an encrypted MAC, 0 if not."+sampled, file, nil),
		fully: prometheus.NewDesc("forge_sops_file_fully_encrypted",
			"1 if every value and comment the file's encryption rule covers is encrypted, 0 if not."+sampled, file, nil),
		plaintext: prometheus.NewDesc("forge_sops_file_plaintext_values",
			"Values and comments the file's encryption rule covers that are in plaintext (decrypted, or added by hand)."+sampled, file, nil),
		unencrypted: prometheus.NewDesc("forge_sops_file_unencrypted_values",
			"Values the file's encryption rule leaves in plaintext (unencrypted_suffix, unencrypted_regex, ...); they are scanned for secrets."+sampled, file, nil),
		findings: prometheus.NewDesc("forge_sops_file_secret_findings",
			"Suspected secrets among the values and comments the file's rule leaves in plaintext, by detector."+sampled, []string{"file", "detector"}, nil),
		recipients: prometheus.NewDesc("forge_sops_file_recipients",
			"Keys the file's data key is encrypted to, by type (age, pgp, kms, gcp_kms, azure_kv, hc_vault, hckms)."+sampled, []string{"file", "type"}, nil),
		drift: prometheus.NewDesc("forge_sops_file_recipient_drift",
			"Recipients that differ from sops.expected_recipients: missing (expected, not in the file) or unexpected (in the file, not expected)."+sampled, []string{"file", "change"}, nil),
		lastModified: prometheus.NewDesc("forge_sops_file_last_modified_timestamp_seconds",
			"The file's sops lastmodified date (Unix time)."+sampled, file, nil),
		info: prometheus.NewDesc("forge_sops_file_info",
			"The file's format and the sops version that last wrote it; always 1."+sampled, []string{"file", "format", "version"}, nil),
		passed: prometheus.NewDesc("forge_sops_file_check_passed",
			"1 if the file passed every check of the sentinel (what `forge-exporter sops check` exits 0 for), 0 if not."+sampled, file, nil),
	}
}

// Update implements exporter.Collector. An unreadable file is a verdict
// (readable 0), not a collector failure.
func (c *SOPSCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	if c.src == nil {
		return nil
	}
	results, err := c.src.Results(ctx)
	if err != nil {
		return err
	}
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	for _, res := range results {
		n := res.Name
		r := res.Report
		gauge(c.passed, oneIf(res.Passed()), n)
		gauge(c.readable, oneIf(res.Err == nil && r != nil && r.Parsed), n)
		if res.Err != nil || r == nil || !r.Parsed {
			continue
		}
		gauge(c.metadata, oneIf(r.Metadata), n)
		gauge(c.mac, oneIf(r.MAC), n)
		gauge(c.fully, oneIf(r.FullyEncrypted()), n)
		gauge(c.plaintext, float64(len(r.Plaintext)), n)
		gauge(c.unencrypted, float64(len(r.Unencrypted)), n)
		byDet := map[string]int{}
		for _, f := range r.Findings {
			byDet[f.Detector]++
		}
		for det, k := range byDet {
			gauge(c.findings, float64(k), n, det)
		}
		if !r.Metadata {
			continue
		}
		for typ, k := range sops.CountByType(r.Recipients) {
			gauge(c.recipients, float64(k), n, typ)
		}
		gauge(c.drift, float64(len(r.Missing)), n, "missing")
		gauge(c.drift, float64(len(r.Unexpected)), n, "unexpected")
		gauge(c.lastModified, unixSeconds(r.LastModified), n)
		gauge(c.info, 1, n, r.Format.String(), r.Version)
	}
	return nil
}

// sopsVerdicts answers the trust collector's question about linked files.
type sopsVerdicts struct{ src SOPSSource }

// Passed reports whether every named file passed; known is false before
// the first sample or when a name has no result.
func (v sopsVerdicts) Passed(ctx context.Context, names []string) (ok, known bool) {
	if v.src == nil || len(names) == 0 {
		return false, false
	}
	results, err := v.src.Results(ctx)
	if err != nil {
		return false, false
	}
	byName := map[string]SOPSResult{}
	for _, r := range results {
		byName[r.Name] = r
	}
	ok = true
	for _, n := range names {
		r, found := byName[n]
		if !found {
			return false, false
		}
		ok = ok && r.Passed()
	}
	return ok, true
}
