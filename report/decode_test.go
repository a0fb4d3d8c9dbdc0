package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var update = flag.Bool("update", false, "rewrite the golden .err files of fixtures/bad")

// goodFixtures returns every good fixture: reports the decoder must accept.
func goodFixtures(t testing.TB) []string {
	files, err := filepath.Glob("../fixtures/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no good fixtures in ../fixtures: %v", err)
	}
	return files
}

// badFixtures returns every bad fixture: reports the decoder must refuse.
func badFixtures(t testing.TB) []string {
	files, err := filepath.Glob("../fixtures/bad/*.json")
	if err != nil || len(files) < 30 {
		t.Fatalf("want at least 30 bad fixtures in ../fixtures/bad, have %d (%v)", len(files), err)
	}
	return files
}

func TestGoodFixtures(t *testing.T) {
	for _, f := range goodFixtures(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Decode(data, DefaultLimits())
			if err != nil {
				t.Fatalf("refused:\n%v", err)
			}
			if r.Schema != Schema || r.ID == "" || len(r.Sections) == 0 || r.Version < 1 {
				t.Errorf("decoded report misses required data: %+v", r)
			}
		})
	}
}

// TestBadFixtures decodes each fixtures/bad/NAME.json and compares the error
// lines with NAME.err; -update rewrites the .err files.
func TestBadFixtures(t *testing.T) {
	for _, f := range badFixtures(t) {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Decode(data, DefaultLimits())
			if err == nil {
				t.Fatalf("accepted: %+v", r)
			}
			if r != nil {
				t.Errorf("refused, but returned a report too")
			}
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is %T, not a non-empty Errors: %v", err, err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".json") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./report -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\ngot:\n%swant:\n%s", golden, got, want)
			}
		})
	}
}

// schemaCannot lists the bad fixtures that break a rule a JSON Schema cannot
// express, so only the decoder refuses them.
var schemaCannot = map[string]string{
	"table-row-cell-count":     "row length equal to len(columns) needs $data, not in JSON Schema",
	"image-magic-mismatch":     "magic bytes of base64 content",
	"image-not-an-image":       "magic bytes of base64 content",
	"image-header-truncated":   "image header inside base64 content",
	"image-pixels-60000x60000": "pixel count inside base64 content",
	"images-too-many":          "count of image sections across nesting levels",
	"utf8-invalid":             "encoding/json (which the validator parses with) replaces invalid UTF-8 silently",
	"lone-surrogate":           "encoding/json replaces a lone surrogate escape silently",
	"duplicate-key":            "a parsed JSON instance keeps one value per key",
}

// compileSchema compiles JSONSchema with format assertions on (date,
// date-time), as a strict consumer would.
func compileSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(JSONSchema))
	if err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const url = "report-v1.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return sch
}

// schemaValidate returns the schema's verdict on data: nil if valid.
func schemaValidate(sch *jsonschema.Schema, data []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err // not JSON: refused
	}
	return sch.Validate(inst)
}

// TestSchemaAgrees checks that the JSON Schema and the decoder agree on
// every fixture: good ones pass both, bad ones are refused by both, except
// the bad ones listed in schemaCannot, which the schema must accept (so the
// list stays honest).
func TestSchemaAgrees(t *testing.T) {
	sch := compileSchema(t)
	for _, f := range goodFixtures(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := schemaValidate(sch, data); err != nil {
			t.Errorf("%s: schema refuses a good fixture: %v", filepath.Base(f), err)
		}
	}
	seen := map[string]bool{}
	for _, f := range badFixtures(t) {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		err = schemaValidate(sch, data)
		reason, cannot := schemaCannot[name]
		seen[name] = true
		switch {
		case cannot && err != nil:
			t.Errorf("%s: listed as beyond JSON Schema (%s), but the schema refuses it: %v", name, reason, err)
		case !cannot && err == nil:
			t.Errorf("%s: the decoder refuses it, the schema accepts it", name)
		}
	}
	for name := range schemaCannot {
		if !seen[name] {
			t.Errorf("schemaCannot names %s, which is not a bad fixture", name)
		}
	}
}

// TestSchemaIsStrict checks the shape rules of the brief on the schema
// itself: draft 2020-12 and additionalProperties false on every object.
func TestSchemaIsStrict(t *testing.T) {
	var s map[string]any
	if err := json.Unmarshal(JSONSchema, &s); err != nil {
		t.Fatal(err)
	}
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema is %v", s["$schema"])
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["type"] == "object" && v["additionalProperties"] != false {
				t.Errorf("%s: object schema without additionalProperties false", path)
			}
			for k, c := range v {
				walk(path+"/"+k, c)
			}
		case []any:
			for _, c := range v {
				walk(path+"[]", c)
			}
		}
	}
	walk("#", s)
}
