package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/report"
)

// idsDir holds the identifier fixtures of issue 18 (fixtures/ids/make.py):
// report JSON and one HL7 file of the same reports.
const idsDir = "../../fixtures/ids"

// jobIDRule is the job id rule (queue.Job): also a NATS message id.
var jobIDRule = regexp.MustCompile(`^[A-Za-z0-9_=-][A-Za-z0-9_=.-]{0,127}$`)

// idCase is one report of fixtures/ids: its identifier as sent, its
// patient (the report's patient id for JSON, the MRN for HL7, which folio
// takes as the patient id) and a diagnosis printed only on its PDF.
type idCase struct {
	file, id, patient, mrn, dx string
}

// idCases reads the report JSON fixtures of fixtures/ids.
func idCases(t *testing.T) []idCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(idsDir, "*.json"))
	if err != nil || len(files) != 7 {
		t.Fatalf("fixtures/ids: %d report fixtures (%v), want 7: run python3 fixtures/ids/make.py", len(files), err)
	}
	sort.Strings(files)
	var cs []idCase
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := report.Decode(b, report.DefaultLimits())
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		cs = append(cs, idCase{file: f, id: r.ID, patient: r.Patient.ID, mrn: r.Patient.MRN, dx: r.Sections[0].Body})
	}
	return cs
}

// checkPrinted checks that a report's PDF prints its identifier as sent
// and its own diagnosis, and no other report's diagnosis.
func checkPrinted(t *testing.T, what string, pdf []byte, c idCase, all []idCase) {
	t.Helper()
	text := testutil.PDFToText(t, pdf)
	// Short identifiers are on one line, spaces and all; the 199-character
	// one wraps in the identity block (and the footer cuts it), so it is
	// compared with the line breaks taken out.
	if len(c.id) < 60 {
		if !strings.Contains(text, c.id) {
			t.Errorf("%s: the PDF does not print the identifier %q verbatim:\n%s", what, c.id, text)
		}
	} else if !strings.Contains(strings.ReplaceAll(text, "\n", ""), c.id) {
		t.Errorf("%s: the PDF does not print the %d-character identifier verbatim:\n%s", what, len(c.id), text)
	}
	flat := testutil.Flat(text)
	for _, o := range all {
		has := strings.Contains(flat, testutil.Flat(o.dx))
		if o.id == c.id && !has {
			t.Errorf("%s: its diagnosis %q is not printed", what, o.dx)
		}
		if o.id != c.id && has {
			t.Errorf("%s: prints %q, the diagnosis of report %q", what, o.dx, o.id)
		}
	}
}

// TestIDFixturesKeys checks the fixtures are what they claim: identifiers
// that were refused before (none is its own key), one of 199 characters,
// and the look-alike pair with two keys.
func TestIDFixturesKeys(t *testing.T) {
	keys := map[string]string{}
	long := false
	for _, c := range idCases(t) {
		k := report.Key(c.id)
		if k == c.id && c.id != "RAD-2026-77" { // the plain look-alike keeps its id
			t.Errorf("%s: identifier %q is a plain id: not a fixture of this issue", c.file, c.id)
		}
		if o, ok := keys[k]; ok {
			t.Errorf("%q and %q share the key %s", o, c.id, k)
		}
		keys[k] = c.id
		long = long || len([]rune(c.id)) == report.MaxIdentifier
	}
	if !long {
		t.Errorf("no fixture identifier of %d characters", report.MaxIdentifier)
	}
	if _, ok := keys[report.Key("RAD/2026-77")]; !ok {
		t.Error("no RAD/2026-77 fixture")
	}
	if _, ok := keys[report.Key("RAD-2026-77")]; !ok {
		t.Error("no RAD-2026-77 fixture")
	}
}

