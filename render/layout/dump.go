package layout

import (
	"fmt"
	"strings"
)

// Dump writes a readable listing of pages and their ops, one op per line,
// positions rounded to 0.1 pt. Golden files under fixtures/ hold it, so a
// layout change shows up as a reviewable text diff.
func Dump(pages []Page) string {
	var sb strings.Builder
	for i, p := range pages {
		fmt.Fprintf(&sb, "page %d %.1fx%.1f\n", i+1, p.Width, p.Height)
		for _, op := range p.Ops {
			switch o := op.(type) {
			case *Text:
				phi := ""
				if o.PHI {
					phi = " phi"
				}
				if o.Angle != 0 {
					phi += fmt.Sprintf(" angle=%.0f", o.Angle)
				}
				fmt.Fprintf(&sb, "  text %.1f %.1f %s %.1f w=%.1f%s %q\n", o.X, o.Y, o.Face, o.Size, o.W, phi, o.S)
				for _, g := range o.Offsets {
					fmt.Fprintf(&sb, "    glyph %d offset %.1f %.1f\n", g.Index, g.DX, g.DY)
				}
			case *Line:
				fmt.Fprintf(&sb, "  line %.1f %.1f %.1f %.1f\n", o.X1, o.Y1, o.X2, o.Y2)
			case *Rect:
				fmt.Fprintf(&sb, "  rect %.1f %.1f %.1f %.1f\n", o.X, o.Y, o.W, o.H)
			case *Picture:
				b := o.Img.Bounds()
				fmt.Fprintf(&sb, "  picture %.1f %.1f %.1f %.1f %dx%d %s\n", o.X, o.Y, o.W, o.H, b.Dx(), b.Dy(), o.ContentType)
			}
		}
	}
	return sb.String()
}
