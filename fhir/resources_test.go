package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
)

func TestDocumentReferenceRead(t *testing.T) {
	e := newEnv(t, nil)
	tok := "Bearer " + e.token(t, allScopes)
	res, body := e.get(t, "/DocumentReference/"+e.rec1, "Authorization", tok)
	if res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	var d DocumentReference
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	if d.Status != "superseded" || d.DocStatus != "final" || d.Meta.VersionID != "2" {
		t.Errorf("v1: status %q docStatus %q versionId %q; want superseded, final, 2", d.Status, d.DocStatus, d.Meta.VersionID)
	}
	if d.Subject.Reference != "Patient/pt-1" || d.Date != "2026-11-20T19:03:00.000Z" {
		t.Errorf("subject %q date %q", d.Subject.Reference, d.Date)
	}
	if len(d.Type.Coding) != 1 || d.Type.Coding[0].Code != "11526-1" || d.Type.Coding[0].System != loincSystem {
		t.Errorf("type %+v", d.Type)
	}
	if !hasCode(d.Category, "LP7839-6") || !hasCode(d.Category, "clinical-note") {
		t.Errorf("category %+v", d.Category)
	}
	if len(d.Content) != 2 || d.Content[0].Attachment.ContentType != "application/pdf" || d.Content[1].Attachment.ContentType != "image/png" {
		t.Fatalf("content %+v", d.Content)
	}
	a := d.Content[0].Attachment
	if a.URL != "Binary/"+e.pdf1 || a.Size != 61440 || a.Hash == "" || a.Title != "Surgical Pathology Report" || a.Creation == "" {
		t.Errorf("attachment %+v", a)
	}
	if res.Header.Get("ETag") != `W/"2"` {
		t.Errorf("ETag %q", res.Header.Get("ETag"))
	}
	res, _ = e.get(t, "/DocumentReference/"+e.rec1, "Authorization", tok, "If-None-Match", `W/"2"`)
	if res.StatusCode != 304 {
		t.Errorf("If-None-Match: %d", res.StatusCode)
	}

	res, body = e.get(t, "/DocumentReference/"+e.rec2, "Authorization", tok)
	var d2 DocumentReference
	json.Unmarshal(body, &d2)
	if d2.Status != "current" || d2.DocStatus != "amended" || len(d2.RelatesTo) != 1 ||
		d2.RelatesTo[0].Code != "replaces" || d2.RelatesTo[0].Target.Reference != "DocumentReference/"+e.rec1 {
		t.Errorf("v2: status %q docStatus %q relatesTo %+v", d2.Status, d2.DocStatus, d2.RelatesTo)
	}

	res, body = e.get(t, "/DocumentReference/nope-1", "Authorization", tok)
	if oo := outcome(t, res, body); res.StatusCode != 404 || oo.Issue[0].Code != "not-found" {
		t.Errorf("unknown: %d %+v", res.StatusCode, oo)
	}
}

func hasCode(ccs []codeableConcept, code string) bool {
	for _, cc := range ccs {
		for _, c := range cc.Coding {
			if c.Code == code {
				return true
			}
		}
	}
	return false
}

func TestDiagnosticReportRead(t *testing.T) {
	e := newEnv(t, nil)
	tok := "Bearer " + e.token(t, allScopes)
	res, body := e.get(t, "/DiagnosticReport/"+e.radRec, "Authorization", tok)
	if res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	var d DiagnosticReport
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	if d.Status != "preliminary" || !hasCode(d.Category, "LP29684-5") || d.Code.Coding[0].Code != "18748-4" ||
		d.Subject.Reference != "Patient/pt-2" || d.Encounter == nil || d.Encounter.Reference != "Encounter/enc-7" || d.Issued == "" {
		t.Errorf("DiagnosticReport %+v", d)
	}
	if len(d.PresentedForm) != 1 || d.PresentedForm[0].URL != "Binary/"+e.rad || d.PresentedForm[0].Size != 5000 {
		t.Errorf("presentedForm %+v", d.PresentedForm)
	}
}

// Every presentedForm.url also appears as a DocumentReference attachment
// url for the same patient (US Core).
func TestPresentedFormsAreDocumentReferenceAttachments(t *testing.T) {
	e := newEnv(t, nil)
	tok := "Bearer " + e.token(t, allScopes)
	for _, pt := range []string{"pt-1", "pt-2"} {
		_, db := e.get(t, "/DocumentReference?patient="+pt, "Authorization", tok)
		_, rb := e.get(t, "/DiagnosticReport?patient="+pt, "Authorization", tok)
		docURLs := map[string]bool{}
		for _, m := range regexp.MustCompile(`"url":"(Binary/[^"]+)"`).FindAllStringSubmatch(string(db), -1) {
			docURLs[m[1]] = true
		}
		forms := regexp.MustCompile(`"url":"(Binary/[^"]+)"`).FindAllStringSubmatch(string(rb), -1)
		if len(forms) == 0 {
			t.Fatalf("%s: no presentedForm urls", pt)
		}
		for _, m := range forms {
			if !docURLs[m[1]] {
				t.Errorf("%s: presentedForm %s is not a DocumentReference attachment", pt, m[1])
			}
		}
	}
}