// TestE2EIdentifiers: reports whose identifiers hold "/", spaces, "_", "#",
// 199 characters, and the look-alikes RAD/2026-77 and RAD-2026-77 of two
// patients, through folio render, folio submit (report JSON and HL7) and
// MLLP (mllp_send) to a real folio serve, read back over FHIR: each patient
// finds exactly their own report, the identifier as sent in the FHIR
// identifier and on the PDF, the resource ids derived by report.Key.
func TestE2EIdentifiers(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary: not in -short mode")
	}
	cases := idCases(t)
	hl7File, err := filepath.Abs(filepath.Join(idsDir, "hl7", "ids.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	// The same reports as HL7: the MRN is the patient id.
	hl7Cases := make([]idCase, len(cases))
	for i, c := range cases {
		c.patient = c.mrn
		hl7Cases[i] = c
	}

	t.Run("render", func(t *testing.T) {
		byFile := map[string]idCase{}
		for _, c := range cases {
			byFile[filepath.Base(c.file)] = c
		}
		n := renderDir(t, idsDir, func(rl renderLine, pdf []byte) {
			c, ok := byFile[filepath.Base(rl.Input)]
			if !ok {
				t.Errorf("render printed a line for %s", rl.Input)
				return
			}
			checkPrinted(t, "render "+filepath.Base(rl.Input), pdf, c, cases)
		})
		if n != len(cases) {
			t.Errorf("render: %d outputs for %d fixtures", n, len(cases))
		}
		byID := map[string]idCase{}
		for _, c := range hl7Cases {
			byID[c.id] = c
		}
		seen := map[string]bool{}
		n = renderDir(t, hl7File, func(rl renderLine, pdf []byte) {
			c, ok := byID[rl.Report]
			if !ok {
				t.Errorf("render %s: report %q is none of the fixtures' identifiers", rl.Output, rl.Report)
				return
			}
			seen[c.id] = true
			if want := "ids-" + report.Key(c.id) + ".pdf"; filepath.Base(rl.Output) != want {
				t.Errorf("render: report %q written to %s, want %s", c.id, rl.Output, want)
			}
			checkPrinted(t, "render HL7 "+c.id, pdf, c, hl7Cases)
		})
		if n != len(hl7Cases) || len(seen) != len(hl7Cases) {
			t.Errorf("render HL7: %d outputs, %d identifiers, for %d messages", n, len(seen), len(hl7Cases))
		}
	})

	t.Run("submit report JSON", func(t *testing.T) {
		srv := startServe(t)
		var files []string
		for _, c := range cases {
			files = append(files, c.file)
		}
		lines := submitAll(t, srv, files, len(cases))
		checkServed(t, srv, cases)
		// folio job shows the identifier as sent beside the derived record.
		for _, l := range lines {
			if filepath.Base(l.Input) != "lookalike-slash.json" {
				continue
			}
			res := runFolio(t, "job", "--nats-url", srv.natsURL, "--data", srv.data, l.JobID)
			if res.code != 0 || !regexp.MustCompile(`(?m)^identifier +RAD/2026-77$`).MatchString(res.stdout) ||
				!strings.Contains(res.stdout, report.Key("RAD/2026-77")+"-1") {
				t.Errorf("folio job %s: exit %d, want the identifier RAD/2026-77 and record %s-1:\n%s%s", l.JobID, res.code, report.Key("RAD/2026-77"), res.stdout, res.stderr)
			}
		}
	})

	t.Run("submit HL7", func(t *testing.T) {
		srv := startServe(t)
		submitAll(t, srv, []string{hl7File}, len(hl7Cases))
		checkServed(t, srv, hl7Cases)
	})

	t.Run("MLLP", func(t *testing.T) {
		mllpAddr := freeAddr(t)
		srv := startServeIn(t, t.TempDir(), freeAddr(t), freeAddr(t), "--mllp", mllpAddr)
		testutil.PollUntil(t, 30*time.Second, "the ready banner naming the MLLP address", func() bool {
			return strings.Contains(srv.log.String(), "HL7 v2 (MLLP)   "+mllpAddr)
		})
		names, msgs := fixtureMessages(t, hl7File)
		for i, a := range mllpSend(t, mllpAddr, msgs) {
			if code, _ := msa(a); code != "AA" {
				t.Errorf("%s: %s, want AA (ERR %q)", names[i], code, errText(a))
			}
		}
		checkServed(t, srv, hl7Cases)
	})
}

// submitAll runs folio submit --wait over inputs, checks that want jobs
// ended done, each with Binary ids that are FHIR ids, and returns its lines.
func submitAll(t *testing.T, srv *server, inputs []string, want int) []submitOut {
	t.Helper()
	res := runFolio(t, append([]string{"submit", "--wait", "--timeout", "120s", "--nats-url", srv.natsURL, "--data", srv.data}, inputs...)...)
	if res.code != 0 {
		t.Fatalf("folio submit: exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	lines := parseSubmit(t, res.stdout)
	if len(lines) != want {
		t.Fatalf("folio submit printed %d lines for %d reports:\n%s", len(lines), want, res.stdout)
	}
	for _, l := range lines {
		if l.Status != "done" || len(l.Binaries) == 0 {
			t.Errorf("%s: job %s status %q error %q, want done with Binaries", l.Input, l.JobID, l.Status, l.Error)
		}
		if !jobIDRule.MatchString(l.JobID) {
			t.Errorf("%s: job id %q", l.Input, l.JobID)
		}
		for _, b := range l.Binaries {
			if !fhirID.MatchString(b.ID) {
				t.Errorf("%s: Binary id %q breaks the FHIR id rule", l.Input, b.ID)
			}
		}
	}
	return lines
}

// checkServed reads every case's patient over the FHIR endpoint: exactly
// one DocumentReference, with the id report.Key gives, the identifier as
// sent in its FHIR identifiers (and the DiagnosticReport's), and a PDF that
// prints it.
func checkServed(t *testing.T, srv *server, cases []idCase) {
	t.Helper()
	tok := strings.TrimSpace(runFolio(t, "token", "--data", srv.data, "--scope",
		"user/Binary.read user/DocumentReference.read user/DiagnosticReport.read").stdout)
	type ident struct{ System, Value string }
	type resource struct {
		ResourceType string  `json:"resourceType"`
		ID           string  `json:"id"`
		Identifier   []ident `json:"identifier"`
		Subject      struct {
			Reference string `json:"reference"`
		} `json:"subject"`
		Content []struct {
			Attachment struct {
				URL         string `json:"url"`
				ContentType string `json:"contentType"`
			} `json:"attachment"`
		} `json:"content"`
	}
	hasIDs := func(what string, r resource, c idCase) {
		want := map[ident]bool{{"urn:folio:report", c.id + "|1"}: false, {"urn:folio:accession", c.id}: false}
		for _, i := range r.Identifier {
			if _, ok := want[i]; ok {
				want[i] = true
			}
		}
		for i, ok := range want {
			if !ok {
				t.Errorf("%s: no identifier %s|%q among %+v", what, i.System, i.Value, r.Identifier)
			}
		}
	}
	for _, c := range cases {
		key := report.Key(c.id)
		var bundle struct {
			Entry []struct {
				Resource resource `json:"resource"`
			} `json:"entry"`
		}
		path := "/DocumentReference?patient=" + url.QueryEscape(c.patient)
		testutil.PollUntil(t, 120*time.Second, "the DocumentReference of patient "+c.patient, func() bool {
			resp, body := fhirGet(t, srv.base, path, tok, "application/fhir+json")
			return resp.StatusCode == http.StatusOK && json.Unmarshal(body, &bundle) == nil && len(bundle.Entry) > 0
		})
		if len(bundle.Entry) != 1 {
			t.Errorf("patient %s: %d DocumentReferences, want exactly their one report %q", c.patient, len(bundle.Entry), c.id)
			continue
		}
		dr := bundle.Entry[0].Resource
		what := "DocumentReference/" + dr.ID + " (" + c.id + ")"
		if dr.ID != key+"-1" || !fhirID.MatchString(dr.ID) {
			t.Errorf("%s: id, want %s-1 (report.Key of the identifier)", what, key)
		}
		if dr.Subject.Reference != "Patient/"+c.patient {
			t.Errorf("%s: subject %q, want Patient/%s", what, dr.Subject.Reference, c.patient)
		}
		hasIDs(what, dr, c)
		resp, body := fhirGet(t, srv.base, "/DiagnosticReport/"+dr.ID, tok, "application/fhir+json")
		var diag resource
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &diag) != nil {
			t.Errorf("GET DiagnosticReport/%s: %s %.300s", dr.ID, resp.Status, body)
		} else {
			hasIDs("DiagnosticReport/"+dr.ID, diag, c)
		}
		pdfID := ""
		for _, ct := range dr.Content {
			if ct.Attachment.ContentType == "application/pdf" {
				pdfID = ct.Attachment.URL[strings.LastIndexByte(ct.Attachment.URL, '/')+1:]
			}
		}
		if pdfID != "pdf-"+key+"-1" {
			t.Errorf("%s: PDF attachment Binary %q, want pdf-%s-1", what, pdfID, key)
			continue
		}
		resp, pdf := fhirGet(t, srv.base, "/Binary/"+pdfID, tok, "application/pdf")
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET Binary/%s: %s", pdfID, resp.Status)
			continue
		}
		checkPrinted(t, "served Binary/"+pdfID, pdf, c, cases)
	}
}
