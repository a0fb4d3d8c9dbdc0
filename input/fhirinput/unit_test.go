package fhirinput

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliohealth/folio/report"
)

// drBundle builds a collection Bundle around one DiagnosticReport.
func drBundle(dr map[string]any, more ...map[string]any) []byte {
	entries := []map[string]any{{"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001", "resource": dr}}
	for i, r := range more {
		entries = append(entries, map[string]any{"fullUrl": fmt.Sprintf("urn:uuid:00000000-0000-4000-8000-%012d", i+2), "resource": r})
	}
	b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "collection", "entry": entries})
	return b
}

func baseDR() map[string]any {
	return map[string]any{
		"resourceType": "DiagnosticReport", "id": "S1", "status": "final",
		"category":   []any{map[string]any{"coding": []any{map[string]any{"system": sysV20074, "code": "SP"}}}},
		"code":       map[string]any{"text": "Surgical Pathology"},
		"subject":    map[string]any{"reference": "urn:uuid:00000000-0000-4000-8000-000000000002"},
		"issued":     "2026-11-20T14:03:00-05:00",
		"identifier": []any{map[string]any{"value": "S1"}},
	}
}

func basePatient() map[string]any {
	return map[string]any{"resourceType": "Patient", "id": "p1", "name": []any{map[string]any{"family": "Doe", "given": []any{"Jane"}}}}
}

func mustMap(t *testing.T, data []byte, o Options) Mapped {
	t.Helper()
	ms, err := Map(data, o)
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	if len(ms) != 1 {
		t.Fatalf("want 1 report, got %d", len(ms))
	}
	return ms[0]
}

// Every way FHIR references a resource resolves: urn:uuid fullUrl, Type/id,
// a relative reference against the entry's absolute base, "#id" contained.
func TestReferenceForms(t *testing.T) {
	obs := func(id, text string) map[string]any {
		return map[string]any{"resourceType": "Observation", "id": id, "status": "final", "code": map[string]any{"text": "Item " + id}, "valueString": text}
	}
	dr := baseDR()
	dr["contained"] = []any{obs("c1", "from contained")}
	dr["result"] = []any{
		map[string]any{"reference": "#c1"},
		map[string]any{"reference": "urn:uuid:00000000-0000-4000-8000-000000000003"},
		map[string]any{"reference": "Observation/o4"},
		map[string]any{"reference": "Observation/o4/_history/2"},
	}
	m := mustMap(t, drBundle(dr, basePatient(), obs("o3", "by uuid"), obs("o4", "by type and id")), Options{})
	got := fmt.Sprint(m.Report.Sections)
	for _, w := range []string{"from contained", "by uuid", "by type and id"} {
		if !strings.Contains(got, w) {
			t.Errorf("result %q not mapped: %s", w, got)
		}
	}
	if m.Missing != 0 || len(m.Warnings) != 0 {
		t.Errorf("missing %d, warnings %v", m.Missing, m.Warnings)
	}
	// Relative reference resolved against the referring entry's server base.
	bundle := map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": []any{
		map[string]any{"fullUrl": "https://a.example/fhir/DiagnosticReport/S1", "resource": func() map[string]any {
			d := baseDR()
			d["subject"] = map[string]any{"reference": "Patient/p1"}
			return d
		}()},
		map[string]any{"fullUrl": "https://b.example/fhir/Patient/p1", "resource": map[string]any{"resourceType": "Patient", "id": "p1", "name": []any{map[string]any{"text": "Wrong Server"}}}},
		map[string]any{"fullUrl": "https://a.example/fhir/Patient/p1", "resource": basePatient()},
	}}
	b, _ := json.Marshal(bundle)
	if m := mustMap(t, b, Options{}); m.Report.Patient.Name != "Doe, Jane" {
		t.Errorf("relative reference resolved to %q, want the same server's Patient", m.Report.Patient.Name)
	}
}

