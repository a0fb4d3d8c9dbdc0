package layout

import (
	"math"

	"github.com/foliohealth/folio/document"
	"github.com/foliohealth/folio/fonts"
)

// What a site profile (document.Site) adds to every page: the letterhead above
// the running header, the laboratory block above the footer, a diagonal
// watermark under everything, the accent colour and, for a right-to-left
// site, the mirrored header, field grids and banners.

const (
	logoH         = 34.0 // letterhead logo height, points
	logoMaxW      = 150.0
	letterSize    = 8.5
	labSize       = 7.0
	watermarkGray = 0xE2
)

// watermarkColor is light enough to read the report through (PDF/A-1
// allows no transparency: the watermark is painted first, under the text).
var watermarkColor = Color{watermarkGray, watermarkGray, watermarkGray}

// ink returns the site's accent, or c without one.
func (l *layouter) ink(c Color) Color {
	if l.site != nil && l.site.Accent != nil {
		a := l.site.Accent
		return Color{a.R, a.G, a.B}
	}
	return c
}

// letterhead lays out the logo and lines at the top margin; it returns the
// ops and the height they take, gap included.
func (l *layouter) letterhead(s *document.Site) ([]Op, float64) {
	if s.Logo == nil && len(s.Letterhead) == 0 {
		return nil, 0
	}
	g := l.g
	var ops []Op
	h := 0.0
	logoW := 0.0
	if s.Logo != nil && s.Logo.Img != nil {
		b := s.Logo.Img.Bounds()
		w := logoH * float64(b.Dx()) / float64(b.Dy())
		ph := logoH
		if w > logoMaxW {
			w, ph = logoMaxW, logoMaxW*float64(b.Dy())/float64(b.Dx())
		}
		x := g.Left
		if s.LetterheadRight {
			x = g.Width - g.Right - w
		}
		// Key 0 is never a body image's (those count from 1): the logo is
		// embedded once and drawn on every page.
		ops = append(ops, &Picture{X: x, Y: g.Top, W: w, H: ph, Img: s.Logo.Img, ContentType: s.Logo.ContentType, Key: 0, Src: s.Logo.Src, Ready: s.Logo.Ready})
		logoW, h = w+10, ph
	}
	f := font{face: fonts.SansBold, size: letterSize + 1.5, color: l.ink(Black)}
	y := g.Top
	width := l.textW - logoW
	for i, line := range s.Letterhead {
		if i == 1 {
			f = font{face: fonts.Sans, size: letterSize, color: DarkGray}
		}
		for _, ln := range breakLines(l.sh.items(document.T(line), f, nil), width) {
			x := g.Left + logoW
			if s.LetterheadRight {
				x = g.Width - g.Right - logoW - lineWidth(ln)
			}
			ops = lineOps(ln, x, y+baseline(f.size), ops)
			y += lineHeight(f.size)
		}
	}
	h = math.Max(h, y-g.Top)
	return ops, h + 8
}

// labBlock lays out the laboratory lines above the footer rule; it returns
// the ops (y relative to the block's top) and their height.
func (l *layouter) labBlock(s *document.Site) ([]Op, float64) {
	var ops []Op
	y := 0.0
	f := font{face: fonts.Sans, size: labSize, color: DarkGray}
	for i, line := range s.Laboratory {
		if i == 0 {
			f.face = fonts.SansBold
		} else {
			f.face = fonts.Sans
		}
		for _, ln := range breakLines(l.sh.items(document.T(line), f, nil), l.textW) {
			x := l.g.Left
			if s.RTL || rtlLine(ln) {
				x = l.g.Left + l.textW - lineWidth(ln)
			}
			ops = lineOps(ln, x, y+baseline(labSize), ops)
			y += lineHeight(labSize)
		}
	}
	return ops, y
}

// watermark lays out the word diagonally across the page centre, turned
// by the page's diagonal angle.
func (l *layouter) watermark(word string) []Op {
	g := l.g
	angle := math.Atan2(g.Height-g.Top-g.Bottom, g.Width-g.Left-g.Right) * 0.8
	f := font{face: fonts.SansBold, size: 100, color: watermarkColor}
	items := l.sh.itemsString(word, f, nil)
	w := 0.0
	for _, it := range items {
		w += it.w
	}
	diag := math.Hypot(g.Width, g.Height) * 0.6
	if w > diag {
		scale := diag / w
		f.size *= scale
		items = l.sh.itemsString(word, f, nil)
		w *= scale
	}
	ops := lineOps(items, 0, 0, nil)
	cos, sin := math.Cos(angle), math.Sin(angle)
	// The baseline's middle, lowered by a third of the size so the word's
	// body sits on the page centre.
	cx, cy := g.Width/2+f.size*0.35*sin, g.Height/2+f.size*0.35*cos
	x0, y0 := cx-w/2*cos, cy+w/2*sin
	out := ops[:0]
	for _, op := range ops {
		t, ok := op.(*Text)
		if !ok {
			continue
		}
		t.X, t.Y = x0+t.X*cos+t.Y*sin, y0-t.X*sin+t.Y*cos
		t.Angle = angle * 180 / math.Pi
		t.Offsets = nil
		out = append(out, t)
	}
	return out
}

// mirrorOps moves ops to their mirror image across the page's vertical
// centre line. Text ops that continue one another on one baseline (the
// runs of one line, already in visual order) move together, so a line
// keeps its reading order; lines, rules, boxes and pictures flip.
func mirrorOps(ops []Op, width float64) {
	for i := 0; i < len(ops); i++ {
		switch o := ops[i].(type) {
		case *Text:
			j, end := i, o.X+o.W
			for j+1 < len(ops) {
				n, ok := ops[j+1].(*Text)
				if !ok || n.Y != o.Y || math.Abs(n.X-end) > 0.01 {
					break
				}
				end = n.X + n.W
				j++
			}
			dx := (width - end) - o.X
			for k := i; k <= j; k++ {
				ops[k].(*Text).X += dx
			}
			i = j
		case *Line:
			o.X1, o.X2 = width-o.X1, width-o.X2
		case *Rect:
			o.X = width - o.X - o.W
		case *Picture:
			o.X = width - o.X - o.W
		}
	}
}
