package hl7input_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliohealth/folio/input/hl7input"
	"github.com/foliohealth/folio/report"
)

// TestIdentifierVerbatim: OBR-3 (and, when it is empty, OBR-20 or ORC-3)
// becomes the report id and the accession as sent: fixtures/ids/hl7 has
// "/", spaces, "_", "#" and 199 characters. 200 characters, or a control
// character, are refused at OBR-3.1.
func TestIdentifierVerbatim(t *testing.T) {
	_, mapped := mapFile(t, filepath.Join("..", "..", "fixtures", "ids", "hl7", "ids.hl7"))
	var ids []string
	for _, m := range mapped {
		if m.Report.ID != m.Report.Accession {
			t.Errorf("id %q, accession %q: want both OBR-3 as sent", m.Report.ID, m.Report.Accession)
		}
		ids = append(ids, m.Report.ID)
	}
	got := strings.Join(ids, "|")
	for _, want := range []string{"S26/1234", "RAD 2026 1118", "FON_0d70c6c8", "ACC#77 B", "RAD/2026-77", "RAD-2026-77", "LIS/2026/000-001-"} {
		if !strings.Contains(got, want) {
			t.Errorf("no report id %q among %q", want, ids)
		}
	}

	msg := func(obr3, orc3 string) []byte {
		return []byte("MSH|^~\\&|LIS|LAB|FOLIO|LAB|20261120140300||ORU^R01|M1|P|2.5.1\r" +
			"PID|1||900001^^^LAB^MR||Doe^Jane||19610409|F\r" +
			"ORC|RE||" + orc3 + "\r" +
			"OBR|1||" + obr3 + "|88305^Surgical Pathology Report^CPT4|||20261118093000||||||||||||||20261120140100||SP|F\r" +
			"OBX|1|TX|22637-3^Final Diagnosis^LN||Benign.||||||F\r")
	}
	if _, m, err := hl7input.Parse(msg("", "ORC_7/1 #2"), hl7input.Site{}); err != nil || m[0].Report.ID != "ORC_7/1 #2" {
		t.Errorf("ORC-3 ORC_7/1 #2: %v, %+v", err, m)
	}
	for obr3, want := range map[string]string{
		strings.Repeat("9", 200): "200 characters long",
		"S26\\X07\\1":            "control character",
	} {
		_, _, err := hl7input.Parse(msg(obr3, ""), hl7input.Site{})
		var errs hl7input.Errors
		if !errors.As(err, &errs) || len(errs) == 0 || !strings.HasPrefix(errs[0].Loc.String(), "OBR^1^3") || !strings.Contains(errs[0].Text, want) {
			t.Errorf("OBR-3 %.20q...: %v, want refused at OBR^1^3 with %q", obr3, err, want)
		}
	}
}

// TestMRNVerbatim: a medical record number that is not a FHIR id (a
// device vendor's "MODEL:... /SERIAL:..." in the public nHapi test
// messages, an MRN with a space or a slash) is kept and printed as sent; the
// patient id is derived from it by report.Key, with a warning. An MRN that is
// a FHIR id is the patient id, as before.
func TestMRNVerbatim(t *testing.T) {
	msg := func(mrn string) []byte {
		return []byte("MSH|^~\\&|LIS|LAB|FOLIO|LAB|20261120140300||ORU^R01|M1|P|2.5.1\r" +
			"PID|1||" + mrn + "^^^LAB^MR||Doe^Jane||19610409|F\r" +
			"OBR|1||S26-1|88305^Surgical Pathology Report^CPT4|||20261118093000||||||||||||||20261120140100||SP|F\r" +
			"OBX|1|TX|22637-3^Final Diagnosis^LN||Benign.||||||F\r")
	}
	ids := map[string]bool{}
	for _, mrn := range []string{"MODEL:A3DR01 Advisa DR MRI/SERIAL:PZK600806S", "MRN 0012/7", "MRN-0012-7", "900001"} {
		_, m, err := hl7input.Parse(msg(mrn), hl7input.Site{})
		if err != nil {
			t.Fatalf("MRN %q: %v", mrn, err)
		}
		p := m[0].Report.Patient
		if p.MRN != mrn || p.ID != report.Key(mrn) {
			t.Errorf("MRN %q: patient %+v, want the MRN as sent and id %q", mrn, p, report.Key(mrn))
		}
		warned := strings.Contains(strings.Join(m[0].Warnings, "\n"), "PID^1^3^1^1: the medical record number is not a FHIR id")
		if derived := p.ID != mrn; warned != derived {
			t.Errorf("MRN %q: id %q, warnings %q: want a warning exactly when the id is derived", mrn, p.ID, m[0].Warnings)
		}
		if ids[p.ID] {
			t.Errorf("MRN %q: patient id %q is another MRN's", mrn, p.ID)
		}
		ids[p.ID] = true
	}
}

