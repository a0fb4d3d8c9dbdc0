package queue

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/internal/testutil"
)

// roundTripRenderer is the renderer the round-trip test uses: the real
// render engine.
var roundTripRenderer = func() Renderer { return &Engine{} }

func TestRoundTrip(t *testing.T) {
	s := startServer(t, t.TempDir(), "")
	_, q := openQueue(t, s, testConfig())
	runWorkers(t, q, roundTripRenderer(), 2)

	fx := fixtures(t)
	var names []string
	var reports [][]byte
	for name, b := range fx {
		names = append(names, name)
		reports = append(reports, b)
	}
	subs := submitAll(t, q, reports, []string{folio.OutputPDF, folio.OutputThumbnail})
	got := waitFinal(t, q, subs, 90*time.Second)
	for i, sub := range subs {
		st := got[sub.JobID]
		if st.Status != StatusDone {
			t.Errorf("%s: job %s %s: %s", names[i], sub.JobID, st.Status, st.Error)
			continue
		}
		if len(st.Binaries) != 2 {
			t.Errorf("%s: %d binaries, want pdf and thumbnail: %+v", names[i], len(st.Binaries), st.Binaries)
		}
		checkBinaries(t, q, st)
		checkPDF(t, q, st)
	}

	// The read side finds every record through its patient.
	ctx := context.Background()
	for _, st := range got {
		rec, err := q.Store().Record(ctx, st.RecordID)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := q.Store().RecordsByPatient(ctx, rec.PatientID)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range recs {
			found = found || r.ID == rec.ID
		}
		if !found {
			t.Errorf("RecordsByPatient(%s) misses %s", rec.PatientID, rec.ID)
		}
	}
	if _, err := q.Store().Record(ctx, "no-such-record-1"); !errors.Is(err, folio.ErrNotFound) {
		t.Errorf("Record(unknown) = %v, want ErrNotFound", err)
	}
	if _, _, err := q.Store().OpenBinary(ctx, "pdf-no-such-1"); !errors.Is(err, folio.ErrNotFound) {
		t.Errorf("OpenBinary(unknown) = %v, want ErrNotFound", err)
	}
	pending, inflight, err := q.Depth(ctx)
	if err != nil || pending != 0 || inflight != 0 {
		t.Errorf("Depth = %d, %d, %v; want an empty queue", pending, inflight, err)
	}
}

func TestInvalidJobFailsOnce(t *testing.T) {
	s := startServer(t, t.TempDir(), "")
	_, q := openQueue(t, s, testConfig())
	r := newTestRenderer()
	runWorkers(t, q, r, 1)

	good := fixtures(t)["spec-example"]
	var rep map[string]any
	if err := json.Unmarshal(good, &rep); err != nil {
		t.Fatal(err)
	}
	rep["sections"].([]any)[1].(map[string]any)["items"].([]any)[0].(map[string]any)["label"] = 7
	badReport, _ := json.Marshal(rep)

	ctx := context.Background()
	tests := []struct {
		name string
		job  *Job
		want string // in the reason
	}{
		{"bad report", &Job{ID: "bad-report", Report: badReport}, "report.sections[1].items[0].label"},
		{"bad output", &Job{ID: "bad-output", Report: good, Outputs: []string{"pdf", "docx"}}, "outputs[1]"},
		{"bad thumbnail", &Job{ID: "bad-thumb", Report: good, Outputs: []string{"thumbnail"}, Thumbnail: &ThumbSpec{Size: 5}}, "thumbnail.size"},
		{"not json", nil, "not valid JSON"},
	}
	var subs []*Submitted
	for _, tc := range tests {
		if tc.job == nil {
			ack, err := q.js.Publish(ctx, SubjectJobs, []byte("{not json"), jetstream.WithMsgID("not-json"))
			if err != nil {
				t.Fatal(err)
			}
			subs = append(subs, &Submitted{JobID: "not-json", Seq: ack.Sequence})
			continue
		}
		sub, err := q.Submit(ctx, tc.job)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
	}
	got := waitFinal(t, q, subs, 30*time.Second)
	for i, tc := range tests {
		st := got[subs[i].JobID]
		if st.Status != StatusFailed || st.Reason != ReasonInvalid || !strings.Contains(st.Error, tc.want) {
			t.Errorf("%s: %s %s %q; want failed, invalid, naming %s", tc.name, st.Status, st.Reason, st.Error, tc.want)
		}
		if st.Deliveries != 1 {
			t.Errorf("%s: delivered %d times, want once", tc.name, st.Deliveries)
		}
	}
	if calls, _ := r.count("bad-report"); calls != 1 {
		t.Errorf("bad report rendered %d times, want 1", calls)
	}
	info, err := q.consumer.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumPending != 0 || info.NumAckPending != 0 || info.NumRedelivered != 0 {
		t.Errorf("consumer: %d pending, %d unacked, %d redelivered; want 0", info.NumPending, info.NumAckPending, info.NumRedelivered)
	}
}

