// Package sops checks SOPS-encrypted files without a key: it never holds a
// SOPS, age, PGP or cloud KMS key and never decrypts anything. From the file
// alone it proves what a sentinel can prove:
//
//   - the file parses (YAML, JSON or dotenv, as sops writes them) and
//     carries a sops metadata block with a MAC and a last-modified date;
//   - every value is encrypted (ENC[AES256_GCM,…]) except the values the
//     file's own rule leaves in plaintext (unencrypted_suffix, the default
//     "_unencrypted"; encrypted_suffix; unencrypted_regex; encrypted_regex;
//     and the comment regexes), evaluated on the same key paths and comment
//     context sops uses. Comments count too: sops encrypts them;
//   - the values left in plaintext by the rule do not look like secrets
//     (internal/secretscan);
//   - the recipients (age, PGP, AWS KMS, GCP KMS, Azure Key Vault, HashiCorp
//     Vault transit, HuaweiCloud KMS) equal an expected set.
//
// A Report names values by their key path and line, never by their content:
// it can be printed, logged and exported. Key names that could themselves be
// secrets are withheld.
package sops

import (
	"encoding/base64"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/railiance/forge-exporter/internal/secretscan"
)

// Format is a SOPS file format.
type Format int

// The formats sops stores structured data in.
const (
	Unknown Format = iota
	YAML
	JSON
	Dotenv
)

func (f Format) String() string {
	switch f {
	case YAML:
		return "yaml"
	case JSON:
		return "json"
	case Dotenv:
		return "dotenv"
	}
	return "unknown"
}

// ParseFormat returns the format named s (yaml, json, dotenv).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "yaml", "yml":
		return YAML, nil
	case "json":
		return JSON, nil
	case "dotenv", "env":
		return Dotenv, nil
	}
	return Unknown, fmt.Errorf("unknown SOPS format %q (yaml, json or dotenv)", s)
}

// FormatOf guesses the format from a file name as sops does: .yaml and
// .yml are YAML, .json is JSON, .env is dotenv. Anything else is Unknown
// (sops would treat it as a binary file, which this package does not check).
func FormatOf(name string) Format {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		return YAML
	case ".json":
		return JSON
	case ".env":
		return Dotenv
	}
	return Unknown
}

// MaxFileBytes bounds the size of a file the checker reads.
const MaxFileBytes = 8 << 20

// Recipient is one key a file's data key is encrypted to.
type Recipient struct {
	// Type is one of RecipientTypes().
	Type string
	// ID identifies the key: an age recipient, a PGP fingerprint, a KMS
	// ARN or resource id, a Key Vault key URL, a Vault transit key URL.
	ID string
}

func (r Recipient) String() string { return r.Type + " " + r.ID }

// RecipientTypes lists the recipient types as sops names them in its
// metadata block; they are metric label values.
func RecipientTypes() []string {
	return []string{"age", "pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms"}
}

// Rule is the file's encryption rule: which values sops encrypts.
type Rule struct {
	// Kind is the metadata key (unencrypted_suffix, encrypted_suffix,
	// unencrypted_regex, encrypted_regex, unencrypted_comment_regex,
	// encrypted_comment_regex).
	Kind string
	// Value is the suffix or the regular expression.
	Value string
}

func (r Rule) String() string { return fmt.Sprintf("%s %q", r.Kind, r.Value) }

// Place locates a value or a comment without its content.
type Place struct {
	// Path is the key path (keys joined by "."; sequence items as [i]).
	Path string
	// Line is the 1-based line in the file.
	Line int
	// Comment is true for a comment (Path is then the enclosing key path).
	Comment bool
}

func (p Place) String() string {
	what := "value"
	if p.Comment {
		what = "comment"
	}
	path := p.Path
	if path == "" {
		path = "(top level)"
	}
	return fmt.Sprintf("line %d: %s %s", p.Line, what, path)
}

