package sops

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The document is converted into a tree shaped like the one sops builds
// from a file (its TreeBranch): mappings and sequences whose entries are
// values or comments, in file order. Walking it the way sops walks its tree
// gives every value and comment the key path and the comment context the
// file's rules are evaluated against.

// entry is one item of a mapping or a sequence: a comment, or a value (with
// its key in a mapping).
type entry struct {
	comment bool
	// text is a comment's text without the leading '#'.
	text  string
	key   string
	value any // mapping, sequence, *leaf or nil (null)
	line  int
}

type (
	mapping  []entry
	sequence []entry
)

// leaf is a scalar value.
type leaf struct {
	value string
	line  int
}

// document is what a store yields: the data branches (YAML files may hold
// several documents) and the raw metadata, if any.
type document struct {
	branches []mapping
	// metadata is the sops block decoded into plain Go values (maps,
	// slices, strings, numbers, booleans); nil when the file has none.
	metadata map[string]any
	// metadataShape reports a sops entry that is not a mapping.
	metadataShape string
}

// syntaxError describes a parse failure by line only: parser messages can
// quote the text around the error, which may be a secret.
type syntaxError struct {
	format Format
	line   int
	reason string
}

func (e *syntaxError) Error() string {
	msg := "not valid " + e.format.String()
	if e.line > 0 {
		msg += fmt.Sprintf(" (line %d)", e.line)
	}
	if e.reason != "" {
		msg += ": " + e.reason
	}
	return msg
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// yamlError keeps the line of a YAML error and drops the rest.
func yamlError(f Format, err error) error {
	line := 0
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	reason := ""
	if strings.Contains(err.Error(), "already defined") {
		reason = "a mapping key is defined twice"
	}
	return &syntaxError{format: f, line: line, reason: reason}
}

// parseYAML reads a YAML document stream the way sops' YAML store does.
func parseYAML(data []byte) (*document, error) {
	if len(bytes.TrimSpace(data)) > 0 {
		// sops refuses duplicate keys; decoding into a map finds them.
		if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&map[string]any{}); err != nil && !errors.Is(err, io.EOF) {
			return nil, yamlError(YAML, err)
		}
	}
	doc := &document{}
	c := newYAMLConv(data)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, yamlError(YAML, err)
		}
		b, err := c.branch(&n, nil, false)
		if err != nil {
			return nil, err
		}
		b = doc.takeMetadata(b, i == 0, func(v any) (map[string]any, bool) {
			n, ok := v.(*yaml.Node)
			if !ok || n.Kind != yaml.MappingNode {
				return nil, false
			}
			var m map[string]any
			return m, n.Decode(&m) == nil
		})
		doc.branches = append(doc.branches, b)
	}
	return doc, nil
}

// parseJSON reads a JSON object. JSON is YAML's flow style, so the YAML
// parser yields the tree with line numbers once the text is known to be
// valid JSON.
func parseJSON(data []byte) (*document, error) {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		line := 0
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line = 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
		}
		return nil, &syntaxError{format: JSON, line: line}
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, &syntaxError{format: JSON, reason: "the top level must be an object"}
	}
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, yamlError(JSON, err)
	}
	c := newYAMLConv(data)
	b, err := c.branch(&n, nil, false)
	if err != nil {
		return nil, err
	}
	doc := &document{}
	b = doc.takeMetadata(b, true, func(v any) (map[string]any, bool) {
		n, ok := v.(*yaml.Node)
		if !ok || n.Kind != yaml.MappingNode {
			return nil, false
		}
		var m map[string]any
		return m, n.Decode(&m) == nil
	})
	doc.branches = []mapping{b}
	return doc, nil
}

// metadataKey is the top-level key of the sops block (YAML, JSON); dotenv
// files flatten it into keys starting with metadataPrefix.
const (
	metadataKey    = "sops"
	metadataPrefix = "sops_"
)

// takeMetadata removes the sops entry from a branch; the first document's
// entry is the file's metadata. While converting, a mapping value is kept as
// its *yaml.Node (rawMeta) so the metadata can be decoded as plain values.
func (d *document) takeMetadata(b mapping, first bool, decode func(any) (map[string]any, bool)) mapping {
	out := b[:0:0]
	for _, e := range b {
		if e.comment || e.key != metadataKey {
			out = append(out, e)
			continue
		}
		if !first || d.metadata != nil {
			continue
		}
		raw, _ := e.value.(rawMeta)
		if m, ok := decode(raw.node); ok {
			d.metadata = m
			if d.metadata == nil {
				d.metadata = map[string]any{}
			}
		} else {
			d.metadataShape = "the sops entry is not a mapping"
		}
	}
	return out
}

// rawMeta carries the YAML node of a top-level sops entry.
type rawMeta struct{ node *yaml.Node }

