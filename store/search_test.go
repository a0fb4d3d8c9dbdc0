package store

import (
	"context"
	"testing"
	"time"

	"github.com/foliohealth/folio"
)

// TestSearchIndexes finds records by MRN and by accession number, every
// version, oldest first, and nothing for another number.
func TestSearchIndexes(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)
	put := func(report string, version int, mrn, accession string, issued time.Time) {
		t.Helper()
		rec := &folio.Record{ID: folio.RecordID(report, version), ReportID: report, Version: version, PatientID: "pt-" + mrn,
			MRN: mrn, Accession: accession, Status: "final", Issued: issued}
		if err := s.PutRecord(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	put("S26-1", 1, "000111", "S26-1", t0)
	put("S26-1", 2, "000111", "S26-1", t0.Add(time.Hour))
	put("RAD-7", 1, "000111", "CT26-7", t0.Add(-time.Hour))
	put("S26-2", 1, "000222", "S26-2", t0)
	put("S26-3", 1, "", "", t0)

	ids := func(recs []*folio.Record, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range recs {
			out = append(out, r.ID)
		}
		return out
	}
	for _, c := range []struct {
		name string
		got  []string
		want []string
	}{
		{"MRN 000111", ids(s.RecordsByMRN(ctx, "000111")), []string{"RAD-7-1", "S26-1-1", "S26-1-2"}},
		{"MRN 000222", ids(s.RecordsByMRN(ctx, "000222")), []string{"S26-2-1"}},
		{"MRN 000333", ids(s.RecordsByMRN(ctx, "000333")), nil},
		{"accession S26-1", ids(s.RecordsByAccession(ctx, "S26-1")), []string{"S26-1-1", "S26-1-2"}},
		{"accession CT26-7", ids(s.RecordsByAccession(ctx, "CT26-7")), []string{"RAD-7-1"}},
		{"accession S26", ids(s.RecordsByAccession(ctx, "S26")), nil}, // a prefix is not a match
	} {
		if len(c.got) != len(c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
			continue
		}
		for i := range c.got {
			if c.got[i] != c.want[i] {
				t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
				break
			}
		}
	}
}
