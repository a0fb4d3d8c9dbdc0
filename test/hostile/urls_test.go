package hostile

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/queue"
)

// trap is a loopback HTTP listener (IPv4 and, where available, IPv6) that
// counts every connection and request made to it.
type trap struct {
	conns, reqs atomic.Int64
	port, port6 int // port6 is 0 without IPv6 loopback
}

func newTrap(t *testing.T) *trap {
	tr := &trap{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.reqs.Add(1)
		t.Errorf("request reached the trap: %s %s", r.Method, r.URL)
		w.Write([]byte("<html>fetched</html>"))
	})
	for _, network := range []string{"tcp4", "tcp6"} {
		addr := "127.0.0.1:0"
		if network == "tcp6" {
			addr = "[::1]:0"
		}
		ln, err := net.Listen(network, addr)
		if err != nil {
			if network == "tcp6" {
				t.Logf("no IPv6 loopback (%v): [::1] URLs point at a closed port", err)
				continue
			}
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(h)
		srv.Listener.Close()
		srv.Listener = countingListener{ln, &tr.conns}
		srv.Start()
		t.Cleanup(srv.Close)
		if network == "tcp4" {
			tr.port = ln.Addr().(*net.TCPAddr).Port
		} else {
			tr.port6 = ln.Addr().(*net.TCPAddr).Port
		}
	}
	if tr.port6 == 0 {
		tr.port6 = tr.port
	}
	return tr
}

// urls returns one URL of every scheme and loopback spelling, each with tag
// in its path.
func (tr *trap) urls(tag string) []string {
	p, p6 := tr.port, tr.port6
	return []string{
		fmt.Sprintf("http://127.0.0.1:%d/%s", p, tag),
		fmt.Sprintf("https://127.0.0.1:%d/%s", p, tag),
		fmt.Sprintf("http://localhost:%d/%s", p, tag),
		fmt.Sprintf("http://[::1]:%d/%s", p6, tag),
		fmt.Sprintf("//127.0.0.1:%d/%s", p, tag),
		fmt.Sprintf("ftp://127.0.0.1:%d/%s", p, tag),
		fmt.Sprintf("ws://127.0.0.1:%d/%s", p, tag),
		fmt.Sprintf("file:///etc/passwd?%s", tag),
		fmt.Sprintf("file://127.0.0.1:%d/%s", p, tag),
		fmt.Sprintf("data:text/html,<img src=http://127.0.0.1:%d/%s>", p, tag),
		fmt.Sprintf("javascript:fetch('http://127.0.0.1:%d/%s')", p, tag),
		fmt.Sprintf("http://2130706433:%d/%s", p, tag), // 127.0.0.1 as a number
	}
}

// hostileMarkdown puts u in every markdown and raw-HTML construct that
// could make a renderer fetch or follow it.
func hostileMarkdown(u string) string {
	return strings.Join([]string{
		fmt.Sprintf("[link](%s) and ![image](%s) and <%s>", u, u, u),
		fmt.Sprintf("[ref][r1] ![refimg][r1]\n\n[r1]: %s \"title\"", u),
		fmt.Sprintf(`<img src="%s"> <script src="%s"></script> <link rel="stylesheet" href="%s">`, u, u, u),
		fmt.Sprintf(`<iframe src="%s"></iframe><object data="%s"></object><svg><image href="%s"/></svg>`, u, u, u),
		fmt.Sprintf("<style>@import url(%s);</style> <a href=\"%s\">a</a> <meta http-equiv=refresh content=\"0;url=%s\">", u, u, u),
		fmt.Sprintf("| col |\n|---|\n| [cell](%s) ![x](%s) |", u, u),
		fmt.Sprintf("```html\n<img src=\"%s\">\n```", u),
	}, "\n\n")
}

