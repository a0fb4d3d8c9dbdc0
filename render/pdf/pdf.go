// Package pdf paints laid-out pages into a PDF/A-1b file with go-pdf/fpdf,
// embedding a subset of every face used, with an outline entry for every
// section heading the layout marks.
//
// The painter never measures or wraps text: layout has positioned every
// string and guaranteed that its face covers every rune. Output depends only
// on the pages and document info, so painting the same input twice gives
// the same bytes. Paint may be called from any number of goroutines at once;
// each call builds its own fpdf document.
package pdf

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"

	"codeberg.org/go-pdf/fpdf"

	"github.com/foliohealth/folio/document"
	"github.com/foliohealth/folio/fonts"
	"github.com/foliohealth/folio/render/layout"
	"github.com/foliohealth/folio/render/pdf/pades"
)

// epoch is the date written when the document info has none: a fixed date,
// never the clock, so output stays deterministic.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Option changes how Paint writes a document.
type Option func(*options)

type options struct {
	signer *pades.Signer
}

// Sign makes Paint sign the document with s: a PAdES baseline B-B
// signature over the whole file (everything but the signature value),
// made in the same pass that writes it, with the document's creation date
// (the report's release time) as the time of signing. The signature field
// is invisible (an empty rectangle on page 1): the page already prints who
// signed the report, and a PDF reader's signature panel shows the
// signature. A nil s leaves the document unsigned.
func Sign(s *pades.Signer) Option {
	return func(o *options) { o.signer = s }
}

// Paint renders pages as a PDF document with the given document info.
// Lengths are PDF points with the origin at the top left of each page.
// Errors name the page (1-based) and operation that failed. Without
// options the document is unsigned.
func Paint(pages []layout.Page, info document.Info, opts ...Option) ([]byte, error) {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if len(pages) == 0 {
		return nil, fmt.Errorf("pdf: no pages")
	}
	for i, p := range pages {
		if !(p.Width > 0 && p.Height > 0 && p.Width < 14400 && p.Height < 14400) {
			return nil, fmt.Errorf("pdf: page %d: size %gx%g pt out of range (0, 14400)", i+1, p.Width, p.Height)
		}
	}
	encs, err := planFonts(pages)
	if err != nil {
		return nil, err
	}

	f := fpdf.NewCustom(&fpdf.InitType{
		OrientationStr: "P",
		UnitStr:        "pt",
		Size:           fpdf.SizeType{Wd: pages[0].Width, Ht: pages[0].Height},
	})
	f.SetCatalogSort(true)
	f.SetCompression(true)
	created := info.Created
	if created.IsZero() {
		created = epoch
	}
	created = created.UTC()
	f.SetCreationDate(created)
	f.SetModificationDate(created)
	f.SetProducer(producer, false)
	f.AddOutputIntent(outputIntent)
	f.SetXmpMetadata(xmpPacket(info, created))
	f.SetDisplayDocTitle(true)
	if info.Title != "" {
		f.SetTitle(info.Title, true)
	}
	if info.Author != "" {
		f.SetAuthor(info.Author, true)
	}
	if info.Subject != "" {
		f.SetSubject(info.Subject, true)
	}
	if info.Creator != "" {
		f.SetCreator(info.Creator, true)
	}
	if s := o.signer; s != nil {
		f.SetSignature(fpdf.SignatureType{
			Filter:    pades.Filter,
			SubFilter: pades.SubFilter,
			Name:      s.Name(),
			Reason:    s.Reason(),
			Location:  s.Location(),
			Time:      created,
			Size:      s.Size(),
			Sign: func(head, tail []byte) ([]byte, error) {
				return s.Sign(head, tail)
			},
		})
	}
	f.SetAutoPageBreak(false, 0)
	f.SetMargins(0, 0, 0)
	f.SetCellMargin(0)

	names := map[string]bool{}
	for _, e := range encs {
		if e == nil {
			continue
		}
		for pg := range e.pages {
			ff, err := e.font(pg)
			if err != nil {
				return nil, fmt.Errorf("pdf: %w", err)
			}
			fam := family(e.face.ID, pg)
			f.AddFontFromBytes(fam, "", ff.json, ff.z)
			if f.Err() {
				return nil, fmt.Errorf("pdf: font %s: %w", fam, f.Error())
			}
			if names[ff.name] {
				return nil, fmt.Errorf("pdf: font %s: subset tag collision on %s", fam, ff.name)
			}
			names[ff.name] = true
		}
	}

	p := &painter{f: f, encs: encs, images: map[int]string{}, outlineLevel: -1}
	for i := range pages {
		pg := &pages[i]
		f.AddPageFormat("P", fpdf.SizeType{Wd: pg.Width, Ht: pg.Height})
		p.reset()
		for j, op := range pg.Ops {
			if op == nil {
				return nil, fmt.Errorf("pdf: page %d: op %d: nil operation", i+1, j)
			}
			op.Paint(p)
			if p.err != nil {
				return nil, fmt.Errorf("pdf: page %d: op %d: %w", i+1, j, p.err)
			}
			if f.Err() {
				return nil, fmt.Errorf("pdf: page %d: op %d: %w", i+1, j, f.Error())
			}
		}
	}
	var out bytes.Buffer
	out.Grow(32 << 10)
	if err := f.Output(&out); err != nil {
		return nil, fmt.Errorf("pdf: writing: %w", err)
	}
	return out.Bytes(), nil
}

