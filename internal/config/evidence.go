package config

import (
	"fmt"
	"time"
)

// Evidence configures where restore-drill evidence records are read from.
type Evidence struct {
	// Directories are scanned for records (one record per .yaml/.yml/.json file).
	Directories []string `yaml:"directories"`
	// ConfigMapLabelSelector selects ConfigMaps holding records (needs kubernetes).
	ConfigMapLabelSelector string `yaml:"configmap_label_selector"`
	// Interval is how often the sources are re-read.
	Interval Duration `yaml:"interval"`
	// Drills lists the drill kinds and how old their last success may be.
	Drills []Drill `yaml:"drills"`
}

// Drill is one kind of restore drill from the contract.
type Drill struct {
	Kind   string   `yaml:"kind"`
	MaxAge Duration `yaml:"max_age"`
}

func (e *Evidence) validate(p *problems, path string) {
	if e.Interval == 0 {
		e.Interval = Duration(time.Minute)
	}
	for i := range e.Directories {
		requirePath(p, fmt.Sprintf("%s.directories[%d]", path, i), &e.Directories[i])
	}
	seen := map[string]bool{}
	for i, d := range e.Drills {
		dp := fmt.Sprintf("%s.drills[%d]", path, i)
		requireName(p, dp+".kind", d.Kind, seen)
		if d.MaxAge <= 0 {
			p.add(dp+".max_age", "is required and must be positive")
		}
	}
}

// Asset is one protected asset of the contract's inventory.
type Asset struct {
	Name string `yaml:"name"`
}

func (a *Asset) validate(p *problems, path string) {
	if a.Name == "" {
		p.add(path+".name", "is required")
	} else if !nameRE.MatchString(a.Name) {
		p.add(path+".name", "%q must match %s", a.Name, nameRE.String())
	}
}
