// Package layout turns a document.Document into pages of positioned painting
// operations using the embedded fonts' real metrics: bidirectional text and
// Arabic shaping, line breaking, pagination, running header and footer,
// tables split across pages with the header row repeated. The total page count is known before anything is
// painted. Layout never imports a painter; painters never measure text.
package layout

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/foliohealth/folio/document"
	"github.com/foliohealth/folio/fonts"
)

// Geometry is the page size and margins, in points.
type Geometry struct {
	Width, Height            float64
	Left, Right, Top, Bottom float64
}

// Letter is US Letter with 0.75 inch side margins (folio's default).
var Letter = Geometry{Width: 612, Height: 792, Left: 54, Right: 54, Top: 36, Bottom: 36}

// A4 is ISO A4 with 20 mm side margins.
var A4 = Geometry{Width: 595.28, Height: 841.89, Left: 56.69, Right: 56.69, Top: 36, Bottom: 36}

// Result is a laid-out document.
type Result struct {
	Pages []Page
	// Warnings has one entry per character that was replaced, in the order
	// of Replaced, naming the character and why.
	Warnings []string
	// Replaced lists the characters printed as fonts.Replacement.
	Replaced []Replaced
}

// Replaced is a character printed as fonts.Replacement: Script names the
// script folio cannot shape, empty when no embedded font covers the
// character at all.
type Replaced struct {
	R      rune
	Script string
	Count  int
}

// Type sizes and spacing, in points.
const (
	bodySize    = 9.5
	leading     = 1.32 // line height as a multiple of the font size
	monoSize    = 8.2
	smallSize   = 7.5
	paraGap     = 5
	listIndent  = 15
	quoteIndent = 12
	cellPadX    = 4
	cellPadY    = 2.5
	fieldGap    = 10
)

// Layout lays out d on pages of geometry g.
func Layout(d *document.Document, g Geometry) (*Result, error) {
	if g.Width <= 0 || g.Height <= 0 {
		return nil, fmt.Errorf("layout: bad page size %gx%g", g.Width, g.Height)
	}
	if err := fonts.Load(); err != nil {
		return nil, err
	}
	l := &layouter{g: g, textW: g.Width - g.Left - g.Right}
	// The running header is the same on every page; build it once to know the
	// body frame.
	header, headerH := l.header(&d.Header)
	footerH := 22.0
	bodyTop := g.Top + headerH + 12
	bodyH := g.Height - g.Bottom - footerH - bodyTop
	if bodyH < 100 {
		return nil, fmt.Errorf("layout: running header leaves only %.0f pt for the body", bodyH)
	}
	l.bodyH = bodyH
	var boxes []*box
	for _, b := range d.Body {
		boxes = append(boxes, l.block(b, g.Left, l.textW)...)
	}
	if len(boxes) > 0 {
		boxes[0].before = 0
	}
	pages := paginate(boxes, bodyH)
	out := make([]Page, len(pages))
	for i, pl := range pages {
		p := Page{Width: g.Width, Height: g.Height}
		n := len(header) + 8
		for _, x := range pl {
			n += len(x.b.ops)
		}
		p.Ops = make([]Op, 0, n)
		p.Ops = append(p.Ops, header...)
		for _, x := range pl {
			for _, op := range x.b.ops {
				p.Ops = append(p.Ops, shift(op, bodyTop+x.y))
			}
		}
		p.Ops = l.footer(p.Ops, &d.Header, i+1, len(pages))
		out[i] = p
	}
	return &Result{Pages: out, Warnings: l.sh.warnings(), Replaced: l.sh.replaced()}, nil
}

type layouter struct {
	g     Geometry
	textW float64
	bodyH float64
	sh    shaper
	imgN  int
}

// shift returns a copy of op moved down by dy.
func shift(op Op, dy float64) Op {
	var c Op
	switch o := op.(type) {
	case *Text:
		t := *o
		c = &t
	case *Line:
		l := *o
		c = &l
	case *Rect:
		r := *o
		c = &r
	case *Picture:
		p := *o
		c = &p
	default:
		panic(fmt.Sprintf("layout: unknown op %T", op))
	}
	moveDown(c, dy)
	return c
}

// lineHeight and baseline give the vertical metrics of a line of size s.
func lineHeight(s float64) float64 { return s * leading }

func baseline(s float64) float64 {
	f := fonts.Get(fonts.Sans)
	asc := float64(f.Ascent) / float64(f.UnitsPerEm)
	desc := -float64(f.Descent) / float64(f.UnitsPerEm)
	return (lineHeight(s)-(asc+desc)*s)/2 + asc*s
}

