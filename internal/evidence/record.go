// Package evidence reads, validates and scans restore-drill evidence records,
// and derives from them the drill status and the production-trust gates of
// the backup/restore contract.
//
// A record is one YAML or JSON file (or one ConfigMap data key) carrying
// exactly the fields the contract asks a drill to leave behind. A record
// counts as a drill only when it is valid and holds no secret material; an
// invalid record is reported with every problem, naming the record, the
// field and the reason, and never stops the other records from being read.
package evidence

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/railiance/forge-exporter/internal/secretscan"
	"go.yaml.in/yaml/v3"
)

// SchemaVersion is the record schema version this package reads.
const SchemaVersion = 1

// MaxRecordBytes bounds a record. Real records are a few KiB; anything much
// larger is not a record (a pasted log, a binary) and is refused unread.
const MaxRecordBytes = 256 << 10

// Drill kinds from the contract's "Minimum drills".
const (
	KindSourceForge     = "source-forge"
	KindPackageBlob     = "package-blob"
	KindRunnerSubstrate = "runner-substrate"
	KindSecretDelivery  = "secret-delivery"
)

// Kinds lists the drill kinds in the contract's order.
func Kinds() []string {
	return []string{KindSourceForge, KindPackageBlob, KindRunnerSubstrate, KindSecretDelivery}
}

// Check results.
const (
	ResultPassed  = "passed"
	ResultFailed  = "failed"
	ResultSkipped = "skipped"
)

// Results lists the check results a record may carry.
func Results() []string { return []string{ResultPassed, ResultFailed, ResultSkipped} }

// Field names of a record, in the order a template shows them.
const (
	FieldSchemaVersion       = "schema_version"
	FieldDrill               = "drill"
	FieldAssets              = "assets"
	FieldDate                = "date"
	FieldOperator            = "operator"
	FieldBackupReference     = "backup_reference"
	FieldRestoredEnvironment = "restored_environment"
	FieldCommands            = "commands"
	FieldChecks              = "checks"
	FieldNoSecretMaterial    = "no_secret_material_recorded"
	FieldRollbackNote        = "rollback_note"
	FieldCheckName           = "name"
	FieldCheckResult         = "result"
)

// Fields lists a record's fields (all required) in template order.
func Fields() []string {
	return []string{FieldSchemaVersion, FieldDrill, FieldAssets, FieldDate, FieldOperator, FieldBackupReference,
		FieldRestoredEnvironment, FieldCommands, FieldChecks, FieldNoSecretMaterial, FieldRollbackNote}
}

// CheckFields lists the fields of one post-restore check (all required).
func CheckFields() []string { return []string{FieldCheckName, FieldCheckResult} }

// Record is one restore drill's evidence.
type Record struct {
	SchemaVersion int
	// Drill is the drill kind (one of Kinds()).
	Drill string
	// Assets are the protected assets (inventory names) the drill covers.
	Assets []string
	// Date is when the drill ran.
	Date time.Time
	// Operator is who ran it.
	Operator string
	// BackupReference is the source backup id or encrypted snapshot location.
	BackupReference string
	// RestoredEnvironment names the isolated environment restored into.
	RestoredEnvironment string
	// Commands are the commands run, secret values redacted.
	Commands []string
	// Checks are the post-restore checks and their results.
	Checks []Check
	// NoSecretMaterialRecorded is the operator's explicit assertion.
	NoSecretMaterialRecorded bool
	// RollbackNote says how the restored environment was rolled back or cleaned up.
	RollbackNote string
}

// Check is one post-restore check.
type Check struct {
	Name   string
	Result string
}

// Passed reports whether the drill passed: it has checks and every one passed.
func (r *Record) Passed() bool {
	if len(r.Checks) == 0 {
		return false
	}
	for _, c := range r.Checks {
		if c.Result != ResultPassed {
			return false
		}
	}
	return true
}

// Covers reports whether the record names asset.
func (r *Record) Covers(asset string) bool {
	for _, a := range r.Assets {
		if a == asset {
			return true
		}
	}
	return false
}

// Problem is one reason a record is invalid.
type Problem struct {
	// Field is the dotted field path ("checks[1].result"); empty for the
	// record as a whole.
	Field string
	// Line is the 1-based line, 0 when unknown.
	Line int
	// Reason never contains a value from the record unless it is known to
	// be safe to print.
	Reason string
}

