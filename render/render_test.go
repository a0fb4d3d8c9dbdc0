package render_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/render"
	"github.com/foliohealth/folio/render/layout"
	"github.com/foliohealth/folio/report"
)

var update = flag.Bool("update", false, "rewrite the golden files under fixtures/golden")

const fixtures = "../fixtures"

type fixture struct {
	name string
	raw  []byte
	r    *report.Report
}

var (
	loadOnce sync.Once
	loaded   []fixture
	loadErr  error
)

func goodFixtures(t testing.TB) []fixture {
	loadOnce.Do(func() {
		paths, _ := filepath.Glob(filepath.Join(fixtures, "*.json"))
		for _, p := range paths {
			raw, err := os.ReadFile(p)
			if err != nil {
				loadErr = err
				return
			}
			r, err := report.Decode(raw, report.DefaultLimits())
			if err != nil {
				loadErr = fmt.Errorf("%s: %w", p, err)
				return
			}
			loaded = append(loaded, fixture{strings.TrimSuffix(filepath.Base(p), ".json"), raw, r})
		}
	})
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	if len(loaded) < 10 {
		t.Fatalf("only %d good fixtures", len(loaded))
	}
	return loaded
}

// TestFixtures renders every good fixture and checks the PDF with real
// readers, then compares layout dump, extracted text and PDF bytes with the
// golden files.
func TestFixtures(t *testing.T) {
	testutil.NeedTools(t, "qpdf", "pdftotext")
	for _, fx := range goodFixtures(t) {
		t.Run(fx.name, func(t *testing.T) {
			t.Parallel()
			laid, err := render.Layout(fx.r)
			if err != nil {
				t.Fatal(err)
			}
			pdf, err := laid.PDF()
			if err != nil {
				t.Fatal(err)
			}
			// Deterministic: a second layout and paint give the same bytes.
			laid2, err := render.Layout(fx.r)
			if err != nil {
				t.Fatal(err)
			}
			pdf2, err := laid2.PDF()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pdf, pdf2) {
				t.Fatal("rendering twice gave different bytes")
			}
			path := filepath.Join(t.TempDir(), fx.name+".pdf")
			if err := os.WriteFile(path, pdf, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("qpdf", "--check", path)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("qpdf --check: %v\n%s", err, out)
			}
			n := len(laid.Pages)
			all := testutil.PDFToText(t, pdf)
			for i := 1; i <= n; i++ {
				page := testutil.PDFToText(t, pdf, "-f", fmt.Sprint(i), "-l", fmt.Sprint(i))
				wants := []string{fx.r.Patient.Name, fx.r.Patient.MRN, fmt.Sprintf("Page %d of %d", i, n)}
				if hasRTL(fx.r.Patient.Name) {
					// pdftotext reorders right-to-left words itself and
					// puts words around neutrals (the comma of "כהן, שרה")
					// in left-to-right order: check each word.
					wants = append(wordsOf(fx.r.Patient.Name), wants[1:]...)
				}
				for _, want := range wants {
					if want != "" && !strings.Contains(flat(page), flat(want)) {
						t.Errorf("page %d lacks %q", i, want)
					}
				}
			}
			flatAll := flat(all)
			for _, w := range sectionWords(fx.r) {
				if !strings.Contains(flatAll, flat(w)) {
					t.Errorf("word %q of the report is missing from the PDF text", w)
				}
			}
			for _, u := range urlTargets(fx.r.Sections) {
				if strings.Contains(all, u) {
					t.Errorf("url section target %q appears in the PDF", u)
				}
			}
			checkOutline(t, path, fx.r)
			gdir := filepath.Join(fixtures, "golden")
			testutil.Golden(t, filepath.Join(gdir, fx.name+".layout.txt"), []byte(layout.Dump(laid.Pages)), *update)
			testutil.Golden(t, filepath.Join(gdir, fx.name+".txt"), []byte(testutil.PDFToText(t, pdf, "-layout")), *update)
			testutil.Golden(t, filepath.Join(gdir, fx.name+".pdf"), pdf, *update)
		})
	}
}

type outlineEntry struct {
	Title string         `json:"title"`
	Page  int            `json:"destpageposfrom1"`
	Kids  []outlineEntry `json:"kids"`
}