// TestDemographicsNotRequired: PID-8 as a word ("Female", as the public
// LinuxForHealth ORU tests send it) is read; a PID-8 outside table 0001
// and a PID-7 that is not a date (python-hl7's sample "196203520") are
// left out with a warning naming the field, not refused: the name and the
// MRN identify the patient.
func TestDemographicsNotRequired(t *testing.T) {
	msg := func(dob, sex string) []byte {
		return []byte("MSH|^~\\&|LIS|LAB|FOLIO|LAB|20261120140300||ORU^R01|M1|P|2.5.1\r" +
			"PID|1||900001^^^LAB^MR||Doe^Jane||" + dob + "|" + sex + "\r" +
			"OBR|1||S26-1|88305^Surgical Pathology Report^CPT4|||20261118093000||||||||||||||20261120140100||SP|F\r" +
			"OBX|1|TX|22637-3^Final Diagnosis^LN||Benign.||||||F\r")
	}
	for _, c := range []struct{ dob, sex, birth, gender, warn string }{
		{"19610409", "Female", "1961-04-09", "female", ""},
		{"19610409", "male", "1961-04-09", "male", ""},
		{"19610409", "X", "1961-04-09", "", `PID^1^8: administrative sex "X" is not in table 0001`},
		{"196203520", "F", "", "female", "PID^1^7: the birth date is not a date YYYYMMDD and is left out"},
	} {
		_, m, err := hl7input.Parse(msg(c.dob, c.sex), hl7input.Site{})
		if err != nil {
			t.Errorf("PID-7 %q PID-8 %q: %v", c.dob, c.sex, err)
			continue
		}
		p, w := m[0].Report.Patient, strings.Join(m[0].Warnings, "\n")
		if p.BirthDate != c.birth || p.Sex != c.gender {
			t.Errorf("PID-7 %q PID-8 %q: birth date %q sex %q, want %q %q", c.dob, c.sex, p.BirthDate, p.Sex, c.birth, c.gender)
		}
		if (c.warn == "") != !strings.Contains(w, "PID^1^") || !strings.Contains(w, c.warn) {
			t.Errorf("PID-7 %q PID-8 %q: warnings %q, want %q", c.dob, c.sex, w, c.warn)
		}
		if strings.Contains(w, "196203520") {
			t.Errorf("a warning repeats the birth date: %q", w)
		}
	}
}

// TestEDPDFWhateverTypeOfData: an ED whose subtype is PDF is the report's
// PDF whatever type of data the sender names (the public nHapi test
// messages send "^TX^PDF^Base64^", HL7 Australia's AUSPDI display PDF is
// "^TEXT^PDF^Base64^"); the bytes must still be a PDF, and a type/subtype
// that is neither PDF nor PNG/JPEG is still refused at OBX-5.2.
func TestEDPDFWhateverTypeOfData(t *testing.T) {
	pdf := []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
	msg := func(ed string) []byte {
		return []byte("MSH|^~\\&|LIS|LAB|FOLIO|LAB|20261120140300||ORU^R01|M1|P|2.5.1\r" +
			"PID|1||900001^^^LAB^MR||Doe^Jane||19610409|F\r" +
			"OBR|1||S26-1|88305^Surgical Pathology Report^CPT4|||20261118093000||||||||||||||20261120140100||SP|F\r" +
			"OBX|1|ED|PDF^Display format in PDF^AUSPDI||" + ed + "||||||F\r")
	}
	b64 := base64.StdEncoding.EncodeToString(pdf)
	for _, typ := range []string{"AP", "Application", "TEXT", "TX", "SD"} {
		_, m, err := hl7input.Parse(msg("^"+typ+"^PDF^Base64^"+b64), hl7input.Site{})
		if err != nil {
			t.Errorf("^%s^PDF^: %v", typ, err)
			continue
		}
		if !bytes.Equal(m[0].PDF, pdf) {
			t.Errorf("^%s^PDF^: the report's PDF is %q, want the bytes sent", typ, m[0].PDF)
		}
	}
	for ed, want := range map[string]string{
		"^TX^PDF^Base64^" + base64.StdEncoding.EncodeToString([]byte("not a pdf")): "OBX^1^5^1^5",
		"^TX^RTF^Base64^" + b64: "OBX^1^5^1^2",
	} {
		_, _, err := hl7input.Parse(msg(ed), hl7input.Site{})
		var errs hl7input.Errors
		if !errors.As(err, &errs) || errs[0].Loc.String() != want {
			t.Errorf("%.16s...: %v, want refused at %s", ed, err, want)
		}
	}
}

// TestServiceSectionAsWords: OBR-24 written as words ("Magnetic Resonance
// Imaging", a public HAPI test message with title "MRA Head w and w/o
// Contrast") decides the kind as a title's words do; was refused as
// "neither pathology nor imaging". A section that is neither stays refused.
func TestServiceSectionAsWords(t *testing.T) {
	msg := func(title, obr24 string) []byte {
		return []byte("MSH|^~\\&|RIS|RAD|FOLIO|RAD|20261120140300||ORU^R01|M1|P|2.5.1\r" +
			"PID|1||900001^^^LAB^MR||Doe^Jane||19610409|F\r" +
			"OBR|1||R26-1|70544^" + title + "^CPT4|||20261118093000||||||||||||||20261120140100|||" + obr24 + "|F\r" +
			"OBX|1|TX|X1^Result^L||No acute intracranial abnormality.||||||F\r")
	}
	for _, c := range []struct{ title, obr24 string }{
		{"Head study", "Magnetic Resonance Imaging"},
		{"MRA Head w and w/o Contrast", "XYZ"},
	} {
		_, m, err := hl7input.Parse(msg(c.title, c.obr24), hl7input.Site{})
		if err != nil || m[0].Report.Kind != report.KindRadiology {
			t.Errorf("title %q OBR-24 %q: %v, want a radiology report", c.title, c.obr24, err)
		}
	}
	if _, _, err := hl7input.Parse(msg("Head study", "Chemistry"), hl7input.Site{}); err == nil {
		t.Errorf("OBR-24 Chemistry: taken, want refused")
	}
}