// Unresolved results: the report renders, each is a warning, and its
// first section says how many are missing.
func TestMissingReferencesNotice(t *testing.T) {
	dr := baseDR()
	dr["result"] = []any{map[string]any{"reference": "Observation/a"}, map[string]any{"reference": "Observation/b"}}
	m := mustMap(t, drBundle(dr, basePatient()), Options{})
	if m.Missing != 2 || len(m.Warnings) != 2 {
		t.Fatalf("missing %d warnings %v", m.Missing, m.Warnings)
	}
	s := m.Report.Sections[0]
	if s.Title != "Incomplete report" || !strings.Contains(s.Body, "2 referenced results were not included") {
		t.Errorf("first section %+v", s)
	}
}

// The site table maps a local category; without it the report is refused
// naming DiagnosticReport.category.
func TestSiteCategoryTable(t *testing.T) {
	dr := baseDR()
	dr["category"] = []any{map[string]any{"coding": []any{map[string]any{"system": "urn:local", "code": "HISTO"}}}}
	data := drBundle(dr, basePatient())
	_, err := Map(data, Options{})
	var fe report.Errors
	if !errors.As(err, &fe) || fe[0].Path != "Bundle.entry[0].resource.category" {
		t.Fatalf("want a refusal naming the category, got %v", err)
	}
	m := mustMap(t, data, Options{Categories: map[string]string{"urn:local|HISTO": report.KindAP}})
	if m.Report.Kind != report.KindAP {
		t.Errorf("kind %q", m.Report.Kind)
	}
}

// Status mapping, withdrawal and versions.
func TestStatusAndVersion(t *testing.T) {
	for in, want := range map[string]string{"registered": "preliminary", "partial": "preliminary", "preliminary": "preliminary",
		"final": "final", "amended": "amended", "corrected": "corrected", "appended": "appended"} {
		dr := baseDR()
		dr["status"] = in
		m := mustMap(t, drBundle(dr, basePatient()), Options{})
		if m.Report.Status != want || m.Withdrawn {
			t.Errorf("%s -> %s (withdrawn %v), want %s", in, m.Report.Status, m.Withdrawn, want)
		}
		if (want == "amended" || want == "corrected") && m.Report.Amendment == nil {
			t.Errorf("%s without amendment", in)
		}
	}
	for _, in := range []string{"cancelled", "entered-in-error"} {
		dr := baseDR()
		dr["status"] = in
		if m := mustMap(t, drBundle(dr, basePatient()), Options{}); !m.Withdrawn || m.Report.ID != "S1" {
			t.Errorf("%s: withdrawn %v id %q", in, m.Withdrawn, m.Report.ID)
		}
	}
	dr := baseDR()
	dr["meta"] = map[string]any{"versionId": "7"}
	if m := mustMap(t, drBundle(dr, basePatient()), Options{}); m.Report.Version != 7 || !m.VersionGiven {
		t.Errorf("version %d given %v", m.Report.Version, m.VersionGiven)
	}
	dr["meta"] = map[string]any{"versionId": "W/\"abc\""}
	if m := mustMap(t, drBundle(dr, basePatient()), Options{}); m.Report.Version != 1 || m.VersionGiven || len(m.Warnings) != 1 {
		t.Errorf("non-numeric versionId: version %d given %v warnings %v", m.Report.Version, m.VersionGiven, m.Warnings)
	}
}

