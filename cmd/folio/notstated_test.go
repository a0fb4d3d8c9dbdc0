package main

import (
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

// TestRenderFHIRNotStated: a radiology DiagnosticReport with no modality
// anywhere renders through `folio render` (it was refused), the PDF
// reading the modality as not stated and the warnings naming the path.
func TestRenderFHIRNotStated(t *testing.T) {
	n := renderDir(t, filepath.Join(fixturesDir, "fhir", "notstated"), func(rl renderLine, pdf []byte) {
		if !strings.Contains(strings.Join(rl.Warnings, "\n"), "exam.modality: not stated") {
			t.Errorf("%s: warnings %q, want exam.modality: not stated", rl.Input, rl.Warnings)
		}
		if text := strings.Join(strings.Fields(testutil.PDFToText(t, pdf)), " "); !strings.Contains(text, "Exam: not stated ·") {
			t.Errorf("%s: the PDF does not read the modality as not stated:\n%s", rl.Input, text)
		}
	})
	if n != 1 {
		t.Errorf("rendered %d reports, want 1", n)
	}
}
