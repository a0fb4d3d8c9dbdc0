package layout

import (
	"fmt"

	"github.com/foliohealth/folio/document"
	"github.com/foliohealth/folio/fonts"
)

// header builds the running header, identical on every page: facility and
// status banner, report title, and the patient identity line(s). It returns
// the ops (absolute positions) and the header's height below the top margin.
func (l *layouter) header(h *document.Header) ([]Op, float64) {
	g := l.g
	x, w := g.Left, l.textW
	y := g.Top
	var ops []Op
	// Status banner at the right of the first line.
	statusW := 0.0
	if h.Status != "" {
		size := 10.0
		sw := fonts.Get(fonts.SansBold).Width(h.Status) * size
		statusW = sw + 12
		red := Red
		ops = append(ops,
			&Rect{X: x + w - statusW, Y: y, W: statusW, H: 16, Stroke: &red, StrokeWidth: 1.5},
			&Text{X: x + w - statusW + 6, Y: y + 11.8, Face: fonts.SansBold, Size: size, Color: Red, S: h.Status, W: sw})
	}
	place := func(t document.Text, f font, width float64) {
		items := l.sh.items(t, f, nil)
		for _, ln := range breakLines(items, width) {
			ops = lineOps(ln, x, y+baseline(f.size), ops)
			y += lineHeight(f.size)
		}
	}
	if h.Facility != "" {
		place(document.T(h.Facility), font{face: fonts.SansBold, size: 8.5, color: DarkGray}, w-statusW-8)
	} else {
		y += lineHeight(8.5)
	}
	if y < g.Top+16 && statusW > 0 {
		y = g.Top + 16
	}
	place(document.T(h.Title), font{face: fonts.SansBold, size: 13, color: Black}, w)
	// Identity: "Label value" pairs separated by wide gaps, wrapped as a flow.
	var items []item
	for i, f := range h.Identity {
		if i > 0 {
			sp := item{kind: itemSpace, face: fonts.Sans, size: 8.5, s: "   ", w: fonts.Get(fonts.Sans).Width("   ") * 8.5}
			items = append(items, sp)
		}
		items = l.sh.items(document.T(f.Label+": "), font{face: fonts.Sans, size: 8.5, color: DarkGray}, items)
		// The value is glued to its label: replace breakable spaces inside
		// the value by nothing special; it may still wrap if very long.
		items = l.sh.items(f.Value, font{face: fonts.SansBold, size: 8.5, color: Black, phi: true}, items)
	}
	if len(items) > 0 {
		for _, ln := range breakLines(items, w) {
			ops = lineOps(ln, x, y+baseline(8.5), ops)
			y += lineHeight(8.5)
		}
	}
	y += 3
	ops = append(ops, &Line{X1: x, Y1: y, X2: x + w, Y2: y, Width: 1, Color: Black})
	return ops, y - g.Top
}

// footer appends the page footer: a rule, the footer text and "Page X of Y".
func (l *layouter) footer(ops []Op, h *document.Header, page, pages int) []Op {
	g := l.g
	x, w := g.Left, l.textW
	y := g.Height - g.Bottom - 14
	ops = append(ops, &Line{X1: x, Y1: y, X2: x + w, Y2: y, Width: 0.5, Color: Gray})
	size := smallSize + 0.5
	pg := fmt.Sprintf("Page %d of %d", page, pages)
	pw := fonts.Get(fonts.SansBold).Width(pg) * size
	ops = append(ops, &Text{X: x + w - pw, Y: y + 11, Face: fonts.SansBold, Size: size, Color: Black, S: pg, W: pw})
	if len(h.Footer) > 0 {
		items := l.sh.items(h.Footer, font{face: fonts.Sans, size: smallSize, color: DarkGray}, nil)
		lines := breakLines(items, w-pw-12)
		ops = lineOps(lines[0], x, y+11, ops)
	}
	return ops
}