func (p Problem) String() string {
	switch {
	case p.Field != "" && p.Line > 0:
		return fmt.Sprintf("%s (line %d): %s", p.Field, p.Line, p.Reason)
	case p.Field != "":
		return p.Field + ": " + p.Reason
	case p.Line > 0:
		return fmt.Sprintf("line %d: %s", p.Line, p.Reason)
	}
	return p.Reason
}

// Result is a record as read: the record when it could be decoded, its
// problems, and its secret findings.
type Result struct {
	// Source names the record: a file path or configmap/NAMESPACE/NAME/KEY.
	Source string
	// Origin is the configured source it came from: the directory as
	// configured, or "configmap". It is the metric label.
	Origin string
	// Record is nil when the input could not be decoded at all.
	Record   *Record
	Problems []Problem
	Findings []secretscan.Finding

	// clockDependent marks a verdict that may change with time alone (a
	// date in the future), so it is never cached.
	clockDependent bool
}

// Valid reports whether the record counts: decoded, no problems, no findings.
func (r *Result) Valid() bool {
	return r.Record != nil && len(r.Problems) == 0 && len(r.Findings) == 0
}

// Messages returns every problem and finding as "SOURCE: FIELD (line N): REASON".
func (r *Result) Messages() []string {
	var out []string
	for _, d := range r.Details() {
		out = append(out, r.Source+": "+d)
	}
	return out
}

// Details returns every problem and finding as "FIELD (line N): REASON".
func (r *Result) Details() []string {
	var out []string
	for _, p := range r.Problems {
		out = append(out, p.String())
	}
	for _, f := range r.Findings {
		p := Problem{Field: f.Field, Line: f.Line, Reason: fmt.Sprintf("looks like secret material (detector %s): remove it and record a reference (Secret name, OpenBao path, SOPS file path) instead", f.Detector)}
		out = append(out, p.String())
	}
	return out
}

// Options tune Parse.
type Options struct {
	// Now is the clock used to refuse records dated in the future.
	Now time.Time
	// Assets, when not nil, is the asset inventory: a record naming an
	// asset outside it is invalid (a typo would otherwise silently leave
	// the real asset without its drill).
	Assets map[string]bool
	// Scanner finds secret material; nil uses secretscan.New().
	Scanner *secretscan.Scanner
}

// futureSkew tolerates clocks a little apart.
const futureSkew = time.Hour

var (
	assetNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)
	dateOnlyRE  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

// Parse decodes, validates and scans one record. It never panics and never
// returns a nil Result; problems name the field and the reason.
func Parse(source, origin string, data []byte, opts Options) *Result {
	res := &Result{Source: source, Origin: origin}
	sc := opts.Scanner
	if sc == nil {
		sc = secretscan.New()
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if len(data) > MaxRecordBytes {
		res.Problems = append(res.Problems, Problem{Reason: fmt.Sprintf("larger than %d KiB: not read (a record is a few KiB)", MaxRecordBytes>>10)})
		return res
	}
	// Scan first and always: even a record that does not parse must not
	// hide a secret.
	res.Findings = sc.Scan(data)
	if bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data) {
		res.Problems = append(res.Problems, Problem{Reason: "not a text file (binary or invalid UTF-8 content)"})
		return res
	}
	if len(bytes.TrimSpace(data)) == 0 {
		res.Problems = append(res.Problems, Problem{Reason: "empty record"})
		return res
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		res.Problems = append(res.Problems, Problem{Reason: "invalid YAML/JSON: " + yamlError(err)})
		return res
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		res.Problems = append(res.Problems, Problem{Line: extra.Line, Reason: "more than one document: a file holds exactly one record"})
	} else if !errors.Is(err, io.EOF) {
		res.Problems = append(res.Problems, Problem{Reason: "invalid YAML/JSON after the first document: " + yamlError(err)})
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		res.Problems = append(res.Problems, Problem{Line: root.Line, Reason: "a record must be a mapping of fields"})
		return res
	}
	d := &decoder{opts: opts}
	res.Record = d.record(root)
	res.Problems = append(res.Problems, d.problems...)
	res.clockDependent = d.clockDependent
	return res
}