func TestDuplicateSubmission(t *testing.T) {
	s := startServer(t, t.TempDir(), "")
	_, q := openQueue(t, s, testConfig())
	r := newTestRenderer()
	stop := runWorkers(t, q, r, 2)

	rep := fixtures(t)["ct-chest"]
	first := submitAll(t, q, [][]byte{rep, rep, rep}, nil)
	if first[0].Duplicate || !first[1].Duplicate || !first[2].Duplicate {
		t.Fatalf("duplicates not recognised: %+v %+v %+v", first[0], first[1], first[2])
	}
	st := waitFinal(t, q, first[:1], 30*time.Second)[first[0].JobID]
	if st.Status != StatusDone {
		t.Fatalf("job %s: %s %s", st.JobID, st.Status, st.Error)
	}
	checkBinaries(t, q, st)
	stop()
	if calls, renders := r.count(first[0].JobID); calls != 1 || renders != 1 {
		t.Errorf("rendered %d times (%d calls), want once", renders, calls)
	}
	ctx := context.Background()
	if objs := listObjects(t, q); len(objs) != 1 {
		t.Errorf("object store holds %d objects, want 1", len(objs))
	}

	// Outside the duplicate window (simulated: a different job id for the
	// same report version) the re-render finds identical bytes and keeps the
	// stored Binary as it was.
	before, err := q.Store().BinaryInfo(ctx, st.Binaries[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	runWorkers(t, q, r, 1)
	again, err := q.Submit(ctx, &Job{ID: "resent", Report: rep})
	if err != nil {
		t.Fatal(err)
	}
	st2 := waitFinal(t, q, []*Submitted{again}, 30*time.Second)["resent"]
	if st2.Status != StatusDone || st2.Binaries[0].ID != before.ID {
		t.Fatalf("re-sent job: %+v", st2)
	}
	after, err := q.Store().BinaryInfo(ctx, before.ID)
	if err != nil {
		t.Fatal(err)
	}
	if *after != *before {
		t.Errorf("re-render changed the stored Binary:\n%+v\n%+v", before, after)
	}
}

func TestTransientFailureRetried(t *testing.T) {
	s := startServer(t, t.TempDir(), "")
	_, q := openQueue(t, s, testConfig())
	r := newTestRenderer()
	r.hook = func(ctx context.Context, job *Job, call int) error {
		if call <= 2 {
			return errTransient
		}
		return nil
	}
	runWorkers(t, q, r, 1)
	subs := submitAll(t, q, [][]byte{fixtures(t)["mammography"]}, nil)
	st := waitFinal(t, q, subs, 30*time.Second)[subs[0].JobID]
	if st.Status != StatusDone || st.Deliveries != 3 {
		t.Fatalf("job: %s after %d deliveries (%s); want done after 3", st.Status, st.Deliveries, st.Error)
	}
	checkBinaries(t, q, st)
}

func TestExhaustedDeliveriesFail(t *testing.T) {
	s := startServer(t, t.TempDir(), "")
	_, q := openQueue(t, s, testConfig())
	r := newTestRenderer()
	r.hook = func(ctx context.Context, job *Job, call int) error { return errTransient }
	runWorkers(t, q, r, 1)
	subs := submitAll(t, q, [][]byte{fixtures(t)["mammography"]}, nil)
	st := waitFinal(t, q, subs, 30*time.Second)[subs[0].JobID]
	if st.Status != StatusFailed || st.Reason != ReasonExhausted || st.Deliveries != 3 ||
		!strings.Contains(st.Error, errTransient.Error()) {
		t.Fatalf("job: %+v; want failed, exhausted after 3 deliveries, with the last error", st)
	}
	// The status is written before the message is terminated: the job
	// leaves the stream an instant after it reads failed.
	var pending, inflight uint64
	var err error
	testutil.PollUntil(t, 10*time.Second, "the failed job to leave the stream", func() bool {
		pending, inflight, err = q.Depth(context.Background())
		return err == nil && pending == 0 && inflight == 0
	})
}

func TestNewVersionSupersedes(t *testing.T) {
	s := startServer(t, t.TempDir(), "")
	_, q := openQueue(t, s, testConfig())
	runWorkers(t, q, newTestRenderer(), 2)

	v1 := fixtures(t)["spec-example"]
	var rep map[string]any
	json.Unmarshal(v1, &rep)
	versions := [][]byte{v1}
	for v := 2; v <= 3; v++ {
		rep["version"] = v
		rep["status"] = "amended"
		rep["amendment"] = map[string]any{"reason": "Margin status revised", "issued": "2026-11-21T09:00:00-05:00"}
		b, _ := json.Marshal(rep)
		versions = append(versions, b)
	}
	// Newest first, so that linking does not depend on arrival order.
	subs := submitAll(t, q, [][]byte{versions[2], versions[0], versions[1]}, nil)
	for _, st := range waitFinal(t, q, subs, 30*time.Second) {
		if st.Status != StatusDone {
			t.Fatalf("%s: %s", st.JobID, st.Error)
		}
	}
	ctx := context.Background()
	want := map[string][2]string{
		"S26-004512-1": {"", "S26-004512-2"},
		"S26-004512-2": {"S26-004512-1", "S26-004512-3"},
		"S26-004512-3": {"S26-004512-2", ""},
	}
	for id, w := range want {
		rec, err := q.Store().Record(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Supersedes != w[0] || rec.SupersededBy != w[1] {
			t.Errorf("%s: supersedes %q, superseded by %q; want %q, %q", id, rec.Supersedes, rec.SupersededBy, w[0], w[1])
		}
		if _, err := q.Store().BinaryInfo(ctx, folio.BinaryID("S26-004512", rec.Version, folio.OutputPDF)); err != nil {
			t.Errorf("%s: binary: %v", id, err)
		}
	}
	recs, err := q.Store().RecordsByPatient(ctx, "pt-1001")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	if strings.Join(ids, ",") != "S26-004512-1,S26-004512-2,S26-004512-3" {
		t.Errorf("RecordsByPatient = %v", ids)
	}
}

func TestDataDirRefusedTwice(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "")
	_, err := broker.StartServer(broker.ServerConfig{Policy: RolePermissions, DataDir: dir, Listen: "127.0.0.1:-1", Logger: quietLogger()})
	if !errors.Is(err, broker.ErrDataDirInUse) || !strings.Contains(err.Error(), filepath.Join(dir, "nats.lock")) {
		t.Fatalf("second server on the same data dir: %v; want ErrDataDirInUse naming the lock", err)
	}
	s.Shutdown()
	s2 := startServer(t, dir, "") // released on shutdown
	s2.Shutdown()
	if _, err := os.Stat(filepath.Join(dir, "nats", "jetstream")); err != nil {
		t.Errorf("JetStream store not under DATA/nats: %v", err)
	}
}

// TestEmbeddedRestart stops the embedded server with jobs queued and in
// flight and starts it again on the same directory and port.
func TestEmbeddedRestart(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "")
	listen := strings.TrimPrefix(s.ClientURL(), "nats://")
	_, q := openQueue(t, s, testConfig())
	r := newTestRenderer()
	started := make(chan string, 100)
	release := make(chan struct{})
	r.hook = func(ctx context.Context, job *Job, call int) error {
		select {
		case started <- job.ID:
		default:
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	runWorkers(t, q, r, 2)

	var reports [][]byte
	for _, b := range fixtures(t) {
		reports = append(reports, b)
	}
	subs := submitAll(t, q, reports, nil)
	<-started
	<-started // both slots busy, the rest queued
	s.Shutdown()
	close(release) // the renders in hand finish while the server is down
	s = startServer(t, dir, listen)
	got := waitFinal(t, q, subs, 60*time.Second)
	for _, st := range got {
		if st.Status != StatusDone {
			t.Errorf("%s: %s %s", st.JobID, st.Status, st.Error)
			continue
		}
		checkBinaries(t, q, st)
	}
	names := make([]string, 0, len(got))
	for id := range got {
		names = append(names, id)
	}
	sort.Strings(names)
	t.Logf("all %d jobs done after restart", len(names))
}

// checkPDF reads back a done job's PDF Binary and has qpdf check it.
func checkPDF(t *testing.T, q *Queue, st *JobStatus) {
	t.Helper()
	for _, ref := range st.Binaries {
		if ref.ContentType != "application/pdf" {
			continue
		}
		_, rc, err := q.Store().OpenBinary(context.Background(), ref.ID)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), ref.ID+".pdf")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("qpdf", "--check", path).CombinedOutput(); err != nil {
			t.Errorf("%s: qpdf --check: %v\n%s", ref.ID, err, out)
		}
	}
}
