// Package document is folio's device-independent document: running header, status
// banner and body blocks of styled text, lists, tables, field grids and
// images. Templates build a Document from a validated report; layout turns it
// into pages. A Document knows nothing of fonts, pages or PDF.
package document

import (
	"image"
	"time"
)

// Style is a set of inline text attributes.
type Style uint8

// Inline styles; they combine.
const (
	Bold Style = 1 << iota
	Italic
	Mono
	Strike
)

// Span is a run of text in one style. Text may contain "\n" for a hard line
// break; all other control characters have been refused upstream.
type Span struct {
	Text  string
	Style Style
	// PHI marks text that identifies the patient or the encounter (a date
	// other than its year, a report id, a study UID); a de-identified
	// thumbnail leaves it out.
	PHI bool
}

// Text is a sequence of spans forming one flow of inline text.
type Text []Span

// Plain returns t as one unstyled string.
func (t Text) Plain() string {
	n := 0
	for _, s := range t {
		n += len(s.Text)
	}
	b := make([]byte, 0, n)
	for _, s := range t {
		b = append(b, s.Text...)
	}
	return string(b)
}

// T is shorthand for a single unstyled span.
func T(s string) Text { return Text{{Text: s}} }

// Block is one vertical element of the body. The concrete types below are
// the complete set; layout has one measure-and-place step per type.
type Block interface{ block() }

// Heading is a section or sub-section title (Level 1 = report section, 2 and
// 3 = sub-sections, 4-6 = markdown headings inside a section body). Layout
// keeps a heading on the same page as the start of what follows it.
type Heading struct {
	Level int
	Text  Text
}

// Paragraph is a flow of wrapped inline text.
type Paragraph struct {
	Text Text
}

// List is a bulleted or numbered list; each item holds blocks (a paragraph,
// nested lists, ...).
type List struct {
	Ordered bool
	Start   int // first number of an ordered list
	Items   [][]Block
}

// Quote is a block quote: indented blocks with a bar on the left.
type Quote struct {
	Blocks []Block
}

// Preformatted is text printed as written in the monospaced face: every line
// break and run of spaces kept; a line wider than the text column wraps with a
// visible continuation mark. Used for `plain` sections and markdown code.
type Preformatted struct {
	Text string
}

// Align is a table column's horizontal alignment.
type Align uint8

// Column alignments.
const (
	AlignLeft Align = iota
	AlignCenter
	AlignRight
)

// Table is a ruled table. Rows that do not fit a page continue on the next
// with the header row repeated.
type Table struct {
	Header []Text
	Align  []Align // per column; may be shorter than Header
	Rows   [][]Text
}

// Field is one label/value pair of a field grid.
type Field struct {
	Label string
	Value Text // may contain "\n"
	// PHI marks a value that identifies the patient (name, MRN, birth date,
	// patient id, encounter, accession, study UID); a de-identified
	// thumbnail leaves it out. Parts of a value are marked on its spans.
	PHI bool
}

// Fields is a two-column label/value grid (synoptic checklists, measurements,
// specimen lists, exam details).
type Fields struct {
	Items []Field
}

// Image is a decoded picture (EXIF orientation already applied), fitted to
// the text width by layout and resampled by the painter.
type Image struct {
	Img         image.Image
	ContentType string // "image/png" or "image/jpeg": how the source was encoded
	Caption     string
	// Src is the encoded source image, which a PDF can embed as it is when
	// Img is exactly what it decodes to (a JPEG without rotation, say).
	Src []byte
}

// Notice is a boxed, emphasised line: content that is deliberately not shown
// (url sections) or facts the reader must not miss.
type Notice struct {
	Text Text
}

// Rule is a horizontal rule.
type Rule struct{}

// Signature is an electronic signature line.
type Signature struct {
	Text Text
}

func (Heading) block()      {}
func (Paragraph) block()    {}
func (List) block()         {}
func (Quote) block()        {}
func (Preformatted) block() {}
func (Table) block()        {}
func (Fields) block()       {}
func (Image) block()        {}
func (Notice) block()       {}
func (Rule) block()         {}
func (Signature) block()    {}

// Header is what every page repeats so that a loose page identifies its
// patient and report.
type Header struct {
	Facility string
	Title    string
	// Status is the banner word for a non-final report ("PRELIMINARY",
	// "AMENDED", "CORRECTED", "ADDENDUM ADDED"); empty for a final report.
	Status string
	// Identity holds the patient-identifying fields printed on every page
	// (patient name, MRN, birth date, accession or exam). A de-identified
	// thumbnail omits exactly these.
	Identity []Field
	// Footer is a short line printed at the foot of every page beside
	// "Page X of Y" (report id and version).
	Footer Text
}

// Info is the PDF document information.
type Info struct {
	Title   string
	Author  string // the signing performer(s)
	Subject string // patient and accession
	Creator string // "folio <version>"
	Created time.Time
}

// Document is a whole report ready for layout.
type Document struct {
	Info   Info
	Header Header
	Body   []Block
}
