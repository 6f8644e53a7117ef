// Package config loads and validates the forge-exporter configuration file.
//
// Decoding is strict: an unknown key, a wrong type or an invalid value is an
// error that names the file, the key path and the reason, so a broken config
// never starts an exporter that silently ignores half of it. Secrets are only
// ever referenced by file path (keys ending in _file); an inline secret is
// rejected with a message that says what to do instead.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration file.
type Config struct {
	// Collectors enables or disables collectors by name; a collector not
	// listed keeps its default.
	Collectors map[string]bool `yaml:"collectors"`
	Storage    Storage         `yaml:"storage"`
	Kubernetes Kubernetes      `yaml:"kubernetes"`
	Gitea      Gitea           `yaml:"gitea"`
	Packages   Packages        `yaml:"packages"`
	Evidence   Evidence        `yaml:"evidence"`
	SOPS       SOPS            `yaml:"sops"`
	Assets     []Asset         `yaml:"assets"`
}

// Error is a list of problems found in one configuration file.
type Error struct {
	File     string
	Problems []string
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return fmt.Sprintf("config file %q: %s", e.File, e.Problems[0])
	}
	return fmt.Sprintf("config file %q: %d problems:\n  %s", e.File, len(e.Problems), strings.Join(e.Problems, "\n  "))
}

// problems collects validation errors, each prefixed with its key path.
type problems struct {
	list []string
	// dir is the config file's directory; relative paths are resolved
	// against it, as Prometheus does, so a config and its data move together.
	dir string
}

func (p *problems) add(path, format string, args ...any) {
	p.list = append(p.list, path+": "+fmt.Sprintf(format, args...))
}

// Load reads, decodes and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file %q: %w", path, err)
	}
	return Parse(path, data)
}

// Parse decodes and validates data; name is used in error messages.
func Parse(name string, data []byte) (*Config, error) {
	cfg := &Config{}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{File: name, Problems: []string{yamlSyntax(err)}}
	}
	if len(bytes.TrimSpace(data)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(cfg); err != nil {
			return nil, &Error{File: name, Problems: typeProblems(err, &root)}
		}
	}
	p := problems{dir: filepath.Dir(name)}
	cfg.validate(&p)
	if len(p.list) > 0 {
		return nil, &Error{File: name, Problems: p.list}
	}
	return cfg, nil
}

func (c *Config) validate(p *problems) {
	c.Storage.validate(p, "storage")
	c.Kubernetes.validate(p, "kubernetes")
	c.Gitea.validate(p, "gitea")
	c.Packages.validate(p, "packages")
	c.Evidence.validate(p, "evidence")
	c.SOPS.validate(p, "sops", c.Gitea.URL != "")
	seen := map[string]bool{}
	for i, a := range c.Assets {
		path := fmt.Sprintf("assets[%d]", i)
		a.validate(p, path)
		if seen[a.Name] {
			p.add(path+".name", "duplicate asset %q", a.Name)
		}
		seen[a.Name] = true
	}
	c.validateAssetRefs(p)
	c.validateWatchedNamespaces(p)
}

// CheckCollectorNames reports collectors named in the file that do not exist.
// The config package does not know the collector list; the caller passes it.
func (c *Config) CheckCollectorNames(name string, known []string) error {
	var bad []string
	for n := range c.Collectors {
		if !contains(known, n) {
			bad = append(bad, fmt.Sprintf("collectors.%s: unknown collector (known: %s)", n, strings.Join(known, ", ")))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return &Error{File: name, Problems: bad}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

var lineRE = regexp.MustCompile(`^line (\d+): (.*)$`)
var unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type \S+$`)

// secretKeyRE matches key names that would carry a secret inline.
var secretKeyRE = regexp.MustCompile(`(?i)(token|password|passwd|secret|api_?key|credential|private_key)$`)

// typeProblems turns yaml.v3 decode errors ("line 7: field x not found in
// type config.Gitea") into key-path messages ("gitea.x: unknown key").
func typeProblems(err error, root *yaml.Node) []string {
	msgs := []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	lines := keyPaths(root)
	var out []string
	for _, msg := range msgs {
		m := lineRE.FindStringSubmatch(msg)
		if m == nil {
			out = append(out, msg)
			continue
		}
		var line int
		fmt.Sscan(m[1], &line)
		path := lines[line]
		if path == "" {
			path = "line " + m[1]
		}
		reason := m[2]
		if f := unknownFieldRE.FindStringSubmatch(reason); f != nil {
			if secretKeyRE.MatchString(f[1]) {
				reason = fmt.Sprintf("secrets are never accepted inline; put the value in a file (a mounted Secret) and set %s_file to its path", strings.TrimSuffix(path, "."+f[1])+"."+f[1])
			} else {
				reason = "unknown key"
			}
		} else {
			reason = strings.ReplaceAll(reason, "!!str", "string")
			reason = strings.ReplaceAll(reason, "!!int", "integer")
			reason = strings.ReplaceAll(reason, "!!seq", "list")
			reason = strings.ReplaceAll(reason, "!!map", "mapping")
			reason = strings.ReplaceAll(reason, "!!bool", "boolean")
		}
		out = append(out, fmt.Sprintf("%s (line %s): %s", path, m[1], reason))
	}
	return out
}

func yamlSyntax(err error) string {
	return "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")
}

// keyPaths maps each line that holds a mapping key or a sequence item to its
// dotted key path, so decode errors can name the key instead of a line.
func keyPaths(root *yaml.Node) map[int]string {
	out := map[int]string{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				if _, ok := out[k.Line]; !ok {
					out[k.Line] = p
				}
				if v.Line != k.Line {
					if _, ok := out[v.Line]; !ok && v.Kind == yaml.ScalarNode {
						out[v.Line] = p
					}
				}
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				if _, ok := out[c.Line]; !ok || c.Kind == yaml.ScalarNode {
					if c.Kind == yaml.ScalarNode {
						out[c.Line] = p
					}
				}
				walk(c, p)
			}
		}
	}
	walk(root, "")
	return out
}
