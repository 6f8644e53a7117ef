package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Gitea configures API access for the gitea, runners and registry collectors.
type Gitea struct {
	URL string `yaml:"url"`
	// TokenFile holds the API token (a mounted Secret); it is re-read when it changes.
	TokenFile string `yaml:"token_file"`
	// Timeout bounds each API request.
	Timeout Duration `yaml:"timeout"`
	// RequestsPerSecond is a client-side rate limit for sweeps.
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	// Interval is how often runners and packages are swept.
	Interval Duration `yaml:"interval"`
	// LabelContract lists the semantic runner labels the forge promises.
	LabelContract []RunnerLabel `yaml:"label_contract"`
	// PackageOwners limits the registry sweep; empty discovers owners through the admin API.
	PackageOwners []string `yaml:"package_owners"`
	// PackageFilesRecheck re-lists the files of a package version already
	// seen after this long (container tags can be re-pushed); 0 means 24h.
	PackageFilesRecheck Duration `yaml:"package_files_recheck"`
}

// RunnerLabel is one entry of the runner label contract.
type RunnerLabel struct {
	Label   string `yaml:"label"`
	Purpose string `yaml:"purpose"`
	// MinOnlineRunners is how many online runners must carry the label;
	// unset means 1, 0 declares a known label that needs no runner.
	MinOnlineRunners *int `yaml:"min_online_runners"`
}

// Required returns the minimum number of online runners for the label.
func (l RunnerLabel) Required() int {
	if l.MinOnlineRunners == nil {
		return 1
	}
	return *l.MinOnlineRunners
}

func (g *Gitea) validate(p *problems, path string) {
	if g.Timeout == 0 {
		g.Timeout = Duration(10 * time.Second)
	}
	if g.Interval == 0 {
		g.Interval = Duration(time.Minute)
	}
	if g.RequestsPerSecond == 0 {
		g.RequestsPerSecond = 10
	}
	if g.PackageFilesRecheck == 0 {
		g.PackageFilesRecheck = Duration(24 * time.Hour)
	}
	if g.Timeout < 0 {
		p.add(path+".timeout", "must be positive, got %s", g.Timeout)
	}
	if g.Interval < Duration(time.Second) {
		p.add(path+".interval", "must be at least 1s, got %s", g.Interval)
	}
	if g.PackageFilesRecheck < 0 {
		p.add(path+".package_files_recheck", "must be positive, got %s", g.PackageFilesRecheck)
	}
	if g.URL != "" {
		u, err := url.Parse(g.URL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			p.add(path+".url", "must be an http:// or https:// URL")
		case u.User != nil:
			// Never echo the URL: it carries credentials.
			p.add(path+".url", "must not contain credentials; set token_file instead")
		}
		if g.TokenFile == "" {
			p.add(path+".token_file", "is required when url is set")
		}
	}
	if g.TokenFile != "" {
		requirePath(p, path+".token_file", &g.TokenFile)
	}
	if g.RequestsPerSecond < 0 {
		p.add(path+".requests_per_second", "must be positive")
	}
	seen := map[string]bool{}
	for i, l := range g.LabelContract {
		lp := fmt.Sprintf("%s.label_contract[%d]", path, i)
		if l.Label == "" {
			p.add(lp+".label", "is required")
		} else if strings.TrimSpace(l.Label) != l.Label || strings.ContainsAny(l.Label, " \t\n,") {
			p.add(lp+".label", "%q must not contain spaces or commas (a runner label is one word, e.g. ubuntu-latest)", l.Label)
		} else if seen[l.Label] {
			p.add(lp+".label", "duplicate label %q", l.Label)
		}
		seen[l.Label] = true
		if l.Required() < 0 {
			p.add(lp+".min_online_runners", "must not be negative")
		}
	}
	owners := map[string]bool{}
	for i, o := range g.PackageOwners {
		op := fmt.Sprintf("%s.package_owners[%d]", path, i)
		switch {
		case o == "":
			p.add(op, "must not be empty")
		case strings.ContainsAny(o, "/ \t\n?#%"):
			p.add(op, "%q is not a Gitea user or organisation name", o)
		case owners[o]:
			p.add(op, "duplicate owner %q", o)
		}
		owners[o] = true
	}
}
