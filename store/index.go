package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio"
)

// The document index the FHIR searches read (Search): one entry per record
// under its patient and one under its encounter, each holding the record's
// folio.IndexEntry. An entry is created once, in the same PutRecord that
// stores its record, and never rewritten, so its stream sequence (its
// position) never changes: a search pages through a patient's entries in
// the order they were stored, continuing from a position, and documents
// stored meanwhile only ever come after it. An entered-in-error record's
// entries are removed from the stream (no deletion marker is left), so
// counting a patient's entries counts their documents.
//
//	doc.<patient>.<record>       folio.IndexEntry (JSON)
//	docenc.<encounter>.<record>  folio.IndexEntry (JSON)
//
// (<...> base64url, as every index key.) The entries live beside the records
// in NATS KV whatever backend holds Binaries' bytes.
func docKey(patientID, recordID string) string { return "doc." + enc(patientID) + "." + enc(recordID) }
func docEncounterKey(encounterID, recordID string) string {
	return "docenc." + enc(encounterID) + "." + enc(recordID)
}

const (
	streamIndex   = "KV_" + BucketIndex
	streamRecords = "KV_" + BucketRecords
	kvIndexPrefix = "$KV." + BucketIndex + "."
	kvRecPrefix   = "$KV." + BucketRecords + "."
)

// docEntryMsgs returns the create-only messages of a record's index entries.
func docEntryMsgs(rec *folio.Record) []*nats.Msg {
	data, _ := json.Marshal(folio.EntryOf(rec))
	keys := []string{docKey(rec.PatientID, rec.ID)}
	if rec.EncounterID != "" {
		keys = append(keys, docEncounterKey(rec.EncounterID, rec.ID))
	}
	var msgs []*nats.Msg
	for _, k := range keys {
		m := &nats.Msg{Subject: kvIndexPrefix + k, Data: data, Header: nats.Header{}}
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
		msgs = append(msgs, m)
	}
	return msgs
}

// indexDocument writes a record's document index entries unless they are
// there already (an entry is never rewritten: its position is a cursor).
// It reports how many it created.
func (s *Store) indexDocument(ctx context.Context, rec *folio.Record) (int, error) {
	msgs := docEntryMsgs(rec)
	ctx, cancel := s.call(ctx)
	defer cancel()
	acks := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := s.js.PublishMsgAsync(m)
		if err != nil {
			return 0, fmt.Errorf("store: indexing document %s: %w", rec.ID, err)
		}
		acks = append(acks, f)
	}
	created := 0
	for _, f := range acks {
		select {
		case <-f.Ok():
			created++
		case err := <-f.Err():
			if !isWrongSequence(err) { // wrong sequence: the entry exists
				return created, fmt.Errorf("store: indexing document %s: %w", rec.ID, err)
			}
		case <-ctx.Done():
			return created, fmt.Errorf("store: indexing document %s: %w", rec.ID, ctx.Err())
		}
	}
	return created, nil
}

// unindexDocument removes an entered-in-error record's document index
// entries from the index stream, leaving no deletion marker.
func (s *Store) unindexDocument(ctx context.Context, rec *folio.Record) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	st, err := s.js.Stream(ctx, streamIndex)
	if err != nil {
		return fmt.Errorf("store: unindexing document %s: %w", rec.ID, err)
	}
	subjects := []string{kvIndexPrefix + docKey(rec.PatientID, rec.ID)}
	if rec.EncounterID != "" {
		subjects = append(subjects, kvIndexPrefix+docEncounterKey(rec.EncounterID, rec.ID))
	}
	for _, subj := range subjects {
		if err := st.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
			return fmt.Errorf("store: unindexing document %s: %w", rec.ID, err)
		}
	}
	return nil
}

// streamMsg is one message of a direct get.
type streamMsg struct {
	seq     uint64
	subject string
	data    []byte
	deleted bool // a KV deletion or purge marker
	pending uint64
}

