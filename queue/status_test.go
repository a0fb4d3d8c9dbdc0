package queue

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/foliohealth/folio"
)

// TestInterimStatusNeverReplacesFinal reproduces the fault suite's bug 1: a
// worker whose call outlived a server restart retries a job that another
// worker has finished meanwhile; its "queued" must not replace "done".
func TestInterimStatusNeverReplacesFinal(t *testing.T) {
	srv := startServer(t, t.TempDir(), "127.0.0.1:-1")
	_, q := openQueue(t, srv.ClientURL(), testConfig())
	ctx := context.Background()
	id := "S26-000777-1.pdf"
	if err := q.putInterimStatus(ctx, &JobStatus{JobID: id, Status: StatusRunning}); err != nil {
		t.Fatal(err)
	}
	if st, err := q.Status(ctx, id); err != nil || st.Status != StatusRunning {
		t.Fatalf("after a first interim write: %+v, %v", st, err)
	}
	if err := q.finalize(ctx, &JobStatus{JobID: id, Status: StatusDone}); err != nil {
		t.Fatal(err)
	}
	if err := q.putInterimStatus(ctx, &JobStatus{JobID: id, Status: StatusQueued, Error: "attempt 1 of 5: timeout; retrying in 1s"}); err != nil {
		t.Fatal(err)
	}
	st, err := q.Status(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != StatusDone {
		t.Errorf("a stale retry replaced the final status: %s (%s)", st.Status, st.Error)
	}
}

// TestBrokenObjectIsReplaced reproduces the fault suite's bug 2: an object
// whose info was stored but whose chunks were lost in a server crash must
// not be kept as the Binary; the next store of the same id replaces it.
func TestBrokenObjectIsReplaced(t *testing.T) {
	srv := startServer(t, t.TempDir(), "127.0.0.1:-1")
	_, q := openQueue(t, srv.ClientURL(), testConfig())
	ctx := context.Background()
	data := bytes.Repeat([]byte("%PDF-1.4 folio "), 30000) // several chunks
	b := folio.Binary{ID: "pdf-S26-000888-1", ContentType: "application/pdf", Output: folio.OutputPDF, RecordID: "S26-000888-1"}
	if _, err := q.Store().PutBinary(ctx, b, data); err != nil {
		t.Fatal(err)
	}
	// Lose the chunks, keep the info: what a SIGKILLed server can leave.
	oi, err := q.Store().objectInfo(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	q.Store().purge(ctx, "$O."+BucketBinaries+".C."+oi.NUID)
	if ok, err := q.Store().whole(ctx, oi); err != nil || ok {
		t.Fatalf("whole = %v, %v after losing the chunks", ok, err)
	}
	if _, err := q.Store().PutBinary(ctx, b, data); err != nil {
		t.Fatal(err)
	}
	_, rc, err := q.Store().OpenBinary(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading the replaced Binary: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, want %d", len(got), len(data))
	}
}
