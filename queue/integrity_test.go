package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio"
)

// withPatient returns the spec example report with another patient.
func withPatient(t *testing.T, base []byte, id, patient, name string) []byte {
	t.Helper()
	var rep map[string]any
	if err := json.Unmarshal(base, &rep); err != nil {
		t.Fatal(err)
	}
	rep["id"] = id
	rep["patient"] = map[string]any{"id": patient, "name": name, "mrn": "MRN-" + patient}
	b, _ := json.Marshal(rep)
	return b
}

// TestConflictRefused: the same report id and version with other content
// (another patient) ends failed/conflict, names both digests, and changes
// nothing stored; with or without an explicit job id.
func TestConflictRefused(t *testing.T) {
	srv := startServer(t, t.TempDir(), "")
	_, q := openQueue(t, srv, testConfig())
	runWorkers(t, q, &Engine{}, 2)
	base := fixtures(t)["spec-example"]
	alpha := withPatient(t, base, "CONFLICT-1", "pt-aaa", "Alpha, Anna")
	bravo := withPatient(t, base, "CONFLICT-1", "pt-bbb", "Bravo, Bella")
	first := submitAll(t, q, [][]byte{alpha}, nil)
	st := waitFinal(t, q, first, 30*time.Second)[first[0].JobID]
	if st.Status != StatusDone {
		t.Fatalf("first: %+v", st)
	}
	ctx := context.Background()
	before, err := q.Store().Record(ctx, "CONFLICT-1-1")
	if err != nil {
		t.Fatal(err)
	}
	binBefore, err := q.Store().BinaryInfo(ctx, "pdf-CONFLICT-1-1")
	if err != nil {
		t.Fatal(err)
	}
	// Default job id (as folio submit) and an explicit one.
	second := submitAll(t, q, [][]byte{bravo}, nil)
	explicit, err := q.Submit(ctx, &Job{ID: "fix-misfiled", Report: bravo})
	if err != nil {
		t.Fatal(err)
	}
	if second[0].Duplicate || second[0].JobID == first[0].JobID {
		t.Fatalf("a different report took the first one's job id %s", second[0].JobID)
	}
	for _, sub := range []*Submitted{second[0], explicit} {
		st := waitFinal(t, q, []*Submitted{sub}, 30*time.Second)[sub.JobID]
		if st.Status != StatusFailed || st.Reason != ReasonConflict {
			t.Fatalf("%s: %s/%s %s, want failed/conflict", sub.JobID, st.Status, st.Reason, st.Error)
		}
		for _, want := range []string{before.Digest, st.Digest, "new version"} {
			if !strings.Contains(st.Error, want) {
				t.Errorf("%s: error %q does not name %q", sub.JobID, st.Error, want)
			}
		}
		if st.Digest == before.Digest {
			t.Errorf("conflicting job has the stored digest")
		}
	}
	after, err := q.Store().Record(ctx, "CONFLICT-1-1")
	if err != nil {
		t.Fatal(err)
	}
	if after.Rev != before.Rev || after.PatientID != "pt-aaa" || !after.Updated.Equal(before.Updated) {
		t.Errorf("record changed: %+v\nwas %+v", after, before)
	}
	if b, _ := q.Store().BinaryInfo(ctx, "pdf-CONFLICT-1-1"); *b != *binBefore {
		t.Errorf("Binary changed: %+v", b)
	}
	if recs, _ := q.Store().RecordsByPatient(ctx, "pt-bbb"); len(recs) != 0 {
		t.Errorf("pt-bbb has %d records", len(recs))
	}
	if recs, _ := q.Store().RecordsByPatient(ctx, "pt-aaa"); len(recs) != 1 {
		t.Errorf("pt-aaa has %d records, want 1", len(recs))
	}
	// Re-sending the original stays idempotent.
	again, err := q.Submit(ctx, &Job{ID: "resend-original", Report: alpha})
	if err != nil {
		t.Fatal(err)
	}
	if st := waitFinal(t, q, []*Submitted{again}, 30*time.Second)["resend-original"]; st.Status != StatusDone {
		t.Fatalf("identical resend: %+v", st)
	}
}

// TestEightBadReports: eight different invalid reports sharing one id and
// version get eight jobs and eight different errors.
func TestEightBadReports(t *testing.T) {
	srv := startServer(t, t.TempDir(), "")
	_, q := openQueue(t, srv, testConfig())
	runWorkers(t, q, &Engine{}, 2)
	var rep map[string]any
	json.Unmarshal(fixtures(t)["spec-example"], &rep)
	var reports [][]byte
	for i := range 8 {
		bad := map[string]any{}
		for k, v := range rep {
			bad[k] = v
		}
		bad["id"] = "BAD-1"
		bad[fmt.Sprintf("mistake%d", i)] = true
		b, _ := json.Marshal(bad)
		reports = append(reports, b)
	}
	subs := submitAll(t, q, reports, nil)
	got := waitFinal(t, q, subs, 30*time.Second)
	errs := map[string]bool{}
	for i, sub := range subs {
		st := got[sub.JobID]
		want := fmt.Sprintf("report.mistake%d: unknown field", i)
		if st.Status != StatusFailed || st.Reason != ReasonInvalid || !strings.Contains(st.Error, want) {
			t.Errorf("report %d (job %s): %s/%s %q, want %q", i, sub.JobID, st.Status, st.Reason, st.Error, want)
		}
		errs[st.Error] = true
	}
	if len(errs) != 8 {
		t.Errorf("%d different errors for 8 different reports", len(errs))
	}
}