// Report is the outcome of checking one file. It never holds a value.
type Report struct {
	Format Format
	// Parsed is true when the file was read and parsed.
	Parsed bool
	// Metadata is true when the file carries a sops metadata block whose
	// rules and dates are valid.
	Metadata bool
	// MAC is true when the metadata holds an encrypted MAC.
	MAC bool
	// LastModified and Version are the metadata's lastmodified and version.
	LastModified time.Time
	Version      string
	// Rule is the encryption rule in force (the default unencrypted suffix
	// when the file names none).
	Rule             Rule
	MACOnlyEncrypted bool
	// Recipients are the keys the data key is encrypted to, over all key
	// groups, sorted and deduplicated.
	Recipients      []Recipient
	KeyGroups       int
	ShamirThreshold int
	// Encrypted counts encrypted values (comments not included).
	Encrypted int
	// Plaintext lists values and comments the rule says must be
	// encrypted and are not.
	Plaintext []Place
	// Unencrypted lists values the rule leaves in plaintext.
	Unencrypted []Place
	// Findings are suspected secrets among the values and comments the
	// rule leaves in plaintext.
	Findings []secretscan.Finding
	// Missing are expected recipients the file is not encrypted to;
	// Unexpected are recipients that were not expected. Both are empty
	// when no expected set was given.
	Missing, Unexpected []Recipient
	// Problems are reasons the file is not a sound SOPS file: unreadable,
	// not parseable, no or invalid metadata.
	Problems []string

	// encryptedAgainstRule counts encrypted values and comments the rule
	// would leave in plaintext. sops never writes such a file, so the tests
	// use it to prove this package decides exactly as sops does.
	encryptedAgainstRule int
}

// OK reports whether the file passed every check.
func (r *Report) OK() bool {
	return r.Parsed && r.Metadata && r.MAC && len(r.Problems) == 0 && len(r.Plaintext) == 0 &&
		len(r.Findings) == 0 && len(r.Missing) == 0 && len(r.Unexpected) == 0
}

// FullyEncrypted reports whether the file is a SOPS file in which every
// value and comment the rule encrypts is encrypted.
func (r *Report) FullyEncrypted() bool {
	return r.Parsed && r.Metadata && len(r.Plaintext) == 0
}

// Messages returns one line per problem, without any value.
func (r *Report) Messages() []string {
	var out []string
	out = append(out, r.Problems...)
	for _, p := range r.Plaintext {
		if p.Comment {
			out = append(out, fmt.Sprintf("line %d: a comment under %s is not encrypted", p.Line, orTop(p.Path)))
		} else {
			out = append(out, fmt.Sprintf("line %d: %s is not encrypted", p.Line, orTop(p.Path)))
		}
	}
	for _, f := range r.Findings {
		out = append(out, fmt.Sprintf("%s (left in plaintext by %s)", f, r.Rule))
	}
	for _, m := range r.Missing {
		out = append(out, "recipient missing: "+m.String())
	}
	for _, u := range r.Unexpected {
		out = append(out, "recipient not expected: "+u.String())
	}
	return out
}

func orTop(p string) string {
	if p == "" {
		return "the top level"
	}
	return p
}

// Options tune a check.
type Options struct {
	// Format overrides the format guessed from the name.
	Format Format
	// Expected, when not nil, is the set of recipients the file must be
	// encrypted to, no more and no fewer.
	Expected []Recipient
	// Scanner checks the values left in plaintext; nil uses a new one.
	Scanner *secretscan.Scanner
}

// Check checks one file's content; name is used to guess the format.
func Check(name string, data []byte, opts Options) *Report {
	f := opts.Format
	if f == Unknown {
		f = FormatOf(name)
	}
	r := &Report{Format: f}
	if len(data) > MaxFileBytes {
		r.Problems = append(r.Problems, fmt.Sprintf("larger than %d bytes: not checked", MaxFileBytes))
		return r
	}
	var doc *document
	var err error
	switch f {
	case YAML:
		doc, err = parseYAML(data)
	case JSON:
		doc, err = parseJSON(data)
	case Dotenv:
		doc, err = parseDotenv(data)
	default:
		r.Problems = append(r.Problems, "unknown format: name the file .yaml, .yml, .json or .env, or give the format")
		return r
	}
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
		return r
	}
	r.Parsed = true
	rules := r.readMetadata(doc)
	sc := opts.Scanner
	if sc == nil {
		sc = secretscan.New()
	}
	w := &walker{r: r, rules: rules, scanner: sc, seen: map[string]bool{}, keys: map[string]string{}}
	for _, b := range doc.branches {
		w.walkMapping(b, nil, "", nil)
	}
	sort.SliceStable(r.Findings, func(i, j int) bool { return r.Findings[i].Line < r.Findings[j].Line })
	if opts.Expected != nil && r.Metadata {
		r.Missing, r.Unexpected = drift(opts.Expected, r.Recipients)
	}
	return r
}

