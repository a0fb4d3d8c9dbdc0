package intake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/hl7"
	"github.com/foliohealth/folio/input/hl7input"
	"github.com/foliohealth/folio/mllp"
	"github.com/foliohealth/folio/mllp/intake"
	"github.com/foliohealth/folio/queue"
	"github.com/foliohealth/folio/report"
)

// open starts an embedded nats-server and returns the queue on it and the
// server (to stop it).
func open(t *testing.T) (*queue.Queue, *broker.Server) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := broker.StartServer(broker.ServerConfig{Policy: queue.RolePermissions, DataDir: t.TempDir(), Listen: "127.0.0.1:-1", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect(broker.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	q, err := queue.Open(context.Background(), nc, queue.Config{CallTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return q, srv
}

func fixture(t *testing.T, name string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "hl7", name))
	if err != nil {
		t.Fatal(err)
	}
	return hl7.Split(data)
}

func TestTakeVersionsAndResends(t *testing.T) {
	q, _ := open(t)
	in := intake.New(q, q.Store(), intake.Config{})
	ctx := context.Background()
	seq := fixture(t, "prostate-sequence.hl7")
	var ids []string
	for i, msg := range seq {
		jobs, err := in.Take(ctx, msg)
		if err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
		if len(jobs) != 1 || jobs[0].Version != i+1 || jobs[0].Submitted.Duplicate {
			t.Fatalf("message %d: %+v, want version %d, a new job", i+1, jobs, i+1)
		}
		if !bytes.Equal(jobs[0].Job.HL7, msg) || jobs[0].Job.Source == "" || jobs[0].Job.Version != i+1 {
			t.Errorf("message %d: the job does not carry the message, its source and version: %+v", i+1, jobs[0].Job)
		}
		ids = append(ids, jobs[0].Submitted.JobID)
	}
	// The same messages again, and the first under a new control id: the
	// same versions and the same jobs (no new job).
	again := append([][]byte{bytes.Replace(seq[0], []byte("CP-7001-1"), []byte("CP-7001-1-RESENT"), 1)}, seq...)
	for i, msg := range again {
		jobs, err := in.Take(ctx, msg)
		if err != nil {
			t.Fatal(err)
		}
		want := max(i, 1)
		if jobs[0].Version != want || !jobs[0].Submitted.Duplicate || jobs[0].Submitted.JobID != ids[want-1] {
			t.Errorf("resend %d: version %d duplicate %v job %s; want version %d, the job %s again", i, jobs[0].Version, jobs[0].Submitted.Duplicate, jobs[0].Submitted.JobID, want, ids[want-1])
		}
	}
}

func TestHandleAcks(t *testing.T) {
	q, srv := open(t)
	in := intake.New(q, q.Versions(), intake.Config{})
	ctx := context.Background()
	good := fixture(t, "ed-pdf.hl7")[0]
	if out := in.Handle(ctx, good); out.Code != mllp.AA || len(out.Errors) != 1 || out.Errors[0].Code != 0 {
		t.Errorf("ED PDF: %s %v, want AA with the warning that folio did not render it", out.Code, out.Errors)
	}
	for _, c := range []struct {
		name string
		msg  []byte
		code string
		loc  string
		err  int
	}{
		{"processing id T", bytes.Replace(good, []byte("|P|2.8|"), []byte("|T|2.8|"), 1), mllp.AR, "MSH^1^11", hl7.CodeUnsupportedProcessing},
		{"ADT", fixture(t, "bad/adt-a01.hl7")[0], mllp.AR, "MSH^1^9", hl7.CodeUnsupportedMessageType},
		{"no PID-3", fixture(t, "bad/no-pid3.hl7")[0], mllp.AE, "PID^1^3", hl7.CodeRequiredMissing},
		{"not HL7", []byte("hello"), mllp.AR, "MSH^1", hl7.CodeSegmentSequence},
		{"withdrawal of an unknown report", bytes.ReplaceAll(bytes.Replace(good, []byte("||SP|F|"), []byte("||SP|X|"), 1), []byte("S26-009020"), []byte("S26-009999")), mllp.AE, "OBR^1^3", hl7.CodeUnknownKey},
	} {
		out := in.Handle(ctx, c.msg)
		if out.Code != c.code || len(out.Errors) == 0 || out.Errors[0].Loc.String() != c.loc || out.Errors[0].Code != c.err {
			t.Errorf("%s: %s %v, want %s at %s code %d", c.name, out.Code, out.Errors, c.code, c.loc, c.err)
		}
	}
	// A withdrawal of the report taken above is a job like any other,
	// published before AA, for the worker to carry out: it names the
	// version it withdraws and carries the message; a resend is the same
	// job.
	x := bytes.Replace(good, []byte("||SP|F|"), []byte("||SP|X|"), 1)
	for i := range 2 {
		jobs, err := in.Take(ctx, x)
		if err != nil || len(jobs) != 1 {
			t.Fatalf("withdrawal X: %v %+v", err, jobs)
		}
		j := jobs[0]
		if j.Job == nil || j.Withdraw == "" || j.Version != 1 || j.Job.Version != 1 || !bytes.Equal(j.Job.HL7, x) || j.Submitted == nil || j.Submitted.Duplicate != (i == 1) {
			t.Errorf("withdrawal X (send %d): %+v %+v, want a job withdrawing version 1", i+1, j, j.Job)
		}
		if j.Job != nil && j.Job.ID != "S26-009020-1.withdrawn-x" {
			t.Errorf("withdrawal job id %q", j.Job.ID)
		}
	}
	// The queue unreachable: AR (resend later), code 207, nothing promised.
	srv.Shutdown()
	msg := bytes.Replace(fixture(t, "latin1.hl7")[0], []byte("E26-04411"), []byte("E26-09999"), 1)
	out := in.Handle(ctx, msg)
	if out.Code != mllp.AR || len(out.Errors) == 0 || out.Errors[0].Code != hl7.CodeApplicationInternal || !strings.Contains(out.Errors[0].Text, "send it again") {
		t.Errorf("queue down: %s %v, want AR 207 asking for a resend", out.Code, out.Errors)
	}
}

// TestSiteTravelsWithTheJob: a message only the site table can read
// (OBR-24 empty, local codes, a sender default, local times) maps in the
// intake, and the worker's mapping of the job it publishes gives the same
// report.
func TestSiteTravelsWithTheJob(t *testing.T) {
	q, _ := open(t)
	msg := fixture(t, "bad/kind-unknown.hl7")[0]
	if _, err := intake.New(q, q.Store(), intake.Config{}).Jobs(context.Background(), msg); err == nil {
		t.Fatal("the default site read a message whose kind nothing decides")
	}
	site := hl7input.Site{SenderKinds: map[string]string{"LIS|ELSEWHERE": report.KindAP}, TimeZone: "America/Detroit"}
	jobs, err := intake.New(q, q.Store(), intake.Config{Site: site}).Jobs(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	d, err := queue.DecodeInput(jobs[0].Job, report.DefaultLimits())
	if err != nil {
		t.Fatalf("the worker cannot map the job: %v", err)
	}
	if d.Report.Kind != report.KindAP || d.Report.Version != jobs[0].Version {
		t.Errorf("worker's report: kind %s version %d", d.Report.Kind, d.Report.Version)
	}
	if _, off := d.Report.Issued.Zone(); off != -5*3600 {
		t.Errorf("issued %v: the site's time zone was not applied", d.Report.Issued)
	}
}

// TestJobCarriesBytes (issue 18): the job of an 8859/1 message with
// windows-1252 bytes carries the message's bytes exactly, through the job
// JSON; the same message after a byte order mark is the same job (a
// resend, not a new one), carrying the same bytes.
func TestJobCarriesBytes(t *testing.T) {
	q, _ := open(t)
	in := intake.New(q, q.Store(), intake.Config{})
	ctx := context.Background()
	msg := fixture(t, "cp1252-8859-1.hl7")[0]
	if !bytes.Contains(msg, []byte("H\xe9l\xe8ne")) || !bytes.Contains(msg, []byte("\x80")) {
		t.Fatal("the fixture is not the windows-1252 message")
	}
	jobs, err := in.Take(ctx, msg)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("Take: %v %+v", err, jobs)
	}
	data, err := json.Marshal(jobs[0].Job)
	if err != nil {
		t.Fatal(err)
	}
	var back queue.Job
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if kind, b, err := back.Input(); err != nil || kind != "hl7" || !bytes.Equal(b, msg) {
		t.Errorf("the job's message after JSON is %q (%v), want the bytes sent", b, err)
	}
	again, err := in.Take(ctx, append([]byte("\xef\xbb\xbf"), msg...))
	if err != nil || len(again) != 1 {
		t.Fatalf("Take with a BOM: %v %+v", err, again)
	}
	if again[0].Job.ID != jobs[0].Job.ID || !again[0].Submitted.Duplicate || !bytes.Equal(again[0].Job.HL7, msg) {
		t.Errorf("with a BOM: job %s (duplicate %v), want the same job %s carrying the same bytes", again[0].Job.ID, again[0].Submitted.Duplicate, jobs[0].Job.ID)
	}
}
