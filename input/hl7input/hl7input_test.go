package hl7input_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"

	"github.com/foliohealth/folio/hl7"
	"github.com/foliohealth/folio/input/hl7input"
	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/render"
	"github.com/foliohealth/folio/report"
)

var update = flag.Bool("update", false, "rewrite the golden files of fixtures/hl7")

const dir = "../../fixtures/hl7"

func fixtures(t testing.TB, sub string) []string {
	m, err := filepath.Glob(filepath.Join(dir, sub, "*.hl7"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no fixtures in %s: %v", sub, err)
	}
	return m
}

// mapFile maps every message of a fixture file.
func mapFile(t *testing.T, path string) ([]*hl7.Message, []hl7input.Mapped) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*hl7.Message
	var out []hl7input.Mapped
	for _, part := range hl7.Split(data) {
		m, mapped, err := hl7input.Parse(part, hl7input.Site{})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		msgs = append(msgs, m)
		out = append(out, mapped...)
	}
	return msgs, out
}

// TestGood maps every good fixture and compares the report JSON (one line
// per report, as folio convert prints it) with its golden file.
func TestGood(t *testing.T) {
	for _, f := range fixtures(t, "") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, mapped := mapFile(t, f)
			var b bytes.Buffer
			for _, m := range mapped {
				// As folio convert prints it: no HTML escaping.
				var lb bytes.Buffer
				enc := json.NewEncoder(&lb)
				enc.SetEscapeHTML(false)
				if err := enc.Encode(m.Report); err != nil {
					t.Fatal(err)
				}
				line := bytes.TrimSuffix(lb.Bytes(), []byte("\n"))
				b.Write(line)
				b.WriteByte('\n')
				// Every mapped report passes the contract's own decoder.
				if _, err := report.Decode(line, report.DefaultLimits()); err != nil && !m.Withdraw {
					t.Errorf("mapped report refused by report.Decode: %v", err)
				}
			}
			testutil.Golden(t, filepath.Join(dir, "..", "golden", "hl7", strings.TrimSuffix(filepath.Base(f), ".hl7")+".json"), b.Bytes(), *update)
		})
	}
}

// TestBad checks that every bad fixture is refused with its HL7 location,
// and compares the errors with their golden file.
func TestBad(t *testing.T) {
	for _, f := range fixtures(t, "bad") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = hl7input.Parse(data, hl7input.Site{})
			var es hl7input.Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("not refused (err %v)", err)
			}
			ack := "AE"
			if hl7input.IsRejection(err) {
				ack = "AR"
			}
			var b strings.Builder
			for _, e := range es {
				if e.Loc.Segment == "" || e.Text == "" {
					t.Errorf("error without a location or text: %+v", e)
				}
				fmt.Fprintf(&b, "%s %d %s\n", ack, e.Code, e.Error())
			}
			testutil.Golden(t, filepath.Join(dir, "..", "golden", "hl7", "bad", strings.TrimSuffix(filepath.Base(f), ".hl7")+".err"), []byte(b.String()), *update)
		})
	}
}

func TestStatusesAndKinds(t *testing.T) {
	_, mapped := mapFile(t, filepath.Join(dir, "prostate-sequence.hl7"))
	var got []string
	for _, m := range mapped {
		got = append(got, m.Report.ID+" "+m.ResultStatus+" "+m.Report.Status)
	}
	want := []string{"S26-007001 P preliminary", "S26-007001 F final", "S26-007001 C corrected"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("statuses %q, want %q", got, want)
	}
	if mapped[2].Report.Amendment == nil {
		t.Error("corrected report without an amendment")
	}
	if mapped[0].Report.Performers[0].SignedAt != nil {
		t.Error("a preliminary report shows a signature")
	}

	_, ct := mapFile(t, filepath.Join(dir, "ct-chest-tx.hl7"))
	if r := ct[0].Report; r.Kind != report.KindRadiology || r.Exam == nil || r.Exam.Modality != "CT" {
		t.Errorf("CT: kind %s exam %+v (OBR-24 is empty: the LOINC codes decide the kind, the title the modality)", r.Kind, r.Exam)
	}
	_, pdf := mapFile(t, filepath.Join(dir, "ed-pdf.hl7"))
	if !bytes.HasPrefix(pdf[0].PDF, []byte("%PDF-")) || len(pdf[0].Warnings) == 0 {
		t.Errorf("ED PDF: %d bytes, warnings %q", len(pdf[0].PDF), pdf[0].Warnings)
	}
	_, img := mapFile(t, filepath.Join(dir, "us-key-image.hl7"))
	found := false
	for _, s := range img[0].Report.Sections {
		found = found || s.Kind == report.SectionImage && s.ContentType == "image/png" && len(s.Data) > 0
	}
	if !found {
		t.Error("ED PNG did not become an image section")
	}
}