// TestJobMessageStrict: unknown job fields are refused by name, and a job
// whose digest does not match its report is refused.
func TestJobMessageStrict(t *testing.T) {
	srv := startServer(t, t.TempDir(), "")
	_, q := openQueue(t, srv, testConfig())
	runWorkers(t, q, &Engine{}, 1)
	rep := fixtures(t)["spec-example"]
	ctx := context.Background()
	cases := []struct{ id, msg, want string }{
		{"strict-1", `{"jobId":"strict-1","output":["pdf"],"report":` + string(rep) + `}`, "output: unknown field"},
		{"strict-2", `{"jobId":"strict-2","thumbnail":{"size":64,"fromat":"png"},"outputs":["thumbnail"],"report":` + string(rep) + `}`, "thumbnail.fromat: unknown field"},
		{"strict-3", `{"jobId":"strict-3","digest":"sha256:00","report":` + string(rep) + `}`, "digest: the job says sha256:00"},
		// The message as text (jobs before issue 18): refused, not misread.
		{"strict-4", `{"jobId":"strict-4","hl7":"MSH|^~\\&|LIS|LAKESIDE|FOLIO|LAKESIDE|20261120||ORU^R01|1|P|2.5.1\r","version":1}`, "hl7: not base64"},
	}
	var subs []*Submitted
	for _, c := range cases {
		ack, err := q.js.Publish(ctx, SubjectJobs, []byte(c.msg), jetstream.WithMsgID(c.id))
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, &Submitted{JobID: c.id, Seq: ack.Sequence})
	}
	got := waitFinal(t, q, subs, 30*time.Second)
	for _, c := range cases {
		st := got[c.id]
		if st.Status != StatusFailed || st.Reason != ReasonInvalid || !strings.Contains(st.Error, c.want) {
			t.Errorf("%s: %s/%s %q, want invalid %q", c.id, st.Status, st.Reason, st.Error, c.want)
		}
	}
	if _, err := q.Store().Record(ctx, folio.RecordID("S26-004512", 1)); err == nil {
		t.Errorf("a refused job stored a record")
	}
}

// TestNoUsableIDStatusKeys: jobs whose reports have no usable id get
// status keys that include their content digest: different bad reports
// never share a status.
func TestNoUsableIDStatusKeys(t *testing.T) {
	a := DefaultJobID([]byte(`{"schema":"folio.report/v1","title":"one"}`), nil)
	b := DefaultJobID([]byte(`{"schema":"folio.report/v1","title":"two"}`), nil)
	if a == b || !strings.HasPrefix(a, "x-") {
		t.Errorf("job ids %q and %q", a, b)
	}
	// Same id and version, different content: different ids; same content
	// with other key order and whitespace: the same id.
	rep := fixtures(t)["spec-example"]
	var m map[string]any
	json.Unmarshal(rep, &m)
	reordered, _ := json.MarshalIndent(m, "", "   ")
	if DefaultJobID(rep, nil) != DefaultJobID(reordered, nil) {
		t.Errorf("key order and whitespace changed the job id")
	}
	m["title"] = "Other"
	other, _ := json.Marshal(m)
	if DefaultJobID(rep, nil) == DefaultJobID(other, nil) {
		t.Errorf("different content, same job id")
	}
	if id := DefaultJobID(rep, []string{"thumbnail", "pdf"}); !strings.HasPrefix(id, "S26-004512-1.") || !strings.HasSuffix(id, ".pdf-thumbnail") || !validJobID(id) {
		t.Errorf("job id %q", id)
	}
}

// TestRefusedJobsKeepTheirOwnStatus: job messages without a job id of
// their own that are refused at the job level (here: the same report with
// different bad thumbnail sizes) get status keys from their whole message,
// so seven different bad jobs leave seven statuses, not one overwritten
// seven times.
func TestRefusedJobsKeepTheirOwnStatus(t *testing.T) {
	srv := startServer(t, t.TempDir(), "")
	_, q := openQueue(t, srv, testConfig())
	runWorkers(t, q, &Engine{}, 1)
	rep := fixtures(t)["spec-example"]
	ctx := context.Background()
	var subs []*Submitted
	for i := range 7 {
		msg := []byte(fmt.Sprintf(`{"outputs":["thumbnail"],"thumbnail":{"size":%d},"report":%s}`, 5000+i, rep))
		ack, err := q.js.Publish(ctx, SubjectJobs, msg) // no Nats-Msg-Id, no jobId
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, &Submitted{JobID: refusedJobID(msg), Seq: ack.Sequence})
	}
	got := waitFinal(t, q, subs, 30*time.Second)
	for i, sub := range subs {
		st := got[sub.JobID]
		want := fmt.Sprintf("thumbnail.size: %d is outside", 5000+i)
		if st.Status != StatusFailed || !strings.Contains(st.Error, want) {
			t.Errorf("job %d (%s): %s %q, want its own error %q", i, sub.JobID, st.Status, st.Error, want)
		}
	}
}