// checkOutline reads the PDF outline with qpdf and checks that it has one
// entry per section and sub-section (nested as in the report) and one per
// addendum, each leading to a page of the document.
func checkOutline(t *testing.T, path string, r *report.Report) {
	t.Helper()
	out, err := exec.Command("qpdf", "--json", "--json-key=outlines", path).Output()
	if err != nil {
		t.Fatalf("qpdf --json: %v", err)
	}
	var doc struct {
		Outlines []outlineEntry `json:"outlines"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	// Top level: the template's own sections (Specimens, Exam), the
	// report's sections in order, then the addenda.
	var walk func(ss []report.Section, es []outlineEntry, where string)
	walk = func(ss []report.Section, es []outlineEntry, where string) {
		i := 0
		for _, s := range ss {
			for i < len(es) && es[i].Title != strings.Join(strings.Fields(s.Title), " ") {
				i++
			}
			if i == len(es) {
				t.Errorf("outline%s lacks section %q", where, s.Title)
				return
			}
			if es[i].Page < 1 {
				t.Errorf("outline entry %q leads to no page", s.Title)
			}
			walk(s.Sections, es[i].Kids, " under "+s.Title)
			i++
		}
	}
	walk(r.Sections, doc.Outlines, "")
	n := 0
	for _, e := range doc.Outlines {
		if strings.HasPrefix(e.Title, "Addendum ") {
			n++
		}
	}
	if n != len(r.Addenda) {
		t.Errorf("outline has %d addendum entries, want %d", n, len(r.Addenda))
	}
}

// flat removes all white space, so words wrapped across lines still match,
// and the directional marks pdftotext puts around right-to-left text, and
// normalises to NFKC (Arabic is drawn through its presentation forms, which
// NFKC folds back to the letters).
func flat(s string) string {
	return norm.NFKC.String(strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || (r >= 0x202A && r <= 0x202E) || r == 0x200E || r == 0x200F || (r >= 0x2066 && r <= 0x2069) {
			return -1
		}
		return r
	}, s))
}

var (
	entity = regexp.MustCompile(`&#?[A-Za-z0-9]+;`)
	// fenceInfo is the info string of a fenced code block (a language tag,
	// not content).
	fenceInfo = regexp.MustCompile("(?m)^( {0,3}(?:```+|~~~+))[^`\n]*$")
)

// markdownText is the text content of a markdown body for word checks.
func markdownText(s string) string {
	return fenceInfo.ReplaceAllString(entity.ReplaceAllString(s, " "), "$1")
}

// sectionWords returns the words (runs of letters, digits and marks) of
// every section except url sections, and of the addenda.
func sectionWords(r *report.Report) []string {
	var texts []string
	var walk func([]report.Section)
	walk = func(ss []report.Section) {
		for _, s := range ss {
			texts = append(texts, s.Title)
			switch s.Kind {
			case report.SectionURL:
				continue
			case report.SectionText:
				texts = append(texts, markdownText(s.Body))
			case report.SectionPlain:
				texts = append(texts, s.Body)
			case report.SectionFields:
				for _, it := range s.Items {
					texts = append(texts, it.Label, it.Value)
				}
			case report.SectionTable:
				texts = append(texts, s.Columns...)
				for _, row := range s.Rows {
					texts = append(texts, row...)
				}
			case report.SectionImage:
				texts = append(texts, s.Caption)
			}
			walk(s.Sections)
		}
	}
	walk(r.Sections)
	for _, a := range r.Addenda {
		texts = append(texts, markdownText(a.Body))
	}
	seen := map[string]bool{}
	var words []string
	for _, t := range texts {
		for _, w := range strings.FieldsFunc(t, func(r rune) bool {
			return !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r))
		}) {
			if !seen[w] {
				seen[w] = true
				words = append(words, w)
			}
		}
	}
	return words
}

// hasRTL reports whether s holds Hebrew or Arabic letters.
func hasRTL(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Hebrew, r) || unicode.Is(unicode.Arabic, r) {
			return true
		}
	}
	return false
}

// wordsOf splits s into runs of letters, digits and marks.
func wordsOf(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r))
	})
}

func urlTargets(ss []report.Section) []string {
	var out []string
	for _, s := range ss {
		if s.Kind == report.SectionURL {
			out = append(out, s.URL)
		}
		out = append(out, urlTargets(s.Sections)...)
	}
	return out
}

