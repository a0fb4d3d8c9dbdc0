package layout

// A box is the unit of pagination: a vertical slice of the body that is never
// split, such as one line of a paragraph, one band of a table row or an image.
// Its ops are positioned with y relative to the box's top.
type box struct {
	h      float64 // height
	before float64 // space above; dropped at the top of a page
	keep   bool    // keep on the same page as the next box
	ops    []Op
	// header, when set, is a table header that is repeated at the top of a
	// page that this box starts (a continued table).
	header []*box
}

// placed is a box at a vertical offset in the body frame of a page.
type placed struct {
	b *box
	y float64
}

// paginate assigns boxes to pages of body height bodyH. It is a pure
// function of box heights and flags:
//   - a chain of boxes joined by keep stays on one page when it fits on an
//     empty page (a heading with the start of its section, the lines of one
//     table row, a paragraph's first and last two lines);
//   - a chain taller than a page breaks wherever it must;
//   - space before a box is dropped at the top of a page;
//   - a box with a header that starts a page gets the header repeated above it.
func paginate(boxes []*box, bodyH float64) [][]placed {
	var pages [][]placed
	var cur []placed
	y := 0.0
	newPage := func() {
		pages = append(pages, cur)
		cur = nil
		y = 0
	}
	headerH := func(hdr []*box) float64 {
		t := 0.0
		for _, b := range hdr {
			t += b.h
		}
		return t
	}
	put := func(b *box) {
		if len(cur) == 0 && b.header != nil {
			for _, hb := range b.header {
				cur = append(cur, placed{hb, y})
				y += hb.h
			}
		}
		if y > 0 {
			y += b.before
		}
		cur = append(cur, placed{b, y})
		y += b.h
	}
	i := 0
	for i < len(boxes) {
		j := i
		for j < len(boxes)-1 && boxes[j].keep {
			j++
		}
		// Height of the chain where it stands and at the top of a new page.
		here, top := 0.0, 0.0
		for k := i; k <= j; k++ {
			here += boxes[k].h + boxes[k].before
			top += boxes[k].h + boxes[k].before
		}
		if y == 0 {
			here -= boxes[i].before
		}
		top -= boxes[i].before
		if boxes[i].header != nil {
			top += headerH(boxes[i].header)
		}
		if y+here <= bodyH {
			for k := i; k <= j; k++ {
				put(boxes[k])
			}
			i = j + 1
			continue
		}
		if len(cur) > 0 && top <= bodyH {
			newPage()
			for k := i; k <= j; k++ {
				put(boxes[k])
			}
			i = j + 1
			continue
		}
		// Taller than a page: break inside the chain wherever needed.
		for k := i; k <= j; k++ {
			b := boxes[k]
			need := b.h
			if y > 0 {
				need += b.before
			}
			if len(cur) > 0 && y+need > bodyH {
				newPage()
			}
			put(b)
		}
		i = j + 1
	}
	if len(cur) > 0 || len(pages) == 0 {
		pages = append(pages, cur)
	}
	return pages
}
