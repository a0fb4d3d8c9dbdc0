package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/foliohealth/folio"
)

func testRecord(reportID string, version int, patient, digest string) *folio.Record {
	return &folio.Record{ID: folio.RecordID(reportID, version), ReportID: reportID, Version: version, Kind: "anatomic-pathology",
		Title: "Surgical Pathology Report", Status: "final", Issued: time.Date(2026, 11, 20, 10, version, 0, 0, time.UTC),
		PatientID: patient, PatientName: "Name of " + patient, Digest: digest}
}

func TestClaim(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	if err := s.Claim(ctx, "CONFLICT-1", 1, "sha256:aaa"); err != nil {
		t.Fatal(err)
	}
	if err := s.Claim(ctx, "CONFLICT-1", 1, "sha256:aaa"); err != nil {
		t.Fatalf("same digest again: %v", err)
	}
	err := s.Claim(ctx, "CONFLICT-1", 1, "sha256:bbb")
	var ce *ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, ErrConflict) || ce.Stored != "sha256:aaa" || ce.Sent != "sha256:bbb" {
		t.Fatalf("different digest: %v", err)
	}
	for _, want := range []string{"sha256:aaa", "sha256:bbb", "new version"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("conflict error %q does not say %q", err, want)
		}
	}
	if err := s.Claim(ctx, "CONFLICT-1", 2, "sha256:bbb"); err != nil {
		t.Fatalf("next version: %v", err)
	}
	// Racing claims of one version: exactly one digest wins.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = s.Claim(ctx, "RACE-1", 1, fmt.Sprint("sha256:", i)) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else if !errors.Is(err, ErrConflict) {
			t.Fatal(err)
		}
	}
	if won != 1 {
		t.Errorf("%d claims won, want 1", won)
	}
}

// TestPutRecordRefusesOtherContent: the record of a version is never
// replaced by another content or moved to another patient.
func TestPutRecordRefusesOtherContent(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	if err := s.PutRecord(ctx, testRecord("R-1", 1, "pt-aaa", "sha256:aaa")); err != nil {
		t.Fatal(err)
	}
	for _, rec := range []*folio.Record{testRecord("R-1", 1, "pt-bbb", "sha256:bbb"), testRecord("R-1", 1, "pt-aaa", "sha256:ccc")} {
		if err := s.PutRecord(ctx, rec); !errors.Is(err, ErrConflict) {
			t.Errorf("other content %s for %s: %v, want a conflict", rec.Digest, rec.PatientID, err)
		}
	}
	got, err := s.Record(ctx, "R-1-1")
	if err != nil || got.PatientID != "pt-aaa" || got.Digest != "sha256:aaa" || got.Rev != 1 {
		t.Fatalf("stored record changed: %+v, %v", got, err)
	}
	if recs, _ := s.RecordsByPatient(ctx, "pt-bbb"); len(recs) != 0 {
		t.Errorf("pt-bbb has %d records", len(recs))
	}
	// The same content again changes nothing, not even the revision.
	if err := s.PutRecord(ctx, testRecord("R-1", 1, "pt-aaa", "sha256:aaa")); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Record(ctx, "R-1-1"); got.Rev != 1 {
		t.Errorf("rev %d after storing the same record again, want 1", got.Rev)
	}
}

// TestRevisions: every change of a record raises its Rev.
func TestRevisions(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	v1 := testRecord("R-2", 1, "pt-1", "sha256:v1")
	v1.Binaries = []folio.Binary{{ID: "pdf-R-2-1", Output: folio.OutputPDF}}
	if err := s.PutRecord(ctx, v1); err != nil {
		t.Fatal(err)
	}
	rev := func() int {
		r, err := s.Record(ctx, "R-2-1")
		if err != nil {
			t.Fatal(err)
		}
		return r.Rev
	}
	if r := rev(); r != 1 {
		t.Fatalf("new record rev %d", r)
	}
	v1.Binaries = []folio.Binary{{ID: "thumb-R-2-1", Output: folio.OutputThumbnail}}
	if err := s.PutRecord(ctx, v1); err != nil {
		t.Fatal(err)
	}
	if r := rev(); r != 2 {
		t.Fatalf("rev %d after a thumbnail was added, want 2", r)
	}
	if err := s.PutRecord(ctx, testRecord("R-2", 2, "pt-1", "sha256:v2")); err != nil {
		t.Fatal(err)
	}
	if r := rev(); r != 3 {
		t.Fatalf("rev %d after being superseded, want 3", r)
	}
	if _, err := s.Withdraw(ctx, "R-2", "HL7 result status W"); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Record(ctx, "R-2-2"); r.Rev != 3 || !strings.Contains(r.EnteredInError, "status W") {
		t.Fatalf("withdrawn v2: %+v", r)
	}
}