// textBoxes lays out a flow of inline text as one box per line at x within
// width, with orphan and widow control (the first two and the last two
// lines stay together).
//
// The lines of a right-to-left paragraph (its first strong character is
// Hebrew or Arabic, or the sender's marks say so) align right.
func (l *layouter) textBoxes(t document.Text, f font, x, width, before float64) []*box {
	return l.flowBoxes(t, f, x, width, before, true)
}

// flowBoxes is textBoxes; alignRTL false keeps right-to-left lines at the
// left edge (a value next to its label).
func (l *layouter) flowBoxes(t document.Text, f font, x, width, before float64, alignRTL bool) []*box {
	items := l.sh.items(t, f, nil)
	lines := breakLines(items, width)
	lh := lineHeight(f.size)
	bl := baseline(f.size)
	boxes := make([]*box, len(lines))
	for i, ln := range lines {
		b := &box{h: lh}
		lx := x
		if alignRTL && rtlLine(ln) {
			lx = x + width - lineWidth(ln)
		}
		b.ops = lineOps(ln, lx, bl, nil)
		boxes[i] = b
	}
	keepEnds(boxes)
	boxes[0].before = before
	return boxes
}

// keepEnds applies orphan and widow control to the lines of one flow.
func keepEnds(boxes []*box) {
	n := len(boxes)
	if n >= 2 {
		boxes[0].keep = true
		boxes[n-2].keep = true
	}
}

// block lays out one body block at x within width.
func (l *layouter) block(b document.Block, x, width float64) []*box {
	switch b := b.(type) {
	case document.Heading:
		return l.heading(b, x, width)
	case document.Paragraph:
		return l.textBoxes(b.Text, font{face: fonts.Sans, size: bodySize, color: Black}, x, width, paraGap)
	case document.Signature:
		return l.textBoxes(b.Text, font{face: fonts.SansItalic, size: bodySize, color: Black}, x, width, paraGap)
	case document.List:
		return l.list(b, x, width)
	case document.Quote:
		return l.quote(b, x, width)
	case document.Preformatted:
		return l.preformatted(b, x, width)
	case document.Fields:
		return l.fields(b, x, width)
	case document.Table:
		return l.table(b, x, width)
	case document.Image:
		return l.image(b, x, width)
	case document.Notice:
		return l.notice(b, x, width)
	case document.Rule:
		return []*box{{h: 6, before: paraGap, ops: []Op{&Line{X1: x, Y1: 3, X2: x + width, Y2: 3, Width: 0.5, Color: Gray}}}}
	}
	panic(fmt.Sprintf("layout: unknown block %T", b))
}

func (l *layouter) heading(h document.Heading, x, width float64) []*box {
	var f font
	var before float64
	switch h.Level {
	case 1:
		f, before = font{face: fonts.SansBold, size: 11.5, color: Black}, 14
	case 2:
		f, before = font{face: fonts.SansBold, size: 10.5, color: Black}, 10
	case 3:
		f, before = font{face: fonts.SansBoldItalic, size: 10, color: DarkGray}, 8
	case 4:
		f, before = font{face: fonts.SansBold, size: 10.5, color: Black}, 8
	default:
		f, before = font{face: fonts.SansBold, size: bodySize, color: Black}, 7
	}
	boxes := l.textBoxes(h.Text, f, x, width, before)
	if h.Level <= 3 {
		markOutline(boxes, h)
	}
	if h.Level == 1 {
		// A rule under a section title.
		last := boxes[len(boxes)-1]
		last.h += 2
		last.ops = append(last.ops, &Line{X1: x, Y1: last.h - 1, X2: x + width, Y2: last.h - 1, Width: 0.6, Color: Gray})
	}
	for _, b := range boxes {
		b.keep = true // keep with what follows
	}
	return boxes
}

// markOutline puts the heading's outline entry on its first text op.
func markOutline(boxes []*box, h document.Heading) {
	var title strings.Builder
	for _, sp := range h.Text {
		title.WriteString(sp.Text)
	}
	for _, b := range boxes {
		for _, op := range b.ops {
			if t, ok := op.(*Text); ok {
				t.Outline = strings.Join(strings.Fields(title.String()), " ")
				t.OutlineLevel = h.Level
				return
			}
		}
	}
}