func TestWithdraw(t *testing.T) {
	data, _ := os.ReadFile(filepath.Join(dir, "prostate-sequence.hl7"))
	first := hl7.Split(data)[0]
	for _, st := range []string{"X", "W"} {
		msg := bytes.ReplaceAll(first, []byte("|SP|P|"), []byte("|SP|"+st+"|"))
		_, mapped, err := hl7input.Parse(msg, hl7input.Site{})
		if err != nil {
			t.Fatalf("%s: %v", st, err)
		}
		if !mapped[0].Withdraw || mapped[0].Report.ID != "S26-007001" {
			t.Errorf("%s: %+v", st, mapped[0])
		}
	}
}

func TestSiteTables(t *testing.T) {
	data, _ := os.ReadFile(filepath.Join(dir, "bad", "kind-unknown.hl7"))
	site := hl7input.Site{SenderKinds: map[string]string{"LIS|ELSEWHERE": report.KindAP}}
	_, mapped, err := hl7input.Parse(data, site)
	if err != nil || mapped[0].Report.Kind != report.KindAP {
		t.Fatalf("sender default: %v", err)
	}
	msg := bytes.Replace(data, []byte("||F\r"), []byte("|LPATH|F\r"), 1)
	site = hl7input.Site{ServiceKinds: map[string]string{"LPATH": report.KindAP}}
	if _, mapped, err = hl7input.Parse(msg, site); err != nil || mapped[0].Report.Kind != report.KindAP {
		t.Fatalf("local OBR-24 code: %v", err)
	}
}

// words splits decoded text into the words the PDF must hold.
func words(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) })
}

// TestEveryWordReachesThePDF renders every good fixture, checks each PDF
// with qpdf, the patient's name and MRN on every page, every word of every
// OBX value and NTE comment (decoded from the HL7 message itself, not from
// the mapped report) in the PDF's text layer, and compares the PDF and its
// pdftotext -layout text with their goldens.
func TestEveryWordReachesThePDF(t *testing.T) {
	testutil.NeedTools(t, "qpdf", "pdftotext")
	for _, f := range fixtures(t, "") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			msgs, mapped := mapFile(t, f)
			var want []string
			for _, m := range msgs {
				for _, s := range m.Segments {
					var vals []hl7.Value
					switch s.Name {
					case "NTE":
						vals = []hl7.Value{s.Field(3).Rep(1)}
					case "OBX":
						vt := s.Text(2, 1)
						f := s.Field(5)
						for i := 1; i <= f.Reps(); i++ {
							switch vt {
							case "ED":
							case "CE", "CWE":
								vals = append(vals, f.Rep(i).Comp(2))
							case "SN":
								vals = append(vals, f.Rep(i).Comp(2))
							default:
								vals = append(vals, f.Rep(i))
							}
						}
						if vt != "ED" {
							vals = append(vals, s.Field(6).Rep(1).Comp(1), s.Field(7).Rep(1))
						}
					}
					for _, v := range vals {
						txt, err := m.Text(v.Raw())
						if err != nil {
							t.Fatal(err)
						}
						want = append(want, words(txt)...)
					}
				}
			}
			var text string
			base := strings.TrimSuffix(filepath.Base(f), ".hl7")
			for i, mp := range mapped {
				name := base
				if len(mapped) > 1 {
					name = fmt.Sprintf("%s-%d", base, i+1)
				}
				if mp.PDF != nil {
					text += testutil.PDFToText(t, mp.PDF)
					continue
				}
				laid, err := render.Layout(mp.Report)
				if err != nil {
					t.Fatal(err)
				}
				pdf, err := laid.PDF()
				if err != nil {
					t.Fatal(err)
				}
				if err := testutil.QPDFCheck(t, pdf); err != nil {
					t.Fatal(err)
				}
				// Whose report it is, on every page.
				testutil.IdentityOnEveryPage(t, pdf, len(laid.Pages), mp.Report.Patient.Name, mp.Report.Patient.MRN, name)
				gdir := filepath.Join(dir, "..", "golden", "hl7")
				testutil.Golden(t, filepath.Join(gdir, name+".txt"), []byte(testutil.PDFToText(t, pdf, "-layout")), *update)
				testutil.Golden(t, filepath.Join(gdir, name+".pdf"), pdf, *update)
				// -layout keeps a table's rows together; the plain mode
				// keeps wrapped paragraphs together.
				text += testutil.PDFToText(t, pdf) + "\n" + testutil.PDFToText(t, pdf, "-layout")
			}
			all := testutil.Flat(text)
			for _, w := range want {
				if !strings.Contains(all, w) {
					t.Errorf("word %q of the message is missing from the PDF text", w)
				}
			}
		})
	}
}

