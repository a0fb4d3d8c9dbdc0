package folio

import (
	"context"
	"time"
)

// IndexEntry is what the search index keeps of a record: the facts a search
// filters on that never change for a record id (its content is bound to its
// report version). What does change (superseded, entered in error, a
// Binary added, Updated) is read from the record itself.
type IndexEntry struct {
	ID          string    `json:"id"`
	PatientID   string    `json:"patient"`
	Kind        string    `json:"kind,omitempty"`
	Status      string    `json:"status,omitempty"`
	EncounterID string    `json:"encounter,omitempty"`
	Issued      time.Time `json:"issued"`
	Start       time.Time `json:"start"` // Record.EffectiveStart, or Issued when unknown
	End         time.Time `json:"end"`   // Record.EffectiveEnd, or Start when unknown
}

// EntryOf returns the index entry of a record.
func EntryOf(rec *Record) IndexEntry {
	start, end := rec.Effective()
	return IndexEntry{ID: rec.ID, PatientID: rec.PatientID, Kind: rec.Kind, Status: rec.Status,
		EncounterID: rec.EncounterID, Issued: rec.Issued, Start: start, End: end}
}

// Effective returns the clinically relevant period of a record: the exam
// performed or the specimens collected (earliest to latest). Records
// stored without it (before folio kept it, or reports that name no time)
// give their issued time for both ends.
func (r *Record) Effective() (start, end time.Time) {
	start, end = r.EffectiveStart, r.EffectiveEnd
	if start.IsZero() {
		return r.Issued, r.Issued
	}
	if end.IsZero() || end.Before(start) {
		end = start
	}
	return start, end
}

// SearchQuery selects records through the search index: those of one
// patient, or of one encounter, or all, in the order they were first
// stored, a page at a time.
type SearchQuery struct {
	// Patient restricts the search to one patient's records.
	Patient string
	// Encounter restricts the search to one encounter's records.
	Encounter string
	// Match, if set, keeps only entries for which it is true.
	Match func(*IndexEntry) bool
	// Keep, if set, keeps only records for which it is true (their
	// changing state: superseded, entered in error, last updated).
	// Records entered in error are never returned.
	Keep func(*Record) bool
	// Count is the page size (at least 1).
	Count int
	// After continues after this position (SearchPage.Last); 0 starts at
	// the beginning.
	After uint64
	// Before, if set, asks for the page that ends just before this
	// position (SearchPage.First): a previous page.
	Before uint64
}

// SearchPage is one page of a search.
type SearchPage struct {
	Records []*Record
	// First and Last are the positions of the first and last record
	// (cursors for the previous and next pages).
	First, Last uint64
	// More says that records follow Last; Earlier that records precede
	// First (known for pages asked for with Before).
	More, Earlier bool
	// Total is the number of records the whole search matches, or -1 when
	// it is not known cheaply.
	Total int
}

// Searcher finds records through the search index.
type Searcher interface {
	Search(ctx context.Context, q SearchQuery) (*SearchPage, error)
}

// SearchRecords runs q over records held in memory, positions being their
// places in recs (1 for the first): the search of a store without an index
// (tests, small in-memory stores). It costs a pass over recs.
func SearchRecords(recs []*Record, q SearchQuery) *SearchPage {
	if q.Count < 1 {
		q.Count = 1
	}
	var pos []uint64
	var hits []*Record
	for i, r := range recs {
		e := EntryOf(r)
		if r.EnteredInError != "" || (q.Patient != "" && r.PatientID != q.Patient) || (q.Encounter != "" && r.EncounterID != q.Encounter) ||
			(q.Match != nil && !q.Match(&e)) || (q.Keep != nil && !q.Keep(r)) {
			continue
		}
		pos, hits = append(pos, uint64(i+1)), append(hits, r)
	}
	page := &SearchPage{Total: len(hits)}
	from, to := 0, len(hits)
	switch {
	case q.Before > 0:
		for to > 0 && pos[to-1] >= q.Before {
			to--
		}
		from = max(0, to-q.Count)
		page.More, page.Earlier = true, from > 0
	default:
		for from < len(hits) && pos[from] <= q.After {
			from++
		}
		to = min(len(hits), from+q.Count)
		page.More, page.Earlier = to < len(hits), q.After > 0
	}
	page.Records = hits[from:to]
	if from < to {
		page.First, page.Last = pos[from], pos[to-1]
	}
	return page
}
