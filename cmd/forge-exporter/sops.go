package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/secretscan"
	"github.com/railiance/forge-exporter/internal/sops"
)

// SOPSCmd groups the SOPS sentinel's commands.
type SOPSCmd struct {
	Check SOPSCheckCmd `cmd:"" help:"Check SOPS files without a key: fully encrypted, no secret left in plaintext, the expected recipients; exit 1 on any problem (usable as a pre-commit hook and as make check-sops)."`
}

// SOPSCheckCmd checks SOPS files given on the command line.
type SOPSCheckCmd struct {
	Files      []string `arg:"" name:"file" help:"SOPS files (.yaml, .yml, .json, .env), or - for standard input (with --format)."`
	Format     string   `enum:",yaml,json,dotenv" default:"" help:"Format of every file (yaml, json, dotenv); by default guessed from each file's name."`
	Age        []string `name:"age" sep:"," help:"Expected age recipients (comma-separated); with --pgp, replaces the other sources of the expected set."`
	PGP        []string `name:"pgp" sep:"," help:"Expected PGP fingerprints (comma-separated)."`
	SOPSConfig string   `name:"sops-config" help:"Take each file's expected recipients from the creation rule of this .sops.yaml (by default the nearest .sops.yaml above each file, if any)."`
	ConfigFile string   `name:"config.file" help:"Take the expected recipients from this exporter configuration: the sops.files entry with the file's path, else sops.expected_recipients."`
	Quiet      bool     `short:"q" help:"Print only problems and the summary."`
}

// Run checks each file and prints its verdict. A problem names the key
// path and line, never a value.
func (c *SOPSCheckCmd) Run(g *Globals) error {
	format := sops.Unknown
	if c.Format != "" {
		format, _ = sops.ParseFormat(c.Format)
	}
	var cfg *config.Config
	if c.ConfigFile != "" {
		var err error
		if cfg, err = loadConfig(c.ConfigFile); err != nil {
			fmt.Fprintln(g.Stderr, err)
			return exitError(2)
		}
	}
	var flagged []sops.Recipient
	for _, a := range c.Age {
		flagged = append(flagged, sops.Recipient{Type: "age", ID: a})
	}
	for _, p := range c.PGP {
		flagged = append(flagged, sops.Recipient{Type: "pgp", ID: p})
	}
	scanner := secretscan.New()
	failed := 0
	for _, name := range c.Files {
		data, err := readSOPSArg(name, os.Stdin)
		if err != nil {
			fmt.Fprintf(g.Stdout, "%s: FAIL\n  cannot read: %v\n", name, unwrapPath(err))
			failed++
			continue
		}
		expected, from, err := c.expected(name, flagged, cfg)
		if err != nil {
			fmt.Fprintf(g.Stdout, "%s: FAIL\n  expected recipients: %v\n", name, err)
			failed++
			continue
		}
		r := sops.Check(name, data, sops.Options{Format: format, Expected: expected, Scanner: scanner})
		if !r.OK() {
			failed++
			fmt.Fprintf(g.Stdout, "%s: FAIL\n", name)
			for _, m := range r.Messages() {
				fmt.Fprintf(g.Stdout, "  %s\n", m)
			}
			continue
		}
		if !c.Quiet {
			fmt.Fprintf(g.Stdout, "%s: ok (%s)\n", name, summary(r, from))
		}
	}
	fmt.Fprintf(g.Stdout, "%d SOPS files: %d ok, %d failed\n", len(c.Files), len(c.Files)-failed, failed)
	if failed > 0 {
		return exitError(1)
	}
	return nil
}

// summary describes a file that passed.
func summary(r *sops.Report, from string) string {
	parts := []string{r.Format.String(), fmt.Sprintf("%d values encrypted", r.Encrypted)}
	if n := len(r.Unencrypted); n > 0 {
		parts = append(parts, fmt.Sprintf("%d left in plaintext by %s", n, r.Rule))
	}
	var byType []string
	for _, t := range sops.RecipientTypes() {
		if n := sops.CountByType(r.Recipients)[t]; n > 0 {
			byType = append(byType, fmt.Sprintf("%d %s", n, t))
		}
	}
	rec := "recipients " + strings.Join(byType, ", ")
	if from == "" {
		rec += " (not compared: no .sops.yaml, --age/--pgp or --config.file)"
	} else {
		rec += " as " + from + " expects"
	}
	parts = append(parts, rec)
	if r.Version != "" {
		parts = append(parts, "sops "+r.Version)
	}
	parts = append(parts, "last modified "+r.LastModified.UTC().Format("2006-01-02T15:04:05Z"))
	return strings.Join(parts, ", ")
}

// expected returns a file's expected recipients and where they come from
// ("" and nil when nothing says).
func (c *SOPSCheckCmd) expected(name string, flagged []sops.Recipient, cfg *config.Config) ([]sops.Recipient, string, error) {
	if len(flagged) > 0 {
		return flagged, "--age/--pgp", nil
	}
	if cfg != nil {
		abs, _ := filepath.Abs(name)
		for _, f := range cfg.SOPS.Files {
			if f.Path != "" && f.Path == abs {
				return cfg.SOPS.Expected(f), c.ConfigFile + " (sops.files " + f.Name + ")", nil
			}
		}
		if l := cfg.SOPS.ExpectedRecipients.List(); len(l) > 0 {
			return l, c.ConfigFile, nil
		}
		return nil, "", fmt.Errorf("%s sets no sops.expected_recipients", c.ConfigFile)
	}
	conf := c.SOPSConfig
	if conf == "" && name != "-" {
		conf = sops.FindConfig(filepath.Dir(name))
	}
	if conf == "" {
		return nil, "", nil
	}
	rs, err := sops.ExpectedFromConfig(conf, name)
	if err != nil {
		return nil, "", err
	}
	return rs, conf, nil
}

// readSOPSArg reads a file argument, or standard input for "-".
func readSOPSArg(name string, stdin io.Reader) ([]byte, error) {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, sops.MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	return data, nil
}
