package queue

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/report"
)

// TestIdentifierKeys: two look-alike identifiers, RAD/2026-77 and
// RAD-2026-77, of two patients are two reports under two keys
// (report.Key), each record keeping its identifier as sent; on the derived
// key a second content of version 1 is a conflict, version 2 supersedes
// version 1, and version 3 naming another patient marks version 2
// entered-in-error, all on a real JetStream.
func TestIdentifierKeys(t *testing.T) {
	srv := startServer(t, t.TempDir(), "")
	_, q := openQueue(t, srv, testConfig())
	runWorkers(t, q, &Engine{}, 2)
	base := fixtures(t)["spec-example"]
	slash := withPatient(t, base, "RAD/2026-77", "pt-aaa", "Alpha, Anna")
	dash := withPatient(t, base, "RAD-2026-77", "pt-bbb", "Bravo, Bella")
	key := report.Key("RAD/2026-77")
	if key == "RAD-2026-77" || !strings.HasPrefix(key, "RAD-2026-77.") {
		t.Fatalf("Key(RAD/2026-77) = %q", key)
	}
	subs := submitAll(t, q, [][]byte{slash, dash}, nil)
	sts := waitFinal(t, q, subs, 60*time.Second)
	for _, sub := range subs {
		st := sts[sub.JobID]
		if st.Status != StatusDone {
			t.Fatalf("%s: %s %s", sub.JobID, st.Status, st.Error)
		}
		if !validJobID(sub.JobID) {
			t.Errorf("job id %q is not a valid job id", sub.JobID)
		}
	}
	if st := sts[subs[0].JobID]; st.RecordID != key+"-1" || st.Identifier != "RAD/2026-77" {
		t.Errorf("status of RAD/2026-77: record %q identifier %q, want %s-1 and the identifier as sent", st.RecordID, st.Identifier, key)
	}
	if st := sts[subs[1].JobID]; st.RecordID != "RAD-2026-77-1" || st.Identifier != "" {
		t.Errorf("status of RAD-2026-77: record %q identifier %q, want RAD-2026-77-1 and no separate identifier", st.RecordID, st.Identifier)
	}
	ctx := context.Background()
	for _, w := range []struct{ rec, reportID, ident, patient string }{
		{key + "-1", key, "RAD/2026-77", "pt-aaa"},
		{"RAD-2026-77-1", "RAD-2026-77", "", "pt-bbb"},
	} {
		rec, err := q.Store().Record(ctx, w.rec)
		if err != nil {
			t.Fatalf("record %s: %v", w.rec, err)
		}
		if rec.ReportID != w.reportID || rec.Identifier != w.ident || rec.PatientID != w.patient {
			t.Errorf("record %s: reportId %q identifier %q patient %q; want %q %q %q", w.rec, rec.ReportID, rec.Identifier, rec.PatientID, w.reportID, w.ident, w.patient)
		}
		if rec.SenderID() == "" || rec.SenderID() != map[string]string{key: "RAD/2026-77", "RAD-2026-77": "RAD-2026-77"}[rec.ReportID] {
			t.Errorf("record %s: SenderID %q", w.rec, rec.SenderID())
		}
		if _, err := q.Store().BinaryInfo(ctx, folio.BinaryID(w.reportID, 1, folio.OutputPDF)); err != nil {
			t.Errorf("Binary of %s: %v", w.rec, err)
		}
		recs, _ := q.Store().RecordsByPatient(ctx, w.patient)
		if len(recs) != 1 || recs[0].ID != w.rec {
			t.Errorf("patient %s has %d records, want only %s", w.patient, len(recs), w.rec)
		}
	}

	// Other content as version 1 of RAD/2026-77: a conflict on its key.
	other := withPatient(t, base, "RAD/2026-77", "pt-ccc", "Charlie, Cora")
	c := submitAll(t, q, [][]byte{other}, nil)
	if st := waitFinal(t, q, c, 60*time.Second)[c[0].JobID]; st.Status != StatusFailed || st.Reason != ReasonConflict {
		t.Fatalf("other content as version 1: %s/%s %s, want failed/conflict", st.Status, st.Reason, st.Error)
	}

	// Version 2 (same patient) supersedes; version 3 names another patient:
	// version 2 becomes entered-in-error.
	version := func(b []byte, v int, patient string) []byte {
		var rep map[string]any
		json.Unmarshal(b, &rep)
		rep["version"] = v
		rep["status"] = "amended"
		rep["amendment"] = map[string]any{"reason": "revised", "issued": "2026-11-21T09:00:00-05:00"}
		if patient != "" {
			rep["patient"] = map[string]any{"id": patient, "name": "Delta, Dora", "mrn": "MRN-" + patient}
		}
		out, _ := json.Marshal(rep)
		return out
	}
	v := submitAll(t, q, [][]byte{version(slash, 2, ""), version(slash, 3, "pt-ddd")}, nil)
	for id, st := range waitFinal(t, q, v, 60*time.Second) {
		if st.Status != StatusDone {
			t.Fatalf("%s: %s %s", id, st.Status, st.Error)
		}
	}
	for _, w := range []struct{ rec, supersedes, supersededBy string }{
		{key + "-1", "", key + "-2"},
		{key + "-2", key + "-1", key + "-3"},
		{key + "-3", key + "-2", ""},
	} {
		var rec *folio.Record
		var err error
		testutil.PollUntil(t, 30*time.Second, "the links of "+w.rec, func() bool {
			rec, err = q.Store().Record(ctx, w.rec)
			return err == nil && rec.Supersedes == w.supersedes && rec.SupersededBy == w.supersededBy
		})
		if err != nil || rec.Supersedes != w.supersedes || rec.SupersededBy != w.supersededBy || rec.Identifier != "RAD/2026-77" {
			t.Errorf("record %s: %+v (%v); want supersedes %q, superseded by %q, identifier RAD/2026-77", w.rec, rec, err, w.supersedes, w.supersededBy)
		}
		if w.rec == key+"-2" && (rec == nil || !strings.Contains(rec.EnteredInError, "wrong patient")) {
			t.Errorf("record %s: entered-in-error %q, want filed under the wrong patient", w.rec, rec.EnteredInError)
		}
	}
	// The look-alike of the other patient is untouched.
	if rec, err := q.Store().Record(ctx, "RAD-2026-77-1"); err != nil || rec.PatientID != "pt-bbb" || rec.SupersededBy != "" || rec.EnteredInError != "" {
		t.Errorf("RAD-2026-77-1 changed: %+v (%v)", rec, err)
	}
}