// directGet sends one batched direct get request (JetStream 2.11) to a
// stream and returns the messages it answers with, in stream order. No
// messages is not an error.
func (s *Store) directGet(ctx context.Context, stream string, req map[string]any) ([]streamMsg, error) {
	nc := s.js.Conn()
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest("$JS.API.DIRECT.GET."+stream, inbox, body); err != nil {
		return nil, err
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	var out []streamMsg
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, fmt.Errorf("direct get on %s: %w", stream, err)
		}
		if st := m.Header.Get("Status"); st != "" {
			switch st {
			case "204": // end of batch
				return out, nil
			case "404":
				return out, nil
			default:
				return nil, fmt.Errorf("direct get on %s: status %s %s", stream, st, m.Header.Get("Description"))
			}
		}
		seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("direct get on %s: bad sequence %q", stream, m.Header.Get(jetstream.SequenceHeader))
		}
		pending, _ := strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
		op := m.Header.Get("KV-Operation")
		out = append(out, streamMsg{seq: seq, subject: m.Header.Get(jetstream.SubjectHeader), data: m.Data,
			deleted: op == "DEL" || op == "PURGE", pending: pending})
	}
}

// nextEntry reads the first entry of filter at or after position from with
// one unbatched direct get (which, unlike a batched one, does not make the
// server count what follows). It returns false when there is none.
func (s *Store) nextEntry(ctx context.Context, filter string, from uint64) (streamMsg, bool, error) {
	body, _ := json.Marshal(map[string]any{"seq": from, "next_by_subj": filter})
	ctx, cancel := s.call(ctx)
	defer cancel()
	m, err := s.js.Conn().RequestWithContext(ctx, "$JS.API.DIRECT.GET."+streamIndex, body)
	if err != nil {
		return streamMsg{}, false, fmt.Errorf("direct get on %s: %w", streamIndex, err)
	}
	if st := m.Header.Get("Status"); st != "" {
		if st == "404" {
			return streamMsg{}, false, nil
		}
		return streamMsg{}, false, fmt.Errorf("direct get on %s: status %s %s", streamIndex, st, m.Header.Get("Description"))
	}
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return streamMsg{}, false, fmt.Errorf("direct get on %s: bad sequence %q", streamIndex, m.Header.Get(jetstream.SequenceHeader))
	}
	op := m.Header.Get("KV-Operation")
	return streamMsg{seq: seq, subject: m.Header.Get(jetstream.SubjectHeader), data: m.Data, deleted: op == "DEL" || op == "PURGE"}, true, nil
}

// scanBatch is how many index entries one direct get asks for.
const scanBatch = 256

// maxScan bounds the index entries one search request reads: a search
// whose filters pass over more returns a short page (or none) with a
// cursor after what it read, so that no request does unbounded work.
var maxScan = 10000

// position is an index entry matched by a search, at its stream sequence.
type position struct {
	seq   uint64
	entry folio.IndexEntry
}

// scanning is one search request's reading of the index.
type scanning struct {
	s      *Store
	filter string
	q      *folio.SearchQuery
	budget int    // entries left to read (maxScan)
	seen   uint64 // the last position read
	total  uint64 // entries of filter from the first position asked, as counted by the server
	single bool   // read one entry per request (no server-side count)
}

// errBudget ends a scan that has read maxScan entries.
var errBudget = errors.New("search read its budget of index entries")

// scan returns the entries at positions from..to-1 (to 0: to the end) that
// q matches, at most limit of them (0: no limit). It returns errBudget,
// with what it found, when it has read its budget.
func (sc *scanning) scan(ctx context.Context, from, to uint64, limit int) ([]position, error) {
	var out []position
	q := sc.q
	// Ask for what the page needs when every entry counts, more when a
	// filter may pass over some.
	batch := scanBatch
	if limit > 0 && q.Match == nil {
		batch = min(limit, scanBatch)
	}
	for first := true; ; first = false {
		if sc.budget <= 0 {
			return out, errBudget
		}
		var msgs []streamMsg
		var err error
		if sc.single {
			var m streamMsg
			var ok bool
			m, ok, err = sc.s.nextEntry(ctx, sc.filter, from)
			if ok {
				msgs = []streamMsg{m}
			}
			batch = 1
		} else {
			msgs, err = sc.s.directGet(ctx, streamIndex, map[string]any{"seq": from, "next_by_subj": sc.filter, "batch": min(batch, sc.budget)})
		}
		if err != nil {
			return nil, err
		}
		if first && len(msgs) > 0 && sc.total == 0 {
			sc.total = msgs[0].pending + 1
		}
		for _, m := range msgs {
			if to > 0 && m.seq >= to {
				return out, nil
			}
			from, sc.seen = m.seq+1, m.seq
			sc.budget--
			if m.deleted {
				continue
			}
			var e folio.IndexEntry
			if err := json.Unmarshal(m.data, &e); err != nil {
				return nil, fmt.Errorf("index entry %s: %w", m.subject, err)
			}
			if (q.Patient != "" && e.PatientID != q.Patient) || (q.Encounter != "" && e.EncounterID != q.Encounter) ||
				(q.Match != nil && !q.Match(&e)) {
				if sc.budget <= 0 {
					return out, errBudget
				}
				continue
			}
			out = append(out, position{m.seq, e})
			if limit > 0 && len(out) >= limit {
				return out, nil
			}
			if sc.budget <= 0 {
				return out, errBudget
			}
		}
		if len(msgs) < min(batch, sc.budget+len(msgs)) {
			return out, nil
		}
		if !sc.single {
			batch = scanBatch
		}
	}
}

