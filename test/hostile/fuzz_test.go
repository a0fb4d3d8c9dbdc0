package hostile

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/fhir"
)

// memStore is an in-memory folio.Store: two patients with one report each.
type memStore struct {
	records  map[string]*folio.Record
	binaries map[string]*folio.Binary
	data     map[string][]byte
}

func newMemStore() *memStore {
	s := &memStore{records: map[string]*folio.Record{}, binaries: map[string]*folio.Binary{}, data: map[string][]byte{}}
	created := time.Date(2026, 11, 20, 19, 3, 0, 0, time.UTC)
	for _, p := range []struct{ patient, report string }{{"pt-1", "R1"}, {"pt-2", "R2"}} {
		rid := folio.RecordID(p.report, 1)
		body := []byte("%PDF-1.4\n% " + p.patient + " " + strings.Repeat("x", 2000) + "\n%%EOF\n")
		s256 := sha256.Sum256(body)
		s1 := sha1.Sum(body)
		b := folio.Binary{
			ID: folio.BinaryID(p.report, 1, folio.OutputPDF), ContentType: "application/pdf", Size: int64(len(body)),
			SHA256: hex.EncodeToString(s256[:]), SHA1: base64.StdEncoding.EncodeToString(s1[:]), Created: created,
			Output: folio.OutputPDF, Pages: 1, JobID: "j-" + p.report, ReportID: p.report, Version: 1, PatientID: p.patient, RecordID: rid,
		}
		s.binaries[b.ID], s.data[b.ID] = &b, body
		s.records[rid] = &folio.Record{
			ID: rid, ReportID: p.report, Version: 1, Kind: "anatomic-pathology", Title: "Surgical Pathology Report",
			Status: "final", Issued: created, PatientID: p.patient, PatientName: "Name of " + p.patient,
			Binaries: []folio.Binary{b}, Updated: created,
		}
	}
	return s
}

func (s *memStore) Record(_ context.Context, id string) (*folio.Record, error) {
	if r, ok := s.records[id]; ok {
		c := *r
		return &c, nil
	}
	return nil, folio.ErrNotFound
}

func (s *memStore) RecordsByPatient(_ context.Context, patient string) ([]*folio.Record, error) {
	var out []*folio.Record
	for _, r := range s.records {
		if r.PatientID == patient {
			c := *r
			out = append(out, &c)
		}
	}
	return out, nil
}

func (s *memStore) BinaryInfo(_ context.Context, id string) (*folio.Binary, error) {
	if b, ok := s.binaries[id]; ok {
		c := *b
		return &c, nil
	}
	return nil, folio.ErrNotFound
}

