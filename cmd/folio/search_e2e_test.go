package main

// End-to-end tests of issue 21 (US Core search): a real "folio serve" with
// its NATS roles, reports submitted with "folio submit", searched over
// HTTP a page at a time, and "folio index rebuild" restoring an index.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio/broker"
)

type pagedBundle struct {
	Total *int
	Link  []struct{ Relation, URL string }
	Entry []struct {
		Resource struct {
			ID                string
			EffectiveDateTime string
			Issued            string
			Context           struct{ Period struct{ Start, End string } }
		}
	}
}

func (b *pagedBundle) next() string {
	for _, l := range b.Link {
		if l.Relation == "next" {
			return l.URL
		}
	}
	return ""
}

// pagedSearch follows next links from path and returns the ids of every
// page's entries and the first page.
func pagedSearch(t *testing.T, srv *server, token, path string) ([]string, pagedBundle) {
	t.Helper()
	var ids []string
	var first pagedBundle
	for u := srv.base + path; u != ""; {
		res, body := fhirGet(t, "", u, token, "")
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d %s", u, res.StatusCode, body)
		}
		var b pagedBundle
		if err := json.Unmarshal(body, &b); err != nil {
			t.Fatal(err)
		}
		if first.Link == nil {
			first = b
		}
		for _, e := range b.Entry {
			ids = append(ids, e.Resource.ID)
		}
		u = b.next()
		if u != "" && !strings.HasPrefix(u, srv.base+"/") {
			t.Fatalf("next link %q is not under %s", u, srv.base)
		}
	}
	// Workers store concurrently: the order stored is not the order sent.
	slices.Sort(ids)
	return ids, first
}

// TestSearchEndToEnd: reports submitted to folio serve are found by
// patient, date and category a page at a time (the API's NATS role may
// read the index), effective[x] is the collection time, and "folio index
// rebuild" restores an index that records were stored without.
func TestSearchEndToEnd(t *testing.T) {
	srv := startServe(t)
	dir := t.TempDir()
	var files []string
	for i, year := range []int{2023, 2024, 2025} {
		rep := specReport(t, func(r map[string]any) {
			r["id"] = fmt.Sprintf("SRCH-%d", i)
			r["accession"] = fmt.Sprintf("SRCH-%d", i)
			r["patient"] = patient("pt-search", "Search, Pat")
			r["issued"] = fmt.Sprintf("%d-05-10T09:00:00Z", year)
			r["specimens"] = []any{map[string]any{"label": "A", "description": "Skin", "collected": fmt.Sprintf("%d-05-01T08:00:00Z", year)}}
		})
		files = append(files, writeReport(t, dir, fmt.Sprintf("r%d.json", i), rep))
	}
	if _, code := submitWait(t, srv, files...); code != 0 {
		t.Fatalf("submit: exit %d", code)
	}
	tok := tokenFor(t, srv, "--scope", "user/DocumentReference.read user/DiagnosticReport.read")
	want := []string{"SRCH-0-1", "SRCH-1-1", "SRCH-2-1"}

	ids, first := pagedSearch(t, srv, tok, "/DocumentReference?patient=pt-search&_count=2")
	if !slices.Equal(ids, want) || first.Total == nil || *first.Total != 3 || len(first.Entry) != 2 {
		t.Fatalf("paged DocumentReference search: %v (first page total %v, %d entries)", ids, first.Total, len(first.Entry))
	}
	for _, e := range first.Entry {
		r := e.Resource
		if p := r.Context.Period; p.Start != fmt.Sprint(2023+int(r.ID[5]-'0'))+"-05-01T08:00:00.000Z" || p.End != p.Start {
			t.Errorf("%s: context.period %+v, want the collection time", r.ID, p)
		}
	}
	ids, first = pagedSearch(t, srv, tok, "/DiagnosticReport?patient=pt-search&date=ge2024&category=LP7839-6")
	if !slices.Equal(ids, want[1:]) {
		t.Errorf("DiagnosticReport date=ge2024: %v", ids)
	}
	for _, e := range first.Entry {
		r := e.Resource
		year := fmt.Sprint(2023 + int(r.ID[5]-'0'))
		if r.EffectiveDateTime != year+"-05-01T08:00:00.000Z" || r.Issued != year+"-05-10T09:00:00.000Z" {
			t.Errorf("%s: effectiveDateTime %q issued %q, want the collection and release times", r.ID, r.EffectiveDateTime, r.Issued)
		}
	}
	if ids, _ := pagedSearch(t, srv, tok, "/DocumentReference/$docref?patient=pt-search&start=2025-01-01"); !slices.Equal(ids, want[2:]) {
		t.Errorf("$docref start=2025-01-01: %v", ids)
	}

	// Records stored before the index: take the index away (as an
	// operator with the admin role could), then rebuild it.
	nc := connectAs(t, srv, broker.RoleAdmin)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, "KV_folio-index")
	if err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"$KV.folio-index.doc.>", "$KV.folio-index.docenc.>"} {
		if err := st.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
			t.Fatal(err)
		}
	}
	if ids, _ := pagedSearch(t, srv, tok, "/DocumentReference?patient=pt-search"); len(ids) != 0 {
		t.Fatalf("index purged, search still finds %v", ids)
	}
	res := runFolio(t, "index", "rebuild", "--nats-url", srv.natsURL, "--data", srv.data)
	if res.code != 0 || !strings.Contains(res.stdout, "index entries written: 3") {
		t.Fatalf("folio index rebuild: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if ids, _ := pagedSearch(t, srv, tok, "/DocumentReference?patient=pt-search&_count=2"); !slices.Equal(ids, want) {
		t.Errorf("after rebuild: %v, want %v", ids, want)
	}
	res = runFolio(t, "index", "rebuild", "--nats-url", srv.natsURL, "--data", srv.data)
	if res.code != 0 || !strings.Contains(res.stdout, "index entries written: 0") {
		t.Errorf("second rebuild: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
}
