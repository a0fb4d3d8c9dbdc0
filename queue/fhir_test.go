package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/foliohealth/folio"
)

// fhirJob reads a FHIR fixture and applies edit to its parsed JSON.
func fhirJob(t *testing.T, name string, edit func(m map[string]any)) []byte {
	t.Helper()
	b, err := os.ReadFile("../fixtures/fhir/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(m)
	}
	out, _ := json.Marshal(m)
	return out
}

// TestFHIRVersionsAndWithdrawal runs "fhir" jobs through a real worker
// and store on an embedded server: a DiagnosticReport without
// meta.versionId gets the durable content-based version (the same content
// sent again keeps version 1, changed content is version 2 and supersedes
// it), and one whose status is entered-in-error withdraws the current
// version (entered-in-error, out of the patient's index).
func TestFHIRVersionsAndWithdrawal(t *testing.T) {
	srv := startServer(t, t.TempDir(), "")
	_, q := openQueue(t, srv, testConfig())
	runWorkers(t, q, &Engine{Versions: q.Store()}, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	run := func(data []byte) *JobStatus {
		t.Helper()
		sub, err := q.Submit(ctx, &Job{FHIR: data})
		if err != nil {
			t.Fatal(err)
		}
		return waitFinal(t, q, []*Submitted{sub}, 30*time.Second)[sub.JobID]
	}
	first := fhirJob(t, "contained-skin-biopsy.json", nil)
	st := run(first)
	if st.Status != StatusDone || st.RecordID != "S26-007731-1" {
		t.Fatalf("first: %s %s record %q", st.Status, st.Error, st.RecordID)
	}
	// The same content in another JSON spelling: same version, same Binary.
	var pretty bytes.Buffer
	json.Indent(&pretty, first, "", "   ")
	if st := run(pretty.Bytes()); st.Status != StatusDone || st.RecordID != "S26-007731-1" {
		t.Fatalf("same content again: %s %s record %q", st.Status, st.Error, st.RecordID)
	}
	changed := fhirJob(t, "contained-skin-biopsy.json", func(m map[string]any) {
		m["conclusion"] = "Irritated seborrheic keratosis; no further treatment needed."
	})
	st = run(changed)
	if st.Status != StatusDone || st.RecordID != "S26-007731-2" {
		t.Fatalf("changed content: %s %s record %q, want version 2", st.Status, st.Error, st.RecordID)
	}
	rec, err := q.Store().Record(ctx, "S26-007731-1")
	if err != nil || rec.SupersededBy != "S26-007731-2" {
		t.Fatalf("version 1 not superseded by 2: %+v %v", rec, err)
	}
	// The sender withdraws it.
	withdrawn := fhirJob(t, "contained-skin-biopsy.json", func(m map[string]any) { m["status"] = "entered-in-error" })
	st = run(withdrawn)
	if st.Status != StatusDone || len(st.Binaries) != 0 || st.RecordID != "S26-007731-2" || !strings.Contains(strings.Join(st.Warnings, " "), "marked entered-in-error") {
		t.Fatalf("withdrawal: %+v", st)
	}
	rec, err = q.Store().Record(ctx, "S26-007731-2")
	if err != nil || rec.EnteredInError == "" {
		t.Fatalf("version 2 not entered-in-error after the withdrawal: %+v %v", rec, err)
	}
	recs, err := q.Store().RecordsByPatient(ctx, rec.PatientID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.ID == "S26-007731-2" {
			t.Errorf("the withdrawn version is still in its patient's index")
		}
	}
	// Withdrawing a report never stored ends done and says so.
	never := fhirJob(t, "contained-skin-biopsy.json", func(m map[string]any) { m["status"] = "cancelled"; m["id"] = "S26-NEVER" })
	if st := run(never); st.Status != StatusDone || !strings.Contains(strings.Join(st.Warnings, " "), "nothing to withdraw") {
		t.Errorf("withdrawing an unknown report: %+v", st)
	}
	_ = folio.OutputPDF
}

// TestHL7Withdrawal runs an HL7 v2 withdrawal (result status W) as a job,
// as the intake publishes it: it names the version it withdraws (the
// newest the intake had seen), and a worker carries it out even when it
// comes before that version is stored (the withdrawal is retried until
// the version's job has run), withdrawing that version only.
func TestHL7Withdrawal(t *testing.T) {
	srv := startServer(t, t.TempDir(), "")
	_, q := openQueue(t, srv, testConfig())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	msg, err := os.ReadFile("../fixtures/hl7/surgical-breast.hl7")
	if err != nil {
		t.Fatal(err)
	}
	v2 := bytes.Replace(msg, []byte("CP20261120-0001"), []byte("CP20261120-0002"), 1)
	v2 = bytes.Replace(v2, []byte("|SP|F|"), []byte("|SP|C|"), 1)
	w := bytes.Replace(msg, []byte("CP20261120-0001"), []byte("CP20261120-0003"), 1)
	w = bytes.Replace(w, []byte("|SP|F|"), []byte("|SP|W|"), 1)
	if bytes.Equal(v2, msg) || bytes.Equal(w, msg) {
		t.Fatal("fixture changed: no |SP|F|")
	}
	submit := func(j *Job) *Submitted {
		t.Helper()
		sub, err := q.Submit(ctx, j)
		if err != nil {
			t.Fatal(err)
		}
		return sub
	}
	// Version 1 stored; then the withdrawal of version 2 queued before
	// version 2's own job, one worker slot.
	s1 := submit(&Job{HL7: msg, Version: 1})
	sw := submit(&Job{HL7: w, Version: 2})
	s2 := submit(&Job{HL7: v2, Version: 2})
	runWorkers(t, q, &Engine{Versions: q.Store()}, 1)
	got := waitFinal(t, q, []*Submitted{s1, sw, s2}, 45*time.Second)
	for _, s := range []*Submitted{s1, s2, sw} {
		if got[s.JobID] == nil || got[s.JobID].Status != StatusDone {
			t.Fatalf("job %s: %+v", s.JobID, got[s.JobID])
		}
	}
	st := got[sw.JobID]
	if st.RecordID != "S26-004512-2" || len(st.Binaries) != 0 || !strings.Contains(strings.Join(st.Warnings, " "), "result status W") {
		t.Errorf("withdrawal: %+v", st)
	}
	if st.Deliveries < 2 {
		t.Errorf("withdrawal ran %d times: it came before version 2 was stored and should have been retried", st.Deliveries)
	}
	r2, err := q.Store().Record(ctx, "S26-004512-2")
	if err != nil || !strings.Contains(r2.EnteredInError, "result status W") {
		t.Errorf("version 2 after the W: %+v %v", r2, err)
	}
	if r1, err := q.Store().Record(ctx, "S26-004512-1"); err != nil || r1.EnteredInError != "" {
		t.Errorf("version 1 after a W of version 2: %+v %v", r1, err)
	}
}
