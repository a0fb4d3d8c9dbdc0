package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/input/fhirinput"
	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/queue"
)

// TestE2EFHIRConvertAndRender drives the folio binary over the FHIR
// fixtures: convert prints exactly the mapped reports of the goldens, render
// writes one PDF per report (the sender's own PDF as sent where there is
// one), and every bad input is refused with its FHIR path.
func TestE2EFHIRConvertAndRender(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary: not in -short mode")
	}
	dir := filepath.Join("..", "..", "fixtures", "fhir") + string(filepath.Separator)
	files, _ := filepath.Glob(dir + "*.json")
	if len(files) < 10 {
		t.Fatalf("want at least 10 FHIR fixtures, have %d", len(files))
	}

	t.Run("convert", func(t *testing.T) {
		for _, f := range files {
			res := runFolio(t, "convert", f)
			if res.code != 0 {
				t.Fatalf("folio convert %s: exit %d\n%s", f, res.code, res.stderr)
			}
			var golden []struct {
				Report    json.RawMessage `json:"report"`
				Withdrawn bool            `json:"withdrawn"`
			}
			g, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "golden", "fhir", strings.TrimSuffix(filepath.Base(f), ".json")+".mapped.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(g, &golden); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
			if len(lines) != len(golden) {
				t.Fatalf("%s: %d lines, want %d", f, len(lines), len(golden))
			}
			for i, l := range lines {
				var a, b any
				json.Unmarshal([]byte(l), &a)
				json.Unmarshal(golden[i].Report, &b)
				ja, _ := json.Marshal(a)
				jb, _ := json.Marshal(b)
				if !bytes.Equal(ja, jb) {
					t.Errorf("%s: report %d differs from the golden", f, i)
				}
			}
		}
	})

	t.Run("render", func(t *testing.T) {
		n := renderDir(t, dir, func(rl renderLine, b []byte) {
			if filepath.Base(rl.Input) == "pdf-presentedform.json" {
				// The sender's PDF, byte for byte: the Binary in the Bundle.
				var bundle struct {
					Entry []struct {
						Resource struct {
							ResourceType string `json:"resourceType"`
							Data         []byte `json:"data"`
						} `json:"resource"`
					} `json:"entry"`
				}
				src, _ := os.ReadFile(rl.Input)
				json.Unmarshal(src, &bundle)
				if got := bundle.Entry[3].Resource; got.ResourceType != "Binary" || !bytes.Equal(got.Data, b) {
					t.Errorf("pdf-presentedform: output is not the sender's PDF")
				}
				if !strings.Contains(strings.Join(rl.Warnings, "\n"), "the sender's PDF is stored") {
					t.Errorf("pdf-presentedform: no warning about the sender's PDF: %v", rl.Warnings)
				}
			}
			if filepath.Base(rl.Input) == "partial-missing-results.json" && len(rl.Warnings) != 4 {
				t.Errorf("partial-missing-results: %d warnings, want 4 (one per missing reference): %v", len(rl.Warnings), rl.Warnings)
			}
		})
		if n != len(files) {
			t.Errorf("%d PDFs for %d fixtures", n, len(files))
		}
	})

	t.Run("bad", func(t *testing.T) {
		bad, _ := filepath.Glob(dir + "bad/*.json")
		res := runFolio(t, "render", "-o", t.TempDir(), dir+"bad")
		if res.code != 1 {
			t.Fatalf("exit %d, want 1\n%s", res.code, res.stderr)
		}
		for _, f := range bad {
			if src, _ := os.ReadFile(f); fhirinput.Sniff(src) == "" {
				continue // not recognisable as FHIR: read (and refused) as report v1
			}
			want, err := os.ReadFile(strings.TrimSuffix(f, ".json") + ".err")
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(want)), "\n") {
				if !strings.Contains(res.stderr, f+": "+line+"\n") {
					t.Errorf("stderr lacks %q", f+": "+line)
				}
			}
		}
	})
}