// yamlBranch converts a document or mapping node into a mapping, with
// comments placed where sops' YAML store places them. top is the key path
// depth: the sops entry is recognised at the top level only.
func (c *yamlConv) branch(n *yaml.Node, b mapping, commentsHandled bool) (mapping, error) {
	if !commentsHandled {
		b = c.comments(b, n.HeadComment, n.Line, head)
		b = c.comments(b, n.LineComment, n.Line, inline)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, ch := range n.Content {
			var err error
			if b, err = c.top(ch, b); err != nil {
				return nil, err
			}
		}
	case yaml.SequenceNode:
		return nil, &syntaxError{format: YAML, line: n.Line, reason: "a document that is a sequence is not a SOPS file"}
	case yaml.MappingNode:
		var err error
		if b, err = c.pairs(n, b, false); err != nil {
			return nil, err
		}
	case yaml.ScalarNode:
		if n.ShortTag() != "!!null" {
			return nil, &syntaxError{format: YAML, line: n.Line, reason: "a document that is a single value is not a SOPS file"}
		}
	case yaml.AliasNode:
		return c.branch(n.Alias, b, false)
	}
	if !commentsHandled {
		b = c.comments(b, n.FootComment, n.Line, foot)
	}
	return b, nil
}

// yamlTop converts a document's root, keeping a top-level sops entry raw.
func (c *yamlConv) top(n *yaml.Node, b mapping) (mapping, error) {
	if n.Kind != yaml.MappingNode {
		return c.branch(n, b, false)
	}
	b = c.comments(b, n.HeadComment, n.Line, head)
	b = c.comments(b, n.LineComment, n.Line, inline)
	b, err := c.pairs(n, b, true)
	if err != nil {
		return nil, err
	}
	return c.comments(b, n.FootComment, n.Line, foot), nil
}

func (c *yamlConv) pairs(n *yaml.Node, b mapping, top bool) (mapping, error) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		b = c.comments(b, k.HeadComment, k.Line, head)
		b = c.comments(b, k.LineComment, k.Line, inline)
		scalar := v.Kind == yaml.ScalarNode || v.Kind == yaml.AliasNode
		if scalar {
			b = c.comments(b, v.HeadComment, v.Line, head)
			b = c.comments(b, v.LineComment, v.Line, inline)
		}
		var value any
		if top && k.Value == metadataKey {
			value = rawMeta{node: v}
		} else {
			var err error
			if value, err = c.value(v, scalar); err != nil {
				return nil, err
			}
		}
		b = append(b, entry{key: k.Value, value: value, line: k.Line})
		if scalar {
			b = c.comments(b, v.FootComment, v.Line, foot)
		}
		b = c.comments(b, k.FootComment, k.Line, foot)
	}
	return b, nil
}

func (c *yamlConv) value(n *yaml.Node, commentsHandled bool) (any, error) {
	switch n.Kind {
	case yaml.SequenceNode:
		var s sequence
		if !commentsHandled {
			s = sequence(c.comments(mapping(s), n.HeadComment, n.Line, head))
			s = sequence(c.comments(mapping(s), n.LineComment, n.Line, inline))
		}
		for _, it := range n.Content {
			s = sequence(c.comments(mapping(s), it.HeadComment, it.Line, head))
			s = sequence(c.comments(mapping(s), it.LineComment, it.Line, inline))
			v, err := c.value(it, true)
			if err != nil {
				return nil, err
			}
			s = append(s, entry{value: v, line: it.Line})
			s = sequence(c.comments(mapping(s), it.FootComment, it.Line, foot))
		}
		if !commentsHandled {
			s = sequence(c.comments(mapping(s), n.FootComment, n.Line, foot))
		}
		return s, nil
	case yaml.MappingNode:
		return c.branch(n, nil, commentsHandled)
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return nil, nil
		}
		return &leaf{value: n.Value, line: n.Line}, nil
	case yaml.AliasNode:
		return c.value(n.Alias, false)
	}
	return nil, nil
}

// yamlConv converts yaml.v3 nodes into the tree. yaml.v3 keeps comments
// as text on the nodes, without their lines; lines holds the source so a
// comment can be found again and reported at its own line.
type yamlConv struct {
	lines []string
	// used marks comment lines already attributed, so repeated comment
	// texts get their own lines.
	used map[int]bool
}

func newYAMLConv(data []byte) *yamlConv {
	return &yamlConv{lines: strings.Split(string(data), "\n"), used: map[int]bool{}}
}

// commentPlace is where yaml.v3 attached a comment to its node.
type commentPlace int

const (
	head   commentPlace = iota // on the lines above the node
	inline                     // on the node's line
	foot                       // on the lines below the node
)

// comments adds one comment entry per line of a YAML comment, as sops does
// (each line without its leading '#').
func (c *yamlConv) comments(b mapping, comment string, line int, where commentPlace) mapping {
	if comment == "" {
		return b
	}
	parts := strings.Split(comment, "\n")
	var at []int
	if where == head {
		// Search upwards for the last line, then the ones before it.
		from := line - 1
		for i := len(parts) - 1; i >= 0; i-- {
			l := c.find(parts[i], from, -1, line)
			at = append([]int{l}, at...)
			if l > 0 {
				from = l - 1
			}
		}
	} else {
		from := line
		if where == foot {
			from = line + 1
		}
		for _, p := range parts {
			l := c.find(p, from, 1, line)
			at = append(at, l)
			if l > 0 {
				from = l + 1
			}
		}
	}
	for i, l := range parts {
		if l == "" {
			continue
		}
		b = append(b, entry{comment: true, text: strings.TrimPrefix(strings.TrimLeft(l, " \t"), "#"), line: at[i]})
	}
	return b
}

