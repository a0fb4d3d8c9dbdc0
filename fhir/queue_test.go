package fhir_test

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/fhir"
	"github.com/foliohealth/folio/report"
)

// TestOverQueueStore serves Binaries and records stored in JetStream by a
// real in-process nats-server, through store.Store, with a development
// token: two versions of a report, the older superseded and still readable.
func TestOverQueueStore(t *testing.T) {
	dir := t.TempDir()
	ctx, _, q := openQueue(t, dir)
	st := q.Store()
	contents := map[string][]byte{}
	for v := 1; v <= 2; v++ {
		rec := &folio.Record{ID: folio.RecordID("S-7", v), ReportID: "S-7", Version: v, Kind: report.KindAP,
			Title: "Surgical Pathology Report", Status: []string{"", "final", "amended"}[v],
			Issued: time.Date(2026, 11, v, 10, 0, 0, 0, time.UTC), PatientID: "pt-q", PatientName: "Q, Pat"}
		data := bytes.Repeat([]byte{'%', 'P', 'D', 'F', byte(v)}, 12000+v) // ~60 KB
		b, err := st.PutBinary(ctx, folio.Binary{ID: folio.BinaryID("S-7", v, folio.OutputPDF), ContentType: "application/pdf",
			Output: folio.OutputPDF, ReportID: "S-7", Version: v, PatientID: "pt-q", RecordID: rec.ID}, data)
		if err != nil {
			t.Fatal(err)
		}
		contents[b.ID] = data
		rec.Binaries = []folio.Binary{*b}
		if err := st.PutRecord(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	key, _, err := fhir.LoadDevKey(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	h, err := fhir.New(st, fhir.Config{Verifier: key.Verifier(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(h)
	defer web.Close()
	tok, err := key.Mint(fhir.TokenRequest{Scope: "user/Binary.read user/DocumentReference.read"})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, accept string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", web.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		res, err := web.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res, body
	}
	res, body := get("/DocumentReference?patient=pt-q", "")
	if res.StatusCode != 200 {
		t.Fatalf("search: %d %s", res.StatusCode, body)
	}
	var b fhir.Bundle
	var entries struct {
		Entry []struct{ Resource fhir.DocumentReference }
	}
	json.Unmarshal(body, &b)
	json.Unmarshal(body, &entries)
	if b.Total != 2 || len(entries.Entry) != 2 {
		t.Fatalf("search found %d: %s", b.Total, body)
	}
	for _, en := range entries.Entry {
		d := en.Resource
		wantStatus := map[string]string{"S-7-1": "superseded", "S-7-2": "current"}[d.ID]
		if d.Status != wantStatus {
			t.Errorf("%s: status %q, want %q", d.ID, d.Status, wantStatus)
		}
		if d.ID == "S-7-2" && (len(d.RelatesTo) != 1 || d.RelatesTo[0].Target.Reference != "DocumentReference/S-7-1") {
			t.Errorf("S-7-2 relatesTo %+v", d.RelatesTo)
		}
		a := d.Content[0].Attachment
		for _, cacheRound := range []int{1, 2} {
			res, data := get("/"+a.URL, "application/pdf")
			sum := sha1.Sum(data)
			if res.StatusCode != 200 || !bytes.Equal(data, contents[a.URL[len("Binary/"):]]) ||
				int64(len(data)) != a.Size || base64.StdEncoding.EncodeToString(sum[:]) != a.Hash {
				t.Errorf("read %d of %s: status %d, %d bytes (attachment: %d, %s)", cacheRound, a.URL, res.StatusCode, len(data), a.Size, a.Hash)
			}
		}
		res, data := get("/"+a.URL, "application/fhir+json")
		var bin struct{ Data []byte }
		json.Unmarshal(data, &bin)
		if res.StatusCode != 200 || int64(len(bin.Data)) != a.Size {
			t.Errorf("%s as Binary resource: %d, %d bytes", a.URL, res.StatusCode, len(bin.Data))
		}
	}
	if res, _ := get("/Binary/pdf-S-7-9", ""); res.StatusCode != 404 {
		t.Errorf("unknown Binary: %d", res.StatusCode)
	}
}
