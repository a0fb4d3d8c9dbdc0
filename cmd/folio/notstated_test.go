package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliohealth/folio/internal/testutil"
)

// TestRenderNotStated renders fixtures/notstated (report v1 documents
// that leave out what the contract once required: a radiology report's
// exam or modality, an AP report's accession, an amended report's
// amendment) with `folio render`: each renders (issue 18), its PDF reads
// "not stated" where the value is missing, and its warnings name the
// field path.
func TestRenderNotStated(t *testing.T) {
	want := map[string]struct{ warning, text string }{
		"radiology-no-modality":       {"exam.modality: not stated", "Exam: not stated · not stated · not stated"},
		"radiology-without-exam":      {"exam: not stated", "Exam: not stated · not stated · not stated"},
		"exam-performed-missing":      {"exam.performed: not stated", "CT chest with IV contrast · not stated"},
		"ap-without-accession":        {"accession: not stated", ""},
		"amended-without-amendment":   {"amendment: not stated", "when and why not stated"},
		"corrected-without-amendment": {"amendment: not stated", "when and why not stated"},
		"amendment-reason-empty":      {"amendment.reason: not stated", "Reason: not stated"},
		"performer-role-missing":      {"performers[0].role: not stated", "Electronically signed by J. Okafor, MD on"},
		"title-missing":               {"title: not stated", "Pathology Report Patient: Doe, Jane"},
		"title-empty":                 {"title: not stated", "Pathology Report Patient: Doe, Jane"},
	}
	seen := map[string]bool{}
	n := renderDir(t, filepath.Join(fixturesDir, "notstated"), func(rl renderLine, pdf []byte) {
		name := strings.TrimSuffix(filepath.Base(rl.Input), ".json")
		w, ok := want[name]
		if !ok {
			t.Errorf("%s: a fixture this test has no expectation for", name)
			return
		}
		seen[name] = true
		if !strings.Contains(strings.Join(rl.Warnings, "\n"), w.warning) {
			t.Errorf("%s: warnings %q, want one containing %q", name, rl.Warnings, w.warning)
		}
		text := strings.Join(strings.Fields(testutil.PDFToText(t, pdf)), " ")
		if w.text != "" && !strings.Contains(text, w.text) {
			t.Errorf("%s: the PDF does not read %q:\n%s", name, w.text, text)
		}
	})
	if n != len(want) || len(seen) != len(want) {
		t.Errorf("rendered %d fixtures (%d expected), want %d", n, len(seen), len(want))
	}
}

// notStatedInputs are the FHIR and HL7 v2 fixtures written for issue 18:
// what each PDF must read (pdftotext, whitespace collapsed) and the
// warnings each must carry.
var notStatedInputs = []struct {
	file     string
	words    []string
	warnings []string
}{
	// A VA-style radiology DiagnosticReport: category RAD, LOINC 18748-4,
	// the report only in presentedForm (text/plain), no modality anywhere,
	// no effective time.
	{"fhir/notstated/va-radiology-presentedform.json",
		[]string{"Exam: not stated · Diagnostic imaging study · not stated",
			"IMPRESSION: No acute cardiopulmonary abnormality."},
		[]string{"exam.modality: not stated", "exam.performed: not stated"}},
	{"fhir/notstated/radiology-without-modality.json",
		[]string{"Exam: not stated ·"},
		[]string{"exam.modality: not stated"}},
	// A DiagnosticReport without code (R4 requires one): the kind's title.
	{"fhir/notstated/code-missing.json",
		[]string{"Pathology Report Patient: Okonkwo, Adaeze"},
		[]string{"DiagnosticReport.code: not stated"}},
	// A Bundle whose Media carries modality as one CodeableConcept (R4).
	{"fhir/notstated/bundle-media-modality.json",
		[]string{"Exam: CT · CT Chest · 2026-11-23", "Key image: axial, lower lobes", "No pulmonary embolism."},
		nil},
	// An ORU^R01 without OBR-24 (modality), OBR-7 (exam time), birth date
	// or sex.
	{"hl7/notstated/no-modality-no-exam-time.hl7",
		[]string{"Exam: not stated · Imaging study · not stated", "No acute cardiopulmonary process."},
		[]string{"exam.modality: not stated", "exam.performed: not stated"}},
}

// checkNotStated checks one rendered notStatedInputs PDF and its warnings.
func checkNotStated(t *testing.T, input string, pdf []byte, warnings []string) {
	t.Helper()
	for _, in := range notStatedInputs {
		if !strings.HasSuffix(filepath.ToSlash(input), in.file) {
			continue
		}
		text := strings.Join(strings.Fields(testutil.PDFToText(t, pdf)), " ")
		for _, w := range in.words {
			if !strings.Contains(text, w) {
				t.Errorf("%s: the PDF does not read %q:\n%s", in.file, w, text)
			}
		}
		all := strings.Join(warnings, "\n")
		for _, w := range in.warnings {
			if !strings.Contains(all, w) {
				t.Errorf("%s: warnings %q, want %q", in.file, warnings, w)
			}
		}
		if len(in.warnings) == 0 && strings.Contains(all, "not stated") {
			t.Errorf("%s: warnings %q say not stated", in.file, warnings)
		}
		return
	}
	t.Errorf("%s: no expectation for this input", input)
}

// TestRenderFHIRHL7NotStated renders the FHIR and HL7 v2 fixtures of
// issue 18 with `folio render` (each was refused before, or is new): a
// radiology report without modality or exam time reads "not stated", and
// its warnings name the path.
func TestRenderFHIRHL7NotStated(t *testing.T) {
	n := 0
	for _, dir := range []string{"fhir", "hl7"} {
		n += renderDir(t, filepath.Join(fixturesDir, dir, "notstated"), func(rl renderLine, pdf []byte) {
			checkNotStated(t, rl.Input, pdf, rl.Warnings)
		})
	}
	if n != len(notStatedInputs) {
		t.Errorf("rendered %d reports, want %d", n, len(notStatedInputs))
	}
}

// TestE2ENotStatedSubmit sends the same fixtures with `folio submit` to a
// real `folio serve` and reads the served PDFs back through the FHIR
// endpoint: the same words and warnings, and the same bytes as `folio
// render` makes.
func TestE2ENotStatedSubmit(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary: not in -short mode")
	}
	srv := startServe(t)
	var inputs []string
	for _, in := range notStatedInputs {
		inputs = append(inputs, filepath.Join(fixturesDir, filepath.FromSlash(in.file)))
	}
	res := runFolio(t, append([]string{"submit", "--wait", "--timeout", "120s", "--nats-url", srv.natsURL, "--data", srv.data}, inputs...)...)
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
		checkNotStated(t, l.Input, body, l.Warnings)
		local := filepath.Join(out, filepath.Base(l.Input)+".pdf")
		if r := runFolio(t, "render", "-o", local, l.Input); r.code != 0 {
			t.Fatalf("folio render %s: %s", l.Input, r.stderr)
		}
		if want, _ := os.ReadFile(local); !bytes.Equal(body, want) {
			t.Errorf("%s: the served PDF is not the PDF folio render makes of the file", l.Input)
		}
	}
}
