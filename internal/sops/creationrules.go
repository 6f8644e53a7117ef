package sops

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ConfigFileName is the name of sops' configuration file.
const ConfigFileName = ".sops.yaml"

// FindConfig returns the nearest .sops.yaml in dir or a directory above
// it, or "" when there is none.
func FindConfig(dir string) string {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, ConfigFileName)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// ErrNoCreationRule is returned when no creation rule of a .sops.yaml
// matches a file.
var ErrNoCreationRule = errors.New("no creation rule matches the file")

// ExpectedFromConfig returns the recipients the creation rule of the sops
// configuration at configPath gives the file at filePath: the recipients
// sops encrypts a new file to, and the set `sops updatekeys` converges on.
// As in sops, the first rule whose path_regex matches the file's path
// relative to the configuration's directory (or that has no path_regex)
// applies.
func ExpectedFromConfig(configPath, filePath string) ([]Recipient, error) {
	data, err := os.ReadFile(configPath)
	if err != nil {
		return nil, err
	}
	var conf struct {
		CreationRules []struct {
			PathRegex     string     `yaml:"path_regex"`
			KMS           any        `yaml:"kms"`
			Age           any        `yaml:"age"`
			PGP           any        `yaml:"pgp"`
			GCPKMS        any        `yaml:"gcp_kms"`
			HCKMS         any        `yaml:"hckms"`
			AzureKeyVault any        `yaml:"azure_keyvault"`
			VaultURI      any        `yaml:"hc_vault_transit_uri"`
			KeyGroups     []keyGroup `yaml:"key_groups"`
		} `yaml:"creation_rules"`
	}
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&conf); err != nil {
		return nil, fmt.Errorf("%s: %w", configPath, yamlError(YAML, err))
	}
	dir, err := filepath.Abs(filepath.Dir(configPath))
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(filePath)
	if err != nil {
		return nil, err
	}
	rel := strings.TrimPrefix(abs, dir+string(filepath.Separator))
	for i, r := range conf.CreationRules {
		if r.PathRegex != "" {
			re, err := regexp.Compile(r.PathRegex)
			if err != nil {
				return nil, fmt.Errorf("%s: creation_rules[%d].path_regex is not a valid regular expression", configPath, i)
			}
			if !re.MatchString(rel) {
				continue
			}
		}
		var out []Recipient
		add := func(typ string, ids []string) {
			for _, id := range ids {
				if id = NormalizeRecipient(typ, id); id != "" {
					out = append(out, Recipient{Type: typ, ID: id})
				}
			}
		}
		if len(r.KeyGroups) > 0 {
			for _, g := range r.KeyGroups {
				g.add(add)
			}
		} else {
			add("age", commaList(r.Age))
			add("pgp", commaList(r.PGP))
			add("kms", commaList(r.KMS))
			add("gcp_kms", commaList(r.GCPKMS))
			add("hckms", commaList(r.HCKMS))
			add("azure_kv", commaList(r.AzureKeyVault))
			add("hc_vault", commaList(r.VaultURI))
		}
		return dedupe(out), nil
	}
	return nil, fmt.Errorf("%s: %w", configPath, ErrNoCreationRule)
}

// keyGroup is a creation rule's key group (with sops' merge of nested groups).
type keyGroup struct {
	Merge  []keyGroup `yaml:"merge"`
	KMS    []struct{ Arn, Role string }
	GCPKMS []struct {
		ResourceID string `yaml:"resource_id"`
	} `yaml:"gcp_kms"`
	HCKMS []struct {
		KeyID string `yaml:"key_id"`
	} `yaml:"hckms"`
	AzureKV []struct {
		VaultURL string `yaml:"vaultUrl"`
		Key      string `yaml:"key"`
		Version  string `yaml:"version"`
	} `yaml:"azure_keyvault"`
	Vault []string `yaml:"hc_vault"`
	Age   []string `yaml:"age"`
	PGP   []string `yaml:"pgp"`
}

func (g keyGroup) add(add func(typ string, ids []string)) {
	for _, m := range g.Merge {
		m.add(add)
	}
	add("age", g.Age)
	add("pgp", g.PGP)
	add("hc_vault", g.Vault)
	for _, k := range g.KMS {
		id := k.Arn
		if k.Role != "" {
			id += "+" + k.Role
		}
		add("kms", []string{id})
	}
	for _, k := range g.GCPKMS {
		add("gcp_kms", []string{k.ResourceID})
	}
	for _, k := range g.HCKMS {
		add("hckms", []string{k.KeyID})
	}
	for _, k := range g.AzureKV {
		id := strings.TrimSuffix(k.VaultURL, "/") + "/keys/" + k.Key
		if k.Version != "" {
			id += "/" + k.Version
		}
		add("azure_kv", []string{id})
	}
}

// commaList reads a creation rule field that is a comma-separated string
// or a list of strings.
func commaList(v any) []string {
	var out []string
	switch t := v.(type) {
	case string:
		for _, s := range strings.Split(t, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	case []any:
		for _, e := range t {
			out = append(out, commaList(e)...)
		}
	}
	return out
}

func dedupe(rs []Recipient) []Recipient {
	seen := map[Recipient]bool{}
	out := rs[:0]
	for _, r := range rs {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	sortRecipients(out)
	return out
}
