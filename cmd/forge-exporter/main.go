// Command forge-exporter exports the backup, restore and storage signals of a
// Gitea forge on Kubernetes to Prometheus.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/version"
	"k8s.io/klog/v2"
	// Public TLS roots compiled in, used only where the system has none: the
	// container image is FROM scratch (no CA bundle), yet an HTTPS Gitea must
	// verify. Elsewhere the system's roots win (docs/release.md).
	_ "golang.org/x/crypto/x509roots/fallback"
)

const program = "forge_exporter"

// CLI is the command line. Flags follow the Prometheus naming conventions
// (--config.file, --web.listen-address, --log.level).
type CLI struct {
	LogLevel  string `name:"log.level" default:"info" enum:"debug,info,warn,error" help:"Only log messages with the given severity or above (${enum})."`
	LogFormat string `name:"log.format" default:"logfmt" enum:"logfmt,json" help:"Output format of log messages (${enum})."`
	// --version as every Prometheus exporter has it; the version command stays.
	VersionFlag kong.VersionFlag `name:"version" help:"Print version information and exit."`

	Serve       ServeCmd       `cmd:"" default:"withargs" help:"Serve metrics (the default command)."`
	CheckConfig CheckConfigCmd `cmd:"" name:"check-config" help:"Validate a configuration file and exit 0 (valid) or 1 (invalid)."`
	Evidence    EvidenceCmd    `cmd:"" help:"Validate restore-drill evidence records or print a template."`
	SOPS        SOPSCmd        `cmd:"" name:"sops" help:"Check SOPS-encrypted files without a key (the SOPS sentinel)."`
	Packages    PackagesCmd    `cmd:"" help:"Check the package registry's blobs against its metadata."`
	Trust       TrustCmd       `cmd:"" help:"Ask a running exporter about production-trust gates (for release pipelines)."`
	Version     VersionCmd     `cmd:"" help:"Print version information."`
}

// Globals is what every command gets injected.
type Globals struct {
	Logger *slog.Logger
	Stdout io.Writer
	Stderr io.Writer
}

// VersionCmd prints the version.
type VersionCmd struct{}

// Run prints the version.
func (VersionCmd) Run(g *Globals) error {
	fmt.Fprintln(g.Stdout, version.Print(program))
	return nil
}

// newLogger builds the exporter's logger and routes client-go's klog output
// through it, so that --log.format=json gives a log pipeline one format to
// parse instead of JSON mixed with klog's own text lines. klog's logger is
// process-wide (client-go's choice); the last command started sets it.
func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	logger, err := newPromslog(level, format, w)
	if err != nil {
		return nil, err
	}
	klog.SetSlogLogger(logger.With("component", "client-go"))
	return logger, nil
}

func newPromslog(level, format string, w io.Writer) (*slog.Logger, error) {
	cfg := &promslog.Config{Level: promslog.NewLevel(), Format: promslog.NewFormat(), Writer: w}
	if err := cfg.Level.Set(level); err != nil {
		return nil, err
	}
	if err := cfg.Format.Set(format); err != nil {
		return nil, err
	}
	return promslog.New(cfg), nil
}

// newParser builds the command-line parser; exit is called by --help and
// --version instead of os.Exit so that tests and run keep control.
func newParser(cli *CLI, stdout, stderr io.Writer, exit func(int)) (*kong.Kong, error) {
	return kong.New(cli,
		kong.Name("forge-exporter"),
		kong.Description("Prometheus exporter for a Gitea forge's backup, restore, storage and runner signals."),
		kong.UsageOnError(),
		kong.Vars{"listen": DefaultListenAddress, "version": version.Print(program)},
		kong.Writers(stdout, stderr),
		kong.Exit(exit),
		kong.Help(helpPrinter),
	)
}

// helpPrinter is kong's help, plus, at the top level, the flags of serve:
// `forge-exporter` with no command serves, so its flags are what a user
// runs by default and top-level help must show them.
func helpPrinter(options kong.HelpOptions, ctx *kong.Context) error {
	if err := kong.DefaultHelpPrinter(options, ctx); err != nil {
		return err
	}
	if ctx.Selected() != nil {
		return nil
	}
	var serveHelp strings.Builder
	p, err := newParser(&CLI{}, &serveHelp, io.Discard, func(int) {})
	if err != nil {
		return err
	}
	_, _ = p.Parse([]string{"serve", "--help"})
	text := serveHelp.String()
	i := strings.Index(text, "\nFlags:\n")
	if i < 0 {
		return fmt.Errorf("help: no flags section in serve's help")
	}
	flags := text[i+len("\nFlags:\n"):]
	// kong lists the global flags (shown above already) first, then a blank
	// line, then the command's own.
	if j := strings.Index(flags, "\n\n"); j >= 0 {
		flags = flags[j+2:]
	}
	fmt.Fprint(ctx.Stdout, "\nServe flags (forge-exporter with no command serves metrics):\n"+flags)
	return nil
}

// run parses args and runs the chosen command; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	var cli CLI
	exitCode := -1
	parser, err := newParser(&cli, stdout, stderr, func(code int) { exitCode = code })
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	ctx, err := parser.Parse(args)
	if exitCode >= 0 {
		return exitCode // --help and the like
	}
	if err != nil {
		parser.Errorf("%s", err)
		return 2
	}
	logger, err := newLogger(cli.LogLevel, cli.LogFormat, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	g := &Globals{Logger: logger, Stdout: stdout, Stderr: stderr}
	if err := ctx.Run(g); err != nil {
		// kong wraps the errors commands return, so unwrap with errors.As.
		var code exitError
		if errors.As(err, &code) {
			return int(code)
		}
		logger.Error("exiting", "err", err)
		return 1
	}
	return 0
}

// exitError is returned by commands that already reported their problem.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
