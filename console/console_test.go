package console

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/fhir"
	"github.com/foliohealth/folio/mllp/intake"
	"github.com/foliohealth/folio/queue"
)

// pipeline is a real embedded NATS server, queue, store and render workers
// with the fixtures rendered (PDF and thumbnail), a first version of the
// amended prostate report, and one invalid report.
type pipeline struct {
	q  *queue.Queue
	nc *nats.Conn
	// failedJob is the job id of the invalid report, fhirJob that of a
	// FHIR DiagnosticReport.
	failedJob, fhirJob, hl7Job string
	// jobOf is the job id of each submitted report, by name.
	jobOf map[string]string
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func startPipeline(t *testing.T) *pipeline {
	t.Helper()
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
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

	reports := map[string][]byte{}
	paths, _ := filepath.Glob("../fixtures/*.json")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		reports[filepath.Base(p)] = b
	}
	// Version 1 of the amended prostate report: final, before the amendment.
	var v1 map[string]any
	if err := json.Unmarshal(reports["amended-prostate.json"], &v1); err != nil {
		t.Fatal(err)
	}
	v1["version"], v1["status"] = 1, "final"
	delete(v1, "amendment")
	reports["amended-prostate-v1"], _ = json.Marshal(v1)
	bad, err := os.ReadFile("../fixtures/bad/status-unknown.json")
	if err != nil {
		t.Fatal(err)
	}
	reports["bad"] = bad
	fhirReport, err := os.ReadFile("../fixtures/fhir/xhtml-cytology.json")
	if err != nil {
		t.Fatal(err)
	}

	waiter, err := q.NewWaiter()
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close()
	p := &pipeline{q: q, nc: nc, jobOf: map[string]string{}}
	var subs []*queue.Submitted
	for name, r := range reports {
		var buf bytes.Buffer
		json.Compact(&buf, r)
		sub, err := q.Submit(ctx, &queue.Job{Report: buf.Bytes(), Outputs: []string{"pdf", "thumbnail"}})
		if err != nil {
			t.Fatal(err)
		}
		if name == "bad" {
			p.failedJob = sub.JobID
		}
		p.jobOf[name] = sub.JobID
		subs = append(subs, sub)
	}
	var buf bytes.Buffer
	json.Compact(&buf, fhirReport)
	fj := &queue.Job{FHIR: buf.Bytes(), Outputs: []string{"pdf", "thumbnail"}}
	sub, err := q.Submit(ctx, fj)
	if err != nil {
		t.Fatal(err)
	}
	p.fhirJob = sub.JobID
	subs = append(subs, sub)
	// An HL7 v2 message, queued by the intake as the MLLP listener does.
	msg, err := os.ReadFile("../fixtures/hl7/cytology-thyroid.hl7")
	if err != nil {
		t.Fatal(err)
	}
	taken, err := intake.New(q, q.Store(), intake.Config{Outputs: []string{"pdf"}}).Take(ctx, msg)
	if err != nil || len(taken) != 1 {
		t.Fatalf("intake: %d jobs, %v", len(taken), err)
	}
	p.hl7Job = taken[0].Submitted.JobID
	subs = append(subs, taken[0].Submitted)
	wctx2, cancel2 := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel2()
	left := waiter.Wait(wctx2, subs, func(st *queue.JobStatus) {
		if st.JobID != p.failedJob && st.Status != queue.StatusDone {
			t.Errorf("job %s: %s %s", st.JobID, st.Status, st.Error)
		}
	})
	if len(left) > 0 {
		t.Fatalf("%d jobs did not end", len(left))
	}
	return p
}

func (p *pipeline) console(t *testing.T, requireToken bool, v fhir.TokenVerifier) *httptest.Server {
	return p.consoleWith(t, Config{RequireToken: requireToken, Verifier: v})
}

