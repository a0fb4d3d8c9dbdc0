package report

import (
	"encoding/json"
	"os"
	"testing"
)

// TestNullOptionalIsAbsent: null on every optional field (report-v1: "a
// field that is not required may be left out or given as null; both mean
// absent") decodes to the same report, with the same digest, as leaving
// the fields out, and the JSON Schema agrees; null on a required field is
// refused as missing by both (fixtures/bad/*-null.json).
func TestNullOptionalIsAbsent(t *testing.T) {
	data, err := os.ReadFile("../fixtures/spec-example.json")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Decode(data, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(data, &m)
	// Every optional field the example leaves out, given as null instead.
	for _, k := range []string{"orderingProvider", "encounterId", "exam", "addenda", "amendment"} {
		if _, ok := m[k]; ok {
			t.Fatalf("the example has %s", k)
		}
		m[k] = nil
	}
	m["version"] = nil // the default, 1, as when absent
	m["performers"].([]any)[0].(map[string]any)["signedAt"] = nil
	sections := m["sections"].([]any)
	// A field of another section kind given as null is absent too, as a
	// sender with one struct for every section kind writes it.
	sections[0].(map[string]any)["items"] = nil
	sections[0].(map[string]any)["sections"] = nil
	withNulls, _ := json.Marshal(m)

	got, err := Decode(withNulls, DefaultLimits())
	if err != nil {
		t.Fatalf("nulls on optional fields refused:\n%v", err)
	}
	plain.Performers[0].SignedAt = nil
	if Digest(got) != Digest(plain) {
		t.Errorf("digest with nulls %s, without the fields %s", Digest(got), Digest(plain))
	}
	if err := schemaValidate(compileSchema(t), withNulls); err != nil {
		t.Errorf("the JSON Schema refuses nulls on optional fields: %v", err)
	}
	// A null in an array is not a field: still refused.
	sections = append(sections, nil)
	m["sections"] = sections
	bad, _ := json.Marshal(m)
	if _, err := Decode(bad, DefaultLimits()); err == nil {
		t.Errorf("null section accepted")
	}
}