func (s *memStore) OpenBinary(ctx context.Context, id string) (*folio.Binary, io.ReadCloser, error) {
	b, err := s.BinaryInfo(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return b, io.NopCloser(bytes.NewReader(s.data[id])), nil
}

// fuzzEnv is the endpoint under fuzzing and its valid tokens.
type fuzzEnv struct {
	h            http.Handler
	system, pat1 string // system/*.read; patient/*.read for pt-1
	pt2PDF64     string // the start of pt-2's PDF in base64
}

var (
	fuzzOnce sync.Once
	fuzzE    *fuzzEnv
	fuzzErr  error
)

func newFuzzEnv(t testing.TB) *fuzzEnv {
	fuzzOnce.Do(func() {
		dir, err := osMkdirTemp()
		if err != nil {
			fuzzErr = err
			return
		}
		key, _, err := fhir.LoadDevKey(dir, true)
		if err != nil {
			fuzzErr = err
			return
		}
		e := &fuzzEnv{}
		if e.system, err = key.Mint(fhir.TokenRequest{Scope: "system/*.read", TTL: 24 * time.Hour}); err != nil {
			fuzzErr = err
			return
		}
		if e.pat1, err = key.Mint(fhir.TokenRequest{Scope: "patient/*.read", Patient: "pt-1", TTL: 24 * time.Hour}); err != nil {
			fuzzErr = err
			return
		}
		store := newMemStore()
		e.pt2PDF64 = base64.StdEncoding.EncodeToString(store.data["pdf-R2-1"])[:40]
		e.h, fuzzErr = fhir.New(store, fhir.Config{Verifier: key.Verifier(), AllowPatientAccess: true, Logger: quiet()})
		fuzzE = e
	})
	if fuzzErr != nil {
		t.Fatal(fuzzErr)
	}
	return fuzzE
}

// public paths answer without a token.
var public = map[string]bool{"/healthz": true, "/readyz": true, "/metadata": true, "/.well-known/smart-configuration": true}

// FuzzHTTP drives the FHIR handler with fuzzed resource paths (ids and
// query strings), Accept, Range, If-None-Match and Authorization headers.
// The handler must never panic, never answer a protected path with a
// status below 400 unless the request carried a valid token, and never show
// a patient token another patient's document.
func FuzzHTTP(f *testing.F) {
	newFuzzEnv(f)
	seeds := []struct {
		target, accept, rng, cond, authz string
		mode                             uint8
	}{
		{"/Binary/pdf-R1-1", "application/pdf", "", "", "", 1},
		{"/Binary/pdf-R2-1", "application/fhir+json", "bytes=0-10", "", "", 2},
		{"/Binary/pdf-R2-1", "*/*", "bytes=-5", `W/"1"`, "", 2},
		{"/DocumentReference?patient=pt-2", "application/json", "", "", "", 2},
		{"/DocumentReference?patient=pt-1&_format=json", "", "", "", "", 1},
		{"/DiagnosticReport/R2-1", "text/html", "", "", "", 2},
		{"/Binary/pdf-R1-1", "application/pdf;q=0, */*;q=0.1", "bytes=5-,0-0", "*", "Bearer x", 0},
		{"/Binary/..%2f..%2fetc%2fpasswd", "", "bytes=99999999999999999999-", "", "Basic YWRtaW46YWRtaW4=", 0},
		{"/Binary/pdf-R1-1", "", "", "", "Bearer eyJhbGciOiJub25lIn0.eyJzY29wZSI6InN5c3RlbS8qLnJlYWQifQ.", 0},
		{"/Binary/pdf-R1-1", "", "", "", "Bearer ", 3},
		{"/metadata", "application/fhir+xml", "", "", "", 0},
		{"/Binary", "", "", "", "", 1},
		{"//Binary//pdf-R1-1", "", "bytes=0-", "", "bearer  ", 1},
	}
	for _, s := range seeds {
		f.Add(s.target, s.accept, s.rng, s.cond, s.authz, s.mode)
	}
	f.Fuzz(func(t *testing.T, target, accept, rng, cond, authz string, mode uint8) {
		e := newFuzzEnv(t)
		u, err := url.ParseRequestURI(target)
		if err != nil || u.Host != "" || u.Scheme != "" {
			return // not a request target an HTTP server would pass on
		}
		switch mode % 4 {
		case 1:
			authz = "Bearer " + e.system
		case 2:
			authz = "Bearer " + e.pat1
		case 3: // a valid token spliced with fuzz
			authz = "Bearer " + e.system[:len(e.system)/2] + authz + e.system[len(e.system)/2:]
		}
		r := &http.Request{Method: http.MethodGet, URL: u, RequestURI: target, Header: http.Header{}, Host: "folio.test", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
		if mode&4 != 0 {
			r.Method = http.MethodHead
		}
		for k, v := range map[string]string{"Accept": accept, "Range": rng, "If-None-Match": cond, "Authorization": authz} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		r = r.WithContext(context.Background())
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		status := w.Code
		if public[u.EscapedPath()] || status >= 400 {
			return
		}
		valid := strings.Contains(authz, e.system) || strings.Contains(authz, e.pat1)
		if !valid {
			t.Fatalf("%s %s answered %d without a valid token (Authorization %q)", r.Method, target, status, authz)
		}
		if strings.Contains(authz, e.pat1) && !strings.Contains(authz, e.system) {
			body := w.Body.String()
			leak := strings.Contains(body, "Patient/pt-2") || strings.Contains(body, "Name of pt-2") || strings.Contains(body, "% pt-2 ") ||
				strings.Contains(body, e.pt2PDF64) || w.Header().Get("X-Security-Context") == "DocumentReference/R2-1"
			if leak {
				t.Fatalf("patient pt-1's token read pt-2's data: %s %s -> %d %q", r.Method, target, status, truncateStr(body, 200))
			}
		}
	})
}

func truncateStr(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// TestFuzzEnv checks that FuzzHTTP's properties can fail: the fuzz
// environment answers a valid token 200, a missing or forged one 401, and a
// patient token 404 for the other patient's Binary.
func TestFuzzEnv(t *testing.T) {
	e := newFuzzEnv(t)
	for _, c := range []struct {
		path, authz string
		want        int
	}{
		{"/Binary/pdf-R1-1", "Bearer " + e.system, 200},
		{"/Binary/pdf-R2-1", "Bearer " + e.pat1, 404},
		{"/Binary/pdf-R1-1", "Bearer " + e.pat1, 200},
		{"/Binary/pdf-R1-1", "", 401},
		{"/Binary/pdf-R1-1", "Bearer " + e.system[:len(e.system)-2] + "AA", 401},
	} {
		r := httptest.NewRequest("GET", c.path, nil)
		r.Header.Set("Accept", "application/pdf")
		if c.authz != "" {
			r.Header.Set("Authorization", c.authz)
		}
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("GET %s: %d, want %d", c.path, w.Code, c.want)
		}
	}
}