func (l *layouter) list(ls document.List, x, width float64) []*box {
	var out []*box
	f := fonts.Get(fonts.Sans)
	for i, item := range ls.Items {
		marker := "•"
		if ls.Ordered {
			marker = strconv.Itoa(ls.Start+i) + "."
		}
		// A right-to-left item (its first block is right-to-left text)
		// is indented from the right with its marker there.
		rtl := len(item) > 0 && blockRTL(item[0])
		bx := x + listIndent
		if rtl {
			bx = x
			if ls.Ordered {
				marker = "." + strconv.Itoa(ls.Start+i)
			}
		}
		var boxes []*box
		for _, b := range item {
			boxes = append(boxes, l.block(b, bx, width-listIndent)...)
		}
		if len(boxes) == 0 {
			boxes = []*box{{h: lineHeight(bodySize)}}
		}
		first := boxes[0]
		if i == 0 {
			first.before = paraGap
		} else {
			first.before = 2
		}
		mw := f.Width(marker) * bodySize
		mx := x + listIndent - 4 - mw
		if rtl {
			mx = x + width - listIndent + 4
		}
		first.ops = append(first.ops, &Text{X: mx, Y: baseline(bodySize), Face: fonts.Sans, Size: bodySize, Color: Black, S: marker, W: mw})
		out = append(out, boxes...)
	}
	return out
}

// blockRTL reports whether a block's text is a right-to-left paragraph.
func blockRTL(b document.Block) bool {
	var t document.Text
	switch b := b.(type) {
	case document.Paragraph:
		t = b.Text
	case document.Heading:
		t = b.Text
	default:
		return false
	}
	return textRTL(t)
}

// textRTL reports whether text is a right-to-left paragraph (rules P2, P3).
func textRTL(t document.Text) bool {
	var rs []rune
	need := false
	for _, sp := range t {
		if mayNeedBidi(sp.Text) {
			need = true
		}
	}
	if !need {
		return false
	}
	for _, sp := range t {
		rs = append(rs, []rune(sp.Text)...)
	}
	return paragraphLevel(rs) == 1
}

func (l *layouter) quote(q document.Quote, x, width float64) []*box {
	var out []*box
	for _, b := range q.Blocks {
		out = append(out, l.block(b, x+quoteIndent, width-quoteIndent)...)
	}
	for _, b := range out {
		b.ops = append(b.ops, &Line{X1: x + 3, Y1: 0, X2: x + 3, Y2: b.h, Width: 2, Color: LightGray})
	}
	if len(out) > 0 {
		out[0].before = paraGap
	}
	return out
}

// preformatted prints text as written in the monospaced face: every line
// break and run of spaces kept (tabs expand to 8-column stops); a line wider
// than the column wraps, preferably at a space, and the continuation is
// marked with a drawn hook in the left margin (a drawing, not a character, so
// the text layer holds exactly the input).
func (l *layouter) preformatted(p document.Preformatted, x, width float64) []*box {
	size := monoSize
	mono := fonts.Get(fonts.Mono)
	adv := mono.Advance('M') * size
	cols := int(math.Floor(width / adv))
	if cols < 10 {
		cols = 10
	}
	lh := lineHeight(size)
	bl := baseline(size)
	var out []*box
	text := strings.TrimRight(p.Text, "\n")
	for _, src := range strings.Split(text, "\n") {
		src = expandTabs(strings.TrimSuffix(src, "\r"))
		segs := wrapMono(src, cols)
		for k, seg := range segs {
			b := &box{h: lh}
			if seg != "" {
				// Each line is its own bidi paragraph, kept at the left
				// like the rest of the section, in visual order.
				b.ops = lineOps(l.sh.itemsString(seg, font{face: fonts.Mono, size: size, color: Black}, nil), x, bl, nil)
			}
			if k > 0 {
				// Continuation hook: a short vertical and horizontal stroke.
				hx := x - 7
				b.ops = append(b.ops,
					&Line{X1: hx, Y1: bl - size*0.75, X2: hx, Y2: bl - size*0.3, Width: 0.6, Color: Gray},
					&Line{X1: hx, Y1: bl - size*0.3, X2: hx + 4, Y2: bl - size*0.3, Width: 0.6, Color: Gray})
			}
			if k < len(segs)-1 {
				b.keep = true
			}
			out = append(out, b)
		}
	}
	if len(out) > 0 {
		out[0].before = paraGap
	}
	return out
}

