package fhir

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/report"
	"github.com/foliohealth/folio/store"
)

// openNATSStore starts an in-process nats-server with JetStream in a
// temporary directory and opens a store.Store on it.
func openNATSStore(t testing.TB) *store.Store {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(15 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, js, store.Config{CallTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// searchFixture is a stored set of records with known answers: dates
// across years, both kinds, a superseded version, an entered-in-error
// record and a second patient sharing an encounter.
//
// Stored in this order (the order searches return):
//
//	A1-1  pt-s AP   final        issued 2023-06-10  collected 2023-06-08           enc e1
//	A2-1  pt-s AP   final        issued 2024-02-01  collected 2024-01-30           superseded by A2-2
//	A2-2  pt-s AP   amended      issued 2024-02-05  collected 2024-01-30
//	R1-1  pt-s RAD  preliminary  issued 2024-12-31T23:30Z  performed 2024-12-31T20:00Z  enc e2
//	R2-1  pt-s RAD  final        issued 2025-03-15  performed 2025-03-14           enc e2
//	A3-1  pt-s AP   final        issued 2025-07-01  collected 2025-06-20 .. 2025-06-25
//	W1-1  pt-s RAD  final        issued 2025-01-10  (withdrawn: entered in error)
//	O1-1  pt-o AP   final        issued 2024-05-05  collected 2024-05-01           enc e1
type searchFixture struct {
	st  *store.Store
	srv *httptest.Server
	h   *Handler
	key *testKey
}

func day(s string) time.Time {
	for _, l := range []string{"2006-01-02", time.RFC3339} {
		if t, err := time.Parse(l, s); err == nil {
			return t
		}
	}
	panic(s)
}

func newSearchFixture(t testing.TB) *searchFixture {
	t.Helper()
	st := openNATSStore(t)
	ctx := context.Background()
	put := func(report_ string, version int, kind, status, patient, issued, start, end, enc string) {
		t.Helper()
		rec := &folio.Record{ID: folio.RecordID(report_, version), ReportID: report_, Version: version, Kind: kind,
			Title: "Report " + report_, Status: status, Issued: day(issued), PatientID: patient, PatientName: "P",
			EffectiveStart: day(start), EncounterID: enc}
		if end != "" {
			rec.EffectiveEnd = day(end)
		}
		if err := st.PutRecord(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	ap, rad := report.KindAP, report.KindRadiology
	put("A1", 1, ap, "final", "pt-s", "2023-06-10", "2023-06-08", "", "e1")
	put("A2", 1, ap, "final", "pt-s", "2024-02-01", "2024-01-30", "", "")
	put("A2", 2, ap, "amended", "pt-s", "2024-02-05", "2024-01-30", "", "")
	put("R1", 1, rad, "preliminary", "pt-s", "2024-12-31T23:30:00Z", "2024-12-31T20:00:00Z", "", "e2")
	put("R2", 1, rad, "final", "pt-s", "2025-03-15", "2025-03-14", "", "e2")
	put("A3", 1, ap, "final", "pt-s", "2025-07-01", "2025-06-20", "2025-06-25", "")
	put("W1", 1, rad, "final", "pt-s", "2025-01-10", "2025-01-09", "", "")
	if _, err := st.Withdraw(ctx, "W1", "test"); err != nil {
		t.Fatal(err)
	}
	put("O1", 1, ap, "final", "pt-o", "2024-05-05", "2024-05-01", "", "e1")
	k := newECKey(t, "k1")
	h, err := New(st, Config{
		Verifier:           NewVerifier(StaticKeys(keySet(t, k)), testIssuer, testAudience),
		Logger:             slog.New(slog.DiscardHandler),
		BaseURL:            "https://fhir.example.org/r4",
		AllowPatientAccess: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	// ap (approximately) is 10% of the distance from now either side: the
	// clock is fixed so that the answers are known.
	h.now = func() time.Time { return day("2026-12-01") }
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &searchFixture{st: st, srv: srv, h: h, key: k}
}

// searchBundle is what the tests read of a searchset.
type searchBundle struct {
	Total *int
	Link  []bundleLink
	Entry []struct {
		FullURL  string
		Resource json.RawMessage
	}
}

func (b *searchBundle) ids(t testing.TB) []string {
	var out []string
	for _, e := range b.Entry {
		var r struct{ ID string }
		json.Unmarshal(e.Resource, &r)
		out = append(out, r.ID)
	}
	return out
}

func (b *searchBundle) link(rel string) string {
	for _, l := range b.Link {
		if l.Relation == rel {
			return l.URL
		}
	}
	return ""
}

// do sends a request with a bearer token and returns the status and body.
func (f *searchFixture) do(t testing.TB, method, path, token, contentType, body string, headers ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, data
}

func (f *searchFixture) search(t testing.TB, path, token string, headers ...string) (int, *searchBundle, []byte) {
	t.Helper()
	status, body := f.do(t, http.MethodGet, path, token, "", "", headers...)
	var b searchBundle
	if status == 200 {
		if err := json.Unmarshal(body, &b); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return status, &b, body
}

// TestSearchParameters runs every parameter and prefix against the fixture
// with known answers.
func TestSearchParameters(t *testing.T) {
	f := newSearchFixture(t)
	user := sign(t, f.key, goodClaims(allScopes))
	pc := goodClaims("patient/DocumentReference.read patient/DiagnosticReport.read")
	pc.patient = "pt-s"
	patientTok := sign(t, f.key, pc)
	all := []string{"A1-1", "A2-1", "A2-2", "R1-1", "R2-1", "A3-1"}
	current := []string{"A1-1", "A2-2", "R1-1", "R2-1", "A3-1"}
	ap := []string{"A1-1", "A2-1", "A2-2", "A3-1"}
	for _, c := range []struct {
		query  string
		status int
		want   []string
	}{
		// DocumentReference
		{"DocumentReference?patient=pt-s", 200, all},
		{"DocumentReference?patient=Patient/pt-s", 200, all},
		{"DocumentReference?subject=pt-s", 200, all},
		{"DocumentReference?patient=pt-o", 200, []string{"O1-1"}},
		{"DocumentReference?patient=nobody", 200, nil},
		{"DocumentReference?_id=A1-1", 200, []string{"A1-1"}},
		{"DocumentReference?_id=A1-1,R2-1", 200, []string{"A1-1", "R2-1"}},
		{"DocumentReference?_id=W1-1", 200, nil},   // entered in error
		{"DocumentReference?_id=nope-1", 200, nil}, // unknown
		{"DocumentReference?_id=A1-1&patient=pt-o", 200, nil},
		{"DocumentReference?patient=pt-s&category=LP29684-5", 200, []string{"R1-1", "R2-1"}},
		{"DocumentReference?patient=pt-s&category=http://loinc.org|LP7839-6", 200, ap},
		{"DocumentReference?patient=pt-s&category=clinical-note", 200, all},
		{"DocumentReference?patient=pt-s&category=" + usCoreDocCategory + "|", 200, all},
		{"DocumentReference?patient=pt-s&category=|clinical-note", 200, nil},
		{"DocumentReference?patient=pt-s&category=http://other|clinical-note", 200, nil},
		{"DocumentReference?patient=pt-s&category=LP29684-5&date=ge2025", 200, []string{"R2-1"}},
		{"DocumentReference?patient=pt-s&type=18748-4", 200, []string{"R1-1", "R2-1"}},
		{"DocumentReference?patient=pt-s&type=18748-4,11526-1", 200, all},
		{"DocumentReference?patient=pt-s&type=11526-1&type=18748-4", 200, nil},
		{"DocumentReference?patient=pt-s&type=18748-4&period=2024", 200, []string{"R1-1"}},
		{"DocumentReference?patient=pt-s&period=2025-06", 200, []string{"A3-1"}},
		{"DocumentReference?patient=pt-s&period=eq2025-06-20", 200, nil},
		{"DocumentReference?patient=pt-s&period=2024", 200, []string{"A2-1", "A2-2", "R1-1"}},
		{"DocumentReference?patient=pt-s&period=ne2024", 200, []string{"A1-1", "R2-1", "A3-1"}},
		{"DocumentReference?patient=pt-s&period=gt2025-06-22", 200, []string{"A3-1"}},
		{"DocumentReference?patient=pt-s&period=lt2023-06-09", 200, []string{"A1-1"}},
		{"DocumentReference?patient=pt-s&period=ge2025", 200, []string{"R2-1", "A3-1"}},
		{"DocumentReference?patient=pt-s&period=le2023", 200, []string{"A1-1"}},
		{"DocumentReference?patient=pt-s&period=sa2025-01-01", 200, []string{"R2-1", "A3-1"}},
		{"DocumentReference?patient=pt-s&period=eb2024-01-01", 200, []string{"A1-1"}},
		{"DocumentReference?patient=pt-s&period=ge2024&period=lt2025", 200, []string{"A2-1", "A2-2", "R1-1"}},
		{"DocumentReference?patient=pt-s&period=2023,2025-03", 200, []string{"A1-1", "R2-1"}},
		// ap: 10% of the distance from now (2026-12-01), here ~52 days.
		{"DocumentReference?patient=pt-s&period=ap2025-08-01", 200, []string{"A3-1"}},
		{"DocumentReference?patient=pt-s&date=2024-02", 200, []string{"A2-1", "A2-2"}},
		{"DocumentReference?patient=pt-s&date=2024-12-31T23:30:00Z", 200, []string{"R1-1"}},
		{"DocumentReference?patient=pt-s&date=2025-01-01T00:30:00%2B01:00", 200, []string{"R1-1"}},
		{"DocumentReference?patient=pt-s&date=2024-12-31T23:30", 200, []string{"R1-1"}},
		{"DocumentReference?patient=pt-s&date=2024", 200, []string{"A2-1", "A2-2", "R1-1"}},
		{"DocumentReference?patient=pt-s&status=current", 200, current},
		{"DocumentReference?patient=pt-s&status=superseded", 200, []string{"A2-1"}},
		{"DocumentReference?patient=pt-s&status=" + docStatusSystem + "|superseded", 200, []string{"A2-1"}},
		{"DocumentReference?patient=pt-s&status=entered-in-error", 200, nil},
		{"DocumentReference?patient=pt-s&status=current,superseded", 200, all},
		{"DocumentReference?encounter=e1", 200, []string{"A1-1", "O1-1"}},
		{"DocumentReference?encounter=Encounter/e2", 200, []string{"R1-1", "R2-1"}},
		{"DocumentReference?encounter=e1,e2", 400, nil}, // several encounters need a patient
		{"DocumentReference?patient=pt-s&encounter=e1,e2", 200, []string{"A1-1", "R1-1", "R2-1"}},
		{"DocumentReference?patient=pt-s&encounter=e1", 200, []string{"A1-1"}},
		{"DocumentReference?patient=pt-s&_lastUpdated=gt2020", 200, all},
		{"DocumentReference?patient=pt-s&_lastUpdated=lt2020", 200, nil},
		{"DocumentReference?_lastUpdated=ge2020", 200, append(slices.Clone(all), "O1-1")},
		// DiagnosticReport
		{"DiagnosticReport?patient=pt-s", 200, all},
		{"DiagnosticReport?_id=R1-1", 200, []string{"R1-1"}},
		{"DiagnosticReport?patient=pt-s&code=18748-4&date=2025", 200, []string{"R2-1"}},
		{"DiagnosticReport?patient=pt-s&code=http://loinc.org|11526-1", 200, ap},
		{"DiagnosticReport?patient=pt-s&date=2024-12-31", 200, []string{"R1-1"}},
		{"DiagnosticReport?patient=pt-s&date=2024", 200, []string{"A2-1", "A2-2", "R1-1"}},
		{"DiagnosticReport?patient=pt-s&date=2025-06", 200, []string{"A3-1"}},
		{"DiagnosticReport?patient=pt-s&date=lt2024-01-30", 200, []string{"A1-1"}},
		{"DiagnosticReport?patient=pt-s&category=LP7839-6&date=ge2024", 200, []string{"A2-1", "A2-2", "A3-1"}},
		{"DiagnosticReport?patient=pt-s&category=clinical-note", 200, nil},
		{"DiagnosticReport?patient=pt-s&status=final", 200, []string{"A1-1", "A2-1", "R2-1", "A3-1"}},
		{"DiagnosticReport?patient=pt-s&status=preliminary,amended", 200, []string{"A2-2", "R1-1"}},
		{"DiagnosticReport?patient=pt-s&status=" + reportStatusSystem + "|final", 200, []string{"A1-1", "A2-1", "R2-1", "A3-1"}},
		{"DiagnosticReport?patient=pt-s&status=entered-in-error", 200, nil},
		{"DiagnosticReport?encounter=e2", 200, []string{"R1-1", "R2-1"}},
		{"DiagnosticReport?patient=pt-s&_lastUpdated=gt2020", 200, all},
		// Refused
		{"DocumentReference", 400, nil},
		{"DocumentReference?category=clinical-note", 400, nil},
		{"DocumentReference?patient=pt-s,pt-o", 400, nil},
		{"DocumentReference?patient=pt-s&date=2025-13", 400, nil},
		{"DocumentReference?patient=pt-s&date=xx2025", 400, nil},
		{"DocumentReference?patient=pt-s&date=", 400, nil},
		{"DocumentReference?patient=pt-s&foo=1", 400, nil},
		{"DocumentReference?patient=pt-s&code=1", 400, nil},       // DiagnosticReport's
		{"DiagnosticReport?patient=pt-s&period=2024", 400, nil},   // DocumentReference's
		{"DocumentReference?patient=pt-s&type:text=CT", 400, nil}, // modifiers
		{"DocumentReference?patient=pt-s&_sort=-date", 400, nil},  // not supported
		{"DocumentReference?patient=pt-s&_count=0", 400, nil},     // a page has a size
		{"DocumentReference?patient=pt-s&_cursor=x1", 400, nil},   // not ours
		{"DocumentReference?patient=pt-s&_id=bad/id", 400, nil},   // not an id
		{"DocumentReference?patient=bad%20id", 400, nil},          // not an id
	} {
		t.Run(c.query, func(t *testing.T) {
			for _, method := range []string{"GET", "POST"} {
				var status int
				var body []byte
				if method == "GET" {
					status, body = f.do(t, method, "/"+c.query, user, "", "")
				} else {
					typ, q, _ := strings.Cut(c.query, "?")
					status, body = f.do(t, method, "/"+typ+"/_search", user, "application/x-www-form-urlencoded", q)
				}
				if status != c.status {
					t.Fatalf("%s: status %d, want %d: %.300s", method, status, c.status, body)
				}
				if status != 200 {
					if !strings.Contains(string(body), "OperationOutcome") {
						t.Errorf("%s: %s", method, body)
					}
					continue
				}
				var b searchBundle
				json.Unmarshal(body, &b)
				if got := b.ids(t); !slices.Equal(got, c.want) {
					t.Errorf("%s: %v, want %v", method, got, c.want)
				}
				if b.Total != nil && *b.Total != len(c.want) {
					t.Errorf("%s: total %d, want %d", method, *b.Total, len(c.want))
				}
			}
		})
	}

	// A patient-scoped token finds only its patient's documents, whatever
	// the search names.
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"DocumentReference?patient=pt-s", all},
		{"DocumentReference?patient=pt-o", nil},
		{"DocumentReference?encounter=e1", []string{"A1-1"}},
		{"DocumentReference?_id=O1-1", nil},
		{"DocumentReference?_id=A1-1,O1-1", []string{"A1-1"}},
		{"DocumentReference?category=LP29684-5", []string{"R1-1", "R2-1"}},
		{"DiagnosticReport?_lastUpdated=ge2020", all},
	} {
		status, b, body := f.search(t, "/"+c.query, patientTok)
		if status != 200 {
			t.Errorf("patient token %s: %d %.300s", c.query, status, body)
			continue
		}
		if got := b.ids(t); !slices.Equal(got, c.want) {
			t.Errorf("patient token %s: %v, want %v", c.query, got, c.want)
		}
	}
}

// TestSearchLenient: an unknown parameter is refused, or with Prefer:
// handling=lenient ignored and left out of the self link, which is
// printed from the parsed search.
func TestSearchLenient(t *testing.T) {
	f := newSearchFixture(t)
	user := sign(t, f.key, goodClaims(allScopes))
	q := "/DocumentReference?patient=pt-s&foo=bar&type:text=CT&category=LP29684-5&_sort=date"
	if status, _, body := f.search(t, q, user); status != 400 || !strings.Contains(string(body), "not-supported") {
		t.Fatalf("strict: %d %.300s", status, body)
	}
	status, b, body := f.search(t, q, user, "Prefer", "handling=lenient")
	if status != 200 {
		t.Fatalf("lenient: %d %.300s", status, body)
	}
	if got := b.ids(t); !slices.Equal(got, []string{"R1-1", "R2-1"}) {
		t.Errorf("lenient: %v", got)
	}
	if self := b.link("self"); self != "https://fhir.example.org/r4/DocumentReference?patient=pt-s&category=LP29684-5" {
		t.Errorf("self link %q", self)
	}
	// Invalid values stay invalid.
	if status, _, _ := f.search(t, "/DocumentReference?patient=pt-s&date=soon", user, "Prefer", "handling=lenient"); status != 400 {
		t.Errorf("lenient bad date: %d", status)
	}
}

// TestSearchPaging follows next links to the end and previous links back:
// every document once, the links built from the base URL, a total on the
// first page, and documents stored while paging found at the end.
func TestSearchPaging(t *testing.T) {
	f := newSearchFixture(t)
	user := sign(t, f.key, goodClaims(allScopes))
	var got []string
	var pages []string
	next := "/DocumentReference?patient=pt-s&_count=2"
	for next != "" {
		status, b, body := f.search(t, next, user)
		if status != 200 {
			t.Fatalf("%s: %d %.300s", next, status, body)
		}
		if len(pages) == 0 && (b.Total == nil || *b.Total != 6) {
			t.Errorf("first page total %v, want 6", b.Total)
		}
		if len(pages) > 0 && b.link("previous") == "" {
			t.Errorf("page %d has no previous link", len(pages)+1)
		}
		if len(b.Entry) > 2 {
			t.Errorf("page of %d, asked for 2", len(b.Entry))
		}
		got = append(got, b.ids(t)...)
		pages = append(pages, b.link("self"))
		if len(pages) == 1 {
			// Stored while paging: found at the end, nothing seen twice.
			late := &folio.Record{ID: "L1-1", ReportID: "L1", Version: 1, Kind: report.KindAP, Status: "final",
				Issued: day("2022-01-01"), PatientID: "pt-s"}
			if err := f.st.PutRecord(context.Background(), late); err != nil {
				t.Fatal(err)
			}
		}
		next = b.link("next")
		if next != "" {
			if !strings.HasPrefix(next, "https://fhir.example.org/r4/DocumentReference?patient=pt-s&_count=2&_cursor=a") {
				t.Fatalf("next link %q", next)
			}
			next = strings.TrimPrefix(next, "https://fhir.example.org/r4")
		}
	}
	if want := []string{"A1-1", "A2-1", "A2-2", "R1-1", "R2-1", "A3-1", "L1-1"}; !slices.Equal(got, want) {
		t.Fatalf("paged: %v, want %v", got, want)
	}
	// Back from the last page.
	status, b, _ := f.search(t, strings.TrimPrefix(pages[len(pages)-1], "https://fhir.example.org/r4"), user)
	var back []string
	for prev := b.link("previous"); prev != ""; {
		status, b, body := f.search(t, strings.TrimPrefix(prev, "https://fhir.example.org/r4"), user)
		if status != 200 {
			t.Fatalf("%s: %d %.300s", prev, status, body)
		}
		back = append(b.ids(t), back...)
		prev = b.link("previous")
	}
	if want := []string{"A1-1", "A2-1", "A2-2", "R1-1", "R2-1", "A3-1"}; status != 200 || !slices.Equal(back, want) {
		t.Errorf("back: %v, want %v", back, want)
	}
	// A patient-scoped token pages only its patient, whatever the search
	// or the cursor names.
	pc := goodClaims("patient/DocumentReference.read")
	pc.patient = "pt-o"
	ptok := sign(t, f.key, pc)
	var mine []string
	for next := "/DocumentReference?_lastUpdated=ge2000&_count=1"; next != ""; {
		status, b, body := f.search(t, next, ptok)
		if status != 200 {
			t.Fatalf("patient token %s: %d %.300s", next, status, body)
		}
		mine = append(mine, b.ids(t)...)
		next = strings.TrimPrefix(b.link("next"), "https://fhir.example.org/r4")
	}
	if !slices.Equal(mine, []string{"O1-1"}) {
		t.Errorf("patient token pages: %v, want only O1-1", mine)
	}
	if status, b, _ := f.search(t, "/DocumentReference?patient=pt-s&_count=2&_cursor=a1", ptok); status != 200 || len(b.Entry) != 0 {
		t.Errorf("patient token, another patient's page: %d %v", status, b.ids(t))
	}
	// $docref pages too.
	status, b, body := f.search(t, "/DocumentReference/$docref?patient=pt-s&_count=3", user)
	if status != 200 || !slices.Equal(b.ids(t), []string{"A1-1", "A2-2", "R1-1"}) || !strings.Contains(b.link("next"), "/DocumentReference/$docref?patient=pt-s&_count=3&_cursor=a") {
		t.Errorf("$docref page: %d %v %q %.200s", status, b.ids(t), b.link("next"), body)
	}
}

// TestDocref: the US Core $docref operation returns the patient's current
// documents whose period overlaps start..end.
func TestDocref(t *testing.T) {
	f := newSearchFixture(t)
	user := sign(t, f.key, goodClaims(allScopes))
	for _, c := range []struct {
		query  string
		status int
		want   []string
	}{
		{"patient=pt-s", 200, []string{"A1-1", "A2-2", "R1-1", "R2-1", "A3-1"}},
		{"patient=Patient/pt-s&start=2025-01-01", 200, []string{"R2-1", "A3-1"}},
		{"patient=pt-s&end=2023-12-31", 200, []string{"A1-1"}},
		{"patient=pt-s&start=2024-12-31&end=2024-12-31", 200, []string{"R1-1"}},
		{"patient=pt-s&start=2025-06-22&end=2025-06-23", 200, []string{"A3-1"}}, // inside the collection period
		{"patient=pt-s&type=http://loinc.org|18748-4", 200, []string{"R1-1", "R2-1"}},
		{"patient=pt-o", 200, []string{"O1-1"}},
		{"patient=pt-s&on-demand=false", 200, []string{"A1-1", "A2-2", "R1-1", "R2-1", "A3-1"}},
		{"patient=pt-s&on-demand=true", 400, nil},
		{"start=2025", 400, nil},
		{"patient=pt-s&start=2026&end=2025", 400, nil},
		{"patient=pt-s&start=yesterday", 400, nil},
		{"patient=pt-s&profile=x", 400, nil},
	} {
		for _, method := range []string{"GET", "POST"} {
			var status int
			var body []byte
			if method == "GET" {
				status, body = f.do(t, method, "/DocumentReference/$docref?"+c.query, user, "", "")
			} else {
				status, body = f.do(t, method, "/DocumentReference/$docref", user, "application/x-www-form-urlencoded", c.query)
			}
			if status != c.status {
				t.Errorf("%s $docref?%s: %d, want %d: %.300s", method, c.query, status, c.status, body)
				continue
			}
			var b searchBundle
			json.Unmarshal(body, &b)
			if got := b.ids(t); status == 200 && !slices.Equal(got, c.want) {
				t.Errorf("%s $docref?%s: %v, want %v", method, c.query, got, c.want)
			}
		}
	}
}

// TestSearchPOST: POST [type]/_search takes a form body (with the query
// string besides) and gives what GET gives; anything else is refused.
func TestSearchPOST(t *testing.T) {
	f := newSearchFixture(t)
	user := sign(t, f.key, goodClaims(allScopes))
	status, body := f.do(t, "POST", "/DiagnosticReport/_search?patient=pt-s", user, "application/x-www-form-urlencoded; charset=utf-8",
		url.Values{"code": {"18748-4"}, "date": {"ge2025"}}.Encode())
	var b searchBundle
	json.Unmarshal(body, &b)
	if status != 200 || !slices.Equal(b.ids(t), []string{"R2-1"}) {
		t.Errorf("POST _search: %d %v %.300s", status, b.ids(t), body)
	}
	if status, body := f.do(t, "POST", "/DocumentReference/_search", user, "application/json", `{"patient":"pt-s"}`); status != 415 {
		t.Errorf("POST _search with JSON: %d %.200s", status, body)
	}
	if status, _ := f.do(t, "GET", "/DocumentReference/_search?patient=pt-s", user, "", ""); status != 405 {
		t.Errorf("GET _search: %d", status)
	}
	if status, _ := f.do(t, "POST", "/DocumentReference", user, "application/x-www-form-urlencoded", "patient=pt-s"); status != 405 {
		t.Errorf("POST [type]: %d", status)
	}
	if status, _ := f.do(t, "POST", "/Binary/_search", user, "application/x-www-form-urlencoded", "patient=pt-s"); status != 405 {
		t.Errorf("POST Binary/_search: %d", status)
	}
	big := "patient=pt-s&_id=" + strings.Repeat("a", maxFormBytes)
	if status, _ := f.do(t, "POST", "/DocumentReference/_search", user, "application/x-www-form-urlencoded", big); status != 400 {
		t.Errorf("oversized form: %d", status)
	}
}

// TestEffectiveTime: effective[x] and context.period carry the clinically
// relevant time (one time or a period), issued stays the release time.
func TestEffectiveTime(t *testing.T) {
	f := newSearchFixture(t)
	user := sign(t, f.key, goodClaims(allScopes))
	_, body := f.do(t, "GET", "/DiagnosticReport/A3-1", user, "", "")
	var dr DiagnosticReport
	json.Unmarshal(body, &dr)
	if dr.EffectiveDateTime != "" || dr.EffectivePeriod == nil || dr.EffectivePeriod.Start != "2025-06-20T00:00:00.000Z" ||
		dr.EffectivePeriod.End != "2025-06-25T00:00:00.000Z" || dr.Issued != "2025-07-01T00:00:00.000Z" {
		t.Errorf("A3-1: effectiveDateTime %q effectivePeriod %+v issued %q", dr.EffectiveDateTime, dr.EffectivePeriod, dr.Issued)
	}
	_, body = f.do(t, "GET", "/DiagnosticReport/R1-1", user, "", "")
	dr = DiagnosticReport{}
	json.Unmarshal(body, &dr)
	if dr.EffectiveDateTime != "2024-12-31T20:00:00.000Z" || dr.EffectivePeriod != nil || dr.Issued != "2024-12-31T23:30:00.000Z" {
		t.Errorf("R1-1: effectiveDateTime %q effectivePeriod %+v issued %q", dr.EffectiveDateTime, dr.EffectivePeriod, dr.Issued)
	}
	_, body = f.do(t, "GET", "/DocumentReference/A3-1", user, "", "")
	var doc DocumentReference
	json.Unmarshal(body, &doc)
	if doc.Context == nil || doc.Context.Period == nil || doc.Context.Period.Start != "2025-06-20T00:00:00.000Z" ||
		doc.Context.Period.End != "2025-06-25T00:00:00.000Z" || doc.Date != "2025-07-01T00:00:00.000Z" {
		t.Errorf("DocumentReference A3-1: context %+v date %q", doc.Context, doc.Date)
	}
}
