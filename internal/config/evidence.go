package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/railiance/forge-exporter/internal/evidence"
	"github.com/railiance/forge-exporter/internal/secretscan"
)

// Evidence configures where restore-drill evidence records are read from.
type Evidence struct {
	// Directories are scanned for records (one record per .yaml/.yml/.json
	// file, recursively, hidden directories skipped).
	Directories []EvidenceDirectory `yaml:"directories"`
	// ConfigMapLabelSelector selects ConfigMaps holding records (needs kubernetes).
	ConfigMapLabelSelector string `yaml:"configmap_label_selector"`
	// Interval is how often the sources are re-read.
	Interval Duration `yaml:"interval"`
	// Drills lists the drill kinds and how old their last success may be.
	Drills []Drill `yaml:"drills"`
}

// EvidenceDirectory is a directory of records; Name labels its metrics
// (a path would differ between machines and checkouts).
type EvidenceDirectory struct {
	Name string `yaml:"name"`
	Path string `yaml:"path"`
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
	if e.Interval < Duration(time.Second) {
		p.add(path+".interval", "must be at least 1s, got %s", e.Interval)
	}
	names := map[string]bool{"configmap": true} // the ConfigMap source's label
	for i := range e.Directories {
		d := &e.Directories[i]
		dp := fmt.Sprintf("%s.directories[%d]", path, i)
		if d.Name == "configmap" {
			p.add(dp+".name", `"configmap" is reserved for records read from ConfigMaps`)
		} else {
			requireName(p, dp+".name", d.Name, names)
		}
		requirePath(p, dp+".path", &d.Path)
	}
	seen := map[string]bool{}
	for i, d := range e.Drills {
		dp := fmt.Sprintf("%s.drills[%d]", path, i)
		requireName(p, dp+".kind", d.Kind, seen)
		if d.Kind != "" && !contains(evidence.Kinds(), d.Kind) {
			p.add(dp+".kind", "%q is not a drill kind of the contract (one of %s)", d.Kind, strings.Join(evidence.Kinds(), ", "))
		}
		if d.MaxAge <= 0 {
			p.add(dp+".max_age", "is required and must be positive")
		}
	}
}

// Asset is one protected asset of the contract's inventory, with what its
// seven production-trust gates need. Every field holds names and procedures,
// never secret values: the fields are scanned for secret material and a
// finding is a configuration error.
type Asset struct {
	Name string `yaml:"name"`
	// Description says what the asset is (the contract's "current anchor").
	Description string `yaml:"description"`
	// BackupMechanism names the mechanism that backs the asset up (gate
	// "backup mechanism identified"; a live signal replaces it when linked).
	BackupMechanism string `yaml:"backup_mechanism"`
	// ConsumerVerification is the command a consumer runs after a restore
	// (gate "consumer verification command recorded").
	ConsumerVerification string `yaml:"consumer_verification"`
	// SecretCustody lists where the asset's secrets live, by name only:
	// Kubernetes namespace/Secret names, OpenBao paths, SOPS file paths
	// (gate "secret custody path documented without live values").
	SecretCustody []string `yaml:"secret_custody"`
	// Rollback documents the rollback or disable path (gate "rollback or
	// disable path documented").
	Rollback string `yaml:"rollback"`
	// StorageGrowth documents how growth is inspected (gate "storage growth
	// inspection procedure"; measured directories/volumes replace it).
	StorageGrowth string `yaml:"storage_growth"`
	// NextDrillOwner owns the next restore drill (gate "owner for the next
	// restore drill").
	NextDrillOwner string `yaml:"next_drill_owner"`
	// Drills are the drill kinds that must cover the asset (gate "restore
	// drill completed").
	Drills []string `yaml:"drills"`
	// Signals link the asset to live signals.
	Signals AssetSignals `yaml:"signals"`
}

// AssetSignals link an asset to what the exporter observes.
type AssetSignals struct {
	// CNPGClusters (namespace/name) must have a ScheduledBackup.
	CNPGClusters []string `yaml:"cnpg_clusters"`
	// PersistentVolumeClaims (namespace/name) must have a volume backup.
	PersistentVolumeClaims []string `yaml:"persistentvolumeclaims"`
	// Directories and Volumes name storage.directories and storage.volumes
	// entries whose growth the exporter measures.
	Directories []string `yaml:"directories"`
	Volumes     []string `yaml:"volumes"`
	// SOPSFiles name sops.files entries: the secret custody gate then
	// holds only while each of them is a sound SOPS file (readable, fully
	// encrypted, no secret left in plaintext, the expected recipients).
	SOPSFiles []string `yaml:"sops_files"`
}