// TestRawHTMLPrintsLiterally checks the hostile fixture's script tag
// reaches the text layer as text.
func TestRawHTMLPrintsLiterally(t *testing.T) {
	testutil.NeedTools(t, "pdftotext")
	for _, fx := range goodFixtures(t) {
		if !bytes.Contains(fx.raw, []byte("<script")) {
			continue
		}
		laid, err := render.Layout(fx.r)
		if err != nil {
			t.Fatal(err)
		}
		pdf, err := laid.PDF()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(testutil.PDFToText(t, pdf), "<script") {
			t.Errorf("%s: raw <script> not printed literally", fx.name)
		}
		return
	}
	t.Fatal("no fixture with raw HTML")
}

func BenchmarkPDF(b *testing.B) {
	for _, fx := range goodFixtures(b) {
		b.Run(fx.name, func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for i := 0; i < b.N; i++ {
				laid, err := render.Layout(fx.r)
				if err != nil {
					b.Fatal(err)
				}
				pdf, err := laid.PDF()
				if err != nil {
					b.Fatal(err)
				}
				size = len(pdf)
			}
			b.ReportMetric(float64(size), "pdf-bytes")
		})
	}
}

// TestDeidentifiedLeavesNoIdentifier: on every page of every fixture, the
// text a de-identified thumbnail paints (every text op not marked PHI)
// holds none of the report's identifying values: patient name, MRN, birth
// date, patient id, encounter, accession, report id, study UID, and no
// date element but the year of issued, performed, collected, received,
// signed, amended and addenda times (HIPAA Safe Harbor; issue 10). Free
// text is not scrubbed (README): sections, addenda bodies and the
// amendment reason are emptied first.
func TestDeidentifiedLeavesNoIdentifier(t *testing.T) {
	for _, f := range goodFixtures(t) {
		r := new(report.Report)
		*r = *f.r
		r.Sections = nil
		r.Addenda = append([]report.Addendum(nil), f.r.Addenda...)
		for i := range r.Addenda {
			r.Addenda[i].Body = ""
		}
		if a := f.r.Amendment; a != nil {
			r.Amendment = &report.Amendment{Issued: a.Issued, Reason: "x"}
		}
		laid, err := render.Layout(r)
		if err != nil {
			t.Fatal(err)
		}
		var shown, hidden strings.Builder
		for _, p := range laid.Pages {
			for _, op := range p.Ops {
				if tx, ok := op.(*layout.Text); ok {
					if tx.PHI {
						hidden.WriteString(tx.S + "\n")
					} else {
						shown.WriteString(tx.S + "\n")
					}
				}
			}
		}
		ids := []string{r.Patient.Name, r.Patient.MRN, r.Patient.BirthDate, r.Patient.ID, r.EncounterID, r.Accession, r.ID}
		times := []time.Time{r.Issued}
		if r.Exam != nil {
			ids = append(ids, r.Exam.StudyUID)
			times = append(times, r.Exam.Performed)
		}
		for _, s := range r.Specimens {
			for _, tp := range []*time.Time{s.Collected, s.Received} {
				if tp != nil {
					times = append(times, *tp)
				}
			}
		}
		for _, p := range r.Performers {
			if p.SignedAt != nil {
				times = append(times, *p.SignedAt)
			}
		}
		for _, a := range r.Addenda {
			times = append(times, a.Issued)
		}
		if r.Amendment != nil {
			times = append(times, r.Amendment.Issued)
		}
		for _, tm := range times {
			// The day and time as printed, the month-day, the time of day.
			ids = append(ids, tm.Format("-01-02 15:04"), tm.Format("-01-02"), tm.Format("15:04"))
		}
		for _, id := range ids {
			if len(id) < 3 {
				continue
			}
			if strings.Contains(shown.String(), id) {
				t.Errorf("%s: a de-identified thumbnail shows %q", f.name, id)
			}
		}
		if !strings.Contains(hidden.String(), r.ID) || !strings.Contains(hidden.String(), r.Issued.Format("-01-02 15:04")) {
			t.Errorf("%s: the report id and issued time are not marked PHI", f.name)
		}
		if !strings.Contains(shown.String(), r.Issued.Format("2006")) {
			t.Errorf("%s: the year of issue is not shown", f.name)
		}
	}
}
