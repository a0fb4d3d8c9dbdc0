package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/foliohealth/folio"
)

func putRec(t testing.TB, s *Store, report string, version int, patient, encounter string, issued time.Time) *folio.Record {
	t.Helper()
	rec := &folio.Record{ID: folio.RecordID(report, version), ReportID: report, Version: version, PatientID: patient,
		Kind: "ap", Status: "final", Issued: issued, EncounterID: encounter, EffectiveStart: issued.Add(-24 * time.Hour)}
	if err := s.PutRecord(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func pageIDs(p *folio.SearchPage) []string {
	var out []string
	for _, r := range p.Records {
		out = append(out, r.ID)
	}
	return out
}

// TestSearchPages pages a patient's documents forward and back by
// position: every document once, in stored order, documents stored while
// paging come after, entered-in-error ones never, and totals only when
// cheap.
func TestSearchPages(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	t0 := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	var want []string
	for i := range 7 {
		r := putRec(t, s, fmt.Sprintf("R%d", i), 1, "pt-a", "enc-1", t0.AddDate(0, i, 0))
		putRec(t, s, fmt.Sprintf("O%d", i), 1, "pt-b", "", t0)
		want = append(want, r.ID)
	}
	// A second version supersedes the first: both stay searchable.
	putRec(t, s, "R0", 2, "pt-a", "enc-1", t0.AddDate(1, 0, 0))
	want = append(want, "R0-2")
	// Withdrawn: gone from the index.
	if _, err := s.Withdraw(ctx, "R3", "test"); err != nil {
		t.Fatal(err)
	}
	want = slices.DeleteFunc(want, func(id string) bool { return id == "R3-1" })

	q := folio.SearchQuery{Patient: "pt-a", Count: 3}
	p, err := s.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != len(want) {
		t.Errorf("first page total %d, want %d", p.Total, len(want))
	}
	var got []string
	var firsts []uint64
	for {
		got = append(got, pageIDs(p)...)
		firsts = append(firsts, p.First)
		if len(got) == 3 {
			// stored while paging: comes at the end
			putRec(t, s, "LATE", 1, "pt-a", "", t0)
		}
		if !p.More {
			break
		}
		q.After = p.Last
		if p, err = s.Search(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	want = append(want, "LATE-1")
	if !slices.Equal(got, want) {
		t.Fatalf("pages: %v, want %v", got, want)
	}
	// Back from the last page: the pages before it, the same ones.
	q.After = 0
	var back []string
	before := firsts[len(firsts)-1]
	for before > 0 {
		q.Before = before
		p, err := s.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		back = append(pageIDs(p), back...)
		if !p.Earlier {
			break
		}
		before = p.First
	}
	if w := want[:(len(firsts)-1)*3]; !slices.Equal(back, w) {
		t.Errorf("back: %v, want %v", back, w)
	}
	// Encounter and filters.
	p, err = s.Search(ctx, folio.SearchQuery{Encounter: "enc-1", Count: 100,
		Match: func(e *folio.IndexEntry) bool { return e.Issued.Year() == 2024 }})
	if err != nil {
		t.Fatal(err)
	}
	if g := pageIDs(p); !slices.Equal(g, []string{"R0-1", "R1-1", "R2-1", "R4-1", "R5-1", "R6-1"}) || p.Total != 6 {
		t.Errorf("encounter 2024: %v total %d", g, p.Total)
	}
}

// TestRebuildIndex indexes records stored before the document index, once.
func TestRebuildIndex(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		putRec(t, s, fmt.Sprintf("X%d", i), 1, "pt-x", "", t0)
	}
	// Forget the document index, as a store written before it.
	for i := range 5 {
		if err := s.unindexDocument(ctx, &folio.Record{ID: fmt.Sprintf("X%d-1", i), PatientID: "pt-x"}); err != nil {
			t.Fatal(err)
		}
	}
	if p, _ := s.Search(ctx, folio.SearchQuery{Patient: "pt-x", Count: 10}); len(p.Records) != 0 {
		t.Fatalf("index not emptied: %v", pageIDs(p))
	}
	st, err := s.RebuildIndex(ctx)
	if err != nil || st.Records != 5 || st.Created != 5 {
		t.Fatalf("rebuild: %+v %v", st, err)
	}
	p, err := s.Search(ctx, folio.SearchQuery{Patient: "pt-x", Count: 10})
	if err != nil || len(p.Records) != 5 || p.Total != 5 {
		t.Fatalf("after rebuild: %v %v", pageIDs(p), err)
	}
	if st, err := s.RebuildIndex(ctx); err != nil || st.Created != 0 {
		t.Errorf("second rebuild: %+v %v", st, err)
	}
}

// TestSearchBudget: a search whose filter passes over many entries reads
// at most maxScan of them per request and hands back a cursor after what
// it read; following the cursors finds every match once, forward and back.
func TestSearchBudget(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	var want []string
	for i := range 40 {
		r := putRec(t, s, fmt.Sprintf("G%d", i), 1, "pt-g", "", t0.AddDate(0, 0, i))
		if i%7 == 3 {
			want = append(want, r.ID)
		}
	}
	old := maxScan
	maxScan = 5
	t.Cleanup(func() { maxScan = old })
	match := func(e *folio.IndexEntry) bool {
		var n int
		fmt.Sscanf(e.ID, "G%d-1", &n)
		return n%7 == 3
	}
	q := folio.SearchQuery{Patient: "pt-g", Count: 2, Match: match}
	var got []string
	var last *folio.SearchPage
	for requests := 0; ; requests++ {
		if requests > 100 {
			t.Fatal("no end")
		}
		p, err := s.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Records) > 2 {
			t.Fatalf("page of %d", len(p.Records))
		}
		got = append(got, pageIDs(p)...)
		if len(p.Records) > 0 {
			last = p
		}
		if !p.More {
			break
		}
		q.After = p.Last
	}
	if !slices.Equal(got, want) {
		t.Fatalf("forward: %v, want %v", got, want)
	}
	// Back from the last page that had records.
	var back []string
	q.After = 0
	for before, requests := last.First, 0; before > 0; requests++ {
		if requests > 100 {
			t.Fatal("no end going back")
		}
		q.Before = before
		p, err := s.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		back = append(pageIDs(p), back...)
		if !p.Earlier {
			break
		}
		before = p.First
	}
	lastIDs := pageIDs(last)
	if w := want[:len(want)-len(lastIDs)]; !slices.Equal(back, w) {
		t.Errorf("back: %v, want %v", back, w)
	}
}
