package layout

import (
	"math"

	"github.com/foliohealth/folio/document"
	"github.com/foliohealth/folio/fonts"
)

// table lays out a ruled table. Column widths follow the content (each
// column gets at least its longest word where possible, the rest shared in
// proportion to natural widths). Every row is a chain of line bands so that
// a row taller than a page can still break; every band after the header
// carries the header for repetition at the top of a continued page.
func (l *layouter) table(t document.Table, x, width float64) []*box {
	ncol := len(t.Header)
	for _, r := range t.Rows {
		ncol = max(ncol, len(r))
	}
	if ncol == 0 {
		return nil
	}
	size := bodySize - 0.5
	hf := font{face: fonts.SansBold, size: size, color: Black}
	bf := font{face: fonts.Sans, size: size, color: Black}
	// Measure: natural (one-line) and minimum (longest unbreakable run)
	// widths per column.
	nat := make([]float64, ncol)
	minw := make([]float64, ncol)
	measure := func(cells []document.Text, f font) {
		for c, cell := range cells {
			items := l.sh.items(cell, f, nil)
			lineW, longest := 0.0, 0.0
			for i := 0; i < len(items); {
				if items[i].kind == itemBreak {
					nat[c] = math.Max(nat[c], lineW)
					lineW = 0
					i++
					continue
				}
				j, w := gluedRun(items, i)
				if j == i {
					lineW += items[i].w
					i++
					continue
				}
				longest = math.Max(longest, w)
				lineW += w
				i = j
			}
			nat[c] = math.Max(nat[c], lineW)
			minw[c] = math.Max(minw[c], longest)
		}
	}
	measure(t.Header, hf)
	for _, r := range t.Rows {
		measure(r, bf)
	}
	widths := columnWidths(nat, minw, width-float64(ncol)*2*cellPadX)
	for i := range widths {
		widths[i] += 2 * cellPadX
	}
	var hdr []*box
	if len(t.Header) > 0 {
		bg := LightGray
		hdr = l.tableRow(t.Header, t.Align, hf, x, widths, &bg, true)
		for _, b := range hdr {
			b.keep = true
		}
	}
	var out []*box
	out = append(out, hdr...)
	for _, r := range t.Rows {
		bands := l.tableRow(r, t.Align, bf, x, widths, nil, len(hdr) == 0 && len(out) == 0)
		for _, b := range bands {
			b.header = hdr
		}
		out = append(out, bands...)
	}
	if len(out) > 0 {
		out[0].before = paraGap + 1
	}
	return out
}

// columnWidths shares width among columns: natural widths when they fit,
// else minimum widths (scaled down if even they do not fit) plus the rest in
// proportion to how much more each column would like.
func columnWidths(nat, minw []float64, width float64) []float64 {
	n := len(nat)
	out := make([]float64, n)
	sumNat, sumMin := 0.0, 0.0
	for i := range nat {
		sumNat += nat[i]
		sumMin += minw[i]
	}
	switch {
	case sumNat <= width:
		extra := (width - sumNat) / float64(n)
		for i := range out {
			out[i] = nat[i] + extra
		}
	case sumMin >= width:
		for i := range out {
			if sumMin > 0 {
				out[i] = minw[i] / sumMin * width
			} else {
				out[i] = width / float64(n)
			}
		}
	default:
		rest := width - sumMin
		want := sumNat - sumMin
		for i := range out {
			out[i] = minw[i] + (nat[i]-minw[i])/want*rest
		}
	}
	for i := range out {
		out[i] = math.Max(out[i], 1)
	}
	return out
}

// tableRow lays out one row as bands of one line height each.
func (l *layouter) tableRow(cells []document.Text, align []document.Align, f font, x float64, widths []float64, fill *Color, top bool) []*box {
	lh := lineHeight(f.size)
	bl := baseline(f.size)
	lines := make([][][]item, len(widths))
	n := 1
	for c := range widths {
		var cell document.Text
		if c < len(cells) {
			cell = cells[c]
		}
		lines[c] = breakLines(l.sh.items(cell, f, nil), widths[c]-2*cellPadX)
		n = max(n, len(lines[c]))
	}
	total := 0.0
	for _, w := range widths {
		total += w
	}
	bands := make([]*box, n)
	for k := 0; k < n; k++ {
		b := &box{h: lh, keep: k < n-1}
		yoff := 0.0
		if k == 0 {
			b.h += cellPadY
			yoff = cellPadY
		}
		if k == n-1 {
			b.h += cellPadY
		}
		if fill != nil {
			b.ops = append(b.ops, &Rect{X: x, Y: 0, W: total, H: b.h, Fill: fill})
		}
		cx := x
		for c, w := range widths {
			if k < len(lines[c]) {
				ln := lines[c][k]
				lx := cx + cellPadX
				if (c >= len(align) || align[c] == document.AlignLeft) && rtlLine(ln) {
					// A right-to-left cell in a column without a
					// stated alignment (markdown cannot tell default
					// from left) aligns right.
					lx = cx + w - cellPadX - lineWidth(ln)
				} else if c < len(align) {
					lw := lineWidth(ln)
					switch align[c] {
					case document.AlignRight:
						lx = cx + w - cellPadX - lw
					case document.AlignCenter:
						lx = cx + (w-lw)/2
					}
				}
				b.ops = lineOps(ln, lx, yoff+bl, b.ops)
			}
			cx += w
		}
		// Rules: verticals at every column boundary, a top rule on the first
		// band of the header (or of a header-less table) and a bottom rule on
		// the last band of every row.
		cx = x
		for c := 0; c <= len(widths); c++ {
			b.ops = append(b.ops, &Line{X1: cx, Y1: 0, X2: cx, Y2: b.h, Width: 0.5, Color: Gray})
			if c < len(widths) {
				cx += widths[c]
			}
		}
		if k == 0 && top {
			b.ops = append(b.ops, &Line{X1: x, Y1: 0, X2: x + total, Y2: 0, Width: 0.5, Color: Gray})
		}
		if k == n-1 {
			b.ops = append(b.ops, &Line{X1: x, Y1: b.h, X2: x + total, Y2: b.h, Width: 0.5, Color: Gray})
		}
		bands[k] = b
	}
	return bands
}