// hostileReport returns a report in which every string field that may hold
// free text, every section kind and every markdown body points at each of
// urls; url sections point at "url-section-N" URLs.
func hostileReport(t testing.TB, tr *trap) ([]byte, []string) {
	all := tr.urls("field")
	one := strings.Join(all, " ")
	var md strings.Builder
	for _, u := range tr.urls("markdown") {
		md.WriteString(hostileMarkdown(u))
		md.WriteString("\n\n")
	}
	var urlTargets []string
	sections := []map[string]any{
		{"kind": "text", "title": "Diagnosis " + all[0], "body": md.String()},
		{"kind": "plain", "title": "Legacy", "body": strings.Join(tr.urls("plain"), "\n") + "\n" + hostileMarkdown(all[0])},
		{"kind": "fields", "title": "Synoptic", "items": []any{
			map[string]any{"label": all[1], "value": one},
			map[string]any{"label": "Link", "value": hostileMarkdown(all[2])},
		}},
		{"kind": "table", "title": "Table", "columns": []any{all[3], "b"}, "rows": []any{[]any{all[4], hostileMarkdown(all[5])}}},
	}
	for i, u := range tr.urls("url-section") {
		target := strings.Replace(u, "url-section", fmt.Sprintf("url-section-%d", i), 1)
		urlTargets = append(urlTargets, target)
		sections = append(sections, map[string]any{"kind": "url", "title": fmt.Sprintf("Slides %d", i), "url": target, "text": "Whole-slide images " + all[i%len(all)]})
	}
	sections = append(sections, map[string]any{"kind": "text", "title": "Nested", "body": "Parent", "sections": []any{
		map[string]any{"kind": "url", "title": "Nested slides", "url": urlTargets[0], "text": "nested"},
		map[string]any{"kind": "text", "title": "Child " + all[6], "body": hostileMarkdown(all[7])},
	}})
	rep := baseReport(sections...)
	rep["title"] = "Report " + one
	rep["facility"] = map[string]any{"name": all[8], "address": all[9], "phone": all[10]}
	rep["orderingProvider"] = one
	rep["patient"].(map[string]any)["name"] = "Doe, Jane " + all[11]
	rep["performers"] = []any{map[string]any{"name": all[0], "role": all[1], "signedAt": "2026-11-20T14:01:00-05:00"}}
	rep["specimens"] = []any{map[string]any{"label": all[2], "description": one}}
	rep["addenda"] = []any{map[string]any{"issued": "2026-11-21T10:00:00-05:00", "author": all[3], "body": hostileMarkdown(all[4])}}
	rep["status"] = "amended"
	rep["amendment"] = map[string]any{"reason": one, "issued": "2026-11-21T10:00:00-05:00"}
	return mustJSON(t, rep), urlTargets
}

// TestNoFetch renders a report whose every field points at a counting
// loopback listener, with URLs of every scheme, through decode, layout, the
// PDF and the thumbnail, and then through a real queue worker on an
// embedded NATS server: no connection may reach the listener, and no url
// section's target may appear in the PDF's text.
func TestNoFetch(t *testing.T) {
	tr := newTrap(t)
	data, targets := hostileReport(t, tr)

	check := func(where string, pdf []byte) {
		text := pdfText(t, pdf)
		for _, u := range targets {
			if strings.Contains(text, u) || strings.Contains(strings.Join(strings.Fields(text), ""), u) {
				t.Errorf("%s: url section target %s is in the PDF text", where, u)
			}
		}
		if !strings.Contains(text, "url-section") && strings.Contains(text, "/markdown") {
			t.Logf("%s: markdown link targets are printed; url section targets are not", where)
		}
		if !strings.Contains(text, "127.0.0.1") {
			t.Errorf("%s: no URL text at all in the PDF: were the fields dropped?", where)
		}
	}

	var enginePDF []byte
	took, alloc, peak := measure(func() {
		res, err := renderAll(data)
		if err != nil {
			t.Fatalf("a report full of URLs is valid and must render: %v", err)
		}
		t.Logf("engine: %d pages, PDF %d bytes, thumbnail %dx%d, %d warnings", len(res.laid.Pages), len(res.pdf), res.thumb.Width, res.thumb.Height, len(res.laid.Warnings))
		check("engine", res.pdf)
		enginePDF = res.pdf
	})
	t.Logf("engine: %v, %s allocated, peak RSS %s", took.Round(time.Millisecond), mib(int64(alloc)), mib(peak))
	// A hostile report still makes a PDF/A-1b file.
	path := filepath.Join(t.TempDir(), "urls.pdf")
	if err := os.WriteFile(path, enginePDF, 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.CheckPDFA(t, []string{path})

	// The same report as a job through a real worker on an embedded server.
	ctx, q := workerQueue(t)
	sub, err := q.Submit(ctx, &queue.Job{Outputs: []string{folio.OutputPDF, folio.OutputThumbnail}, Report: data})
	if err != nil {
		t.Fatal(err)
	}
	st := waitFinal(t, q, sub.JobID)
	if st.Status != queue.StatusDone {
		t.Fatalf("job %s: %s %s", st.JobID, st.Status, st.Error)
	}
	if len(st.Warnings) == 0 {
		t.Error("the job carries no warning about its url sections")
	}
	for _, b := range st.Binaries {
		info, rc, err := q.Store().OpenBinary(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		var buf strings.Builder
		_, err = copyAll(&buf, rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if info.Output == folio.OutputPDF {
			check("worker", []byte(buf.String()))
		}
	}
	if n, r := tr.conns.Load(), tr.reqs.Load(); n != 0 || r != 0 {
		t.Errorf("the trap saw %d connections and %d requests; want none", n, r)
	} else {
		t.Logf("trap: 0 connections, 0 requests after the engine and the worker (%d URLs per field, %d url sections)", len(tr.urls("x")), len(targets))
	}
}
