package main

// End-to-end tests of issue 9 (integrity): a real "folio serve", real
// "folio submit" runs, job messages published by a real NATS client, and
// the FHIR endpoint read over HTTP.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/queue"
	"github.com/foliohealth/folio/store"
)

// specReport returns the spec example with the given changes applied.
func specReport(t *testing.T, change func(map[string]any)) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixturesDir, "spec-example.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep map[string]any
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	change(rep)
	return rep
}

// writeReport writes a report to a new file and returns its path.
func writeReport(t *testing.T, dir, name string, rep any) string {
	t.Helper()
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func patient(id, name string) map[string]any {
	return map[string]any{"id": id, "name": name, "mrn": "MRN-" + id, "birthDate": "1970-01-01"}
}

// submitWait runs folio submit --wait and returns its lines and exit status.
func submitWait(t *testing.T, srv *server, args ...string) ([]submitOut, int) {
	t.Helper()
	res := runFolio(t, append([]string{"submit", "--nats-url", srv.natsURL, "--data", srv.data, "--wait", "--timeout", "90s"}, args...)...)
	if res.code == 2 || (res.code != 0 && strings.TrimSpace(res.stdout) == "") {
		t.Fatalf("folio submit %s: exit %d\n%s", strings.Join(args, " "), res.code, res.stderr)
	}
	return parseSubmit(t, res.stdout), res.code
}

// tokenFor mints a development token.
func tokenFor(t *testing.T, srv *server, args ...string) string {
	t.Helper()
	res := runFolio(t, append([]string{"token", "--data", srv.data}, args...)...)
	if res.code != 0 {
		t.Fatalf("folio token: exit %d\n%s", res.code, res.stderr)
	}
	return strings.TrimSpace(res.stdout)
}

type searchBundle struct {
	Total int
	Entry []struct {
		Resource struct {
			ID      string
			Status  string
			Content []struct{ Attachment struct{ URL string } }
		}
	}
}

func search(t *testing.T, srv *server, token, typ, patient string) searchBundle {
	t.Helper()
	res, body := fhirGet(t, srv.base, "/"+typ+"?patient="+patient, token, "")
	if res.StatusCode != 200 {
		t.Fatalf("%s search for %s: %d %s", typ, patient, res.StatusCode, body)
	}
	var b searchBundle
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// conditionalGet does a GET with If-None-Match.
func conditionalGet(t *testing.T, srv *server, path, token, accept, etag string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.Header.Set("If-None-Match", etag)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "x.pdf")
	os.WriteFile(f, pdf, 0o644)
	out, err := exec.Command("pdftotext", "-layout", f, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

func TestE2EIntegrity(t *testing.T) {
	srv := startServe(t, "--allow-patient-access")
	dir := t.TempDir()
	user := tokenFor(t, srv, "--scope", "user/Binary.read user/DocumentReference.read user/DiagnosticReport.read")

	t.Run("conflict: same id and version, other patient", func(t *testing.T) {
		alpha := writeReport(t, dir, "alpha.json", specReport(t, func(r map[string]any) {
			r["id"] = "CONFLICT-1"
			r["patient"] = patient("pt-aaa", "Alpha, Anna")
		}))
		bravoRep := specReport(t, func(r map[string]any) {
			r["id"] = "CONFLICT-1"
			r["patient"] = patient("pt-bbb", "Bravo, Bella")
		})
		bravo := writeReport(t, dir, "bravo.json", bravoRep)
		lines, code := submitWait(t, srv, alpha)
		if code != 0 || len(lines) != 1 || lines[0].Status != "done" || lines[0].Binaries[0].ID != "pdf-CONFLICT-1-1" {
			t.Fatalf("first submission: exit %d %+v", code, lines)
		}
		res, pdfBefore := fhirGet(t, srv.base, "/Binary/pdf-CONFLICT-1-1", user, "application/pdf")
		etagBefore := res.Header.Get("ETag")
		res, _ = fhirGet(t, srv.base, "/DocumentReference/CONFLICT-1-1", user, "")
		docTagBefore := res.Header.Get("ETag")

		// 1. folio submit (default job id), right after: no duplicate window swallows it.
		lines, code = submitWait(t, srv, bravo)
		if code != 1 || len(lines) != 1 {
			t.Fatalf("conflicting submission: exit %d, %+v; want exit 1", code, lines)
		}
		l := lines[0]
		if l.Status != "failed" || !strings.Contains(l.Error, "conflict") || !strings.Contains(l.Error, "new version") ||
			strings.Count(l.Error, "sha256:") != 2 {
			t.Errorf("folio submit line: %+v; want failed, conflict naming both digests and asking for a new version", l)
		}
		var raw map[string]any
		json.Unmarshal([]byte(runFolio(t, "job", "--json", "--nats-url", srv.natsURL, "--data", srv.data, l.JobID).stdout), &raw)
		if raw["reason"] != "conflict" {
			t.Errorf("folio job %s: reason %v, want conflict", l.JobID, raw["reason"])
		}

		// 2. A job message with an explicit job id, from a NATS client.
		// As a submitter would: the job message itself.
		nc := connectAs(t, srv, broker.RoleSubmitter)
		defer nc.Close()
		msg, _ := json.Marshal(map[string]any{"jobId": "fix-misfiled-1", "report": bravoRep})
		if err := nc.Publish(queue.SubjectJobs, msg); err != nil {
			t.Fatal(err)
		}
		nc.Flush()
		var st struct{ Status, Reason, Error string }
		testutil.PollUntil(t, 60*time.Second, "job fix-misfiled-1 to end", func() bool {
			res := runFolio(t, "job", "--json", "--nats-url", srv.natsURL, "--data", srv.data, "fix-misfiled-1")
			return res.code == 0 && json.Unmarshal([]byte(res.stdout), &st) == nil && (st.Status == "done" || st.Status == "failed")
		})
		if st.Status != "failed" || st.Reason != "conflict" || strings.Count(st.Error, "sha256:") != 2 {
			t.Errorf("explicit job id: %+v, want failed/conflict", st)
		}

		// Nothing changed.
		if b := search(t, srv, user, "DocumentReference", "pt-bbb"); b.Total != 0 {
			t.Errorf("pt-bbb has %d DocumentReferences", b.Total)
		}
		b := search(t, srv, user, "DocumentReference", "pt-aaa")
		if b.Total != 1 || b.Entry[0].Resource.Status != "current" || b.Entry[0].Resource.Content[0].Attachment.URL != "Binary/pdf-CONFLICT-1-1" {
			t.Errorf("pt-aaa: %+v", b)
		}
		res, pdfAfter := fhirGet(t, srv.base, "/Binary/pdf-CONFLICT-1-1", user, "application/pdf")
		if !bytes.Equal(pdfAfter, pdfBefore) || res.Header.Get("ETag") != etagBefore {
			t.Errorf("the Binary changed")
		}
		if txt := pdfText(t, pdfAfter); !strings.Contains(txt, "Alpha, Anna") || strings.Contains(txt, "Bravo") {
			t.Errorf("the PDF does not show Alpha only")
		}
		if res, _ := fhirGet(t, srv.base, "/DocumentReference/CONFLICT-1-1", user, ""); res.Header.Get("ETag") != docTagBefore {
			t.Errorf("DocumentReference ETag %s, was %s", res.Header.Get("ETag"), docTagBefore)
		}
	})

	t.Run("eight bad reports sharing id and version", func(t *testing.T) {
		var files []string
		for i := range 8 {
			files = append(files, writeReport(t, dir, fmt.Sprintf("bad%d.json", i), specReport(t, func(r map[string]any) {
				r["id"] = "BAD-8"
				r[fmt.Sprintf("typo%d", i)] = "x"
			})))
		}
		lines, code := submitWait(t, srv, files...)
		if code != 1 || len(lines) != 8 {
			t.Fatalf("exit %d, %d lines", code, len(lines))
		}
		ids, errs := map[string]bool{}, map[string]bool{}
		for _, l := range lines {
			i := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(l.Input), "bad"), ".json")
			if l.Status != "failed" || !strings.Contains(l.Error, "report.typo"+i+": unknown field") {
				t.Errorf("%s: %s %q", l.Input, l.Status, l.Error)
			}
			ids[l.JobID], errs[l.Error] = true, true
		}
		if len(ids) != 8 || len(errs) != 8 {
			t.Errorf("%d job ids and %d errors for 8 different reports", len(ids), len(errs))
		}
	})

	t.Run("wrong-patient correction", func(t *testing.T) {
		v1 := writeReport(t, dir, "wp1.json", specReport(t, func(r map[string]any) {
			r["id"] = "WP-1"
			r["patient"] = patient("pt-ccc", "Charlie, Carl")
		}))
		v2 := writeReport(t, dir, "wp2.json", specReport(t, func(r map[string]any) {
			r["id"] = "WP-1"
			r["version"] = 2
			r["status"] = "corrected"
			r["amendment"] = map[string]any{"reason": "Report was filed under the wrong patient", "issued": "2026-11-21T09:00:00-05:00"}
			r["patient"] = patient("pt-ddd", "Delta, Dora")
		}))
		if lines, code := submitWait(t, srv, v1); code != 0 {
			t.Fatalf("v1: %+v", lines)
		}
		res, _ := fhirGet(t, srv.base, "/DocumentReference/WP-1-1", user, "")
		tag1 := res.Header.Get("ETag")
		if lines, code := submitWait(t, srv, v2); code != 0 {
			t.Fatalf("v2: %+v", lines)
		}
		for _, typ := range []string{"DocumentReference", "DiagnosticReport"} {
			if b := search(t, srv, user, typ, "pt-ccc"); b.Total != 0 {
				t.Errorf("%s search for the earlier patient finds %d", typ, b.Total)
			}
			b := search(t, srv, user, typ, "pt-ddd")
			if b.Total != 1 || b.Entry[0].Resource.ID != "WP-1-2" {
				t.Errorf("%s search for the new patient: %+v", typ, b)
			}
			res, body := fhirGet(t, srv.base, "/"+typ+"/WP-1-1", user, "")
			var r struct{ Status string }
			json.Unmarshal(body, &r)
			if res.StatusCode != 200 || r.Status != "entered-in-error" {
				t.Errorf("%s/WP-1-1 for audit: %d status %q, want 200 entered-in-error", typ, res.StatusCode, r.Status)
			}
		}
		if b := search(t, srv, user, "DocumentReference", "pt-ddd"); len(b.Entry) == 1 && b.Entry[0].Resource.Status != "current" {
			t.Errorf("WP-1-2 status %q, want current", b.Entry[0].Resource.Status)
		}
		if r := conditionalGet(t, srv, "/DocumentReference/WP-1-1", user, "", tag1); r.StatusCode != 200 {
			t.Errorf("entered-in-error DocumentReference with its old ETag: %d, want 200", r.StatusCode)
		}
		if res, _ := fhirGet(t, srv.base, "/Binary/pdf-WP-1-1", user, "application/pdf"); res.StatusCode != 200 {
			t.Errorf("user scope reading the earlier Binary for audit: %d", res.StatusCode)
		}
		pt := tokenFor(t, srv, "--patient", "pt-ccc", "--scope", "patient/Binary.read patient/DocumentReference.read patient/DiagnosticReport.read")
		for _, path := range []string{"/DocumentReference/WP-1-1", "/DiagnosticReport/WP-1-1", "/Binary/pdf-WP-1-1"} {
			if res, _ := fhirGet(t, srv.base, path, pt, ""); res.StatusCode != 404 {
				t.Errorf("pt-ccc's patient token reads %s: %d, want 404", path, res.StatusCode)
			}
		}
		if b := search(t, srv, pt, "DocumentReference", "pt-ccc"); b.Total != 0 {
			t.Errorf("pt-ccc's patient token finds %d", b.Total)
		}
		ptNew := tokenFor(t, srv, "--patient", "pt-ddd", "--scope", "patient/Binary.read patient/DocumentReference.read")
		if res, _ := fhirGet(t, srv.base, "/Binary/pdf-WP-1-2", ptNew, "application/pdf"); res.StatusCode != 200 {
			t.Errorf("pt-ddd reading their corrected report: %d", res.StatusCode)
		}
	})

	t.Run("stale ETag", func(t *testing.T) {
		v1 := writeReport(t, dir, "se1.json", specReport(t, func(r map[string]any) { r["id"] = "SE-1" }))
		if lines, code := submitWait(t, srv, v1); code != 0 {
			t.Fatalf("v1: %+v", lines)
		}
		res, _ := fhirGet(t, srv.base, "/DocumentReference/SE-1-1", user, "")
		tag := res.Header.Get("ETag")
		if r := conditionalGet(t, srv, "/DocumentReference/SE-1-1", user, "", tag); r.StatusCode != 304 {
			t.Fatalf("unchanged: %d, want 304", r.StatusCode)
		}
		// A thumbnail is added: the DocumentReference changed.
		if lines, code := submitWait(t, srv, "--outputs", "thumbnail", v1); code != 0 {
			t.Fatalf("thumbnail: %+v", lines)
		}
		r := conditionalGet(t, srv, "/DocumentReference/SE-1-1", user, "", tag)
		if r.StatusCode != 200 || r.Header.Get("ETag") == tag {
			t.Errorf("after a thumbnail was added: %d, ETag %s (was %s); want 200 and a new ETag", r.StatusCode, r.Header.Get("ETag"), tag)
		}
		tag = r.Header.Get("ETag")
		// Superseded.
		v2 := writeReport(t, dir, "se2.json", specReport(t, func(r map[string]any) {
			r["id"] = "SE-1"
			r["version"] = 2
			r["status"] = "amended"
			r["amendment"] = map[string]any{"reason": "Margin revised", "issued": "2026-11-21T09:00:00-05:00"}
		}))
		if lines, code := submitWait(t, srv, v2); code != 0 {
			t.Fatalf("v2: %+v", lines)
		}
		if r := conditionalGet(t, srv, "/DocumentReference/SE-1-1", user, "", tag); r.StatusCode != 200 {
			t.Errorf("after being superseded: %d, want 200", r.StatusCode)
		}
		// Raw bytes and the Binary resource have different ETags.
		rawRes, _ := fhirGet(t, srv.base, "/Binary/pdf-SE-1-1", user, "application/pdf")
		resRes, _ := fhirGet(t, srv.base, "/Binary/pdf-SE-1-1", user, "application/fhir+json")
		rawTag, resTag := rawRes.Header.Get("ETag"), resRes.Header.Get("ETag")
		if rawTag == resTag || strings.HasPrefix(rawTag, "W/") {
			t.Errorf("raw ETag %s, resource ETag %s: want a strong tag for the bytes, different from the resource's", rawTag, resTag)
		}
		if r := conditionalGet(t, srv, "/Binary/pdf-SE-1-1", user, "application/pdf", resTag); r.StatusCode != 200 {
			t.Errorf("bytes with the resource's ETag: %d, want 200", r.StatusCode)
		}
	})

	t.Run("corrupted large Binary is never a complete 200", func(t *testing.T) {
		big := writeReport(t, dir, "big.json", largeReport(t))
		lines, code := submitWait(t, srv, big)
		if code != 0 {
			t.Fatalf("large report: %+v", lines)
		}
		res, good := fhirGet(t, srv.base, "/Binary/pdf-BIG-1-1", user, "application/pdf")
		if res.StatusCode != 200 || len(good) <= 2<<20 {
			t.Fatalf("large Binary: %d, %d bytes; want 200 and more than 2 MiB (streamed)", res.StatusCode, len(good))
		}
		corruptBinary(t, srv, "pdf-BIG-1-1", good, len(good)-10)
		for _, accept := range []string{"application/pdf", "application/fhir+json"} {
			req, _ := http.NewRequest(http.MethodGet, srv.base+"/Binary/pdf-BIG-1-1", nil)
			req.Header.Set("Authorization", "Bearer "+user)
			req.Header.Set("Accept", accept)
			resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
			if err != nil {
				continue // refused before any response: fine
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode == 200 {
				t.Errorf("%s: a complete 200 of %d bytes with a flipped byte", accept, len(body))
			}
		}
		testutil.PollUntil(t, 10*time.Second, "the serve log to report the mismatch", func() bool {
			return strings.Contains(srv.log.String(), "do not match their digest")
		})
	})
}

// largeReport is a radiology report with six noise JPEGs (embedded as sent,
// about 0.5 MB each): its PDF is over 2 MiB, so the endpoint streams it.
func largeReport(t *testing.T) map[string]any {
	t.Helper()
	rng := rand.New(rand.NewSource(1))
	var secs []any
	for range 6 { // six different pictures: one picture shown twice is embedded once
		img := image.NewRGBA(image.Rect(0, 0, 1400, 900))
		for i := range img.Pix {
			img.Pix[i] = byte(rng.Intn(256))
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
			t.Fatal(err)
		}
		secs = append(secs, map[string]any{"kind": "image", "title": "Key image", "contentType": "image/jpeg",
			"data": base64.StdEncoding.EncodeToString(buf.Bytes()), "caption": "Noise"})
	}
	return map[string]any{"schema": "folio.report/v1", "id": "BIG-1", "version": 1, "kind": "radiology", "title": "CT Chest",
		"status": "final", "issued": "2026-11-20T14:03:00-05:00", "patient": patient("pt-big", "Big, Bob"),
		"exam":     map[string]any{"modality": "CT", "description": "CT chest", "performed": "2026-11-20T13:00:00-05:00"},
		"sections": secs}
}

// corruptBinary flips one byte of a stored Binary in the object store: its
// chunks are purged and published again with the byte changed, its info
// (size, digests) left as it was.
func corruptBinary(t *testing.T, srv *server, id string, data []byte, at int) {
	t.Helper()
	nc := connectAs(t, srv, broker.RoleAdmin)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	obs, err := js.ObjectStore(ctx, store.BucketBinaries)
	if err != nil {
		t.Fatal(err)
	}
	info, err := obs.GetInfo(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, "OBJ_"+store.BucketBinaries)
	if err != nil {
		t.Fatal(err)
	}
	subj := "$O." + store.BucketBinaries + ".C." + info.NUID
	if err := st.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(data)
	bad[at] ^= 0x01
	chunk := int(info.Opts.ChunkSize)
	for off := 0; off < len(bad); off += chunk {
		if _, err := js.Publish(ctx, subj, bad[off:min(off+chunk, len(bad))]); err != nil {
			t.Fatal(err)
		}
	}
}