// TestTXColumnsAligned renders the CT report sent as TX lines and checks
// with pdftotext -layout that every line of its measurement table comes
// out with exactly the spacing it was sent with.
func TestTXColumnsAligned(t *testing.T) {
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Fatal("pdftotext is needed (apt-get install poppler-utils)")
	}
	msgs, mapped := mapFile(t, filepath.Join(dir, "ct-chest-tx.hl7"))
	laid, err := render.Layout(mapped[0].Report)
	if err != nil {
		t.Fatal(err)
	}
	pdf, err := laid.PDF()
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Split(testutil.PDFToText(t, pdf, "-layout"), "\n")
	// Every table line (a line with a run of spaces) comes out with the
	// same words; each word's column in the output is a function of its
	// column in the message: words that start in the same column of the
	// message start in the same column of the PDF text, and a word further
	// right in the message is further right in the PDF.
	type word struct {
		text string
		col  int
	}
	split := func(line string) []word {
		var ws []word
		for i := 0; i < len(line); {
			if line[i] == ' ' {
				i++
				continue
			}
			j := i
			for j < len(line) && line[j] != ' ' {
				j++
			}
			ws = append(ws, word{line[i:j], len([]rune(line[:i]))})
			i = j
		}
		return ws
	}
	same := func(a, b []word) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i].text != b[i].text {
				return false
			}
		}
		return true
	}
	colMap := map[int]int{}
	rows := 0
	for _, s := range msgs[0].All("OBX") {
		line := s.Text(5, 1)
		if !strings.Contains(strings.TrimSpace(line), "  ") {
			continue
		}
		rows++
		src := split(line)
		var got []word
		for _, o := range out {
			if ws := split(o); same(ws, src) {
				got = ws
				break
			}
		}
		if got == nil {
			t.Errorf("table line %q is not a line of pdftotext -layout's output", line)
			continue
		}
		for i, w := range src {
			if c, ok := colMap[w.col]; ok && c != got[i].col {
				t.Errorf("word %q of %q starts in output column %d, other words of its message column %d start in %d", w.text, line, got[i].col, w.col, c)
			}
			colMap[w.col] = got[i].col
		}
	}
	if rows < 6 {
		t.Fatalf("only %d table lines found in the fixture", rows)
	}
	for a, ca := range colMap {
		for b, cb := range colMap {
			if a < b && ca >= cb {
				t.Errorf("message columns %d < %d come out at %d >= %d", a, b, ca, cb)
			}
		}
	}
}

// BenchmarkParseMap parses and maps the 40-OBX surgical pathology ORU
// (parse, map and validation against the report contract).
func BenchmarkParseMap(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(dir, "surgical-breast.hl7"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		if _, _, err := hl7input.Parse(data, hl7input.Site{}); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// cpuTime is the process's user+system CPU time. On a shared machine the
// wall-clock ns/op includes time other processes held the CPU; CPU time
// per message (all of this process's threads, garbage collection
// included) is the figure that says how many messages one core parses.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	per := float64(cpuTime()-start) / float64(b.N)
	b.ReportMetric(per, "cpu-ns/op")
	b.ReportMetric(1e9/per, "msgs/cpu-s")
}

// BenchmarkParse is the parser alone on the same message.
func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(dir, "surgical-breast.hl7"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		if _, err := hl7.Parse(data); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// FuzzMap: parsing and mapping never panic; a message accepted maps to
// reports that pass the contract's decoder.
func FuzzMap(f *testing.F) {
	for _, sub := range []string{"", "bad"} {
		m, _ := filepath.Glob(filepath.Join(dir, sub, "*.hl7"))
		for _, p := range m {
			data, _ := os.ReadFile(p)
			for _, part := range hl7.Split(data) {
				f.Add(part)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, mapped, err := hl7input.Parse(data, hl7input.Site{})
		if err != nil {
			var es hl7input.Errors
			if !errors.As(err, &es) {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		for _, m := range mapped {
			if m.Withdraw {
				continue
			}
			b, err := json.Marshal(m.Report)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := report.Decode(b, report.DefaultLimits()); err != nil {
				t.Fatalf("accepted message maps to an invalid report: %v", err)
			}
		}
	})
}

// BenchmarkContractCheck is the part of BenchmarkParseMap that checks the
// mapped report against the report v1 contract, measured alone on the same
// report: report.Check (what Map runs) side by side with the way it was
// done before, encoding the report with encoding/json and running
// report.Decode on it (same answer, see report.TestCheckIsDecode).
func BenchmarkContractCheck(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(dir, "surgical-breast.hl7"))
	if err != nil {
		b.Fatal(err)
	}
	_, mapped, err := hl7input.Parse(data, hl7input.Site{})
	if err != nil {
		b.Fatal(err)
	}
	r := mapped[0].Report
	b.Run("Check", func(b *testing.B) {
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			if _, err := report.Check(r, report.DefaultLimits()); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu)
	})
	b.Run("EncodeDecode", func(b *testing.B) {
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			js, err := json.Marshal(r)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := report.Decode(js, report.DefaultLimits()); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu)
	})
}