// TestWrongPatientCorrection: a new version naming another patient marks
// the earlier version entered-in-error and takes it out of the earlier
// patient's index (not only out of search results).
func TestWrongPatientCorrection(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	if err := s.PutRecord(ctx, testRecord("CONFLICT-1", 1, "pt-aaa", "sha256:aaa")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRecord(ctx, testRecord("CONFLICT-1", 2, "pt-bbb", "sha256:bbb")); err != nil {
		t.Fatal(err)
	}
	v1, err := s.Record(ctx, "CONFLICT-1-1")
	if err != nil {
		t.Fatal(err)
	}
	if v1.EnteredInError == "" || v1.SupersededBy != "CONFLICT-1-2" {
		t.Fatalf("v1 after the correction: %+v", v1)
	}
	if recs, _ := s.RecordsByPatient(ctx, "pt-aaa"); len(recs) != 0 {
		t.Errorf("pt-aaa still has %d records", len(recs))
	}
	if keys, _ := s.listKeys(ctx, "patient."+enc("pt-aaa")+".>"); len(keys) != 0 {
		t.Errorf("pt-aaa's index still holds %v", keys)
	}
	recs, err := s.RecordsByPatient(ctx, "pt-bbb")
	if err != nil || len(recs) != 1 || recs[0].ID != "CONFLICT-1-2" || recs[0].EnteredInError != "" {
		t.Fatalf("pt-bbb: %v, %v", recs, err)
	}
	// Re-storing v1 (a redelivered job) does not bring it back.
	if err := s.PutRecord(ctx, testRecord("CONFLICT-1", 1, "pt-aaa", "sha256:aaa")); err != nil {
		t.Fatal(err)
	}
	if recs, _ := s.RecordsByPatient(ctx, "pt-aaa"); len(recs) != 0 {
		t.Errorf("pt-aaa has %d records after v1 was stored again", len(recs))
	}
	// Versions arriving out of order end the same way.
	if err := s.PutRecord(ctx, testRecord("OOO-1", 2, "pt-bbb", "sha256:b")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRecord(ctx, testRecord("OOO-1", 1, "pt-aaa", "sha256:a")); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Record(ctx, "OOO-1-1"); r.EnteredInError == "" {
		t.Errorf("late v1 of another patient: %+v", r)
	}
	if recs, _ := s.RecordsByPatient(ctx, "pt-aaa"); len(recs) != 0 {
		t.Errorf("pt-aaa has %d records after the late v1", len(recs))
	}
}

func TestWithdraw(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	if _, err := s.Withdraw(ctx, "NOPE", "x"); !errors.Is(err, folio.ErrNotFound) {
		t.Fatalf("unknown report: %v", err)
	}
	for v := 1; v <= 2; v++ {
		if err := s.PutRecord(ctx, testRecord("W-1", v, "pt-w", fmt.Sprint("sha256:", v))); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := s.Withdraw(ctx, "W-1", "FHIR status entered-in-error")
	if err != nil || rec.ID != "W-1-2" || rec.EnteredInError == "" {
		t.Fatalf("withdraw: %+v, %v", rec, err)
	}
	again, err := s.Withdraw(ctx, "W-1", "again")
	if err != nil || again.Rev != rec.Rev {
		t.Fatalf("withdrawing again changed the record: %+v, %v", again, err)
	}
	recs, _ := s.RecordsByPatient(ctx, "pt-w")
	if len(recs) != 1 || recs[0].ID != "W-1-1" {
		t.Fatalf("pt-w after withdrawal: %v", recs)
	}
	// One named version (an HL7 withdrawal): that version only; a version
	// not stored (yet) is not found and nothing changes.
	if _, err := s.WithdrawVersion(ctx, "W-1", 3, "HL7 v2 result status W"); !errors.Is(err, folio.ErrNotFound) {
		t.Fatalf("withdrawing version 3, not stored: %v", err)
	}
	rec, err = s.WithdrawVersion(ctx, "W-1", 1, "HL7 v2 result status X")
	if err != nil || rec.ID != "W-1-1" || !strings.Contains(rec.EnteredInError, "status X") {
		t.Fatalf("withdraw version 1: %+v, %v", rec, err)
	}
	if recs, _ := s.RecordsByPatient(ctx, "pt-w"); len(recs) != 0 {
		t.Fatalf("pt-w after withdrawing both versions: %v", recs)
	}
}

// rewriteChunks replaces a stored object's chunks with data whose byte at
// (if at >= 0) is flipped, its info (size, digests) left as it was: a
// corruption of the object store.
func rewriteChunks(t *testing.T, s *Store, id string, data []byte, at int) {
	t.Helper()
	ctx := context.Background()
	oi, err := s.objectInfo(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.Clone(data)
	if at >= 0 {
		data[at] ^= 0x20
	}
	subj := "$O." + BucketBinaries + ".C." + oi.NUID
	s.purge(ctx, subj)
	var msgs []*nats.Msg
	for off := 0; off < len(data); off += objectChunkSize {
		msgs = append(msgs, &nats.Msg{Subject: subj, Data: data[off:min(off+objectChunkSize, len(data))]})
	}
	if err := PublishAll(ctx, s.js, 5*time.Second, msgs); err != nil {
		t.Fatal(err)
	}
}

func TestReadIsVerified(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	data := bytes.Repeat([]byte("%PDF-1.7 verified "), 200000) // 3.6 MB, 28 chunks
	b := folio.Binary{ID: "pdf-V-1", ContentType: "application/pdf", Output: folio.OutputPDF, RecordID: "V-1"}
	if _, err := s.PutBinary(ctx, b, data); err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{0, len(data) / 2, len(data) - 1} {
		rewriteChunks(t, s, b.ID, data, at)
		_, rc, err := s.OpenBinary(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		_, err = io.Copy(&got, rc)
		rc.Close()
		if !errors.Is(err, ErrIntegrity) {
			t.Errorf("byte %d flipped: read %d bytes, error %v; want ErrIntegrity", at, got.Len(), err)
		}
		if got.Len() >= len(data) {
			t.Errorf("byte %d flipped: all %d bytes were handed over", at, got.Len())
		}
		rewriteChunks(t, s, b.ID, data, -1)
		_, rc, err = s.OpenBinary(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			t.Fatalf("restored: %v", err)
		}
	}
}

// TestConcurrentRepair: workers repairing the same broken object (info
// stored, chunks lost) never purge each other's work: afterwards the object
// is whole and every caller was told the stored Binary.
func TestConcurrentRepair(t *testing.T) {
	ctx := context.Background()
	for round := range 5 {
		s := openTestStore(t)
		id := fmt.Sprint("pdf-REPAIR-", round)
		data := bytes.Repeat([]byte("%PDF-1.4 repair "), 30000)
		b := folio.Binary{ID: id, ContentType: "application/pdf", Output: folio.OutputPDF, RecordID: "REPAIR-1"}
		if _, err := s.PutBinary(ctx, b, data); err != nil {
			t.Fatal(err)
		}
		oi, err := s.objectInfo(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		s.purge(ctx, "$O."+BucketBinaries+".C."+oi.NUID)
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for i := range errs {
			wg.Go(func() { _, errs[i] = s.PutBinary(ctx, b, data) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, repairer %d: %v", round, i, err)
			}
		}
		_, rc, err := s.OpenBinary(ctx, id)
		if err != nil {
			t.Fatalf("round %d: the repaired Binary is gone: %v", round, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round %d: read %d bytes, %v", round, len(got), err)
		}
		// Nothing but the object's own chunks and info is left: no
		// repairer's object was purged from under it (leaving its chunks).
		oi, err = s.objectInfo(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		st, err := s.js.Stream(ctx, "OBJ_"+BucketBinaries)
		if err != nil {
			t.Fatal(err)
		}
		si, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if si.State.Msgs != uint64(oi.Chunks)+1 {
			t.Errorf("round %d: bucket holds %d messages, want %d chunks + 1 info", round, si.State.Msgs, oi.Chunks)
		}
	}
}