// assetScanner checks asset fields for secret material.
var assetScanner = secretscan.New()

var namespacedNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?/[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)

func (a *Asset) validate(p *problems, path string) {
	if a.Name == "" {
		p.add(path+".name", "is required")
	} else if !nameRE.MatchString(a.Name) {
		p.add(path+".name", "%q must match %s", a.Name, nameRE.String())
	}
	text := map[string]string{
		"description":           a.Description,
		"backup_mechanism":      a.BackupMechanism,
		"consumer_verification": a.ConsumerVerification,
		"rollback":              a.Rollback,
		"storage_growth":        a.StorageGrowth,
		"next_drill_owner":      a.NextDrillOwner,
	}
	for _, key := range []string{"description", "backup_mechanism", "consumer_verification", "rollback", "storage_growth", "next_drill_owner"} {
		noSecret(p, path+"."+key, key, text[key], false)
	}
	for i, c := range a.SecretCustody {
		cp := fmt.Sprintf("%s.secret_custody[%d]", path, i)
		if strings.TrimSpace(c) == "" {
			p.add(cp, "must not be empty")
			continue
		}
		noSecret(p, cp, "secret_custody", c, true)
	}
	seen := map[string]bool{}
	for i, d := range a.Drills {
		dp := fmt.Sprintf("%s.drills[%d]", path, i)
		switch {
		case !contains(evidence.Kinds(), d):
			p.add(dp, "%q is not a drill kind of the contract (one of %s)", d, strings.Join(evidence.Kinds(), ", "))
		case seen[d]:
			p.add(dp, "duplicate drill kind %q", d)
		}
		seen[d] = true
	}
	for field, list := range map[string][]string{"cnpg_clusters": a.Signals.CNPGClusters, "persistentvolumeclaims": a.Signals.PersistentVolumeClaims} {
		for i, ref := range list {
			if !namespacedNameRE.MatchString(ref) {
				p.add(fmt.Sprintf("%s.signals.%s[%d]", path, field, i), "%q must be namespace/name", ref)
			}
		}
	}
}

// noSecret reports secret material in a field without ever echoing it.
// strict applies to fields that hold only names (secret custody), where any
// random-looking token is refused.
func noSecret(p *problems, path, key, value string, strict bool) {
	if f := assetScanner.ScanValue(path, key, value); len(f) > 0 {
		p.add(path, "looks like secret material (detector %s): record names and paths only, never values", f[0].Detector)
		return
	}
	if strict {
		if det, bad := assetScanner.LooksLikeSecret(value); bad {
			p.add(path, "looks like secret material (detector %s): record names only (namespace/Secret name, OpenBao path, SOPS file path)", det)
		}
	}
}

// validateAssetRefs checks what assets refer to elsewhere in the file:
// drill kinds need a policy (max_age) and signal names need the storage
// entries they name.
func (c *Config) validateAssetRefs(p *problems) {
	drills := map[string]bool{}
	for _, d := range c.Evidence.Drills {
		drills[d.Kind] = true
	}
	dirs, vols, sopsFiles := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, f := range c.SOPS.Files {
		sopsFiles[f.Name] = true
	}
	for _, d := range c.Storage.Directories {
		dirs[d.Name] = true
	}
	for _, v := range c.Storage.Volumes {
		vols[v.Name] = true
	}
	for i, a := range c.Assets {
		path := fmt.Sprintf("assets[%d]", i)
		for j, d := range a.Drills {
			if contains(evidence.Kinds(), d) && !drills[d] {
				p.add(fmt.Sprintf("%s.drills[%d]", path, j), "drill kind %q has no evidence.drills entry (its max_age is needed)", d)
			}
		}
		for j, n := range a.Signals.Directories {
			if !dirs[n] {
				p.add(fmt.Sprintf("%s.signals.directories[%d]", path, j), "%q is not a storage.directories name", n)
			}
		}
		for j, n := range a.Signals.Volumes {
			if !vols[n] {
				p.add(fmt.Sprintf("%s.signals.volumes[%d]", path, j), "%q is not a storage.volumes name", n)
			}
		}
		for j, n := range a.Signals.SOPSFiles {
			if !sopsFiles[n] {
				p.add(fmt.Sprintf("%s.signals.sops_files[%d]", path, j), "%q is not a sops.files name", n)
			}
		}
	}
}
