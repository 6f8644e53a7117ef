// Command forge-exporter exports the backup, restore and storage signals of a
// Gitea forge on Kubernetes to Prometheus.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/alecthomas/kong"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/version"
)

const program = "forge_exporter"

// CLI is the command line. Flags follow the Prometheus naming conventions
// (--config.file, --web.listen-address, --log.level).
type CLI struct {
	LogLevel  string `name:"log.level" default:"info" enum:"debug,info,warn,error" help:"Only log messages with the given severity or above (${enum})."`
	LogFormat string `name:"log.format" default:"logfmt" enum:"logfmt,json" help:"Output format of log messages (${enum})."`

	Serve       ServeCmd       `cmd:"" default:"withargs" help:"Serve metrics (the default command)."`
	CheckConfig CheckConfigCmd `cmd:"" name:"check-config" help:"Validate a configuration file and exit 0 (valid) or 1 (invalid)."`
	Evidence    EvidenceCmd    `cmd:"" help:"Validate restore-drill evidence records or print a template."`
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

func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	cfg := &promslog.Config{Level: promslog.NewLevel(), Format: promslog.NewFormat(), Writer: w}
	if err := cfg.Level.Set(level); err != nil {
		return nil, err
	}
	if err := cfg.Format.Set(format); err != nil {
		return nil, err
	}
	return promslog.New(cfg), nil
}

// run parses args and runs the chosen command; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	var cli CLI
	exitCode := -1
	parser, err := kong.New(&cli,
		kong.Name("forge-exporter"),
		kong.Description("Prometheus exporter for a Gitea forge's backup, restore, storage and runner signals."),
		kong.UsageOnError(),
		kong.Vars{"listen": DefaultListenAddress},
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { exitCode = code }),
	)
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
