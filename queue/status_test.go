package queue

import (
	"context"
	"testing"
)

// TestInterimStatusNeverReplacesFinal reproduces the fault suite's bug 1: a
// worker whose call outlived a server restart retries a job that another
// worker has finished meanwhile; its "queued" must not replace "done".
func TestInterimStatusNeverReplacesFinal(t *testing.T) {
	srv := startServer(t, t.TempDir(), "127.0.0.1:-1")
	_, q := openQueue(t, srv, testConfig())
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
