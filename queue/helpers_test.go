package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/report"
)

// testConfig is a pipeline config with short waits, for tests.
func testConfig() Config {
	return Config{
		AckWait:     3 * time.Second,
		MaxDeliver:  3,
		Backoff:     []time.Duration{50 * time.Millisecond},
		JobTimeout:  10 * time.Second, // an attempt stuck across a server restart is retried
		CallTimeout: 2 * time.Second,  // a call lost across a server restart fails fast
	}
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testLogger logs warnings and errors to the test's output when -v is set.
func testLogger() *slog.Logger {
	if !testing.Verbose() {
		return quietLogger()
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// startServer starts an embedded server on a random loopback port in a
// temporary data directory.
func startServer(t testing.TB, dir string, listen string) *broker.Server {
	t.Helper()
	if listen == "" {
		listen = "127.0.0.1:-1"
	}
	s, err := broker.StartServer(broker.ServerConfig{Policy: RolePermissions, DataDir: dir, Listen: listen, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown) // after the workers' cleanup: Shutdown is idempotent
	return s
}

// openQueue connects to s as admin and opens the pipeline with cfg.
func openQueue(t testing.TB, s *broker.Server, cfg Config) (*nats.Conn, *Queue) {
	t.Helper()
	return openQueueAt(t, s.ClientURL(), s.AuthDir(), broker.RoleAdmin, cfg)
}

// openQueueAt connects to url (an embedded server whose credentials are
// under authDir) as role and opens the pipeline with cfg.
func openQueueAt(t testing.TB, url, authDir string, role broker.Role, cfg Config) (*nats.Conn, *Queue) {
	t.Helper()
	auth, err := broker.EmbeddedOptions(authDir, role)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Role = role
	nc, err := broker.Connect(url, append(auth, nats.ReconnectWait(100*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q, err := Open(ctx, nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return nc, q
}

// runWorkers runs q.Work until the returned stop function is called (or
// the test ends) and waits for it to return.
func runWorkers(t testing.TB, q *Queue, r Renderer, slots int) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- q.Work(ctx, r, WorkerOptions{Slots: slots, Logger: testLogger(), PollWait: 500 * time.Millisecond, ShutdownGrace: 5 * time.Second})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Work: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// fixtures returns the good fixture reports, by file base name.
func fixtures(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob("../fixtures/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(p), ".json")] = b
	}
	return out
}

// submitAll publishes one job per report and returns the submissions.
func submitAll(t testing.TB, q *Queue, reports [][]byte, outputs []string) []*Submitted {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var subs []*Submitted
	for _, r := range reports {
		s, err := q.Submit(ctx, &Job{Report: r, Outputs: outputs})
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	return subs
}

// waitFinal polls until every job has a final status or the deadline
// passes, and returns the statuses by job id.
func waitFinal(t testing.TB, q *Queue, subs []*Submitted, within time.Duration) map[string]*JobStatus {
	t.Helper()
	deadline := time.Now().Add(within)
	got := map[string]*JobStatus{}
	for {
		for _, s := range subs {
			if _, ok := got[s.JobID]; ok {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			st, err := q.Status(ctx, s.JobID)
			cancel()
			if err == nil && st.Final() && st.Seq >= s.Seq {
				got[s.JobID] = st
			}
		}
		if len(got) == len(subs) {
			return got
		}
		if time.Now().After(deadline) {
			var missing []string
			for _, s := range subs {
				if _, ok := got[s.JobID]; !ok {
					missing = append(missing, s.JobID)
				}
			}
			sort.Strings(missing)
			t.Fatalf("after %v, %d of %d jobs have not ended: %v", within, len(missing), len(subs), missing)
		}
		time.Sleep(50 * time.Millisecond) // poll interval inside a deadline loop
	}
}

// checkBinaries reads back every Binary of every done job and checks its
// bytes against the recorded size and digests and the job's record.
func checkBinaries(t testing.TB, q *Queue, st *JobStatus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if len(st.Binaries) == 0 {
		t.Errorf("job %s: done without Binaries", st.JobID)
	}
	rec, err := q.Store().Record(ctx, st.RecordID)
	if err != nil {
		t.Fatalf("job %s: record %s: %v", st.JobID, st.RecordID, err)
	}
	for _, ref := range st.Binaries {
		b, rc, err := q.Store().OpenBinary(ctx, ref.ID)
		if err != nil {
			t.Fatalf("job %s: binary %s: %v", st.JobID, ref.ID, err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("binary %s: reading: %v", ref.ID, err)
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != b.SHA256 || int64(len(data)) != b.Size {
			t.Errorf("binary %s: read %d bytes sha256 %x, metadata says %d bytes %s", ref.ID, len(data), sum, b.Size, b.SHA256)
		}
		if b.ContentType != ref.ContentType || b.RecordID != rec.ID || b.PatientID != rec.PatientID {
			t.Errorf("binary %s: metadata %+v does not match job %+v / record %s", ref.ID, b, ref, rec.ID)
		}
		found := false
		for _, rb := range rec.Binaries {
			if rb.ID == b.ID && rb.SHA256 == b.SHA256 && rb.SHA1 == b.SHA1 {
				found = true
			}
		}
		if !found {
			t.Errorf("record %s does not list binary %s with its digests", rec.ID, b.ID)
		}
	}
}

// testRenderer is a deterministic stand-in for the render engine: it
// validates with the real report.Decode and "renders" bytes derived from
// the report. Hooks inject slowness and failures.
type testRenderer struct {
	mu      sync.Mutex
	renders map[string]int // successful renders by job id
	calls   map[string]int // calls by job id
	// hook, if set, runs before rendering with the call number (1-based)
	// for the job; an error it returns is returned by Render.
	hook func(ctx context.Context, job *Job, call int) error
}

func newTestRenderer() *testRenderer {
	return &testRenderer{renders: map[string]int{}, calls: map[string]int{}}
}

func (r *testRenderer) Render(ctx context.Context, job *Job) (*Rendered, error) {
	r.mu.Lock()
	r.calls[job.ID]++
	call := r.calls[job.ID]
	r.mu.Unlock()
	rep, err := DecodeReport(job, report.DefaultLimits())
	if err != nil {
		return nil, err
	}
	if r.hook != nil {
		if err := r.hook(ctx, job, call); err != nil {
			return nil, err
		}
	}
	sum := sha256.Sum256(job.Report)
	out := &Rendered{Record: RecordFacts(rep), Warnings: []string{"test renderer"}}
	for _, o := range job.Outputs {
		switch o {
		case folio.OutputPDF:
			data := fmt.Appendf(nil, "%%PDF-1.7\n%% test rendering of %s v%d %x\n%%%%EOF\n", rep.ID, rep.Version, sum)
			out.Renditions = append(out.Renditions, Rendition{Output: o, ContentType: "application/pdf", Data: data, Pages: 1})
		case folio.OutputThumbnail:
			data := fmt.Appendf(nil, "\x89PNG test %x", sum)
			out.Renditions = append(out.Renditions, Rendition{Output: o, ContentType: "image/png", Data: data, Width: 198, Height: 256})
		}
	}
	r.mu.Lock()
	r.renders[job.ID]++
	r.mu.Unlock()
	return out, nil
}

func (r *testRenderer) count(jobID string) (calls, renders int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[jobID], r.renders[jobID]
}

var errTransient = errors.New("storage timeout (injected)")

// listObjects lists the Binaries bucket.
func listObjects(t testing.TB, q *Queue) []*jetstream.ObjectInfo {
	t.Helper()
	ctx := context.Background()
	os, err := q.js.ObjectStore(ctx, BucketBinaries)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := os.List(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		t.Fatal(err)
	}
	return objs
}