// Bounds: size, depth and resource count are refused before any work.
func TestLimits(t *testing.T) {
	data := drBundle(baseDR(), basePatient())
	if _, err := Map(data, Options{Limits: Limits{MaxBytes: len(data) - 1}}); err == nil || !strings.Contains(err.Error(), "more than the limit") {
		t.Errorf("size: %v", err)
	}
	var many []map[string]any
	for i := 0; i < 20; i++ {
		many = append(many, basePatient())
	}
	if _, err := Map(drBundle(baseDR(), many...), Options{Limits: Limits{MaxResources: 10}}); err == nil || !strings.Contains(err.Error(), "resources, more than the limit of 10") {
		t.Errorf("resources: %v", err)
	}
	deep := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	if _, err := Map([]byte(`{"resourceType":"DiagnosticReport","x":`+deep+`}`), Options{}); err == nil || !strings.Contains(err.Error(), "nests more than 64") {
		t.Errorf("depth: %v", err)
	}
	// Panels shared by many panels (a DAG: 8 levels of 12 members each,
	// every member of one level the same 12 panels of the next) would be
	// 12^8 rows: refused once the bound on followed references is reached,
	// after bounded work.
	{
		dr := baseDR()
		var more []map[string]any
		more = append(more, basePatient())
		id := func(l, i int) string { return fmt.Sprintf("L%dM%d", l, i) }
		for l := 0; l < 8; l++ {
			for i := 0; i < 12; i++ {
				o := map[string]any{"resourceType": "Observation", "id": id(l, i), "status": "final", "code": map[string]any{"text": "Q"}}
				if l < 7 {
					var members []any
					for j := 0; j < 12; j++ {
						members = append(members, map[string]any{"reference": "Observation/" + id(l+1, j)})
					}
					o["hasMember"] = members
				} else {
					o["valueString"] = "x"
				}
				more = append(more, o)
			}
		}
		dr["result"] = []any{map[string]any{"reference": "Observation/" + id(0, 0)}}
		_, err := Map(drBundle(dr, more...), Options{})
		if err == nil || !strings.Contains(err.Error(), "result references followed") {
			t.Errorf("shared panels: %v", err)
		}
	}
	// A hasMember cycle is printed once, never followed forever.
	dr := baseDR()
	dr["result"] = []any{map[string]any{"reference": "Observation/a"}}
	a := map[string]any{"resourceType": "Observation", "id": "a", "status": "final", "code": map[string]any{"text": "A"}, "hasMember": []any{map[string]any{"reference": "Observation/b"}}}
	b := map[string]any{"resourceType": "Observation", "id": "b", "status": "final", "code": map[string]any{"text": "B"}, "hasMember": []any{map[string]any{"reference": "Observation/a"}}}
	m := mustMap(t, drBundle(dr, basePatient(), a, b), Options{})
	if !strings.Contains(strings.Join(m.Warnings, "\n"), "loops back") {
		t.Errorf("cycle not reported: %v", m.Warnings)
	}
}

// XHTML: the strict subset maps to markdown; nothing is a live link,
// image or script.
func TestXHTML(t *testing.T) {
	m := &mapper{}
	md, ok := m.xhtml("x", `<div><p>a <b>bold</b> <i>it</i> <u>u</u></p><script>alert(1)</script><a href="http://h/x">link</a><img src="http://h/i.png" alt="pic"/><p>[x](http://y) &lt;b&gt;</p></div>`)
	if !ok {
		t.Fatal(m.errs)
	}
	want := "a **bold** *it* u\n\nlink (http://h/x)pic (image not shown: http://h/i.png)\n\n\\[x\\](http://y) \\<b\\>"
	if md != want {
		t.Errorf("got  %q\nwant %q", md, want)
	}
	if len(m.warns) != 1 || !strings.Contains(m.warns[0], "script") {
		t.Errorf("warnings %v", m.warns)
	}
}