// readMetadata fills the report from the sops block and returns the rules
// to evaluate values against. Without a usable block the default rule
// applies, so a decrypted file reports every value it exposes.
func (r *Report) readMetadata(doc *document) *rules {
	def := &rules{rule: Rule{Kind: "unencrypted_suffix", Value: defaultUnencryptedSuffix}}
	r.Rule = def.rule
	if doc.metadataShape != "" {
		r.Problems = append(r.Problems, doc.metadataShape)
		return def
	}
	m := doc.metadata
	if m == nil {
		r.Problems = append(r.Problems, "no sops metadata: the file is not SOPS-encrypted (or was decrypted)")
		return def
	}
	ok := true
	lm := str(m["lastmodified"])
	if lm == "" {
		r.Problems = append(r.Problems, "sops metadata: lastmodified is missing")
		ok = false
	} else if t, err := time.Parse(time.RFC3339, lm); err != nil {
		r.Problems = append(r.Problems, "sops metadata: lastmodified is not an RFC 3339 date")
		ok = false
	} else {
		r.LastModified = t
	}
	r.Version = str(m["version"])
	if !safeVersionRE.MatchString(r.Version) {
		r.Version = ""
	}
	mac := str(m["mac"])
	switch {
	case mac == "":
		r.Problems = append(r.Problems, "sops metadata: mac is missing")
	case !isEncrypted(mac):
		r.Problems = append(r.Problems, "sops metadata: mac is not an encrypted value")
	default:
		r.MAC = true
	}
	r.MACOnlyEncrypted = truthy(m["mac_only_encrypted"])
	rl, err := rulesOf(m)
	if err != nil {
		r.Problems = append(r.Problems, "sops metadata: "+err.Error())
		ok = false
		rl = def
	}
	r.Rule = rl.rule
	r.Recipients, r.KeyGroups = recipientsOf(m)
	if len(r.Recipients) == 0 {
		r.Problems = append(r.Problems, "sops metadata: no recipients (no key can decrypt the file)")
		ok = false
	}
	r.ShamirThreshold = intOf(m["shamir_threshold"])
	r.Metadata = ok
	return rl
}

var safeVersionRE = regexp.MustCompile(`^[0-9A-Za-z.+-]{1,40}$`)

// encRE is the shape of a value sops encrypted with AES-256-GCM.
var encRE = regexp.MustCompile(`^ENC\[AES256_GCM,data:([A-Za-z0-9+/=]*),iv:([A-Za-z0-9+/=]+),tag:([A-Za-z0-9+/=]+),type:(str|int|float|bytes|bool|time|comment)\]$`)

// isEncrypted reports whether v is a well-formed sops ciphertext: base64
// data, a 32-byte IV and a 16-byte GCM tag.
func isEncrypted(v string) bool {
	m := encRE.FindStringSubmatch(v)
	if m == nil {
		return false
	}
	if _, err := base64.StdEncoding.DecodeString(m[1]); err != nil {
		return false
	}
	iv, err := base64.StdEncoding.DecodeString(m[2])
	if err != nil || len(iv) != 32 {
		return false
	}
	tag, err := base64.StdEncoding.DecodeString(m[3])
	return err == nil && len(tag) == 16
}

func str(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case nil:
		return ""
	case time.Time:
		return t.Format(time.RFC3339)
	}
	return fmt.Sprint(v)
}

func truthy(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		return strings.EqualFold(t, "true")
	}
	return false
}

func intOf(v any) int {
	switch t := v.(type) {
	case int:
		return t
	case string:
		var n int
		fmt.Sscan(t, &n)
		return n
	}
	return 0
}

// walker visits the tree as sops' encryption does.
type walker struct {
	r       *Report
	rules   *rules
	scanner *secretscan.Scanner
	seen    map[string]bool
	keys    map[string]string // safeKey verdicts
}

