package input_test

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/text/encoding/charmap"

	"github.com/foliohealth/folio/input"
	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/render"
	"github.com/foliohealth/folio/report"
)

var update = flag.Bool("update", false, "rewrite the PDF and text goldens of the FHIR fixtures")

func fhirFixtures(t *testing.T) []string {
	a, _ := filepath.Glob("../fixtures/fhir/*.json")
	b, _ := filepath.Glob("../fixtures/fhir/hl7/*.json")
	if len(a)+len(b) < 10 {
		t.Fatalf("want at least 10 FHIR fixtures, have %d", len(a)+len(b))
	}
	return append(a, b...)
}

// TestFHIRFixturesPDF renders every FHIR fixture as the CLI and the worker
// do, checks each PDF with qpdf, compares PDF and text with the goldens,
// and checks that every word of every Observation value, note and
// narrative, every section narrative, the conclusion and every text or
// HTML presented form of the FHIR input (read here straight from the FHIR
// JSON, not from the mapped report) reaches the PDF's text, as do the
// patient's name and MRN on every page.
func TestFHIRFixturesPDF(t *testing.T) {
	testutil.NeedTools(t, "qpdf", "pdftotext")
	for _, f := range fhirFixtures(t) {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		if filepath.Base(filepath.Dir(f)) == "hl7" {
			name = "hl7-" + name
		}
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			docs, err := input.Map(input.Detect(data), data, input.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var texts []string
			for i, d := range docs {
				if d.Withdrawn {
					continue
				}
				laid, err := render.Layout(d.Report)
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
				testutil.IdentityOnEveryPage(t, pdf, len(laid.Pages), d.Report.Patient.Name, d.Report.Patient.MRN, fmt.Sprintf("report %d", i))
				if d.Missing > 0 && !strings.Contains(testutil.Flat(testutil.PDFToText(t, pdf, "-f", "1", "-l", "1")), testutil.Flat(fmt.Sprintf("%d referenced result", d.Missing))) {
					t.Errorf("report %d: page 1 does not say that %d referenced results were not included", i, d.Missing)
				}
				texts = append(texts, testutil.PDFToText(t, pdf))
				suffix := ""
				if len(docs) > 1 {
					suffix = "-" + d.Report.ID
				}
				layoutText := testutil.PDFToText(t, pdf, "-layout")
				// Plain sections keep their columns: every line of a
				// text/plain presented form is in the layout text with its
				// spaces.
				for _, s := range d.Report.Sections {
					if s.Kind != report.SectionPlain {
						continue
					}
					for _, line := range strings.Split(s.Body, "\n") {
						if line = strings.TrimRight(line, " "); strings.TrimSpace(line) != "" && len(line) < 80 && !strings.Contains(layoutText, line) {
							t.Errorf("plain line %q lost its columns in the PDF text", line)
						}
					}
				}
				testutil.Golden(t, filepath.Join("..", "fixtures", "golden", "fhir", name+suffix+".pdf"), pdf, *update)
				testutil.Golden(t, filepath.Join("..", "fixtures", "golden", "fhir", name+suffix+".txt"), []byte(layoutText), *update)
			}
			all := testutil.Flat(strings.Join(texts, "\n"))
			for _, w := range sourceWords(t, data) {
				if !strings.Contains(all, testutil.Flat(w)) {
					t.Errorf("word %q of the FHIR input is not in the PDF text", w)
				}
			}
		})
	}
}

// sourceWords returns the words of the FHIR input that must be printed:
// every Observation's value (string, CodeableConcept text or display,
// Quantity value and unit, integer), component values, notes, reference
// range text and (for an Observation without a value) narrative; every
// Composition section narrative; DiagnosticReport conclusions; text/plain
// and HTML presented forms (script, style and head excluded).
func sourceWords(t *testing.T, data []byte) []string {
	var root any
	if err := json.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	var texts []string
	value := func(o map[string]any) bool {
		got := false
		if s, ok := o["valueString"].(string); ok {
			texts, got = append(texts, s), true
		}
		if cc, ok := o["valueCodeableConcept"].(map[string]any); ok {
			got = true
			if s, ok := cc["text"].(string); ok {
				texts = append(texts, s)
			} else if cs, ok := cc["coding"].([]any); ok && len(cs) > 0 {
				if s, ok := cs[0].(map[string]any)["display"].(string); ok {
					texts = append(texts, s)
				}
			}
		}
		if q, ok := o["valueQuantity"].(map[string]any); ok {
			got = true
			texts = append(texts, fmt.Sprint(q["value"]), fmt.Sprint(q["unit"]))
		}
		if v, ok := o["valueInteger"].(float64); ok {
			texts, got = append(texts, fmt.Sprint(v)), true
		}
		for _, rr := range list(o["referenceRange"]) {
			if s, ok := rr.(map[string]any)["text"].(string); ok {
				texts = append(texts, s)
			}
		}
		return got
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			switch x["resourceType"] {
			case "Observation":
				hasValue := value(x)
				for _, c := range list(x["component"]) {
					value(c.(map[string]any))
				}
				for _, n := range list(x["note"]) {
					texts = append(texts, fmt.Sprint(n.(map[string]any)["text"]))
				}
				if !hasValue && x["hasMember"] == nil && x["component"] == nil {
					if tx, ok := x["text"].(map[string]any); ok {
						texts = append(texts, htmlText(fmt.Sprint(tx["div"])))
					}
				}
			case "DiagnosticReport":
				if s, ok := x["conclusion"].(string); ok {
					texts = append(texts, s)
				}
				for _, a := range list(x["presentedForm"]) {
					att := a.(map[string]any)
					b, _ := base64.StdEncoding.DecodeString(fmt.Sprint(att["data"]))
					mt, params, _ := mime.ParseMediaType(fmt.Sprint(att["contentType"]))
					if strings.EqualFold(params["charset"], "iso-8859-1") {
						b, _ = charmap.ISO8859_1.NewDecoder().Bytes(b)
					}
					switch mt {
					case "text/plain":
						texts = append(texts, string(b))
					case "text/html", "application/xhtml+xml", "application/xhtml":
						texts = append(texts, htmlText(string(b)))
					}
				}
			case "Composition":
				var secs func([]any)
				secs = func(ss []any) {
					for _, s := range ss {
						sm := s.(map[string]any)
						if tx, ok := sm["text"].(map[string]any); ok {
							texts = append(texts, htmlText(fmt.Sprint(tx["div"])))
						}
						secs(list(sm["section"]))
					}
				}
				secs(list(x["section"]))
			}
			for k, e := range x {
				if k != "text" {
					walk(e)
				}
			}
		}
	}
	walk(root)
	seen := map[string]bool{}
	var words []string
	for _, s := range texts {
		for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !(unicode.IsLetter(r) || unicode.IsDigit(r)) }) {
			if !seen[w] {
				seen[w] = true
				words = append(words, w)
			}
		}
	}
	if len(words) < 5 {
		t.Fatalf("only %d source words: is the walk reading the input?", len(words))
	}
	return words
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// htmlText is the text of HTML without script, style and head.
func htmlText(s string) string {
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		return ""
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (n.DataAtom == atom.Script || n.DataAtom == atom.Style || n.DataAtom == atom.Head) {
			return
		}
		if n.Type == html.TextNode {
			b.WriteString(n.Data + " ")
		}
		if n.Type == html.ElementNode && n.DataAtom == atom.Img {
			for _, a := range n.Attr {
				if a.Key == "alt" {
					b.WriteString(a.Val + " ")
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return b.String()
}