// recordsAt reads the records of ps in one request, keeping those q keeps
// (never one entered in error), in the order of ps.
func (s *Store) recordsAt(ctx context.Context, ps []position, q *folio.SearchQuery) ([]*folio.Record, []uint64, error) {
	if len(ps) == 0 {
		return nil, nil, nil
	}
	subjects := make([]string, len(ps))
	for i, p := range ps {
		subjects[i] = kvRecPrefix + p.entry.ID
	}
	msgs, err := s.directGet(ctx, streamRecords, map[string]any{"multi_last": subjects, "batch": len(subjects)})
	if err != nil {
		return nil, nil, err
	}
	bySubject := make(map[string][]byte, len(msgs))
	for _, m := range msgs {
		if !m.deleted {
			bySubject[m.subject] = m.data
		}
	}
	var recs []*folio.Record
	var seqs []uint64
	for i, p := range ps {
		data, ok := bySubject[subjects[i]]
		if !ok {
			continue // the entry was written, its record is gone
		}
		var rec folio.Record
		if err := json.Unmarshal(data, &rec); err != nil {
			return nil, nil, fmt.Errorf("record %s: %w", p.entry.ID, err)
		}
		if rec.PatientID != p.entry.PatientID || rec.EnteredInError != "" || (q.Keep != nil && !q.Keep(&rec)) {
			continue
		}
		recs = append(recs, &rec)
		seqs = append(seqs, p.seq)
	}
	return recs, seqs, nil
}

// Search returns a page of the records q selects, in the order their
// index entries were stored. Its cost grows with the page (and with the
// entries q's Match and Keep pass over), not with the patient's history:
// it reads the entries from the position it continues at, and the
// page's records in one request.
func (s *Store) Search(ctx context.Context, q folio.SearchQuery) (*folio.SearchPage, error) {
	if q.Count < 1 {
		q.Count = 1
	}
	filter := kvIndexPrefix + "doc.*.*"
	switch {
	case q.Patient != "":
		filter = kvIndexPrefix + "doc." + enc(q.Patient) + ".*"
	case q.Encounter != "":
		filter = kvIndexPrefix + "docenc." + enc(q.Encounter) + ".*"
	}
	var page *folio.SearchPage
	var err error
	if q.Before > 0 {
		page, err = s.searchBack(ctx, filter, &q)
	} else {
		page, err = s.searchForward(ctx, filter, &q)
	}
	if err != nil {
		return nil, fmt.Errorf("store: search: %w", err)
	}
	return page, nil
}

func (s *Store) searchForward(ctx context.Context, filter string, q *folio.SearchQuery) (*folio.SearchPage, error) {
	sc := &scanning{s: s, filter: filter, q: q, budget: maxScan, single: q.After > 0 && q.Match == nil}
	page := &folio.SearchPage{Total: -1}
	from := q.After + 1
	want := q.Count + 1 // one more tells whether a next page exists
	var seqs []uint64
	for len(page.Records) < want {
		ps, err := sc.scan(ctx, from, 0, want-len(page.Records))
		if err != nil && !errors.Is(err, errBudget) {
			return nil, err
		}
		recs, sq, rerr := s.recordsAt(ctx, ps, q)
		if rerr != nil {
			return nil, rerr
		}
		page.Records = append(page.Records, recs...)
		seqs = append(seqs, sq...)
		if errors.Is(err, errBudget) && len(page.Records) < want {
			// Read enough for one request: the next page goes on from
			// here (it may be short, or empty).
			if len(seqs) > 0 {
				page.First = seqs[0]
			}
			page.Last, page.More, page.Earlier = sc.seen, true, q.After > 0
			return page, nil
		}
		if len(ps) == 0 {
			break
		}
		from = ps[len(ps)-1].seq + 1
	}
	if q.After == 0 && q.Match == nil && q.Keep == nil {
		page.Total = int(sc.total)
	}
	if len(page.Records) > q.Count {
		page.Records, seqs, page.More = page.Records[:q.Count], seqs[:q.Count], true
	}
	if len(seqs) > 0 {
		page.First, page.Last = seqs[0], seqs[len(seqs)-1]
	}
	if q.After == 0 && !page.More {
		page.Total = len(page.Records)
	}
	page.Earlier = q.After > 0
	return page, nil
}

