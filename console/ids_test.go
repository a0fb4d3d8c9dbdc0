package console

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/queue"
	"github.com/foliohealth/folio/report"
)

// TestConsoleIdentifier: reports whose identifiers are not plain ids
// (fixtures/ids) are found by their accession as sent, up to 199
// characters, and the documents and job pages show the identifier as sent;
// the look-alike RAD-2026-77 of another patient is another card.
func TestConsoleIdentifier(t *testing.T) {
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
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	q, err := queue.Open(ctx, nc, queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		q.Work(wctx, &queue.Engine{}, queue.WorkerOptions{Slots: 2, Logger: quiet, PollWait: 500 * time.Millisecond})
	}()
	t.Cleanup(func() { stop(); wg.Wait() })
	waiter, err := q.NewWaiter()
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close()
	p := &pipeline{q: q, nc: nc, jobOf: map[string]string{}}
	ids := map[string]string{} // fixture -> identifier
	var subs []*queue.Submitted
	for _, name := range []string{"lookalike-slash.json", "lookalike-dash.json", "long199.json"} {
		b, err := os.ReadFile(filepath.Join("..", "fixtures", "ids", name))
		if err != nil {
			t.Fatal(err)
		}
		var head struct{ ID string }
		json.Unmarshal(b, &head)
		ids[name] = head.ID
		var buf bytes.Buffer
		json.Compact(&buf, b)
		sub, err := q.Submit(ctx, &queue.Job{Report: buf.Bytes(), Outputs: []string{"pdf", "thumbnail"}})
		if err != nil {
			t.Fatal(err)
		}
		p.jobOf[name] = sub.JobID
		subs = append(subs, sub)
	}
	if left := waiter.Wait(ctx, subs, func(st *queue.JobStatus) {
		if st.Status != queue.StatusDone {
			t.Errorf("job %s: %s %s", st.JobID, st.Status, st.Error)
		}
	}); len(left) > 0 {
		t.Fatalf("%d jobs did not end", len(left))
	}
	ts := p.console(t, false, nil)

	for name, id := range ids {
		key := report.Key(id)
		r := search(t, ts.URL, id) // the accession, as sent
		if r.status != 200 {
			t.Fatalf("search %q: %d", id, r.status)
		}
		body := html.UnescapeString(r.body)
		if n := strings.Count(r.body, "<article"); n != 1 {
			t.Errorf("search %q: %d cards, want its one report", id, n)
		}
		if !strings.Contains(body, "<dt>Report</dt><dd>"+id+", version 1</dd>") || !strings.Contains(r.body, `href="/console/binary/pdf-`+key+`-1"`) {
			t.Errorf("search %q: the card lacks the identifier as sent or the Binary pdf-%s-1:\n%s", id, key, r.body)
		}
		j := get(t, ts.URL+"/console/jobs/"+p.jobOf[name])
		if want := id + " (" + key + "-1)"; key != id && !strings.Contains(html.UnescapeString(j.body), want) {
			t.Errorf("job page of %s lacks %q:\n%s", name, want, j.body)
		}
	}
	// The look-alike's patient: only RAD-2026-77.
	r := search(t, ts.URL, "pt-7702")
	if n := strings.Count(r.body, "<article"); n != 1 || !strings.Contains(r.body, "pdf-RAD-2026-77-1") || strings.Contains(r.body, report.Key("RAD/2026-77")) {
		t.Errorf("patient pt-7702: %d cards, want only RAD-2026-77:\n%s", n, r.body)
	}
}
