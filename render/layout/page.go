package layout

import (
	"image"

	"github.com/foliohealth/folio/fonts"
)

// Units: every length is in PDF points (1/72 inch); the origin is the top
// left corner of the page and y grows downwards. Only painters know pixels.

// Color is an opaque RGB colour.
type Color struct{ R, G, B uint8 }

// Colours used by templates and layout.
var (
	Black     = Color{0, 0, 0}
	DarkGray  = Color{0x40, 0x40, 0x40}
	Gray      = Color{0x80, 0x80, 0x80}
	LightGray = Color{0xE6, 0xE6, 0xE6}
	White     = Color{0xFF, 0xFF, 0xFF}
	Red       = Color{0xB0, 0x00, 0x00}
)

// Page is one laid-out page: its size and the operations that paint it, in
// painting order.
type Page struct {
	Width, Height float64
	Ops           []Op
}

// Op is one positioned painting operation. The concrete types are Text, Line,
// Rect and Picture.
type Op interface {
	// Paint replays the operation into p.
	Paint(p Painter)
}

// Painter is what a backend (PDF, raster) implements to replay pages.
type Painter interface {
	Text(t *Text)
	Line(l *Line)
	Rect(r *Rect)
	Picture(p *Picture)
}

// Text draws a string on one baseline in one face. Every rune of S is
// covered by Face (layout has already substituted fonts.Replacement for
// runes no face covers), so painters never need a fallback.
type Text struct {
	X, Y float64 // start of the baseline
	Size float64 // font size in points
	W    float64 // advance width as measured by layout
	S    string
	// Offsets move single glyphs off the pen position: the combining marks
	// the Arabic shaper attaches to their base letters (see shape.go).
	// Sorted by Index; most strings have none.
	Offsets []GlyphOffset
	// Outline, set on the first line of a section, sub-section or addendum
	// heading, is the title of the PDF outline (bookmark) entry that leads
	// here; OutlineLevel is its depth, 1 for a section or addendum.
	Outline      string
	OutlineLevel int
	Face         fonts.ID
	Color        Color
	// Angle turns the baseline counter-clockwise about (X, Y), in degrees;
	// 0 for everything but a site's watermark.
	Angle float64
	// PHI marks patient-identifying text (the running header's identity
	// fields); a de-identified thumbnail leaves it out.
	PHI bool
	// (The small fields come last, packed together: pages hold many Texts.)
}

// GlyphOffset draws the Index-th rune of a Text's S (counted in runes)
// DX points to the right of and DY points above its pen position. Such a
// rune has no advance (a combining mark), so the pen is unaffected.
type GlyphOffset struct {
	Index  int
	DX, DY float64
}

// Line strokes a straight line.
type Line struct {
	X1, Y1, X2, Y2 float64
	Width          float64
	Color          Color
}

// Rect fills and/or strokes a rectangle.
type Rect struct {
	X, Y, W, H  float64
	Fill        *Color // nil: no fill
	Stroke      *Color // nil: no outline
	StrokeWidth float64
}

// Picture draws an image scaled into the box. Key identifies the image
// within the document so a painter can register it once.
type Picture struct {
	X, Y, W, H  float64
	Img         image.Image
	ContentType string // how the source was encoded: "image/png" or "image/jpeg"
	Key         int
	// Src is the encoded source of Img (see doc.Image.Src), or nil.
	Src []byte
	// Ready: Src is what a PDF embeds as it is (doc.Image.Ready).
	Ready bool
}

// Paint implements Op.
func (t *Text) Paint(p Painter) { p.Text(t) }

// Paint implements Op.
func (l *Line) Paint(p Painter) { p.Line(l) }

// Paint implements Op.
func (r *Rect) Paint(p Painter) { p.Rect(r) }

// Paint implements Op.
func (pc *Picture) Paint(p Painter) { p.Picture(pc) }
