package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/railiance/forge-exporter/internal/evidence"
	"github.com/railiance/forge-exporter/internal/secretscan"
)

// EvidenceCmd groups the operator commands for restore-drill evidence.
type EvidenceCmd struct {
	Validate EvidenceValidateCmd `cmd:"" help:"Validate evidence records and scan them for secret material; exit 1 on any invalid record or finding (usable as a pre-commit hook)."`
	New      EvidenceNewCmd      `cmd:"" help:"Print an evidence record template with every field."`
}

// EvidenceValidateCmd validates records given as files or directories.
type EvidenceValidateCmd struct {
	Paths      []string `arg:"" name:"path" help:"Record files, directories (read recursively for .yaml/.yml/.json, hidden directories skipped), or - for standard input."`
	ConfigFile string   `name:"config.file" help:"Also check asset names against the asset inventory of this configuration file."`
	Quiet      bool     `short:"q" help:"Print only problems and the summary."`
}

// Run validates every record and prints each problem as
// "RECORD: FIELD (line N): REASON". Secret findings name the detector and
// never the matched text.
func (c *EvidenceValidateCmd) Run(g *Globals) error {
	opts := evidence.Options{Now: time.Now(), Scanner: secretscan.New()}
	if c.ConfigFile != "" {
		cfg, err := loadConfig(c.ConfigFile)
		if err != nil {
			fmt.Fprintln(g.Stderr, err)
			return exitError(2)
		}
		opts.Assets = map[string]bool{}
		for _, a := range cfg.Assets {
			opts.Assets[a.Name] = true
		}
	}
	var results []*evidence.Result
	failed := false
	for _, p := range c.Paths {
		rs, err := readEvidencePath(p, os.Stdin, opts)
		if err != nil {
			fmt.Fprintf(g.Stderr, "%s: %v\n", p, err)
			failed = true
		}
		results = append(results, rs...)
	}
	valid, findings := 0, 0
	for _, r := range results {
		findings += len(r.Findings)
		if r.Valid() {
			valid++
			if !c.Quiet {
				outcome := "failed"
				if r.Record.Passed() {
					outcome = "passed"
				}
				fmt.Fprintf(g.Stdout, "%s: ok (%s drill %s on %s, assets %s)\n", r.Source, r.Record.Drill, outcome,
					r.Record.Date.Format(time.DateOnly), strings.Join(r.Record.Assets, ", "))
			}
			continue
		}
		for _, m := range r.Messages() {
			fmt.Fprintln(g.Stdout, m)
		}
	}
	fmt.Fprintf(g.Stdout, "%d records: %d valid, %d invalid; %d secret findings\n", len(results), valid, len(results)-valid, findings)
	if len(results) == 0 && !failed {
		fmt.Fprintln(g.Stderr, "no evidence records found (files ending in .yaml, .yml or .json)")
		return exitError(1)
	}
	if failed || valid < len(results) {
		return exitError(1)
	}
	return nil
}

// readEvidencePath reads one argument: a directory (recursively), a file
// named explicitly (whatever its extension: a pre-commit hook decides which
// files to pass), or - for stdin.
func readEvidencePath(path string, stdin io.Reader, opts evidence.Options) ([]*evidence.Result, error) {
	if path == "-" {
		data, err := io.ReadAll(io.LimitReader(stdin, evidence.MaxRecordBytes+1))
		if err != nil {
			return nil, err
		}
		return []*evidence.Result{evidence.Parse("<stdin>", "stdin", data, opts)}, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", unwrapPath(err))
	}
	if st.IsDir() {
		rs, err := evidence.ReadDir(context.Background(), path, path, opts)
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].Source < rs[j].Source })
		return rs, err
	}
	data, err := evidence.ReadFile(path)
	if err != nil {
		return []*evidence.Result{{Source: path, Origin: path, Problems: []evidence.Problem{{Reason: err.Error()}}}}, nil
	}
	return []*evidence.Result{evidence.Parse(path, path, data, opts)}, nil
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// EvidenceNewCmd prints a record template.
type EvidenceNewCmd struct {
	Drill string `required:"" enum:"source-forge,package-blob,runner-substrate,secret-delivery" help:"Drill kind (${enum})."`
}

// Run prints the template, dated today.
func (c *EvidenceNewCmd) Run(g *Globals) error {
	t, err := evidence.Template(c.Drill, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprint(g.Stdout, t)
	return nil
}
