package main

import (
	"fmt"

	"github.com/railiance/forge-exporter/collectors"
	"github.com/railiance/forge-exporter/internal/config"
)

// CheckConfigCmd validates a configuration file.
type CheckConfigCmd struct {
	ConfigFile string `name:"config.file" default:"forge-exporter.yaml" help:"Configuration file to check."`
}

// Run validates the file and prints every problem found.
func (c *CheckConfigCmd) Run(g *Globals) error {
	if _, err := loadConfig(c.ConfigFile); err != nil {
		fmt.Fprintln(g.Stderr, err)
		return exitError(1)
	}
	fmt.Fprintf(g.Stdout, "%s: valid\n", c.ConfigFile)
	return nil
}

// loadConfig loads the file and checks the parts only the binary knows
// about (collector names).
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if err := cfg.CheckCollectorNames(path, collectors.Names(collectors.Specs())); err != nil {
		return nil, err
	}
	return cfg, nil
}