// searchBack finds the page that ends before q.Before: it reads the
// entries of a window of positions before it, widening the window until
// the page is full or the window reaches the start. A window that would
// take the request past its budget is not read: the page then holds what
// the windows read so far found, and its previous page starts there.
func (s *Store) searchBack(ctx context.Context, filter string, q *folio.SearchQuery) (*folio.SearchPage, error) {
	sc := &scanning{s: s, filter: filter, q: q, budget: maxScan}
	want := q.Count + 1
	var ps []position // matched entries in [hi, q.Before), ascending
	cut := 0          // ps[:cut] not yet read back
	var recs []*folio.Record
	var seqs []uint64 // descending
	page := &folio.SearchPage{Total: -1, More: true}
	hi, width := q.Before, uint64(4*want)
	for len(recs) < want && hi > 1 {
		lo := uint64(1)
		if hi > width {
			lo = hi - width
		}
		more, err := sc.scan(ctx, lo, hi, 0)
		if errors.Is(err, errBudget) {
			page.Earlier, page.First = true, hi // go on before hi
			break
		}
		if err != nil {
			return nil, err
		}
		ps = append(more, ps...)
		cut += len(more)
		for cut > 0 && len(recs) < want {
			chunk := ps[max(0, cut-want):cut]
			cut -= len(chunk)
			got, sq, err := s.recordsAt(ctx, chunk, q)
			if err != nil {
				return nil, err
			}
			for i := len(got) - 1; i >= 0 && len(recs) < want; i-- {
				recs, seqs = append(recs, got[i]), append(seqs, sq[i])
			}
		}
		hi, width = lo, width*8
	}
	if len(recs) > q.Count {
		recs, seqs, page.Earlier = recs[:q.Count], seqs[:q.Count], true
	}
	for i := len(recs) - 1; i >= 0; i-- {
		page.Records = append(page.Records, recs[i])
	}
	if len(seqs) > 0 {
		page.First, page.Last = seqs[len(seqs)-1], seqs[0]
	} else if page.Earlier {
		page.Last = q.Before - 1
	}
	return page, nil
}

// RebuildStats is what RebuildIndex did.
type RebuildStats struct {
	Records   int // records read
	Created   int // index entries written that were missing
	Withdrawn int // entered-in-error records whose entries were removed
}

// RebuildIndex writes the document index entries of every stored record
// that lacks them (records stored before the document index existed) and
// removes those of records entered in error. Entries that exist are left
// as they are, so positions handed out as cursors stay valid; running it
// again changes nothing. It may run while folio stores records.
func (s *Store) RebuildIndex(ctx context.Context) (RebuildStats, error) {
	var st RebuildStats
	from := uint64(1)
	for {
		msgs, err := s.directGet(ctx, streamRecords, map[string]any{"seq": from, "next_by_subj": kvRecPrefix + ">", "batch": scanBatch})
		if err != nil {
			return st, fmt.Errorf("store: rebuilding index: %w", err)
		}
		for _, m := range msgs {
			from = m.seq + 1
			if m.deleted {
				continue
			}
			var rec folio.Record
			if err := json.Unmarshal(m.data, &rec); err != nil {
				return st, fmt.Errorf("store: rebuilding index: record %s: %w", strings.TrimPrefix(m.subject, kvRecPrefix), err)
			}
			st.Records++
			if rec.EnteredInError != "" {
				if err := s.unindexDocument(ctx, &rec); err != nil {
					return st, err
				}
				st.Withdrawn++
				continue
			}
			n, err := s.indexDocument(ctx, &rec)
			if err != nil {
				return st, err
			}
			st.Created += n
		}
		if len(msgs) < scanBatch {
			return st, nil
		}
	}
}