// family is the fpdf font family name of one encoding page of a face.
func family(id fonts.ID, page int) string {
	return "f" + strconv.Itoa(int(id)) + "p" + strconv.Itoa(page)
}

// planFonts collects the runes drawn in each face and assigns their codes.
func planFonts(pages []layout.Page) ([fonts.NumFaces]*encoding, error) {
	var encs [fonts.NumFaces]*encoding
	var sets [fonts.NumFaces]*faceRunes
	for i := range pages {
		for j, op := range pages[i].Ops {
			t, ok := op.(*layout.Text)
			if !ok {
				continue
			}
			if t.Face >= fonts.NumFaces {
				return encs, fmt.Errorf("pdf: page %d: op %d: text: unknown face %d", i+1, j, t.Face)
			}
			s := sets[t.Face]
			if s == nil {
				s = new(faceRunes)
				sets[t.Face] = s
			}
			for _, r := range t.S {
				if r > 0xFFFF {
					return encs, fmt.Errorf("pdf: page %d: op %d: text: rune %U is outside the Basic Multilingual Plane", i+1, j, r)
				}
				s.add(r)
			}
		}
	}
	for id, s := range sets {
		if s != nil && s.n > 0 {
			encs[id] = newEncoding(fonts.Get(fonts.ID(id)), s.sorted())
		}
	}
	return encs, nil
}

// painter replays layout operations into one fpdf document. It implements
// layout.Painter and remembers the graphics state it has set, so each
// setting is written only when it changes.
type painter struct {
	f      *fpdf.Fpdf
	encs   [fonts.NumFaces]*encoding
	images map[int]string // Keys already embedded -> fpdf image type
	err    error

	outlineLevel int // level of the last outline entry, -1 before the first

	buf []byte // scratch for encoded text

	font                            string
	fontSize                        float64
	textColor, drawColor, fillColor layout.Color
	lineWidth                       float64
	set                             uint8 // which of the above are valid
}

const (
	setFont = 1 << iota
	setText
	setDraw
	setFill
	setWidth
)

var _ layout.Painter = (*painter)(nil)

// reset forgets the graphics state at the start of a page.
func (p *painter) reset() { p.set = 0 }

func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e6 {
			return false
		}
	}
	return true
}

func (p *painter) setFont(fam string, size float64) {
	if p.set&setFont == 0 || p.font != fam || p.fontSize != size {
		p.f.SetFont(fam, "", size)
		p.font, p.fontSize = fam, size
		p.set |= setFont
	}
}

func (p *painter) setTextColor(c layout.Color) {
	if p.set&setText == 0 || p.textColor != c {
		p.f.SetTextColor(int(c.R), int(c.G), int(c.B))
		p.textColor = c
		p.set |= setText
	}
}

func (p *painter) setDrawColor(c layout.Color) {
	if p.set&setDraw == 0 || p.drawColor != c {
		p.f.SetDrawColor(int(c.R), int(c.G), int(c.B))
		p.drawColor = c
		p.set |= setDraw
	}
}

func (p *painter) setFillColor(c layout.Color) {
	if p.set&setFill == 0 || p.fillColor != c {
		p.f.SetFillColor(int(c.R), int(c.G), int(c.B))
		p.fillColor = c
		p.set |= setFill
	}
}

func (p *painter) setLineWidth(w float64) {
	if p.set&setWidth == 0 || p.lineWidth != w {
		p.f.SetLineWidth(w)
		p.lineWidth = w
		p.set |= setWidth
	}
}

