package input

import (
	"errors"
	"testing"

	"github.com/foliohealth/folio/report"
)

func TestDetect(t *testing.T) {
	for in, want := range map[string]Kind{
		`{"resourceType":"Bundle","type":"collection"}`:  FHIR,
		` {"meta":{},"resourceType":"DiagnosticReport"}`: FHIR,
		`{"schema":"folio.report/v1"}`:                   Report,
		`{"resourceType":42}`:                            Report,
		`MSH|^~\&|`:                                      HL7,
		``:                                               Report,
		`{"resource":{"resourceType":"DiagnosticReport"}}`: Report,
	} {
		if got := Detect([]byte(in)); got != want {
			t.Errorf("Detect(%q) = %s, want %s", in, got, want)
		}
	}
}

// Map refuses with the adapter's paths: report v1 paths for report JSON,
// FHIR paths for FHIR.
func TestMapPaths(t *testing.T) {
	_, err := Map(Report, []byte(`{"schema":"folio.report/v1"}`), Options{})
	var fe report.Errors
	if !errors.As(err, &fe) || fe[0].Path != "id" {
		t.Errorf("report: %v", err)
	}
	_, err = Map(FHIR, []byte(`{"resourceType":"DiagnosticReport","status":"final"}`), Options{})
	if !errors.As(err, &fe) || fe[0].Path[:16] != "DiagnosticReport" {
		t.Errorf("fhir: %v", err)
	}
}

// ContentDigest ignores the version and counts the sender's PDF.
func TestContentDigest(t *testing.T) {
	r := &report.Report{ID: "S1", Version: 1, Title: "A"}
	r2 := *r
	r2.Version = 7
	if ContentDigest(r, nil) != ContentDigest(&r2, nil) {
		t.Error("the version changed the digest")
	}
	if ContentDigest(r, nil) == ContentDigest(r, []byte("%PDF-1.4")) || ContentDigest(r, []byte("%PDF-1.4 a")) == ContentDigest(r, []byte("%PDF-1.4 b")) {
		t.Error("the sender's PDF does not count")
	}
	r2.Title = "B"
	if ContentDigest(r, nil) == ContentDigest(&r2, nil) {
		t.Error("a changed title kept the digest")
	}
	if d := ContentDigest(r, nil); len(d) != 71 || d[:7] != "sha256:" {
		t.Errorf("digest %q", d)
	}
}
