// Package secretscan finds secret material in text that is meant to hold only
// references: restore-drill evidence records and the asset inventory.
//
// The backup/restore contract forbids decrypted SOPS values, OpenBao/Vault
// tokens, root tokens, unseal shares and recovery codes, database passwords and
// connection strings with passwords, package tokens and tokenized index URLs,
// runner registration tokens, object-storage keys, kubeconfigs and bearer
// tokens in evidence, while it explicitly allows references: Kubernetes Secret
// names, SOPS file paths, OpenBao path and policy names, backup ids, encrypted
// snapshot locations, digests and commit SHAs. The detectors here are curated
// for exactly that split: well-known token shapes are matched anywhere, while
// ambiguous values (a 40-hex string can be a commit SHA or a Gitea token) are
// only flagged in a context that names a secret.
//
// A Finding carries the detector, line and field path, never the matched text
// or any part of it, so a finding can be logged, printed and exported safely.
package secretscan

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Finding is one piece of suspected secret material. It deliberately holds no
// part of the matched text.
type Finding struct {
	// Line is the 1-based line in the scanned text; 0 when unknown.
	Line int
	// Field is the dotted path of the YAML/JSON field holding the value, when
	// known. Path segments that could themselves be secret are withheld.
	Field string
	// Detector names the kind of secret (one of Detectors()).
	Detector string
}

func (f Finding) String() string {
	var where []string
	if f.Line > 0 {
		where = append(where, fmt.Sprintf("line %d", f.Line))
	}
	if f.Field != "" {
		where = append(where, "field "+f.Field)
	}
	if len(where) == 0 {
		where = append(where, "value")
	}
	return fmt.Sprintf("%s: looks like secret material (detector %s)", strings.Join(where, ", "), f.Detector)
}

// Scanner holds the compiled detectors. It is immutable and safe for
// concurrent use.
type Scanner struct{}

// New returns a Scanner.
func New() *Scanner { return &Scanner{} }

// Detectors returns the name of every detector, sorted. Metrics use it to
// report a zero for detectors that found nothing.
func Detectors() []string {
	out := append([]string(nil), detectorNames...)
	sort.Strings(out)
	return out
}

// MaxLineLength bounds the work per line: longer lines are scanned in
// overlapping windows of this size, so one huge line cannot make a scan slow
// while a secret straddling a window edge is still seen whole.
const MaxLineLength = 4096

// Scan scans text: every line of the raw text, and, when the text parses as
// YAML or JSON, every string value with the name of the key it belongs to
// (which catches values that JSON escapes or YAML folding hide from the raw
// text). Findings are deduplicated per detector and field (or line).
func (s *Scanner) Scan(data []byte) []Finding {
	c := newCollector()
	scanDocument(c, data, 0)
	return c.sorted()
}

// maxNesting bounds how deep documents embedded in string values (a
// kubeconfig or a decrypted values file pasted into a note) are re-parsed.
const maxNesting = 2

// scanDocument scans data into c; nesting counts the documents it is
// embedded in.
func scanDocument(c *collector, data []byte, nesting int) {
	var root yaml.Node
	structured := yaml.Unmarshal(data, &root) == nil
	var fields *lineFields
	if structured {
		fields = mapLines(&root)
	}
	lines := bytes.Split(data, []byte("\n"))
	for i, raw := range lines {
		lineNo := i + 1
		field := ""
		if fields != nil {
			field = fields.at(lineNo)
		}
		for _, w := range windows(string(raw)) {
			scanLine(c, w, lineNo, field)
		}
	}
	scanDocumentShape(c, lines, fields)
	if structured {
		walkValues(c, &root, "", "", fields.sops, nesting)
	}
}

// ScanValue scans one configured value (for example an asset inventory
// field) known by its field path; key is the name the value is assigned to.
func (s *Scanner) ScanValue(field, key, value string) []Finding {
	c := newCollector()
	for _, l := range strings.Split(value, "\n") {
		for _, w := range windows(l) {
			scanLine(c, w, 0, field)
			scanAssignment(c, key, w, 0, field, false, w)
		}
	}
	return c.sorted()
}

// LooksLikeSecret reports whether a value that should be a name or a path
// (a Secret name, an OpenBao path, a SOPS file path) contains a standalone
// high-entropy token or a known token shape. It is stricter than Scan because
// in such a field no random-looking string is ever expected.
func (s *Scanner) LooksLikeSecret(value string) (detector string, ok bool) {
	if f := s.ScanValue("", "", value); len(f) > 0 {
		return f[0].Detector, true
	}
	for _, word := range strings.FieldsFunc(value, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '/' || r == ',' || r == ';' || r == '=' || r == ':'
	}) {
		if hex40RE.MatchString(word) || highEntropyToken(word, 20, 3.5) {
			return "high-entropy-value", true
		}
	}
	return "", false
}

// windows splits an overlong line into overlapping windows.
func windows(line string) []string {
	if len(line) <= MaxLineLength {
		return []string{line}
	}
	var out []string
	const overlap = 512
	for start := 0; start < len(line); start += MaxLineLength - overlap {
		end := min(start+MaxLineLength, len(line))
		out = append(out, line[start:end])
		if end == len(line) {
			break
		}
	}
	return out
}

