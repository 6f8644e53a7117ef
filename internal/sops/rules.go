package sops

import (
	"fmt"
	"regexp"
	"strings"
)

// defaultUnencryptedSuffix is the rule sops applies when a file names none.
const defaultUnencryptedSuffix = "_unencrypted"

// ruleKinds are the metadata keys that choose which values are encrypted;
// sops allows at most one of them in a file.
var ruleKinds = []string{
	"unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex",
	"unencrypted_comment_regex", "encrypted_comment_regex",
}

// rules decides, for a value at a key path with its comment context,
// whether sops encrypts it.
type rules struct {
	rule Rule
	re   *regexp.Regexp // the compiled regex of a *_regex rule
}

// rulesOf reads the file's rule from its metadata.
func rulesOf(m map[string]any) (*rules, error) {
	var found []Rule
	for _, k := range ruleKinds {
		if v := str(m[k]); v != "" {
			found = append(found, Rule{Kind: k, Value: v})
		}
	}
	switch len(found) {
	case 0:
		return &rules{rule: Rule{Kind: "unencrypted_suffix", Value: defaultUnencryptedSuffix}}, nil
	case 1:
	default:
		kinds := make([]string, len(found))
		for i, f := range found {
			kinds[i] = f.Kind
		}
		return nil, fmt.Errorf("more than one encryption rule (%s); sops allows one", strings.Join(kinds, ", "))
	}
	r := &rules{rule: found[0]}
	if strings.HasSuffix(r.rule.Kind, "_regex") {
		re, err := regexp.Compile(r.rule.Value)
		if err != nil {
			// sops ignores the error and the rule then never matches; a
			// sentinel says so instead.
			return nil, fmt.Errorf("%s is not a valid regular expression", r.rule.Kind)
		}
		r.re = re
	}
	return r, nil
}

// encrypt reports whether sops encrypts a value (or a comment) at path,
// given the comments in force at each enclosing level (stack, innermost
// last). It mirrors sops' own decision:
//
//   - unencrypted_suffix: encrypted unless some key on the path ends with it;
//   - encrypted_suffix: encrypted only if some key on the path ends with it;
//   - unencrypted_regex: encrypted unless some key on the path matches it;
//   - encrypted_regex: encrypted only if some key on the path matches it;
//   - unencrypted_comment_regex: encrypted unless a comment in force matches;
//   - encrypted_comment_regex: encrypted only if a comment in force matches,
//     the matching comment itself excepted.
//
// Keys are matched one by one, never the joined path, and sequence items
// add no key (a value in a list inherits the key of the list).
func (r *rules) encrypt(path []string, stack [][]string, isComment bool) bool {
	v := r.rule.Value
	switch r.rule.Kind {
	case "unencrypted_suffix":
		return !anyKey(path, func(k string) bool { return strings.HasSuffix(k, v) })
	case "encrypted_suffix":
		return anyKey(path, func(k string) bool { return strings.HasSuffix(k, v) })
	case "unencrypted_regex":
		return !anyKey(path, r.re.MatchString)
	case "encrypted_regex":
		return anyKey(path, r.re.MatchString)
	case "unencrypted_comment_regex":
		for _, level := range stack {
			for _, c := range level {
				if r.re.MatchString(c) {
					return false
				}
			}
		}
		return true
	case "encrypted_comment_regex":
		last := len(stack) - 1
		for i, level := range stack {
			for j, c := range level {
				// The comment that carries the marker stays readable: when
				// deciding about a comment, the newest comment (itself) is
				// not counted.
				if isComment && i == last && j == len(level)-1 {
					continue
				}
				if r.re.MatchString(c) {
					return true
				}
			}
		}
		return false
	}
	return true
}

func anyKey(path []string, match func(string) bool) bool {
	for _, k := range path {
		if match(k) {
			return true
		}
	}
	return false
}

// meaningfulKey is the key name a plaintext value is classified by: with
// an unencrypted suffix the suffix is a marker, not part of the meaning
// (db_password_unencrypted names a password).
func (r *rules) meaningfulKey(k string) string {
	if r.rule.Kind == "unencrypted_suffix" {
		return strings.TrimSuffix(k, r.rule.Value)
	}
	return k
}
