package config

import (
	"fmt"
	"path/filepath"
	"time"
)

// Storage configures the volume (statfs) and directory (tree walk) collectors.
type Storage struct {
	Volumes     []Volume    `yaml:"volumes"`
	Directories []Directory `yaml:"directories"`
	// ScanInterval is how often each directory tree is walked.
	ScanInterval Duration `yaml:"scan_interval"`
	// MaxScanDuration abandons a walk that takes longer; the previous result is kept.
	MaxScanDuration Duration `yaml:"max_scan_duration"`
	// ScanConcurrency bounds parallel directory reads; 0 sizes it for the machine.
	ScanConcurrency int `yaml:"scan_concurrency"`
	// FullScanInterval forces a scan that reuses nothing from the previous
	// ones at least this often, bounding how stale an incremental total can
	// be when a file is rewritten in place. 0 means the default (1h).
	FullScanInterval Duration `yaml:"full_scan_interval"`
	// ScanCacheMaxDirs bounds the per-directory cache of each incremental
	// directory (about 200 bytes per directory). 0 means the default.
	ScanCacheMaxDirs int `yaml:"scan_cache_max_dirs"`
}

// Volume is a mounted filesystem and the PVC identity it belongs to.
type Volume struct {
	Name                  string `yaml:"name"`
	Path                  string `yaml:"path"`
	Namespace             string `yaml:"namespace"`
	PersistentVolumeClaim string `yaml:"persistentvolumeclaim"`
}

// Directory is a subtree whose size, file count and growth are measured.
type Directory struct {
	Name string `yaml:"name"`
	Path string `yaml:"path"`
	// Incremental reuses unchanged directories between scans (default true).
	// Right for trees whose files are never rewritten in place, such as
	// content-addressed blobs; set it to false for a directory whose files
	// grow in place (chunked uploads).
	Incremental *bool `yaml:"incremental"`
}

// IsIncremental reports whether the directory is scanned incrementally.
func (d Directory) IsIncremental() bool { return d.Incremental == nil || *d.Incremental }

func (s *Storage) validate(p *problems, path string) {
	if s.ScanInterval == 0 {
		s.ScanInterval = Duration(5 * time.Minute)
	}
	if s.MaxScanDuration == 0 {
		s.MaxScanDuration = Duration(10 * time.Minute)
	}
	if s.FullScanInterval == 0 {
		s.FullScanInterval = Duration(time.Hour)
	}
	if s.ScanCacheMaxDirs < 0 {
		p.add(path+".scan_cache_max_dirs", "must not be negative (0 is the default), got %d", s.ScanCacheMaxDirs)
	}
	if s.ScanInterval < Duration(time.Second) {
		p.add(path+".scan_interval", "must be at least 1s, got %s", s.ScanInterval)
	}
	if s.ScanConcurrency < 0 || s.ScanConcurrency > 256 {
		p.add(path+".scan_concurrency", "must be between 0 (auto) and 256, got %d", s.ScanConcurrency)
	}
	names := map[string]bool{}
	for i := range s.Volumes {
		v := &s.Volumes[i]
		vp := fmt.Sprintf("%s.volumes[%d]", path, i)
		requireName(p, vp+".name", v.Name, names)
		requirePath(p, vp+".path", &v.Path)
	}
	names = map[string]bool{}
	for i := range s.Directories {
		d := &s.Directories[i]
		dp := fmt.Sprintf("%s.directories[%d]", path, i)
		requireName(p, dp+".name", d.Name, names)
		requirePath(p, dp+".path", &d.Path)
	}
}

// requireName checks a label-safe, unique name.
func requireName(p *problems, path, name string, seen map[string]bool) {
	switch {
	case name == "":
		p.add(path, "is required")
	case !nameRE.MatchString(name):
		p.add(path, "%q must match %s", name, nameRE.String())
	case seen[name]:
		p.add(path, "duplicate name %q", name)
	}
	seen[name] = true
}

// requirePath checks that a path is set and makes it absolute: a relative
// path is taken relative to the config file's directory, never to the
// process's working directory.
func requirePath(p *problems, path string, value *string) {
	if *value == "" {
		p.add(path, "is required")
		return
	}
	if !filepath.IsAbs(*value) {
		abs, err := filepath.Abs(filepath.Join(p.dir, *value))
		if err != nil {
			p.add(path, "cannot resolve %q: %v", *value, err)
			return
		}
		*value = abs
	}
	*value = filepath.Clean(*value)
}
