package evidence

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

const schemaPath = "../../docs/evidence.schema.json"

// The JSON Schema is for editors and other tools; the Go validator is what
// the exporter runs. These tests keep them in step: the same field set,
// enums and version, and the same verdict on every testdata record that the
// schema can judge.

func loadSchema(t *testing.T) (*jsonschema.Schema, map[string]any) {
	t.Helper()
	raw, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", schemaPath, err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("evidence.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("evidence.schema.json")
	if err != nil {
		t.Fatalf("compiling %s: %v", schemaPath, err)
	}
	return s, doc
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestSchemaMatchesValidatorFields(t *testing.T) {
	_, doc := loadSchema(t)
	props := doc["properties"].(map[string]any)
	if got, want := keys(props), sorted(Fields()); !reflect.DeepEqual(got, want) {
		t.Errorf("schema properties %v, Go fields %v", got, want)
	}
	if got, want := sorted(strs(doc["required"])), sorted(Fields()); !reflect.DeepEqual(got, want) {
		t.Errorf("schema required %v, Go fields %v", got, want)
	}
	if doc["additionalProperties"] != false {
		t.Error("schema allows unknown fields; the validator does not")
	}
	if got := props[FieldSchemaVersion].(map[string]any)["const"]; got != float64(SchemaVersion) {
		t.Errorf("schema_version const %v, Go %d", got, SchemaVersion)
	}
	if got := strs(props[FieldDrill].(map[string]any)["enum"]); !reflect.DeepEqual(got, Kinds()) {
		t.Errorf("drill enum %v, Go %v", got, Kinds())
	}
	check := props[FieldChecks].(map[string]any)["items"].(map[string]any)
	if got, want := keys(check["properties"].(map[string]any)), sorted(CheckFields()); !reflect.DeepEqual(got, want) {
		t.Errorf("check properties %v, Go %v", got, want)
	}
	if got := strs(check["properties"].(map[string]any)[FieldCheckResult].(map[string]any)["enum"]); !reflect.DeepEqual(got, Results()) {
		t.Errorf("result enum %v, Go %v", got, Results())
	}
	if got := props[FieldAssets].(map[string]any)["items"].(map[string]any)["pattern"]; got != assetNameRE.String() {
		t.Errorf("asset pattern %v, Go %s", got, assetNameRE)
	}
}

func TestSchemaAgreesWithValidator(t *testing.T) {
	schema, _ := loadSchema(t)
	valid, _ := filepath.Glob("testdata/valid/*")
	for _, f := range valid {
		if err := schema.Validate(toJSON(t, f)); err != nil {
			t.Errorf("%s: valid for the Go validator, rejected by the schema: %v", f, err)
		}
	}
	for name, c := range invalidCases {
		f := filepath.Join("testdata/invalid", name)
		data, _ := os.ReadFile(f)
		var v any
		if err := yaml.Unmarshal(data, new(yaml.Node)); err != nil {
			continue // not YAML at all: nothing for the schema to judge
		}
		v = toJSON(t, f)
		err := schema.Validate(v)
		if c.schema && err == nil {
			t.Errorf("%s: the Go validator rejects it, the schema accepts it", name)
		}
		if !c.schema && err != nil {
			t.Errorf("%s: marked as beyond the schema, but the schema rejects it: %v", name, err)
		}
	}
	for _, k := range Kinds() {
		tmpl, _ := Template(k, testNow)
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(tmpl), &n); err != nil {
			t.Fatal(err)
		}
		if err := schema.Validate(nodeJSON(n.Content[0])); err == nil {
			t.Errorf("%s: the schema accepts an unedited template", k)
		}
	}
}

// toJSON reads a YAML or JSON file into the values a JSON parser would give.
func toJSON(t *testing.T, path string) any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(n.Content) == 0 {
		return nil
	}
	return nodeJSON(n.Content[0])
}

func nodeJSON(n *yaml.Node) any {
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = nodeJSON(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		out := []any{}
		for _, c := range n.Content {
			out = append(out, nodeJSON(c))
		}
		return out
	case yaml.AliasNode:
		return nodeJSON(n.Alias)
	}
	switch n.Tag {
	case "!!int", "!!float":
		f, _ := strconv.ParseFloat(n.Value, 64)
		return json.Number(strconv.FormatFloat(f, 'f', -1, 64))
	case "!!bool":
		return n.Value == "true"
	case "!!null":
		return nil
	}
	return n.Value
}