func expandTabs(s string) string {
	if !strings.Contains(s, "\t") {
		return s
	}
	var sb strings.Builder
	col := 0
	for _, r := range s {
		if r == '\t' {
			n := 8 - col%8
			sb.WriteString(strings.Repeat(" ", n))
			col += n
			continue
		}
		sb.WriteRune(r)
		col++
	}
	return sb.String()
}

// wrapMono splits a line into segments of at most cols characters, at the
// last space within the limit when there is one.
func wrapMono(s string, cols int) []string {
	rs := []rune(s)
	if len(rs) <= cols {
		return []string{s}
	}
	var out []string
	for len(rs) > cols {
		cut := cols
		for k := cols; k > cols/2; k-- {
			if rs[k-1] == ' ' {
				cut = k
				break
			}
		}
		out = append(out, string(rs[:cut]))
		rs = rs[cut:]
	}
	return append(out, string(rs))
}

// fields lays out a two-column label/value grid.
func (l *layouter) fields(fs document.Fields, x, width float64) []*box {
	lf := fonts.Get(fonts.SansBold)
	labelW := 0.0
	for _, it := range fs.Items {
		labelW = math.Max(labelW, lf.Width(it.Label)*bodySize)
	}
	labelW = math.Min(labelW+fieldGap, width*0.38)
	var out []*box
	for i, it := range fs.Items {
		lb := l.textBoxes(document.T(it.Label), font{face: fonts.SansBold, size: bodySize, color: DarkGray}, x, labelW-fieldGap, 0)
		vb := l.flowBoxes(it.Value, font{face: fonts.Sans, size: bodySize, color: Black, phi: it.PHI}, x+labelW, width-labelW, 0, false)
		n := max(len(lb), len(vb))
		row := make([]*box, n)
		for k := 0; k < n; k++ {
			b := &box{h: lineHeight(bodySize), keep: k < n-1}
			if k < len(lb) {
				b.ops = append(b.ops, lb[k].ops...)
			}
			if k < len(vb) {
				b.ops = append(b.ops, vb[k].ops...)
			}
			row[k] = b
		}
		if i == 0 {
			row[0].before = paraGap
		} else {
			row[0].before = 1.5
		}
		out = append(out, row...)
	}
	return out
}

// notice lays out a boxed, bold line of text on a light background.
func (l *layouter) notice(n document.Notice, x, width float64) []*box {
	boxes := l.textBoxes(n.Text, font{face: fonts.SansBold, size: bodySize, color: Black}, x+6, width-12, 0)
	for i, b := range boxes {
		if i == 0 {
			b.h += 3
			for _, op := range b.ops {
				moveDown(op, 3)
			}
		}
		if i == len(boxes)-1 {
			b.h += 3
		}
		b.keep = i < len(boxes)-1
		bg := LightGray
		b.ops = append([]Op{&Rect{X: x, Y: 0, W: width, H: b.h, Fill: &bg}}, b.ops...)
		b.ops = append(b.ops, &Line{X1: x, Y1: 0, X2: x, Y2: b.h, Width: 2, Color: DarkGray})
	}
	boxes[0].before = paraGap + 2
	return boxes
}

func moveDown(op Op, dy float64) {
	switch o := op.(type) {
	case *Text:
		o.Y += dy
	case *Line:
		o.Y1 += dy
		o.Y2 += dy
	case *Rect:
		o.Y += dy
	case *Picture:
		o.Y += dy
	}
}

// image fits a picture to the column width (never enlarging it beyond
// 100 dpi, never taller than half the body height) with its caption below.
func (l *layouter) image(im document.Image, x, width float64) []*box {
	if im.Img == nil {
		return nil
	}
	bnds := im.Img.Bounds()
	pw, ph := float64(bnds.Dx()), float64(bnds.Dy())
	if pw <= 0 || ph <= 0 {
		return nil
	}
	w := math.Min(width, pw*72/100)
	h := w * ph / pw
	if maxH := l.bodyH * 0.5; h > maxH {
		h = maxH
		w = h * pw / ph
	}
	l.imgN++
	b := &box{h: h, before: paraGap + 2, ops: []Op{&Picture{X: x + (width-w)/2, Y: 0, W: w, H: h, Img: im.Img, ContentType: im.ContentType, Key: l.imgN, Src: im.Src}}}
	out := []*box{b}
	if im.Caption != "" {
		b.keep = true
		cap := l.textBoxes(document.Text{{Text: im.Caption, Style: document.Italic}}, font{face: fonts.Sans, size: smallSize + 0.5, color: DarkGray}, x, width, 3)
		out = append(out, cap...)
	}
	return out
}