// yamlError strips the library prefix; yaml.v3 messages quote at most a
// short token of the input, never a whole value.
func yamlError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return msg
}

type decoder struct {
	opts           Options
	problems       []Problem
	clockDependent bool
	keys           map[string]string // SafeKey verdicts, by key
}

func (d *decoder) safeKey(k string) string {
	if v, ok := d.keys[k]; ok {
		return v
	}
	if d.keys == nil {
		d.keys = map[string]string{}
	}
	v := secretscan.SafeKey(k)
	d.keys[k] = v
	return v
}

func (d *decoder) add(field string, n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.problems = append(d.problems, Problem{Field: field, Line: line, Reason: fmt.Sprintf(format, args...)})
}

// fields splits a mapping into known fields, reporting unknown and
// duplicate keys. Unknown key names are printed only when safe.
func (d *decoder) fields(n *yaml.Node, path string, known []string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		fp := join(path, d.safeKey(name))
		if k.Kind != yaml.ScalarNode {
			d.add(path, k, "field names must be plain strings")
			continue
		}
		if !contains(known, name) {
			d.add(fp, k, "unknown field (known: %s)", strings.Join(known, ", "))
			continue
		}
		if _, dup := out[name]; dup {
			d.add(fp, k, "appears more than once")
			continue
		}
		out[name] = v
	}
	return out
}

func (d *decoder) record(n *yaml.Node) *Record {
	f := d.fields(n, "", Fields())
	r := &Record{}
	for _, name := range Fields() {
		if _, ok := f[name]; !ok {
			d.add(name, nil, "is required")
		}
	}
	if v := f[FieldSchemaVersion]; v != nil {
		if v.Kind != yaml.ScalarNode || v.Tag != "!!int" {
			d.add(FieldSchemaVersion, v, "must be the integer %d", SchemaVersion)
		} else if i, err := strconv.Atoi(v.Value); err != nil || i != SchemaVersion {
			d.add(FieldSchemaVersion, v, "unsupported version %d: this exporter reads version %d", i, SchemaVersion)
		} else {
			r.SchemaVersion = i
		}
	}
	if v := f[FieldDrill]; v != nil {
		if s, ok := d.str(FieldDrill, v); ok {
			if !contains(Kinds(), s) {
				d.add(FieldDrill, v, "%s is not a drill kind (one of %s)", safe(s), strings.Join(Kinds(), ", "))
			} else {
				r.Drill = s
			}
		}
	}
	if v := f[FieldAssets]; v != nil {
		r.Assets = d.assets(v)
	}
	if v := f[FieldDate]; v != nil {
		r.Date = d.date(v)
	}
	if v := f[FieldOperator]; v != nil {
		r.Operator, _ = d.str(FieldOperator, v)
	}
	if v := f[FieldBackupReference]; v != nil {
		r.BackupReference, _ = d.str(FieldBackupReference, v)
	}
	if v := f[FieldRestoredEnvironment]; v != nil {
		r.RestoredEnvironment, _ = d.str(FieldRestoredEnvironment, v)
	}
	if v := f[FieldCommands]; v != nil {
		r.Commands = d.strList(FieldCommands, v)
	}
	if v := f[FieldChecks]; v != nil {
		r.Checks = d.checks(v)
	}
	if v := f[FieldNoSecretMaterial]; v != nil {
		switch {
		case v.Kind != yaml.ScalarNode || v.Tag != "!!bool":
			d.add(FieldNoSecretMaterial, v, "must be the boolean true")
		case v.Value == "true" || v.Value == "True" || v.Value == "TRUE":
			r.NoSecretMaterialRecorded = true
		default:
			d.add(FieldNoSecretMaterial, v, "must be true: a record that does not assert it never counts as a drill")
		}
	}
	if v := f[FieldRollbackNote]; v != nil {
		r.RollbackNote, _ = d.str(FieldRollbackNote, v)
	}
	return r
}