func (p *pipeline) consoleWith(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	cfg.Queue, cfg.Store, cfg.Search, cfg.Conn, cfg.Logger = p.q, p.q.Store(), p.q.Store(), p.nc, quiet
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	mux := http.NewServeMux()
	mux.Handle(Prefix+"/", c)
	mux.Handle(Prefix, c)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

func get(t *testing.T, u string) response {
	req, _ := http.NewRequest("GET", u, nil)
	return do(t, req)
}

func search(t *testing.T, base, q string) response {
	req, _ := http.NewRequest("POST", base+"/console/documents", strings.NewReader(url.Values{"q": {q}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, req)
}

// TestConsole reads every page of the console over HTTP against a real
// pipeline.
func TestConsole(t *testing.T) {
	p := startPipeline(t)
	ts := p.console(t, false, nil)

	t.Run("headers", func(t *testing.T) {
		for _, path := range []string{"/console/jobs", "/console/documents", "/console/health", "/console/jobs/" + p.failedJob} {
			r := get(t, ts.URL+path)
			if r.status != 200 {
				t.Errorf("%s: %d\n%s", path, r.status, r.body)
			}
			if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Content-Security-Policy") != CSP ||
				r.header.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
				t.Errorf("%s: headers %v", path, r.header)
			}
			if strings.Contains(r.body, "<script") {
				t.Errorf("%s has a script", path)
			}
		}
		if r := get(t, ts.URL+"/console"); r.status != 200 || !strings.Contains(r.body, "<h1>Jobs</h1>") {
			t.Errorf("/console does not lead to the jobs page: %d", r.status)
		}
	})

	t.Run("jobs", func(t *testing.T) {
		r := get(t, ts.URL+"/console/jobs")
		if n := strings.Count(r.body, `<tr class="st-`); n != 21 {
			t.Errorf("jobs page lists %d jobs, want 21 (17 fixtures, a version 1, a FHIR report, an HL7 one, a bad one)", n)
		}
		r = get(t, ts.URL+"/console/jobs/"+p.hl7Job)
		if !strings.Contains(r.body, "<th>Input</th><td>HL7 v2</td>") || !strings.Contains(r.body, "&#34;schema&#34;: &#34;folio.report/v1&#34;") {
			t.Errorf("the HL7 job's page lacks its input kind or report JSON:\n%s", r.body)
		}
		st, err := p.q.Status(context.Background(), p.hl7Job)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := p.q.Store().Record(context.Background(), st.RecordID)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range rec.Binaries {
			if b.Output == folio.OutputReportJSON {
				t.Errorf("the report JSON is listed among the record's Binaries: %+v", rec.Binaries)
			}
		}
		r = get(t, ts.URL+"/console/jobs/"+p.fhirJob)
		if !strings.Contains(r.body, "<th>Input</th><td>FHIR R4</td>") {
			t.Errorf("the FHIR job's page does not name its input kind:\n%s", r.body)
		}
		if !strings.Contains(r.body, `<pre class="json">{`) || !strings.Contains(r.body, "&#34;schema&#34;: &#34;folio.report/v1&#34;") {
			t.Errorf("the FHIR job's page does not show the report JSON folio made of it:\n%s", r.body)
		}
		r = get(t, ts.URL+"/console/jobs?failed=1")
		if n := strings.Count(r.body, `<tr class="st-`); n != 1 {
			t.Errorf("failed jobs page lists %d jobs, want 1:\n%s", n, r.body)
		}
		for _, want := range []string{p.failedJob, `<code class="path">report.status</code>`, "is not a report status", "report JSON", ">invalid<"} {
			if !strings.Contains(r.body, want) {
				t.Errorf("failed jobs page lacks %q", want)
			}
		}
		r = get(t, ts.URL+"/console/jobs/"+p.failedJob)
		for _, want := range []string{`<code class="path">report.status</code>`, "&#34;signed&#34; is not a report status", "S26-000001-1"} {
			if !strings.Contains(r.body, want) {
				t.Errorf("job page lacks %q:\n%s", want, r.body)
			}
		}
		if r := get(t, ts.URL+"/console/jobs/"+p.jobOf["url-sections.json"]); r.status != 200 || !strings.Contains(r.body, "url section") || !strings.Contains(r.body, "thumb-S26-004990-1") {
			t.Errorf("done job page: %d, lacks its warnings or Binaries", r.status)
		}
		if r := get(t, ts.URL+"/console/jobs/no-such-job"); r.status != 404 {
			t.Errorf("unknown job: %d, want 404", r.status)
		}
		// Paging: 19 jobs in pages of 5 would need the pager; here one
		// page holds them all and there is no "Older" link.
		if strings.Contains(get(t, ts.URL+"/console/jobs").body, "Older") {
			t.Error("one page of jobs has an Older link")
		}
	})

	t.Run("paging", func(t *testing.T) {
		small := p.consoleWith(t, Config{PageSize: 8})
		link := regexp.MustCompile(`<a href="(/console/jobs\?before=\d+)">Older`)
		row := regexp.MustCompile(`<a href="/console/jobs/([^"]+)">`)
		seen := map[string]bool{}
		next, pages := "/console/jobs", 0
		for next != "" {
			pages++
			if pages > 5 {
				t.Fatal("more than 5 pages of 8 for 21 jobs")
			}
			body := get(t, small.URL+next).body
			rows := row.FindAllStringSubmatch(body, -1)
			if len(rows) > 8 {
				t.Fatalf("page %d has %d jobs, page size 8", pages, len(rows))
			}
			for _, m := range rows {
				if seen[m[1]] {
					t.Errorf("job %s on two pages", m[1])
				}
				seen[m[1]] = true
			}
			next = ""
			if m := link.FindStringSubmatch(body); m != nil {
				next = m[1]
				if !strings.Contains(body, "« Newest") && pages > 1 {
					t.Errorf("page %d has no link back to the newest", pages)
				}
			}
		}
		if len(seen) != 21 || pages != 3 {
			t.Errorf("%d jobs on %d pages, want 21 on 3", len(seen), pages)
		}
	})

	t.Run("documents", func(t *testing.T) {
		for _, q := range []string{"pt-18830", "000356120", "S26-003318"} { // patient id, MRN, accession
			r := search(t, ts.URL, q)
			if r.status != 200 {
				t.Fatalf("search %s: %d", q, r.status)
			}
			for _, want := range []string{"AMENDED", "v2 AMENDED", "v1 FINAL · SUPERSEDED", `src="/console/binary/thumb-S26-003318-2"`, `href="/console/binary/pdf-S26-003318-2"`, `href="/console/binary/pdf-S26-003318-1"`} {
				if !strings.Contains(r.body, want) {
					t.Errorf("search %s lacks %q", q, want)
				}
			}
			if n := strings.Count(r.body, "<article"); n != 1 {
				t.Errorf("search %s: %d cards, want one (two versions of one report)", q, n)
			}
		}
		if r := search(t, ts.URL, "pt-60218"); !strings.Contains(r.body, "PRELIMINARY") {
			t.Error("the preliminary MR report is not marked PRELIMINARY")
		}
		// A withdrawn report leaves its patient's index but an MRN search
		// still finds it, marked entered in error.
		if _, err := p.q.Store().Withdraw(context.Background(), "RAD-2026-119950", "wrong patient (HL7 result status W)"); err != nil {
			t.Fatal(err)
		}
		r := search(t, ts.URL, "RX-6630411")
		if n := strings.Count(r.body, "<article"); n != 1 || !strings.Contains(r.body, `class="card st-eie"`) ||
			!strings.Contains(r.body, "ENTERED IN ERROR") || !strings.Contains(r.body, "wrong patient (HL7 result status W)") {
			t.Errorf("the withdrawn mammography is not shown entered in error (%d cards):\n%s", n, r.body)
		}
		if r := search(t, ts.URL, "nobody"); !strings.Contains(r.body, "No documents") {
			t.Error("a search without results does not say so")
		}
		if r := search(t, ts.URL, strings.Repeat("x", 200)); r.status != 400 {
			t.Errorf("overlong search: %d, want 400", r.status)
		}
		r = get(t, ts.URL+"/console/binary/pdf-S26-003318-2")
		if r.status != 200 || r.header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(r.body, "%PDF-") ||
			!strings.HasPrefix(r.header.Get("Content-Disposition"), "inline") || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("PDF: %d %v", r.status, r.header)
		}
		r = get(t, ts.URL+"/console/binary/thumb-S26-003318-2")
		if r.status != 200 || r.header.Get("Content-Type") != "image/png" || !strings.HasPrefix(r.body, "\x89PNG") {
			t.Errorf("thumbnail: %d %v", r.status, r.header)
		}
		if r := get(t, ts.URL+"/console/binary/pdf-nothing-1"); r.status != 404 {
			t.Errorf("unknown Binary: %d", r.status)
		}
	})

	t.Run("health", func(t *testing.T) {
		r := get(t, ts.URL+"/console/health")
		if r.status != 200 {
			t.Fatalf("health: %d\n%s", r.status, r.body)
		}
		if !regexp.MustCompile(`id="queue-depth">0<`).MatchString(r.body) || !strings.Contains(r.body, "CONNECTED") {
			t.Errorf("health page lacks a queue depth of 0 or the NATS state:\n%s", r.body)
		}
	})
}

// TestConsoleToken: on a listener that is not loopback, the console answers
// only requests with a valid bearer token holding the operator scope.
func TestConsoleToken(t *testing.T) {
	p := startPipeline(t)
	key, _, err := fhir.LoadDevKey(t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	ts := p.console(t, true, key.Verifier())
	mint := func(scope string) string {
		tok, err := key.Mint(fhir.TokenRequest{Scope: scope})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, c := range []struct {
		name, auth string
		want       int
	}{
		{"no token", "", 401},
		{"not a JWT", "Bearer nonsense", 401},
		{"FHIR scopes only", "Bearer " + mint("user/Binary.read user/DocumentReference.read"), 403},
		{"operator scope", "Bearer " + mint("user/Binary.read "+OperatorScope), 200},
	} {
		for _, path := range []string{"/console/jobs", "/console/health", "/console/binary/pdf-S26-003318-2", "/console/static/style.css"} {
			req, _ := http.NewRequest("GET", ts.URL+path, nil)
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			r := do(t, req)
			if r.status != c.want {
				t.Errorf("%s, %s: %d, want %d", c.name, path, r.status, c.want)
			}
			if r.status == 401 && !strings.Contains(r.header.Get("WWW-Authenticate"), OperatorScope) {
				t.Errorf("%s: 401 without a challenge naming the scope: %v", c.name, r.header)
			}
			if c.want != 200 && (strings.Contains(r.body, "pt-") || strings.Contains(r.body, "%PDF")) {
				t.Errorf("%s, %s: refused, yet the body shows data", c.name, path)
			}
		}
	}
}
