package hostile

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/input"
	"github.com/foliohealth/folio/queue"
	"github.com/foliohealth/folio/render"
)

// hostileHTML puts u in every HTML construct that could make a reader
// fetch, follow or run something.
func hostileHTML(u string) string {
	return fmt.Sprintf(`<html><head><link rel="stylesheet" href="%[1]s"><meta http-equiv="refresh" content="0;url=%[1]s">`+
		`<script src="%[1]s">fetch("%[1]s")</script><style>@import url(%[1]s);</style><base href="%[1]s"></head>`+
		`<body><p>See <a href="%[1]s">the images</a> <img src="%[1]s" alt="slide"> <img srcset="%[1]s 2x"></p>`+
		`<iframe src="%[1]s"></iframe><object data="%[1]s"></object><embed src="%[1]s"><svg><image href="%[1]s"/></svg>`+
		`<video src="%[1]s" poster="%[1]s"></video><form action="%[1]s"><input type="image" src="%[1]s"></form>`+
		`<table background="%[1]s"><tr><td style="background:url(%[1]s)">cell</td></tr></table></body></html>`, u)
}

// hostileFHIR returns a FHIR document Bundle and a collection Bundle in
// which every reference, every Attachment.url, every narrative and every
// presented form points at the trap.
func hostileFHIR(t testing.TB, tr *trap) [][]byte {
	all := tr.urls("fhir")
	one := strings.Join(all, " ")
	var html strings.Builder
	for _, u := range tr.urls("html") {
		html.WriteString(hostileHTML(u))
	}
	div := `<div xmlns="http://www.w3.org/1999/xhtml">` + strings.ReplaceAll(strings.ReplaceAll(hostileHTML(all[0]), "<html>", ""), "</html>", "") + `</div>`
	ref := func(u string) map[string]any { return map[string]any{"reference": u} }
	var results []any
	for _, u := range tr.urls("result") {
		results = append(results, ref(u))
	}
	patient := map[string]any{"resourceType": "Patient", "id": "p1", "name": []any{map[string]any{"family": "Doe", "given": []any{"Jane " + all[1]}}},
		"photo": []any{map[string]any{"url": all[2]}}}
	obs := map[string]any{"resourceType": "Observation", "id": "o1", "status": "final", "code": map[string]any{"text": "Finding " + all[3]},
		"valueString": "See " + one, "note": []any{map[string]any{"text": all[4]}}, "derivedFrom": []any{ref(all[5])},
		"hasMember": []any{ref(all[6])}}
	narr := map[string]any{"resourceType": "Observation", "id": "o2", "status": "final", "code": map[string]any{"text": "Narrative"},
		"text": map[string]any{"status": "generated", "div": div}}
	dr := map[string]any{"resourceType": "DiagnosticReport", "id": "H1", "status": "final",
		"category": []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "SP"}}}},
		"code":     map[string]any{"text": "Pathology " + all[7]}, "subject": ref("https://fhir.example/Patient/p1"),
		"issued": "2026-11-20T14:03:00-05:00", "identifier": []any{map[string]any{"value": "H1"}},
		"basedOn": []any{ref(all[8])}, "encounter": ref(all[9]), "performer": []any{ref(all[10])}, "resultsInterpreter": []any{ref(all[11])},
		"specimen": []any{ref(all[0])}, "imagingStudy": []any{ref(all[1])}, "media": []any{map[string]any{"link": ref(all[2])}},
		"result": append(results, ref("https://fhir.example/Observation/o1"), ref("https://fhir.example/Observation/o2")),
		"presentedForm": []any{
			map[string]any{"contentType": "text/html", "data": base64.StdEncoding.EncodeToString([]byte(html.String()))},
			map[string]any{"contentType": "application/pdf", "url": all[3], "title": "PDF at a URL"},
			map[string]any{"contentType": "text/html", "url": all[4]},
			map[string]any{"contentType": "image/png", "url": all[5]},
		},
		"text": map[string]any{"status": "generated", "div": div}}
	entry := func(r map[string]any) map[string]any {
		return map[string]any{"fullUrl": "https://fhir.example/" + r["resourceType"].(string) + "/" + r["id"].(string), "resource": r}
	}
	collection := map[string]any{"resourceType": "Bundle", "type": "collection", "link": []any{map[string]any{"relation": "next", "url": all[6]}},
		"entry": []any{entry(dr), entry(patient), entry(obs), entry(narr)}}
	comp := map[string]any{"resourceType": "Composition", "id": "c1", "status": "final",
		"type":    map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "11526-1"}}},
		"subject": ref("https://fhir.example/Patient/p1"), "date": "2026-11-20T14:03:00-05:00", "title": "Document " + all[7],
		"author": []any{ref(all[8])}, "custodian": ref(all[9]),
		"section": []any{map[string]any{"title": "Section " + all[10], "text": map[string]any{"status": "generated", "div": div},
			"entry":   []any{ref(all[11]), ref("https://fhir.example/Observation/o1")},
			"section": []any{map[string]any{"title": "Nested", "text": map[string]any{"status": "generated", "div": div}}}}}}
	document := map[string]any{"resourceType": "Bundle", "type": "document", "entry": []any{entry(comp), entry(patient), entry(obs)}}
	return [][]byte{mustJSON(t, collection), mustJSON(t, document)}
}

// TestNoFetchFHIR maps and renders FHIR inputs whose every reference,
// Attachment.url, narrative and HTML presented form points at the counting
// loopback listener, through input.Map, layout, PDF and thumbnail, and then
// as "fhir" jobs through a real worker: no connection may reach the
// listener. Links and images print their targets as text.
func TestNoFetchFHIR(t *testing.T) {
	tr := newTrap(t)
	inputs := hostileFHIR(t, tr)
	for i, data := range inputs {
		docs, err := input.Map(input.FHIR, data, input.Options{})
		if err != nil {
			t.Fatalf("input %d: a FHIR input full of URLs is valid and must map: %v", i, err)
		}
		for _, d := range docs {
			laid, err := render.Layout(d.Report)
			if err != nil {
				t.Fatal(err)
			}
			pdf, err := laid.PDF()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := laid.Thumbnail(render.ThumbOptions{}); err != nil {
				t.Fatal(err)
			}
			text := pdfText(t, pdf)
			if !strings.Contains(text, "127.0.0.1") || !strings.Contains(text, "image not shown") {
				t.Errorf("input %d: link and image targets are not printed as text", i)
			}
			if strings.Contains(text, `fetch("`) {
				t.Errorf("input %d: script content printed", i)
			}
			if i == 0 && d.Missing == 0 {
				t.Errorf("input 0: references to the trap counted as included")
			}
		}
	}

	ctx, q := workerQueue(t)
	for i, data := range inputs {
		sub, err := q.Submit(ctx, &queue.Job{Outputs: []string{folio.OutputPDF, folio.OutputThumbnail}, FHIR: data})
		if err != nil {
			t.Fatal(err)
		}
		st := waitFinal(t, q, sub.JobID)
		if st.Status != queue.StatusDone {
			t.Fatalf("input %d: job %s: %s %s", i, st.JobID, st.Status, st.Error)
		}
		if len(st.Warnings) == 0 {
			t.Errorf("input %d: the job carries no warning about what it left out", i)
		}
	}
	if n, r := tr.conns.Load(), tr.reqs.Load(); n != 0 || r != 0 {
		t.Errorf("the trap saw %d connections and %d requests; want none", n, r)
	} else {
		t.Logf("trap: 0 connections, 0 requests after mapping, rendering and the worker (%d URLs per field, 2 FHIR inputs)", len(tr.urls("x")))
	}
}
