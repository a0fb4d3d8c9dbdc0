package hostile

import (
	"context"
	"io"
	"log/slog"

	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/queue"
	"github.com/foliohealth/folio/render"
	"github.com/foliohealth/folio/report"
)

// baseReport returns a valid anatomic-pathology report with the given
// sections, as a map ready to be changed and marshalled.
func baseReport(sections ...map[string]any) map[string]any {
	if len(sections) == 0 {
		sections = []map[string]any{{"kind": "text", "title": "Diagnosis", "body": "Benign."}}
	}
	var ss []any
	for _, s := range sections {
		ss = append(ss, s)
	}
	return map[string]any{
		"schema":     "folio.report/v1",
		"id":         "H-1",
		"version":    1,
		"kind":       "anatomic-pathology",
		"title":      "Surgical Pathology Report",
		"status":     "final",
		"issued":     "2026-11-20T14:03:00-05:00",
		"patient":    map[string]any{"id": "pt-h1", "name": "Doe, Jane", "mrn": "000123", "birthDate": "1961-04-09", "sex": "female"},
		"accession":  "S26-000001",
		"performers": []any{map[string]any{"name": "J. Okafor, MD", "role": "Pathologist", "signedAt": "2026-11-20T14:01:00-05:00"}},
		"sections":   ss,
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// countingListener counts every connection accepted.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// rendered is the outcome of rendering one report through the whole engine.
type rendered struct {
	laid  *render.Laid
	pdf   []byte
	thumb *render.Image
}

// renderAll decodes, lays out and paints a report as the worker does.
func renderAll(data []byte) (*rendered, error) {
	r, err := report.Decode(data, report.DefaultLimits())
	if err != nil {
		return nil, err
	}
	laid, err := render.Layout(r)
	if err != nil {
		return nil, err
	}
	pdf, err := laid.PDF()
	if err != nil {
		return nil, err
	}
	th, err := laid.Thumbnail(render.ThumbOptions{})
	if err != nil {
		return nil, err
	}
	return &rendered{laid, pdf, th}, nil
}

// pdfText returns pdftotext's text of a PDF; qpdf --check must pass too.
func pdfText(t testing.TB, pdf []byte) string {
	t.Helper()
	if err := testutil.QPDFCheck(t, pdf); err != nil {
		t.Error(err)
	}
	return testutil.PDFToText(t, pdf)
}

// workerQueue starts an embedded NATS server, opens a queue on memory
// storage and runs one worker (the engine, one slot) on it; the worker, the
// connection and the server stop, in that order, when the test ends. ctx
// bounds the test's calls to 2 minutes.
func workerQueue(t *testing.T) (context.Context, *queue.Queue) {
	t.Helper()
	srv, err := broker.StartServer(broker.ServerConfig{Policy: queue.RolePermissions, DataDir: t.TempDir(), Listen: "127.0.0.1:-1", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect(broker.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	q, err := queue.Open(ctx, nc, queue.Config{MemoryStorage: true})
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { q.Work(wctx, &queue.Engine{}, queue.WorkerOptions{Slots: 1, Logger: quiet()}); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	return ctx, q
}

// measure runs f and returns how long it took, the bytes it allocated and
// the process's peak RSS while it ran (VmHWM after resetting it, where
// /proc/self/clear_refs allows; else the peak since start).
func measure(f func()) (took time.Duration, alloc uint64, peakRSS int64) {
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	start := time.Now()
	f()
	took = time.Since(start)
	runtime.ReadMemStats(&b)
	return took, b.TotalAlloc - a.TotalAlloc, procStatus("VmHWM")
}

// procStatus returns a /proc/self/status size field in bytes.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func mib(b int64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MiB" }

// quiet is a logger that drops everything.
func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// copyAll copies r to w.
func copyAll(w io.Writer, r io.Reader) (int64, error) { return io.Copy(w, r) }

// waitFinal polls a job's status until it has ended (or fails the test
// after a minute).
func waitFinal(t testing.TB, q *queue.Queue, id string) *queue.JobStatus {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := q.Status(context.Background(), id)
		if err == nil && st.Final() {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s did not end in a minute (last status %v, err %v)", id, st, err)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

// osMkdirTemp makes a directory that lives as long as the test binary (the
// fuzz environment is shared by every fuzz worker's inputs).
func osMkdirTemp() (string, error) { return os.MkdirTemp("", "folio-hostile-") }