// Text implements layout.Painter. A string whose runes fall in more than
// one encoding page of its face is written as several runs, each placed at
// the advance of the runes before it.
func (p *painter) Text(t *layout.Text) {
	if !finite(t.X, t.Y, t.Size) || t.Size <= 0 || t.Size > 1000 {
		p.err = fmt.Errorf("text: position (%g, %g) or size %g out of range", t.X, t.Y, t.Size)
		return
	}
	if t.Outline != "" {
		// Levels step down one at a time, as fpdf's outline tree needs.
		level := max(0, min(t.OutlineLevel-1, p.outlineLevel+1))
		p.f.Bookmark(textString(t.Outline), level, max(0, t.Y-t.Size))
		p.outlineLevel = level
	}
	if t.S == "" {
		return
	}
	e := p.encs[t.Face] // planFonts has seen every face and rune
	p.setTextColor(t.Color)
	face := e.face
	x := t.X
	adv := 0 // font units since x
	runPage := -1
	p.buf = p.buf[:0]
	flush := func() {
		if len(p.buf) > 0 {
			p.setFont(family(face.ID, runPage), t.Size)
			p.f.Text(x, t.Y, string(p.buf))
			p.buf = p.buf[:0]
		}
	}
	offs := t.Offsets
	i := 0
	for _, r := range t.S {
		pg, code, ok := e.code(r)
		if !ok {
			p.err = fmt.Errorf("text: rune %U not planned for %s", r, face.Name)
			return
		}
		if len(offs) > 0 && offs[0].Index == i {
			// A mark placed by the shaper: drawn alone at its offset.
			o := offs[0]
			offs = offs[1:]
			flush()
			x += float64(adv) * t.Size / float64(face.UnitsPerEm)
			adv = 0
			if !finite(o.DX, o.DY) {
				p.err = fmt.Errorf("text: glyph offset (%g, %g) out of range", o.DX, o.DY)
				return
			}
			p.setFont(family(face.ID, pg), t.Size)
			// Text extractors read a mark raised or lowered off the
			// baseline as a line of its own. So the mark is written twice:
			// invisibly (render mode 3) on the baseline at the pen, which
			// is what extraction reads, and visibly at its offset inside a
			// marked-content span whose empty /ActualText extraction
			// reads instead of it.
			p.f.RawWriteStr("3 Tr")
			p.f.Text(x, t.Y, string([]byte{code}))
			p.f.RawWriteStr("0 Tr /Span<</ActualText()>>BDC")
			p.f.Text(x+o.DX, t.Y-o.DY, string([]byte{code}))
			p.f.RawWriteStr("EMC")
			runPage = -1
			i++
			continue
		}
		if pg != runPage {
			flush()
			x += float64(adv) * t.Size / float64(face.UnitsPerEm)
			adv = 0
			runPage = pg
		}
		p.buf = append(p.buf, code)
		adv += face.GlyphAdvance(face.Glyph(r))
		i++
	}
	flush()
}

// Line implements layout.Painter.
func (p *painter) Line(l *layout.Line) {
	if !finite(l.X1, l.Y1, l.X2, l.Y2, l.Width) || l.Width < 0 {
		p.err = fmt.Errorf("line: coordinates or width out of range")
		return
	}
	p.setDrawColor(l.Color)
	p.setLineWidth(l.Width)
	p.f.Line(l.X1, l.Y1, l.X2, l.Y2)
}

// Rect implements layout.Painter.
func (p *painter) Rect(r *layout.Rect) {
	if !finite(r.X, r.Y, r.W, r.H, r.StrokeWidth) || r.StrokeWidth < 0 {
		p.err = fmt.Errorf("rect: coordinates or stroke width out of range")
		return
	}
	style := ""
	if r.Fill != nil {
		p.setFillColor(*r.Fill)
		style += "F"
	}
	if r.Stroke != nil {
		p.setDrawColor(*r.Stroke)
		p.setLineWidth(r.StrokeWidth)
		style += "D"
	}
	if style == "" {
		return
	}
	p.f.Rect(r.X, r.Y, r.W, r.H, style)
}

// Picture implements layout.Painter. Each distinct Key is encoded and
// embedded once, however often it is drawn.
func (p *painter) Picture(pc *layout.Picture) {
	if !finite(pc.X, pc.Y, pc.W, pc.H) || pc.W <= 0 || pc.H <= 0 {
		p.err = fmt.Errorf("picture: box out of range")
		return
	}
	if pc.Img == nil {
		p.err = fmt.Errorf("picture: no image")
		return
	}
	name := "img" + strconv.Itoa(pc.Key)
	typ, ok := p.images[pc.Key]
	if !ok {
		data, t, err := encodeImage(pc)
		if err != nil {
			p.err = fmt.Errorf("picture: %w", err)
			return
		}
		typ = t
		p.f.RegisterImageOptionsReader(name, fpdf.ImageOptions{ImageType: typ}, bytes.NewReader(data))
		if p.f.Err() {
			p.err = fmt.Errorf("picture: %w", p.f.Error())
			return
		}
		p.images[pc.Key] = typ
	}
	p.f.ImageOptions(name, pc.X, pc.Y, pc.W, pc.H, false, fpdf.ImageOptions{ImageType: typ}, 0, "")
}
