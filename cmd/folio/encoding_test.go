package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foliohealth/folio/internal/testutil"
)

// TestEncodingEveryWayIn (issue 18): one windows-1252 message labelled
// 8859/1 (MSH-18), with a patient name, é, curly quotes, an en dash and a
// euro sign, through every way in: folio render; folio convert, then
// render of its report JSON; folio submit to a real folio serve; and
// mllp_send (Debian python3-hl7) to another folio serve --mllp, with a
// byte order mark before MSH. The served PDFs, read over the FHIR
// endpoint, are byte for byte the PDF folio render writes, and pdftotext
// reads the sender's letters back from it. Report v1 and FHIR JSON after a
// byte order mark render and serve as the files without it.
func TestEncodingEveryWayIn(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary: not in -short mode")
	}
	fixture, err := filepath.Abs(filepath.Join("..", "..", "fixtures", "hl7", "cp1252-8859-1.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(msg, []byte("|8859/1\r")) || !bytes.Contains(msg, []byte("Dubois-Laurent^H\xe9l\xe8ne")) || !bytes.Contains(msg, []byte("\x93pas de g\xeane\x94")) {
		t.Fatal("the fixture is not the windows-1252 message labelled 8859/1 this test is about")
	}
	const binary = "pdf-C26-HE0878-1"
	pdfs := map[string][]byte{}

	// folio render.
	out := t.TempDir()
	if res := runFolio(t, "render", "-o", out, fixture); res.code != 0 {
		t.Fatalf("folio render: exit %d\n%s", res.code, res.stderr)
	}
	pdfs["render"] = readPDF(t, out)

	// folio convert, then render of its report JSON.
	res := runFolio(t, "convert", fixture)
	if res.code != 0 {
		t.Fatalf("folio convert: exit %d\n%s", res.code, res.stderr)
	}
	conv := filepath.Join(t.TempDir(), "converted.json")
	if err := os.WriteFile(conv, []byte(res.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	out = t.TempDir()
	if res := runFolio(t, "render", "-o", out, conv); res.code != 0 {
		t.Fatalf("folio render of the converted report: exit %d\n%s", res.code, res.stderr)
	}
	pdfs["convert+render"] = readPDF(t, out)

	// folio submit to folio serve.
	srv := startServe(t)
	res = runFolio(t, "submit", "--wait", "--timeout", "90s", "--nats-url", srv.natsURL, "--data", srv.data, fixture)
	if lines := parseSubmit(t, res.stdout); res.code != 0 || len(lines) != 1 || lines[0].Status != "done" {
		t.Fatalf("folio submit: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	pdfs["submit"] = servedPDF(t, srv, binary)

	// JSON after a byte order mark (fixtures/bom): folio render writes the
	// PDF it writes for the file without the BOM, and folio submit's jobs
	// serve that PDF.
	for name, c := range map[string]struct{ orig, id string }{
		"report.json":      {"cytology-thyroid-fna.json", "pdf-C26-001327-1"},
		"fhir-bundle.json": {filepath.Join("fhir", "ct-chest-collection.json"), "pdf-R26-118822-1"},
		"fhir-report.json": {filepath.Join("fhir", "vista-plain-prostate.json"), "pdf-SP-26-1234-1"},
	} {
		bom, _ := filepath.Abs(filepath.Join("..", "..", "fixtures", "bom", name))
		orig := filepath.Join("..", "..", "fixtures", c.orig)
		var got [2][]byte
		for i, f := range []string{orig, bom} {
			out := t.TempDir()
			if res := runFolio(t, "render", "-o", out, f); res.code != 0 {
				t.Fatalf("folio render %s: exit %d\n%s", f, res.code, res.stderr)
			}
			got[i] = readPDF(t, out)
		}
		if !bytes.Equal(got[0], got[1]) {
			t.Errorf("%s: folio render's PDF differs from the one of %s", name, c.orig)
		}
		res := runFolio(t, "submit", "--wait", "--timeout", "90s", "--nats-url", srv.natsURL, "--data", srv.data, bom)
		if lines := parseSubmit(t, res.stdout); res.code != 0 || len(lines) != 1 || lines[0].Status != "done" {
			t.Fatalf("folio submit %s: exit %d\n%s\n%s", name, res.code, res.stdout, res.stderr)
		}
		if served := servedPDF(t, srv, c.id); !bytes.Equal(served, got[0]) {
			t.Errorf("%s: the served %s (%d bytes) differs from folio render's PDF (%d bytes)", name, c.id, len(served), len(got[0]))
		}
	}

	// mllp_send to folio serve --mllp, a byte order mark before MSH.
	mllpAddr := freeAddr(t)
	srv2 := startServeIn(t, t.TempDir(), freeAddr(t), freeAddr(t), "--mllp", mllpAddr)
	testutil.PollUntil(t, 30*time.Second, "the ready banner naming the MLLP address", func() bool {
		return strings.Contains(srv2.log.String(), "HL7 v2 (MLLP)   "+mllpAddr)
	})
	acks := mllpSend(t, mllpAddr, [][]byte{append([]byte("\xef\xbb\xbf"), bytes.TrimRight(msg, "\r\n")...)})
	if code, ctrl := msa(acks[0]); code != "AA" || ctrl != "HE-2026-0878" {
		t.Fatalf("MLLP: %s for control id %q, want AA for HE-2026-0878 (ERR %q)", code, ctrl, errText(acks[0]))
	}
	pdfs["mllp"] = servedPDF(t, srv2, binary)

	for way, pdf := range pdfs {
		if !bytes.Equal(pdf, pdfs["render"]) {
			t.Errorf("%s: the PDF (%d bytes) differs from folio render's (%d bytes)", way, len(pdf), len(pdfs["render"]))
		}
		text := testutil.PDFToText(t, pdf)
		for _, want := range []string{"Dubois-Laurent, Hélène", "Catégorie Bethesda II : bénin – nodule colloïde.", "“pas de gêne”…", "42 € – réglés", "Jürgen Größer"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s: pdftotext does not read %q", way, want)
			}
		}
		if strings.ContainsRune(text, '\uFFFD') || strings.Contains(text, "Ã") {
			t.Errorf("%s: the PDF holds letters nobody wrote (U+FFFD or Ã)", way)
		}
	}
}

// readPDF returns the one PDF folio render wrote to dir.
func readPDF(t *testing.T, dir string) []byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.pdf"))
	if len(files) != 1 {
		t.Fatalf("%d PDFs in %s, want 1", len(files), dir)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// servedPDF reads Binary id of srv as application/pdf over the FHIR
// endpoint, waiting for it to be stored.
func servedPDF(t *testing.T, srv *server, id string) []byte {
	t.Helper()
	tok := strings.TrimSpace(runFolio(t, "token", "--data", srv.data, "--scope", e2eScope).stdout)
	var body []byte
	testutil.PollUntil(t, 90*time.Second, "Binary "+id, func() bool {
		resp, b := fhirGet(t, srv.base, "/Binary/"+id, tok, "application/pdf")
		body = b
		return resp.StatusCode == 200 && bytes.HasPrefix(b, []byte("%PDF-"))
	})
	return body
}