func TestSearch(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.BaseURL = "https://fhir.example.org/r4/" })
	tok := "Bearer " + e.token(t, allScopes)
	cases := []struct {
		query  string
		status int
		ids    []string
	}{
		{"/DocumentReference?patient=pt-1", 200, []string{"S26-1-1", "S26-1-2"}},
		{"/DocumentReference?patient=Patient/pt-1", 200, []string{"S26-1-1", "S26-1-2"}},
		{"/DocumentReference?subject=pt-2", 200, []string{"R-9-1"}},
		{"/DocumentReference?patient=pt-1&type=11526-1", 200, []string{"S26-1-1", "S26-1-2"}},
		{"/DocumentReference?patient=pt-1&type=http://loinc.org|11526-1", 200, []string{"S26-1-1", "S26-1-2"}},
		{"/DocumentReference?patient=pt-1&type=http://other|11526-1", 200, nil},
		{"/DocumentReference?patient=pt-1&type=18748-4", 200, nil},
		{"/DocumentReference?patient=pt-2&type=18748-4,11526-1", 200, []string{"R-9-1"}},
		{"/DocumentReference?patient=pt-1&category=LP7839-6", 200, []string{"S26-1-1", "S26-1-2"}},
		{"/DocumentReference?patient=pt-1&category=clinical-note", 200, []string{"S26-1-1", "S26-1-2"}},
		{"/DocumentReference?patient=pt-1&category=LP29684-5", 200, nil},
		{"/DiagnosticReport?patient=pt-2", 200, []string{"R-9-1"}},
		{"/DiagnosticReport?patient=pt-2&category=http://loinc.org|LP29684-5", 200, []string{"R-9-1"}},
		{"/DiagnosticReport?patient=pt-2&code=11526-1", 200, nil},
		{"/DiagnosticReport?patient=nobody", 200, nil},
		{"/DocumentReference", 400, nil},
		{"/DocumentReference?type=11526-1", 400, nil},
		{"/DocumentReference?patient=pt-1&status=current", 200, []string{"S26-1-2"}},
		{"/DocumentReference?patient=pt-1&patient=pt-2", 200, nil},
		{"/DocumentReference?patient=pt-1,pt-2", 400, nil},
		{"/DocumentReference?patient=pt-1&sort=date", 400, nil},
		{"/Binary?patient=pt-1", 400, nil},
		{"/Patient/pt-1", 404, nil},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			res, body := e.get(t, c.query, "Authorization", tok)
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %.300s", res.StatusCode, c.status, body)
			}
			if c.status != 200 {
				outcome(t, res, body)
				return
			}
			var b struct {
				ResourceType, Type string
				Total              int
				Link               []bundleLink
				Entry              []struct {
					FullURL  string
					Resource struct{ ResourceType, ID string }
				}
			}
			if err := json.Unmarshal(body, &b); err != nil {
				t.Fatal(err)
			}
			typ := strings.TrimPrefix(strings.Split(c.query, "?")[0], "/")
			var ids []string
			for _, en := range b.Entry {
				ids = append(ids, en.Resource.ID)
				if en.Resource.ResourceType != typ || en.FullURL != "https://fhir.example.org/r4/"+typ+"/"+en.Resource.ID {
					t.Errorf("entry %+v", en)
				}
			}
			if b.ResourceType != "Bundle" || b.Type != "searchset" || b.Total != len(c.ids) || strings.Join(ids, ",") != strings.Join(c.ids, ",") {
				t.Errorf("bundle %s total %d ids %v; want %v", b.Type, b.Total, ids, c.ids)
			}
			if len(b.Link) != 1 || b.Link[0].Relation != "self" {
				t.Errorf("links %+v", b.Link)
			}
		})
	}
}