// collector deduplicates findings.
type collector struct {
	seen map[string]bool
	list []Finding
	keys keyMemo
}

func newCollector() *collector { return &collector{seen: map[string]bool{}, keys: keyMemo{}} }

func (c *collector) safeKey(k string) string { return c.keys.safeKey(k) }

func (c *collector) add(f Finding) {
	key := f.Detector + "\x00" + f.Field
	if f.Field == "" {
		key = fmt.Sprintf("%s\x00line%d", f.Detector, f.Line)
	}
	if c.seen[key] {
		return
	}
	c.seen[key] = true
	c.list = append(c.list, f)
}

func (c *collector) sorted() []Finding {
	sort.SliceStable(c.list, func(i, j int) bool {
		a, b := c.list[i], c.list[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Field != b.Field {
			return a.Field < b.Field
		}
		return a.Detector < b.Detector
	})
	return c.list
}

// lineFields maps lines of a YAML document to the field path of the value
// on them, and notes whether the document carries SOPS metadata.
type lineFields struct {
	byLine map[int]string
	sops   bool
	keys   keyMemo
}

// keyMemo remembers SafeKey verdicts within one scan: documents repeat
// their key names, and each verdict runs the detectors.
type keyMemo map[string]string

func (m keyMemo) safeKey(k string) string {
	if v, ok := m[k]; ok {
		return v
	}
	v := SafeKey(k)
	m[k] = v
	return v
}

func (l *lineFields) safeKey(k string) string { return l.keys.safeKey(k) }

func (l *lineFields) at(line int) string { return l.byLine[line] }

func mapLines(root *yaml.Node) *lineFields {
	lf := &lineFields{byLine: map[int]string{}, keys: keyMemo{}}
	var walk func(n *yaml.Node, path string, depth int)
	walk = func(n *yaml.Node, path string, depth int) {
		if depth > 200 {
			return
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path, depth+1)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := joinPath(path, lf.safeKey(k.Value))
				if depth <= 2 && k.Value == "sops" && v.Kind == yaml.MappingNode && hasSOPSMetadata(v) {
					lf.sops = true
				}
				if _, ok := lf.byLine[k.Line]; !ok {
					lf.byLine[k.Line] = p
				}
				walk(v, p, depth+1)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i), depth+1)
			}
		case yaml.ScalarNode:
			first := n.Line
			last := n.Line + strings.Count(strings.TrimRight(n.Value, "\n"), "\n")
			if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
				first, last = n.Line+1, last+1
			}
			for l := first; l <= last; l++ {
				if _, ok := lf.byLine[l]; !ok || l > n.Line {
					lf.byLine[l] = path
				}
			}
		}
	}
	walk(root, "", 0)
	return lf
}

// hasSOPSMetadata recognises the metadata block sops adds to a file it
// encrypted; plaintext values next to it mean the file was decrypted.
func hasSOPSMetadata(n *yaml.Node) bool {
	keys := 0
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "mac", "lastmodified", "version", "age", "pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "encrypted_regex", "unencrypted_suffix", "encrypted_suffix":
			keys++
		}
	}
	return keys >= 2
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// walkValues scans every string scalar with the key it is assigned to
// (sequence items inherit their parent's key).
func walkValues(c *collector, root *yaml.Node, path, key string, sops bool, nesting int) {
	var walk func(n *yaml.Node, path, key string, depth int)
	walk = func(n *yaml.Node, path, key string, depth int) {
		if depth > 200 {
			return
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, ch := range n.Content {
				walk(ch, path, key, depth+1)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if depth <= 2 && k.Value == "sops" {
					continue // the metadata block itself: encrypted data keys, MAC, recipients
				}
				walk(v, joinPath(path, c.safeKey(k.Value)), k.Value, depth+1)
			}
		case yaml.SequenceNode:
			for i, ch := range n.Content {
				walk(ch, fmt.Sprintf("%s[%d]", path, i), key, depth+1)
			}
		case yaml.ScalarNode:
			if n.Tag != "!!str" && n.Tag != "!!binary" && n.Tag != "" {
				return // numbers, booleans, timestamps, null
			}
			line := n.Line
			if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
				line++
			}
			if nesting < maxNesting && embeddedDocument(n.Value) {
				// A document pasted into a value: scan it as a document too,
				// reporting its findings on this field.
				inner := newCollector()
				scanDocument(inner, []byte(n.Value), nesting+1)
				for _, f := range inner.list {
					c.add(Finding{Line: line + max(f.Line-1, 0), Field: path, Detector: f.Detector})
				}
			}
			for i, l := range strings.Split(n.Value, "\n") {
				for _, w := range windows(l) {
					scanLine(c, w, line+i, path)
					scanAssignment(c, key, w, line+i, path, sops, w)
				}
			}
		}
	}
	walk(root, path, key, 0)
}

// embeddedDocument reports whether a string value looks like a YAML or
// JSON document of its own (several lines, or a JSON object or array).
func embeddedDocument(v string) bool {
	t := strings.TrimSpace(v)
	if t == "" {
		return false
	}
	if t[0] == '{' || t[0] == '[' {
		return true
	}
	return strings.Count(t, "\n") >= 1 && strings.Contains(t, ":")
}
