package queue

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/internal/testutil"
)

// TestExhaustedWhileNoWorkerRuns lets a job use up its deliveries with no
// worker running to hear the server's max-deliveries advisory (its
// deliveries go to a bare consumer that never acknowledges, like workers
// that die, and the advisory fires at a pull of that consumer): a worker started afterwards finds it in its start-up sweep,
// records it failed and removes it from the stream.
func TestExhaustedWhileNoWorkerRuns(t *testing.T) {
	s := startServer(t, t.TempDir(), "")
	cfg := testConfig()
	cfg.AckWait = time.Second
	cfg.MaxDeliver = 2
	_, q := openQueue(t, s, cfg)
	subs := submitAll(t, q, [][]byte{fixtures(t)["mammography"]}, nil)

	for n := 1; n <= cfg.MaxDeliver; n++ {
		msg, err := q.consumer.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			t.Fatalf("delivery %d: %v", n, err)
		}
		meta, err := msg.Metadata()
		if err != nil || meta.Sequence.Stream != subs[0].Seq || int(meta.NumDelivered) != n {
			t.Fatalf("delivery %d: %+v, %v", n, meta, err)
		}
	}
	// The server gives up on the job when it would deliver it again, so
	// one more pull (answered by no message) makes it do so while no
	// worker listens for the advisory.
	if msg, err := q.consumer.Next(jetstream.FetchMaxWait(2 * cfg.AckWait)); err == nil {
		meta, _ := msg.Metadata()
		t.Fatalf("delivered beyond MaxDeliver: %+v", meta)
	}
	ctx := context.Background()
	testutil.PollUntil(t, 20*time.Second, "the server did not give up on the job", func() bool {
		info, err := q.consumer.Info(ctx)
		return err == nil && info.NumAckPending == 0 && info.Delivered.Stream >= subs[0].Seq
	})
	if st, err := q.Status(ctx, subs[0].JobID); err != nil || st.Final() {
		t.Fatalf("before any worker ran: %+v, %v; want a job not ended", st, err)
	}
	if _, err := q.jobs.GetMsg(ctx, subs[0].Seq); err != nil {
		t.Fatalf("the exhausted job is not in the stream: %v", err)
	}

	r := newTestRenderer()
	runWorkers(t, q, r, 1)
	st := waitFinal(t, q, subs, 20*time.Second)[subs[0].JobID]
	if st.Status != StatusFailed || st.Reason != ReasonExhausted || st.Seq != subs[0].Seq {
		t.Fatalf("job: %+v; want failed, exhausted", st)
	}
	if calls, _ := r.count(subs[0].JobID); calls != 0 {
		t.Errorf("the exhausted job was rendered %d times", calls)
	}
	testutil.PollUntil(t, 10*time.Second, "the exhausted job is still in the stream", func() bool {
		_, err := q.jobs.GetMsg(ctx, subs[0].Seq)
		return errors.Is(err, jetstream.ErrMsgNotFound)
	})
}

// TestThumbnailKeptWhenResentWithOtherSize re-sends a report's thumbnail
// job with another size: the Binary id's bytes stay those first stored, and
// the second job says so in a warning. A re-sent PDF job (identical bytes)
// gets no such warning.
func TestThumbnailKeptWhenResentWithOtherSize(t *testing.T) {
	s := startServer(t, t.TempDir(), "")
	_, q := openQueue(t, s, testConfig())
	runWorkers(t, q, &Engine{}, 2)
	rep := fixtures(t)["spec-example"]
	ctx := context.Background()

	submit := func(id string, outputs []string, thumb *ThumbSpec) *JobStatus {
		t.Helper()
		sub, err := q.Submit(ctx, &Job{ID: id, Report: rep, Outputs: outputs, Thumbnail: thumb})
		if err != nil {
			t.Fatal(err)
		}
		st := waitFinal(t, q, []*Submitted{sub}, 60*time.Second)[id]
		if st.Status != StatusDone {
			t.Fatalf("job %s: %s %s", id, st.Status, st.Error)
		}
		checkBinaries(t, q, st)
		return st
	}
	kept := func(st *JobStatus) bool {
		for _, w := range st.Warnings {
			if strings.Contains(w, "already stored") && strings.Contains(w, "kept the stored one") {
				return true
			}
		}
		return false
	}

	first := submit("thumb-128", []string{folio.OutputPDF, folio.OutputThumbnail}, &ThumbSpec{Size: 128})
	thumbID := folio.BinaryID("S26-004512", 1, folio.OutputThumbnail)
	before, err := q.Store().BinaryInfo(ctx, thumbID)
	if err != nil {
		t.Fatal(err)
	}
	if kept(first) || before.Width > 128 || before.Height != 128 && before.Width != 128 {
		t.Fatalf("first thumbnail: %+v, warnings %q", before, first.Warnings)
	}

	second := submit("thumb-512", []string{folio.OutputThumbnail}, &ThumbSpec{Size: 512})
	if !kept(second) {
		t.Errorf("re-sent thumbnail job with another size: no warning in %q", second.Warnings)
	}
	after, err := q.Store().BinaryInfo(ctx, thumbID)
	if err != nil {
		t.Fatal(err)
	}
	if *after != *before {
		t.Errorf("the thumbnail Binary changed:\n%+v\n%+v", before, after)
	}
	rec, err := q.Store().Record(ctx, second.RecordID)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range rec.Binaries {
		if b.ID == thumbID && b.SHA256 != before.SHA256 {
			t.Errorf("record lists thumbnail digest %s, stored %s", b.SHA256, before.SHA256)
		}
	}

	pdf := submit("pdf-again", []string{folio.OutputPDF}, nil)
	if kept(pdf) {
		t.Errorf("re-sent PDF job (identical bytes) warns %q", pdf.Warnings)
	}
}

// TestSyncAlways: the embedded server fsyncs before every acknowledgement
// only when asked to.
func TestSyncAlways(t *testing.T) {
	for _, want := range []bool{false, true} {
		s, err := broker.StartServer(broker.ServerConfig{Policy: RolePermissions, DataDir: t.TempDir(), Listen: "127.0.0.1:-1", SyncAlways: want, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		got := s.NATS().JetStreamConfig().SyncAlways
		s.Shutdown()
		if got != want {
			t.Errorf("SyncAlways %v: JetStream runs with sync_always %v", want, got)
		}
	}
}