// str decodes a required, non-empty string.
func (d *decoder) str(field string, v *yaml.Node) (string, bool) {
	if v.Kind != yaml.ScalarNode || (v.Tag != "!!str" && v.Tag != "!!timestamp") {
		d.add(field, v, "must be a string")
		return "", false
	}
	if strings.TrimSpace(v.Value) == "" {
		d.add(field, v, "must not be empty")
		return "", false
	}
	if strings.HasPrefix(strings.TrimSpace(v.Value), todoPrefix) {
		d.add(field, v, "still holds the template's %s placeholder", todoPrefix)
		return "", false
	}
	return v.Value, true
}

func (d *decoder) strList(field string, v *yaml.Node) []string {
	if v.Kind != yaml.SequenceNode {
		d.add(field, v, "must be a list of strings")
		return nil
	}
	if len(v.Content) == 0 {
		d.add(field, v, "must not be empty")
	}
	var out []string
	for i, item := range v.Content {
		if s, ok := d.str(fmt.Sprintf("%s[%d]", field, i), item); ok {
			out = append(out, s)
		}
	}
	return out
}

func (d *decoder) assets(v *yaml.Node) []string {
	list := d.strList(FieldAssets, v)
	seen := map[string]bool{}
	var out []string
	for i, a := range list {
		field := fmt.Sprintf("%s[%d]", FieldAssets, i)
		item := v.Content[i]
		switch {
		case !assetNameRE.MatchString(a):
			d.add(field, item, "%s is not an asset name (lower-case letters, digits, '.', '_', '-')", safe(a))
		case seen[a]:
			d.add(field, item, "duplicate asset %s", safe(a))
		case d.opts.Assets != nil && !d.opts.Assets[a]:
			d.add(field, item, "%s is not in the configured asset inventory", safe(a))
		default:
			out = append(out, a)
		}
		seen[a] = true
	}
	return out
}

func (d *decoder) date(v *yaml.Node) time.Time {
	if v.Kind != yaml.ScalarNode {
		d.add(FieldDate, v, "must be a date (2026-11-20) or an RFC 3339 time (2026-11-20T10:00:00Z)")
		return time.Time{}
	}
	var t time.Time
	var err error
	if dateOnlyRE.MatchString(v.Value) {
		t, err = time.Parse(time.DateOnly, v.Value)
	} else {
		t, err = time.Parse(time.RFC3339, v.Value)
	}
	switch {
	case err != nil:
		d.add(FieldDate, v, "must be a date (2026-11-20) or an RFC 3339 time with a zone (2026-11-20T10:00:00Z)")
		return time.Time{}
	case t.After(d.opts.Now.Add(futureSkew)):
		d.clockDependent = true
		d.add(FieldDate, v, "is in the future: a drill is recorded after it ran")
		return time.Time{}
	case t.Year() < 2000:
		d.add(FieldDate, v, "is before 2000")
		return time.Time{}
	}
	return t.UTC()
}

func (d *decoder) checks(v *yaml.Node) []Check {
	if v.Kind != yaml.SequenceNode {
		d.add(FieldChecks, v, "must be a list of {name, result}")
		return nil
	}
	if len(v.Content) == 0 {
		d.add(FieldChecks, v, "must not be empty: a drill without post-restore checks proves nothing")
	}
	var out []Check
	for i, item := range v.Content {
		path := fmt.Sprintf("%s[%d]", FieldChecks, i)
		if item.Kind != yaml.MappingNode {
			d.add(path, item, "must be a mapping {name, result}")
			continue
		}
		f := d.fields(item, path, CheckFields())
		var c Check
		ok := true
		for _, name := range CheckFields() {
			if f[name] == nil {
				d.add(path+"."+name, item, "is required")
				ok = false
			}
		}
		if n := f[FieldCheckName]; n != nil {
			c.Name, _ = d.str(path+"."+FieldCheckName, n)
		}
		if r := f[FieldCheckResult]; r != nil {
			s, good := d.str(path+"."+FieldCheckResult, r)
			if good && !contains(Results(), s) {
				d.add(path+"."+FieldCheckResult, r, "%s is not a result (one of %s)", safe(s), strings.Join(Results(), ", "))
				good = false
			}
			if good {
				c.Result = s
			} else {
				ok = false
			}
		}
		if ok {
			out = append(out, c)
		}
	}
	return out
}

// safe quotes a value for a message when it is safe to print.
func safe(s string) string {
	if k := secretscan.SafeKey(s); k == s {
		return strconv.Quote(s)
	}
	return "the value (withheld)"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
