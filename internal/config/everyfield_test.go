package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// leaf is one configuration key: its dotted path (list elements as [0])
// and its Go type.
type leaf struct {
	path []string
	typ  reflect.Type
}

// configKeys lists every key of the configuration, found by reflection on
// Config, so a key added later is covered without touching this test.
func configKeys(t reflect.Type, prefix []string) []leaf {
	var out []leaf
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		path := append(append([]string{}, prefix...), name)
		out = append(out, leaf{path: path, typ: f.Type})
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && ft != reflect.TypeOf(Duration(0)):
			out = append(out, configKeys(ft, path)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			elem := append(append([]string{}, path[:len(path)-1]...), name+"[0]")
			out = append(out, configKeys(ft.Elem(), elem)...)
		}
	}
	return out
}

// wrongValue is a YAML flow value of the wrong type for typ, written on
// the key's own line so the error can name the key.
func wrongValue(typ reflect.Type) string {
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch typ.Kind() {
	case reflect.Slice, reflect.Map:
		return "not-a-list-or-map" // a scalar where a list or mapping belongs
	case reflect.Struct:
		return "[1, 2]"
	default: // strings, numbers, booleans, durations
		return "{wrong: type}"
	}
}

// document renders a YAML document with value at path (elements of lists
// as one-item lists).
func document(path []string, value string) string {
	var b strings.Builder
	for i, key := range path {
		indent := strings.Repeat("  ", i)
		name, isElem := strings.CutSuffix(key, "[0]")
		if isElem {
			fmt.Fprintf(&b, "%s%s:\n%s  -\n", indent, name, indent)
			// Deeper keys of the element sit under "- ", one more level.
			rest := document(path[i+1:], value)
			for _, l := range strings.Split(strings.TrimRight(rest, "\n"), "\n") {
				fmt.Fprintf(&b, "%s    %s\n", indent, l)
			}
			return b.String()
		}
		if i == len(path)-1 {
			fmt.Fprintf(&b, "%s%s: %s\n", indent, name, value)
		} else {
			fmt.Fprintf(&b, "%s%s:\n", indent, name)
		}
	}
	return b.String()
}

// TestEveryKeyRejectsAWrongType puts a value of the wrong type at every
// key of the configuration in turn: each must be refused with an error
// that names the key's full path (the invalid-*.yaml cases check the
// semantic rules per field).
func TestEveryKeyRejectsAWrongType(t *testing.T) {
	keys := configKeys(reflect.TypeOf(Config{}), nil)
	if len(keys) < 40 {
		t.Fatalf("found only %d keys: the reflection walk is broken", len(keys))
	}
	for _, k := range keys {
		path := strings.Join(k.path, ".")
		t.Run(path, func(t *testing.T) {
			doc := document(k.path, wrongValue(k.typ))
			_, err := Parse("/etc/forge-exporter/c.yaml", []byte(doc))
			if err == nil {
				t.Fatalf("accepted:\n%s", doc)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error does not name %s:\n%v\ndocument:\n%s", path, err, doc)
			}
		})
	}
	t.Logf("%d keys checked", len(keys))
}
