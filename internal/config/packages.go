package config

import "time"

// Packages configures the package blob check (packageblobs collector) on
// Gitea's local package storage.
type Packages struct {
	// BlobDir is Gitea's local package storage: [storage.packages] PATH,
	// by default APP_DATA_PATH/packages (/data/gitea/packages in the
	// container image, /data/packages on the seed's volume). Object-storage
	// package backends are not covered.
	BlobDir string `yaml:"blob_dir"`
	// CheckInterval is the pause between two consistency checks.
	CheckInterval Duration `yaml:"check_interval"`
	// MaxCheckDuration abandons a check; the previous result stays exported.
	MaxCheckDuration Duration `yaml:"max_check_duration"`
	// CheckConcurrency is the number of top-level blob directories read at once.
	CheckConcurrency int `yaml:"check_concurrency"`
}

func (k *Packages) validate(p *problems, path string) {
	if k.CheckInterval == 0 {
		k.CheckInterval = Duration(15 * time.Minute)
	}
	if k.MaxCheckDuration == 0 {
		k.MaxCheckDuration = Duration(10 * time.Minute)
	}
	if k.CheckConcurrency == 0 {
		k.CheckConcurrency = 4
	}
	if k.CheckInterval < Duration(time.Second) {
		p.add(path+".check_interval", "must be at least 1s, got %s", k.CheckInterval)
	}
	if k.MaxCheckDuration < 0 {
		p.add(path+".max_check_duration", "must be positive, got %s", k.MaxCheckDuration)
	}
	if k.CheckConcurrency < 0 || k.CheckConcurrency > 256 {
		p.add(path+".check_concurrency", "must be between 1 and 256 (0 is the default, 4), got %d", k.CheckConcurrency)
	}
	if k.BlobDir != "" {
		requirePath(p, path+".blob_dir", &k.BlobDir)
	}
}
