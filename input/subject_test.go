package input_test

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/foliohealth/folio/input"
	"github.com/foliohealth/folio/report"
)

// What a report offers for choosing its site profile: HL7 v2 MSH-4's
// namespace id, the FHIR facility Organization's identifiers and name.
func TestProfileSubject(t *testing.T) {
	raw, err := os.ReadFile("../fixtures/fhir/ct-chest-collection.json")
	if err != nil {
		t.Fatal(err)
	}
	var b map[string]any
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	for _, e := range b["entry"].([]any) {
		r := e.(map[string]any)["resource"].(map[string]any)
		if r["resourceType"] == "Organization" {
			r["identifier"] = []any{map[string]any{"system": "urn:oid:1.2.276.0.76.4.8", "value": "260100001"}}
		}
	}
	raw, _ = json.Marshal(b)
	docs, err := input.Map(input.FHIR, raw, input.Options{Limits: report.DefaultLimits()})
	if err != nil || len(docs) != 1 {
		t.Fatalf("%d docs: %v", len(docs), err)
	}
	want := []string{"urn:oid:1.2.276.0.76.4.8|260100001", "Lakeside General Hospital, Department of Radiology"}
	if !slices.Equal(docs[0].Organizations, want) {
		t.Errorf("organizations %q, want %q", docs[0].Organizations, want)
	}
	if docs[0].SendingFacility != "" {
		t.Errorf("FHIR input with a sending facility %q", docs[0].SendingFacility)
	}

	hl7, err := os.ReadFile("../fixtures/profiles/reports/hopital-nord.hl7")
	if err != nil {
		t.Fatal(err)
	}
	docs, err = input.Map(input.HL7, hl7, input.Options{Limits: report.DefaultLimits()})
	if err != nil || len(docs) != 1 {
		t.Fatalf("%d docs: %v", len(docs), err)
	}
	if docs[0].SendingFacility != "HOPNORD" || docs[0].Organizations != nil {
		t.Errorf("HL7: sending facility %q, organizations %q", docs[0].SendingFacility, docs[0].Organizations)
	}
}