// TestEscapeMD: escaped text is literal.
func TestEscapeMD(t *testing.T) {
	for in, want := range map[string]string{
		"1. a": "1\\. a", "- x": "\\- x", "a - b": "a - b", "*x*": "\\*x\\*", "<b>": "\\<b\\>", "1.8 cm": "1.8 cm", "x\n2) y": "x\n2\\) y",
	} {
		if got := escapeMD(in); got != want {
			t.Errorf("escapeMD(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzMap: any input is mapped or refused with a path, never a panic, and
// a mapped report always satisfies the contract.
func FuzzMap(f *testing.F) {
	for _, pat := range []string{"../../fixtures/fhir/*.json", "../../fixtures/fhir/bad/*.json", "../../fixtures/fhir/hl7/*.json"} {
		files, _ := filepath.Glob(pat)
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ms, err := Map(data, Options{})
		if err != nil {
			var fe report.Errors
			if !errors.As(err, &fe) || len(fe) == 0 {
				t.Fatalf("error is not report.Errors: %v", err)
			}
			for _, e := range fe {
				if e.Path == "" || e.Rule == "" {
					t.Fatalf("error without path or rule: %+v", e)
				}
			}
			return
		}
		for _, m := range ms {
			js, err := json.Marshal(m.Report)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := report.Decode(js, report.Limits{}); err != nil {
				t.Fatalf("mapped report breaks the contract: %v", err)
			}
		}
	})
}

// pathologyBundle30 is a pathology Bundle of 30 result Observations: a
// synoptic panel of 24 members in 4 sub-panels, and 6 plain results.
func pathologyBundle30() []byte {
	dr := baseDR()
	var res []any
	var more []map[string]any
	more = append(more, basePatient())
	n := 0
	newObs := func(text string, extra map[string]any) string {
		n++
		id := fmt.Sprintf("o%d", n)
		o := map[string]any{"resourceType": "Observation", "id": id, "status": "final",
			"code": map[string]any{"coding": []any{map[string]any{"system": sysLOINC, "code": fmt.Sprintf("LP%d-1", 7000+n), "display": "Question " + id}}}}
		if text != "" {
			o["valueCodeableConcept"] = map[string]any{"text": text}
		}
		for k, v := range extra {
			o[k] = v
		}
		more = append(more, o)
		return "Observation/" + id
	}
	var panels []any
	for p := 0; p < 4; p++ {
		var members []any
		for i := 0; i < 5; i++ {
			members = append(members, map[string]any{"reference": newObs(fmt.Sprintf("Answer %d.%d with some words", p, i), nil)})
		}
		panels = append(panels, map[string]any{"reference": newObs("", map[string]any{"hasMember": members})})
	}
	res = append(res, map[string]any{"reference": newObs("", map[string]any{"hasMember": panels})})
	for i := 0; i < 5; i++ {
		res = append(res, map[string]any{"reference": newObs("", map[string]any{
			"valueQuantity":  map[string]any{"value": 12.5, "unit": "mm"},
			"referenceRange": []any{map[string]any{"low": map[string]any{"value": 1, "unit": "mm"}, "high": map[string]any{"value": 20, "unit": "mm"}}},
			"interpretation": []any{map[string]any{"text": "Normal"}},
		})})
	}
	dr["result"] = res
	return drBundle(dr, more...)
}

func TestPathologyBundle30(t *testing.T) {
	m := mustMap(t, pathologyBundle30(), Options{})
	if m.Missing != 0 || len(m.Warnings) != 0 {
		t.Fatalf("missing %d warnings %v", m.Missing, m.Warnings)
	}
	js, _ := json.Marshal(m.Report)
	if c := strings.Count(string(js), `"label"`); c != 25 {
		t.Errorf("%d items, want 25 (20 panel members and 5 results)", c)
	}
}

// BenchmarkMap30: a 30-Observation pathology Bundle, decode and mapping
// and the contract check of the result (report.Decode) included.
func BenchmarkMap30(b *testing.B) {
	data := pathologyBundle30()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Map(data, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestNotAReportWhateverItsShape: a resource folio does not read is refused
// as "not a report" at resourceType, even when one of its elements has a
// shape the shared decoder does not expect (US Core's
// documentreference-discharge-summary.json, with DocumentReference.content
// a list as R4 defines it, was refused at "DocumentReference.content: must
// be an object"). In a Bundle, the same DocumentReference is ignored.
func TestNotAReportWhateverItsShape(t *testing.T) {
	docRef := map[string]any{
		"resourceType": "DocumentReference", "id": "d1", "status": "current",
		"content": []any{map[string]any{"attachment": map[string]any{"contentType": "text/plain", "url": "Binary/b1"}}},
	}
	data, _ := json.Marshal(docRef)
	_, err := Map(data, Options{})
	var errs report.Errors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Path != "resourceType" || !strings.Contains(errs[0].Rule, `"DocumentReference" is not a report`) {
		t.Errorf("a DocumentReference: %v, want one error at resourceType saying it is not a report", err)
	}
	if _, err := Map(drBundle(baseDR(), basePatient(), docRef), Options{}); err != nil {
		t.Errorf("a Bundle with a DiagnosticReport and a DocumentReference: %v", err)
	}
}
