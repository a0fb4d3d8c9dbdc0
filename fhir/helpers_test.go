package fhir

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/report"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// memStore is an in-memory folio.Store that records every id it is asked
// for, so tests can prove that bad ids never reach storage.
type memStore struct {
	mu       sync.Mutex
	records  map[string]*folio.Record
	binaries map[string]*folio.Binary
	data     map[string][]byte
	asked    []string
	opens    int
}

func newMemStore() *memStore {
	return &memStore{records: map[string]*folio.Record{}, binaries: map[string]*folio.Binary{}, data: map[string][]byte{}}
}

func (s *memStore) ask(id string) {
	s.mu.Lock()
	s.asked = append(s.asked, id)
	s.mu.Unlock()
}

func (s *memStore) askedIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.asked...)
}

func (s *memStore) Record(_ context.Context, id string) (*folio.Record, error) {
	s.ask(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.records[id]; ok {
		c := *r
		return &c, nil
	}
	return nil, folio.ErrNotFound
}

func (s *memStore) RecordsByPatient(_ context.Context, patient string) ([]*folio.Record, error) {
	s.ask(patient)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*folio.Record
	for _, r := range s.records {
		if r.PatientID == patient {
			c := *r
			out = append(out, &c)
		}
	}
	// oldest first
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].ID < out[j-1].ID; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

func (s *memStore) BinaryInfo(_ context.Context, id string) (*folio.Binary, error) {
	s.ask(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.binaries[id]; ok {
		c := *b
		return &c, nil
	}
	return nil, folio.ErrNotFound
}

func (s *memStore) OpenBinary(_ context.Context, id string) (*folio.Binary, io.ReadCloser, error) {
	s.ask(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.binaries[id]
	if !ok {
		return nil, nil, folio.ErrNotFound
	}
	s.opens++
	c := *b
	// A plain reader, not a Seeker, like a NATS object.
	return &c, io.NopCloser(struct{ io.Reader }{bytes.NewReader(s.data[id])}), nil
}

// addBinary stores content as a Binary of rec and returns its metadata.
func (s *memStore) addBinary(rec *folio.Record, output, contentType string, content []byte) folio.Binary {
	s1 := sha1.Sum(content)
	s256 := sha256.Sum256(content)
	b := folio.Binary{
		ID:          folio.BinaryID(rec.ReportID, rec.Version, output),
		ContentType: contentType,
		Size:        int64(len(content)),
		SHA256:      hex.EncodeToString(s256[:]),
		SHA1:        base64.StdEncoding.EncodeToString(s1[:]),
		Created:     rec.Issued,
		Output:      output,
		ReportID:    rec.ReportID,
		Version:     rec.Version,
		PatientID:   rec.PatientID,
		RecordID:    rec.ID,
	}
	s.mu.Lock()
	s.binaries[b.ID] = &b
	s.data[b.ID] = content
	s.mu.Unlock()
	rec.Binaries = append(rec.Binaries, b)
	return b
}

func (s *memStore) addRecord(rec *folio.Record) {
	s.mu.Lock()
	s.records[rec.ID] = rec
	s.mu.Unlock()
}

// fakePDF returns n deterministic bytes that start like a PDF.
func fakePDF(n int, seed byte) []byte {
	b := make([]byte, n)
	copy(b, "%PDF-1.7\n")
	for i := 9; i < n; i++ {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

// fixture is a populated store: patient pt-1 has pathology report S26-1 in
// versions 1 (superseded) and 2 (amended), each with a PDF and a
// thumbnail; patient pt-2 has radiology report R-9 version 1 (PDF only).
type fixture struct {
	store           *memStore
	pdf1, pdf2, png string // Binary ids
	rad             string
	rec1, rec2      string // record ids
	radRec          string
}

func newFixture() *fixture {
	s := newMemStore()
	t0 := time.Date(2026, 11, 20, 19, 3, 0, 0, time.UTC)
	r1 := &folio.Record{ID: folio.RecordID("S26-1", 1), ReportID: "S26-1", Version: 1, Kind: report.KindAP,
		Title: "Surgical Pathology Report", Status: "final", Issued: t0, PatientID: "pt-1", PatientName: "Ramírez, Ana",
		Accession: "S26-1", Performers: []string{"J. Okafor, MD"}, Updated: t0.Add(48 * time.Hour)}
	r2 := &folio.Record{ID: folio.RecordID("S26-1", 2), ReportID: "S26-1", Version: 2, Kind: report.KindAP,
		Title: "Surgical Pathology Report", Status: "amended", Issued: t0.Add(48 * time.Hour), PatientID: "pt-1",
		PatientName: "Ramírez, Ana", Accession: "S26-1", Supersedes: folio.RecordID("S26-1", 1), Updated: t0.Add(48 * time.Hour)}
	r1.SupersededBy = r2.ID
	rr := &folio.Record{ID: folio.RecordID("R-9", 1), ReportID: "R-9", Version: 1, Kind: report.KindRadiology,
		Title: "CT Chest with Contrast", Status: "preliminary", Issued: t0, PatientID: "pt-2", PatientName: "Doe, J",
		EncounterID: "enc-7", Updated: t0}
	f := &fixture{store: s, rec1: r1.ID, rec2: r2.ID, radRec: rr.ID}
	f.pdf1 = s.addBinary(r1, folio.OutputPDF, "application/pdf", fakePDF(61440, 1)).ID
	s.addBinary(r1, folio.OutputThumbnail, "image/png", append([]byte("\x89PNG\r\n\x1a\n"), fakePDF(3000, 2)...))
	f.pdf2 = s.addBinary(r2, folio.OutputPDF, "application/pdf", fakePDF(70001, 3)).ID
	f.png = s.addBinary(r2, folio.OutputThumbnail, "image/png", append([]byte("\x89PNG\r\n\x1a\n"), fakePDF(4000, 4)...)).ID
	f.rad = s.addBinary(rr, folio.OutputPDF, "application/pdf", fakePDF(5000, 5)).ID
	s.addRecord(r1)
	s.addRecord(r2)
	s.addRecord(rr)
	return f
}

// keys is a signing key pair for tests.
type testKey struct {
	priv jwk.Key
	pub  jwk.Key
	alg  jwa.SignatureAlgorithm
	raw  any // the crypto public key
}

func newECKey(t testing.TB, kid string) *testKey {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return wrapKey(t, ec, &ec.PublicKey, kid, jwa.ES256())
}

func newRSAKey(t testing.TB, kid string) *testKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return wrapKey(t, k, &k.PublicKey, kid, jwa.RS256())
}

func wrapKey(t testing.TB, priv, pub any, kid string, alg jwa.SignatureAlgorithm) *testKey {
	t.Helper()
	pk, err := jwk.Import(priv)
	if err != nil {
		t.Fatal(err)
	}
	pk.Set(jwk.KeyIDKey, kid)
	pubk, err := jwk.Import(pub)
	if err != nil {
		t.Fatal(err)
	}
	pubk.Set(jwk.KeyIDKey, kid)
	pubk.Set(jwk.AlgorithmKey, alg)
	return &testKey{priv: pk, pub: pubk, alg: alg, raw: pub}
}

func keySet(t testing.TB, keys ...*testKey) jwk.Set {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		if err := set.AddKey(k.pub); err != nil {
			t.Fatal(err)
		}
	}
	return set
}

const (
	testIssuer   = "https://idp.test"
	testAudience = "https://fhir.test"
)

// claims builds a token's claims; mutate fields for bad tokens.
type claims struct {
	iss, aud, sub, scope, patient string
	exp, nbf                      time.Time
	noExp                         bool
}

func goodClaims(scope string) claims {
	return claims{iss: testIssuer, aud: testAudience, sub: "dr-who", scope: scope,
		exp: time.Now().Add(5 * time.Minute), nbf: time.Now().Add(-time.Minute)}
}

func sign(t testing.TB, k *testKey, c claims) string {
	t.Helper()
	b := jwt.NewBuilder().Issuer(c.iss).Audience([]string{c.aud}).Subject(c.sub).NotBefore(c.nbf).IssuedAt(time.Now())
	if !c.noExp {
		b = b.Expiration(c.exp)
	}
	if c.scope != "" {
		b = b.Claim("scope", c.scope)
	}
	if c.patient != "" {
		b = b.Claim("patient", c.patient)
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Sign(tok, jwt.WithKey(k.alg, k.priv))
	if err != nil {
		t.Fatal(err)
	}
	return string(s)
}

// rawJWT assembles a token from a header and payload with the given
// signature bytes (for alg=none and HMAC confusion).
func rawJWT(header, payload map[string]any, sig func(signingInput string) []byte) string {
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(payload)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	return in + "." + base64.RawURLEncoding.EncodeToString(sig(in))
}

const allScopes = "user/Binary.read user/DocumentReference.read user/DiagnosticReport.read"

// env is a running endpoint over a fixture.
type env struct {
	*fixture
	key  *testKey
	srv  *httptest.Server
	h    *Handler
	logs *bytes.Buffer
}

func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	f := newFixture()
	k := newECKey(t, "k1")
	logs := &bytes.Buffer{}
	cfg := Config{
		Verifier: NewVerifier(StaticKeys(keySet(t, k)), testIssuer, testAudience),
		Logger:   slog.New(slog.NewJSONHandler(&lockedWriter{w: logs}, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(f.store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{fixture: f, key: k, srv: srv, h: h, logs: logs}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (e *env) token(t testing.TB, scope string) string {
	return sign(t, e.key, goodClaims(scope))
}

// get sends a GET with the headers (pairs of name, value) and returns the
// response and its body.
func (e *env) get(t testing.TB, path string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	return e.do(t, http.MethodGet, path, headers...)
}

func (e *env) do(t testing.TB, method, path string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

// outcome decodes an OperationOutcome body, failing the test if it is not one.
func outcome(t testing.TB, res *http.Response, body []byte) OperationOutcome {
	t.Helper()
	var oo OperationOutcome
	if err := json.Unmarshal(body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		t.Fatalf("status %d: body is not an OperationOutcome: %.300s", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, fhirJSON) {
		t.Errorf("OperationOutcome Content-Type %q", ct)
	}
	return oo
}