// find returns the 1-based line at or beyond from (in direction dir)
// holding the comment text, or fallback when none does.
func (c *yamlConv) find(text string, from, dir, fallback int) int {
	text = strings.TrimSpace(text)
	if text == "" {
		return fallback
	}
	for l := from; l >= 1 && l <= len(c.lines); l += dir {
		if !c.used[l] && strings.HasSuffix(strings.TrimSpace(c.lines[l-1]), text) {
			c.used[l] = true
			return l
		}
	}
	return fallback
}

// parseDotenv reads KEY=value lines and # comments the way sops' dotenv
// store does; the metadata is flattened into sops_ keys.
func parseDotenv(data []byte) (*document, error) {
	var b mapping
	flat := map[string]any{}
	for i, raw := range bytes.Split(data, []byte("\n")) {
		line := i + 1
		if len(raw) == 0 {
			continue
		}
		if raw[0] == '#' {
			b = append(b, entry{comment: true, text: string(raw[1:]), line: line})
			continue
		}
		pos := bytes.IndexByte(raw, '=')
		if pos < 0 {
			return nil, &syntaxError{format: Dotenv, line: line, reason: "a line is neither KEY=value nor a # comment"}
		}
		key := string(raw[:pos])
		value := strings.ReplaceAll(string(raw[pos+1:]), `\n`, "\n")
		if strings.HasPrefix(key, metadataPrefix) {
			flat[strings.TrimPrefix(key, metadataPrefix)] = value
			continue
		}
		b = append(b, entry{key: key, value: &leaf{value: value, line: line}, line: line})
	}
	doc := &document{branches: []mapping{b}}
	if len(flat) > 0 {
		m, err := unflatten(flat)
		if err != nil {
			return nil, &syntaxError{format: Dotenv, reason: "the sops_ metadata keys do not nest: " + err.Error()}
		}
		doc.metadata = m
	}
	return doc, nil
}

// The separators sops uses to flatten nested metadata into one level of
// keys (age__list_0__map_recipient).
const (
	mapSep  = "__map_"
	listSep = "__list_"
)

// unflatten rebuilds nested metadata from flattened keys.
func unflatten(flat map[string]any) (map[string]any, error) {
	root := map[string]any{}
	for key, v := range flat {
		var cur any = root
		parts := splitFlat(key)
		for i, p := range parts {
			last := i == len(parts)-1
			switch c := cur.(type) {
			case map[string]any:
				if p.list {
					return nil, fmt.Errorf("a list index where a key belongs")
				}
				if last {
					c[p.key] = v
					break
				}
				next, ok := c[p.key]
				if !ok {
					if parts[i+1].list {
						next = &flatList{}
					} else {
						next = map[string]any{}
					}
					c[p.key] = next
				}
				cur = next
			case *flatList:
				if !p.list {
					return nil, fmt.Errorf("a key where a list index belongs")
				}
				if p.index > 10000 {
					return nil, fmt.Errorf("list index %d is too large", p.index)
				}
				for len(c.items) <= p.index {
					c.items = append(c.items, nil)
				}
				if last {
					c.items[p.index] = v
					break
				}
				if c.items[p.index] == nil {
					if parts[i+1].list {
						c.items[p.index] = &flatList{}
					} else {
						c.items[p.index] = map[string]any{}
					}
				}
				cur = c.items[p.index]
			default:
				return nil, fmt.Errorf("a value where a key or index belongs")
			}
		}
	}
	return resolveLists(root).(map[string]any), nil
}

type flatList struct{ items []any }

type flatPart struct {
	key   string
	list  bool
	index int
}

func splitFlat(key string) []flatPart {
	var parts []flatPart
	cur := flatPart{}
	start := 0
	finish := func(end int) {
		if cur.list {
			cur.index, _ = strconv.Atoi(key[start:end])
		} else {
			cur.key = key[start:end]
		}
		parts = append(parts, cur)
	}
	for i := 0; i < len(key); {
		switch {
		case strings.HasPrefix(key[i:], mapSep):
			finish(i)
			cur = flatPart{}
			i += len(mapSep)
			start = i
		case strings.HasPrefix(key[i:], listSep):
			finish(i)
			cur = flatPart{list: true}
			i += len(listSep)
			start = i
		default:
			i++
		}
	}
	finish(len(key))
	return parts
}

func resolveLists(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, c := range t {
			t[k] = resolveLists(c)
		}
		return t
	case *flatList:
		out := make([]any, len(t.items))
		for i, c := range t.items {
			out[i] = resolveLists(c)
		}
		return out
	}
	return v
}
