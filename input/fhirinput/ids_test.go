package fhirinput

import "testing"

// TestIdentifierVerbatim: a DiagnosticReport without a plain resource id
// takes its accession identifier's value as the report id, verbatim ("/",
// spaces, "_", "#", non-ASCII); a plain resource id stays the report id;
// an accession that cannot be an identifier (a control character) is not
// used as the id.
func TestIdentifierVerbatim(t *testing.T) {
	acsn := func(v string) []any {
		return []any{map[string]any{"type": map[string]any{"coding": []any{map[string]any{"system": sysV20203, "code": "ACSN"}}}, "value": v}}
	}
	for _, v := range []string{"S26/1234", "RAD 2026 1118", "FON_0d70c6c8", "ACC#77", "Zürich-Ä/1"} {
		dr := baseDR()
		delete(dr, "id")
		dr["identifier"] = acsn(v)
		m := mustMap(t, drBundle(dr, basePatient()), Options{})
		if m.Report.ID != v || m.Report.Accession != v {
			t.Errorf("accession %q: report id %q accession %q, want both verbatim", v, m.Report.ID, m.Report.Accession)
		}
		dr["id"] = "S1"
		if m := mustMap(t, drBundle(dr, basePatient()), Options{}); m.Report.ID != "S1" || m.Report.Accession != v {
			t.Errorf("resource id S1, accession %q: report id %q accession %q", v, m.Report.ID, m.Report.Accession)
		}
	}
	dr := baseDR()
	delete(dr, "id")
	dr["identifier"] = acsn("S26\t1")
	if m := mustMap(t, drBundle(dr, basePatient()), Options{}); m.Report.ID != "00000000-0000-4000-8000-000000000001" {
		t.Errorf("accession with a tab: report id %q, want the entry's urn:uuid", m.Report.ID)
	}
}