func TestMetadataAndSMARTConfiguration(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.SMART = SMARTInfo{Issuer: testIssuer, TokenEndpoint: "https://idp.test/token", AuthorizationEndpoint: "https://idp.test/authorize"}
	})
	res, body := e.get(t, "/metadata")
	var cs struct {
		ResourceType, FhirVersion, Kind string
		Format                          []string
		Rest                            []struct {
			Security struct {
				Service []codeableConcept
			}
			Resource []struct {
				Type        string
				Interaction []struct{ Code string }
			}
		}
	}
	if err := json.Unmarshal(body, &cs); err != nil || res.StatusCode != 200 {
		t.Fatalf("%d %v %.200s", res.StatusCode, err, body)
	}
	if cs.ResourceType != "CapabilityStatement" || cs.FhirVersion != "4.0.1" || len(cs.Rest) != 1 ||
		!hasCode(cs.Rest[0].Security.Service, "SMART-on-FHIR") || len(cs.Rest[0].Resource) != 3 {
		t.Errorf("CapabilityStatement %+v", cs)
	}
	if !strings.Contains(string(body), `"valueUri":"https://idp.test/token"`) {
		t.Error("oauth-uris extension missing")
	}
	res, body = e.get(t, "/.well-known/smart-configuration")
	var sc map[string]any
	if err := json.Unmarshal(body, &sc); err != nil || res.StatusCode != 200 || sc["token_endpoint"] != "https://idp.test/token" || sc["issuer"] != testIssuer {
		t.Errorf("smart-configuration %d %v %s", res.StatusCode, err, body)
	}
	res, body = e.get(t, "/metadata?_format=xml")
	if res.StatusCode != 406 {
		t.Errorf("metadata as XML: %d %s", res.StatusCode, body)
	}
	res, body = e.do(t, "POST", "/Binary/x")
	if oo := outcome(t, res, body); res.StatusCode != 405 || oo.Issue[0].Code != "not-supported" {
		t.Errorf("POST: %d %+v", res.StatusCode, oo)
	}
}

func TestRequestID(t *testing.T) {
	e := newEnv(t, nil)
	res, _ := e.get(t, "/metadata", "X-Request-Id", "abc-123")
	if res.Header.Get("X-Request-Id") != "abc-123" {
		t.Errorf("echoed id %q", res.Header.Get("X-Request-Id"))
	}
	res, _ = e.get(t, "/metadata", "X-Request-Id", "bad id\twith junk")
	if id := res.Header.Get("X-Request-Id"); len(id) != 24 {
		t.Errorf("generated id %q", id)
	}
	res, _ = e.get(t, "/DocumentReference?patient=pt-1", "X-Request-Id", "q-1", "Authorization", "Bearer "+e.token(t, allScopes))
	logs := e.logs.String()
	if !strings.Contains(logs, `"id":"q-1"`) || !strings.Contains(logs, `"status":200`) || !strings.Contains(logs, `"sub":"dr-who"`) {
		t.Errorf("log lacks the request: %s", logs)
	}
	if strings.Contains(logs, "pt-1") || strings.Contains(logs, "Ramírez") {
		t.Errorf("log names a patient: %s", logs)
	}
}

// TestHealthMethods: /healthz and /readyz answer GET and HEAD only, and a
// HEAD /readyz runs the readiness check like a GET (issue 10).
func TestHealthMethods(t *testing.T) {
	var checks atomic.Int32
	e := newEnv(t, func(c *Config) {
		c.Ready = func(context.Context) error { checks.Add(1); return errors.New("NATS down") }
	})
	for _, p := range []string{"/healthz", "/readyz"} {
		for _, m := range []string{http.MethodPost, http.MethodDelete, http.MethodPut, http.MethodPatch, http.MethodOptions} {
			res, body := e.do(t, m, p)
			if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d Allow %q %.100s, want 405 with Allow: GET, HEAD", m, p, res.StatusCode, res.Header.Get("Allow"), body)
			}
		}
	}
	if checks.Load() != 0 {
		t.Fatalf("refused methods ran the readiness check %d times", checks.Load())
	}
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		res, _ := e.do(t, m, "/readyz")
		if res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s /readyz with NATS down: %d, want 503", m, res.StatusCode)
		}
		res, _ = e.do(t, m, "/healthz")
		if res.StatusCode != http.StatusOK {
			t.Errorf("%s /healthz: %d, want 200", m, res.StatusCode)
		}
	}
	if checks.Load() != 2 {
		t.Errorf("GET and HEAD /readyz ran the readiness check %d times, want 2", checks.Load())
	}
	if res, _ := e.do(t, http.MethodGet, "/metrics"); res.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the FHIR endpoint: %d, want 404 (it lives on the operator listener)", res.StatusCode)
	}
}

// TestBundleLinksIgnoreHost: without BaseURL, links name the address the
// server accepted the connection on, whatever Host the client sends.
func TestBundleLinksIgnoreHost(t *testing.T) {
	e := newEnv(t, nil)
	res, body := e.get(t, "/DocumentReference?patient=pt-1", "Authorization", "Bearer "+e.token(t, allScopes), "Host", "evil.example")
	if res.StatusCode != 200 {
		t.Fatalf("search: %d %.300s", res.StatusCode, body)
	}
	if strings.Contains(string(body), "evil.example") {
		t.Fatalf("a link reflects the Host header: %.500s", body)
	}
	want := `"url":"` + e.srv.URL + `/DocumentReference?patient=pt-1"`
	if !strings.Contains(string(body), want) {
		t.Errorf("self link: want %s in %.500s", want, body)
	}
}