// TestE2EFHIRSubmit: "folio submit" of FHIR Bundles against "folio serve":
// each ends done, its PDF Binary is readable through the FHIR endpoint
// and is the PDF that "folio render" makes of the same file (or the
// sender's own PDF); a partial report's warnings name every missing
// reference; a bad Bundle is refused before anything is queued, with its
// FHIR path; a raw job message with "fhir" instead of "report" is rendered
// too, and one holding two inputs is refused.
func TestE2EFHIRSubmit(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary: not in -short mode")
	}
	srv := startServe(t)
	dir := filepath.Join("..", "..", "fixtures", "fhir")
	inputs := []string{
		filepath.Join(dir, "cap-breast-synoptic.json"),
		filepath.Join(dir, "composition-autopsy-document.json"),
		filepath.Join(dir, "partial-missing-results.json"),
		filepath.Join(dir, "pdf-presentedform.json"),
		filepath.Join(dir, "hl7", "us-core-chest-xray-report.json"),
	}
	res := runFolio(t, append([]string{"submit", "--wait", "--timeout", "90s", "--nats-url", srv.natsURL, "--data", srv.data}, inputs...)...)
	if res.code != 0 {
		t.Fatalf("folio submit --wait: exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	lines := parseSubmit(t, res.stdout)
	if len(lines) != len(inputs) {
		t.Fatalf("%d lines for %d inputs:\n%s", len(lines), len(inputs), res.stdout)
	}
	tok := strings.TrimSpace(runFolio(t, "token", "--data", srv.data, "--scope", e2eScope).stdout)
	out := t.TempDir()
	for _, l := range lines {
		if l.Status != "done" || len(l.Binaries) == 0 {
			t.Errorf("%s: status %q error %q binaries %v", l.Input, l.Status, l.Error, l.Binaries)
			continue
		}
		resp, body := fhirGet(t, srv.base, "/Binary/"+l.Binaries[0].ID, tok, "application/pdf")
		if resp.StatusCode != 200 || !bytes.HasPrefix(body, []byte("%PDF-")) {
			t.Errorf("%s: GET /Binary/%s: %d, %d bytes", l.Input, l.Binaries[0].ID, resp.StatusCode, len(body))
			continue
		}
		local := filepath.Join(out, filepath.Base(l.Input)+".pdf")
		if r := runFolio(t, "render", "-o", local, l.Input); r.code != 0 {
			t.Fatalf("folio render %s: %s", l.Input, r.stderr)
		}
		want, _ := os.ReadFile(local)
		if !bytes.Equal(body, want) {
			t.Errorf("%s: the Binary read through the FHIR endpoint is not the PDF folio render makes of the file", l.Input)
		}
		if strings.HasSuffix(l.Input, "partial-missing-results.json") && len(l.Warnings) != 4 {
			t.Errorf("partial: warnings %v, want one per missing reference", l.Warnings)
		}
	}

	t.Run("preliminary then final", func(t *testing.T) {
		for _, f := range []string{"mr-brain-1-preliminary.json", "mr-brain-2-final.json"} {
			r := runFolio(t, "submit", "--wait", "--timeout", "60s", "--nats-url", srv.natsURL, "--data", srv.data, filepath.Join(dir, f))
			if r.code != 0 {
				t.Fatalf("%s: exit %d\n%s", f, r.code, r.stdout)
			}
		}
		var docs [2]struct {
			Status    string `json:"status"`
			DocStatus string `json:"docStatus"`
			RelatesTo []struct {
				Code   string `json:"code"`
				Target struct {
					Reference string `json:"reference"`
				} `json:"target"`
			} `json:"relatesTo"`
		}
		for i, id := range []string{"R26-220031-1", "R26-220031-2"} {
			resp, body := fhirGet(t, srv.base, "/DocumentReference/"+id, tok, "application/fhir+json")
			if resp.StatusCode != 200 || json.Unmarshal(body, &docs[i]) != nil {
				t.Fatalf("GET /DocumentReference/%s: %d %s", id, resp.StatusCode, body)
			}
		}
		if docs[0].Status != "superseded" || docs[1].Status != "current" || len(docs[1].RelatesTo) != 1 ||
			docs[1].RelatesTo[0].Code != "replaces" || docs[1].RelatesTo[0].Target.Reference != "DocumentReference/R26-220031-1" {
			t.Errorf("the final report (meta.versionId 2) does not replace the preliminary one (1): %+v", docs)
		}
		if docs[0].DocStatus != "preliminary" || docs[1].DocStatus != "final" {
			t.Errorf("docStatus %q then %q, want preliminary then final", docs[0].DocStatus, docs[1].DocStatus)
		}
	})

	t.Run("bad Bundle refused before queueing", func(t *testing.T) {
		bad := filepath.Join(dir, "bad", "bundle-subject-unresolved.json")
		r := runFolio(t, "submit", "--nats-url", srv.natsURL, "--data", srv.data, bad)
		if r.code != 1 || !strings.Contains(r.stdout, "Bundle.entry[0].resource.subject") {
			t.Errorf("exit %d, stdout %s", r.code, r.stdout)
		}
	})

	t.Run("job message with fhir", func(t *testing.T) {
		nc := connectAs(t, srv, broker.RoleAdmin)
		defer nc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		q, err := queue.Open(ctx, nc, queue.Config{})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(filepath.Join(dir, "contained-skin-biopsy.json"))
		var compact bytes.Buffer
		json.Compact(&compact, data)
		good, err := q.Submit(ctx, &queue.Job{FHIR: compact.Bytes()})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(good.JobID, "fhir-") {
			t.Errorf("default job id %q, want fhir-<digest>", good.JobID)
		}
		report := []byte(`{"schema":"folio.report/v1"}`)
		// Published raw (queue.Submit refuses it): the worker must refuse it.
		raw, _ := json.Marshal(map[string]any{"jobId": "two-inputs", "report": json.RawMessage(report), "fhir": json.RawMessage(compact.Bytes())})
		if _, err := q.Submit(ctx, &queue.Job{Report: report, FHIR: compact.Bytes()}); err == nil {
			t.Error("queue.Submit accepted a job with two inputs")
		}
		js, _ := jetstream.New(nc)
		if _, err := js.Publish(ctx, queue.SubjectJobs, raw, jetstream.WithMsgID("two-inputs")); err != nil {
			t.Fatal(err)
		}
		testutil.PollUntil(t, 60*time.Second, "both jobs end", func() bool {
			a, e1 := q.Status(ctx, good.JobID)
			b, e2 := q.Status(ctx, "two-inputs")
			return e1 == nil && e2 == nil && a.Final() && b.Final()
		})
		a, _ := q.Status(ctx, good.JobID)
		b, _ := q.Status(ctx, "two-inputs")
		if a.Status != queue.StatusDone {
			t.Errorf("fhir job: %s %s", a.Status, a.Error)
		}
		if b.Status != queue.StatusFailed || b.Reason != queue.ReasonInvalid || !strings.Contains(b.Error, "one input") {
			t.Errorf("two-input job: %s %s %s", b.Status, b.Reason, b.Error)
		}
	})
}