// keyRE is what a printable key looks like: configuration keys, dotenv
// names, Kubernetes label keys.
var keyRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./-]{0,79}$`)

// safeKey returns k when it is safe to print, else a placeholder: a key
// can itself be a pasted secret (a token as a key with a null value), and
// the sentinel's output must never echo one.
func (w *walker) safeKey(k string) string {
	if v, ok := w.keys[k]; ok {
		return v
	}
	v := "<withheld>"
	if keyRE.MatchString(k) {
		if _, bad := w.scanner.LooksLikeSecret(k); !bad {
			v = k
		}
	}
	w.keys[k] = v
	return v
}

// walkMapping visits a mapping: comments join the innermost comment list
// until the next value, which clears it (sops' commentsStack). path is the
// key path sops evaluates rules on (sequence items add nothing); disp is
// the path shown to people (with [i] for sequence items, unsafe keys
// withheld).
func (w *walker) walkMapping(m mapping, path []string, disp string, stack [][]string) {
	stack = append(stack[:len(stack):len(stack)], nil)
	top := len(stack) - 1
	for _, e := range m {
		if e.comment {
			stack[top] = append(stack[top], e.text)
			w.comment(e, path, disp, stack)
			continue
		}
		w.walkValue(e.value, append(path[:len(path):len(path)], e.key), joinDisp(disp, w.safeKey(e.key)), stack)
		stack[top] = nil
	}
}

func (w *walker) walkSequence(s sequence, path []string, disp string, stack [][]string) {
	stack = append(stack[:len(stack):len(stack)], nil)
	top := len(stack) - 1
	i := 0
	for _, e := range s {
		if e.comment {
			stack[top] = append(stack[top], e.text)
			w.comment(e, path, disp, stack)
			continue
		}
		w.walkValue(e.value, path, fmt.Sprintf("%s[%d]", disp, i), stack)
		i++
		stack[top] = nil
	}
}

func joinDisp(disp, key string) string {
	if disp == "" {
		return key
	}
	return disp + "." + key
}

func (w *walker) walkValue(v any, path []string, disp string, stack [][]string) {
	switch t := v.(type) {
	case mapping:
		w.walkMapping(t, path, disp, stack)
	case sequence:
		w.walkSequence(t, path, disp, stack)
	case *leaf:
		w.value(t, path, disp, stack)
	}
}

func (w *walker) value(l *leaf, path []string, disp string, stack [][]string) {
	if l.value == "" {
		return // sops leaves empty strings as they are: nothing to hide
	}
	should := w.rules.encrypt(path, stack, false)
	if isEncrypted(l.value) {
		w.r.Encrypted++
		if !should {
			w.r.encryptedAgainstRule++
		}
		return
	}
	p := Place{Path: disp, Line: l.line}
	if should {
		w.r.Plaintext = append(w.r.Plaintext, p)
		return
	}
	w.r.Unencrypted = append(w.r.Unencrypted, p)
	key := ""
	if len(path) > 0 {
		key = w.rules.meaningfulKey(path[len(path)-1])
	}
	w.scan(p, key, l.value)
}

func (w *walker) comment(e entry, path []string, disp string, stack [][]string) {
	if strings.TrimSpace(e.text) == "" {
		return
	}
	should := w.rules.encrypt(path, stack, true)
	if isEncrypted(e.text) {
		if !should {
			w.r.encryptedAgainstRule++
		}
		return
	}
	p := Place{Path: disp, Line: e.line, Comment: true}
	if should {
		w.r.Plaintext = append(w.r.Plaintext, p)
		return
	}
	w.scan(p, "", e.text)
}

// scan runs the secret scanner on a value the rule leaves in plaintext.
// Findings carry the key path and line, never the value.
func (w *walker) scan(p Place, key, value string) {
	for _, f := range w.scanner.ScanValue(p.Path, key, value) {
		f.Line = p.Line
		id := fmt.Sprintf("%d\x00%s\x00%s", f.Line, f.Field, f.Detector)
		if w.seen[id] {
			continue
		}
		w.seen[id] = true
		w.r.Findings = append(w.r.Findings, f)
	}
}
