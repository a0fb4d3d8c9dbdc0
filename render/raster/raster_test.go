package raster_test

import (
	"image"
	"image/color"
	"math"
	"strings"
	"testing"

	"github.com/foliohealth/folio/fonts"
	"github.com/foliohealth/folio/render/layout"
	"github.com/foliohealth/folio/render/raster"
)

// ink reports whether the pixel is noticeably darker than white.
func ink(img image.Image, x, y int) bool {
	r, g, b, _ := img.At(x, y).RGBA()
	return r < 0xE000 || g < 0xE000 || b < 0xE000
}

// inkBounds returns the bounding box of all inked pixels and their count.
func inkBounds(img image.Image) (image.Rectangle, int) {
	var r image.Rectangle
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if ink(img, x, y) {
				r = r.Union(image.Rect(x, y, x+1, y+1))
				n++
			}
		}
	}
	return r, n
}

// textBox returns the pixel box a text op may ink at scale: from its start
// to its measured width, from the face's ascent to its descent.
func textBox(t *layout.Text, scale float64) image.Rectangle {
	f := fonts.Get(t.Face)
	em := t.Size / float64(f.UnitsPerEm)
	return image.Rect(
		int(math.Floor(t.X*scale)), int(math.Floor((t.Y-float64(f.Ascent)*em)*scale)),
		int(math.Ceil((t.X+f.Width(t.S)*t.Size)*scale)), int(math.Ceil((t.Y-float64(f.Descent)*em)*scale)))
}

func text(x, y float64, s string) *layout.Text {
	return &layout.Text{X: x, Y: y, Face: fonts.Sans, Size: 20, Color: layout.Black, S: s, W: fonts.Get(fonts.Sans).Width(s) * 20}
}

func paint(t *testing.T, page layout.Page, scale float64, deid bool) *image.RGBA {
	t.Helper()
	img, err := raster.Paint(page, scale, deid)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestTextLandsInItsBox(t *testing.T) {
	for _, s := range []string{"Hello, world", "Ki-67 ≥ 20%", "IIIIIIIIII", "WWW"} {
		tx := text(30.3, 60.7, s)
		page := layout.Page{Width: 300, Height: 100, Ops: []layout.Op{tx}}
		const scale = 2
		img := paint(t, page, scale, false)
		got, n := inkBounds(img)
		want := textBox(tx, scale)
		if !got.In(want.Inset(-1)) {
			t.Errorf("%q: ink %v outside the text box %v", s, got, want)
		}
		// The ink spans the measured width up to the side bearings.
		if got.Min.X > want.Min.X+4 || got.Max.X < want.Max.X-6 {
			t.Errorf("%q: ink %v does not span the measured width %v", s, got, want)
		}
		if n < 40*len(s) {
			t.Errorf("%q: only %d inked pixels", s, n)
		}
		// Nothing below the baseline for strings without descenders.
		if !strings.ContainsAny(s, ",gjpqy") && got.Max.Y > int(math.Ceil(tx.Y*scale))+1 {
			t.Errorf("%q: ink reaches row %d below the baseline at %g", s, got.Max.Y, tx.Y*scale)
		}
	}
}

// TestGlyphsAtMeasuredAdvances paints a string and, separately, each of its
// characters at the start plus the advances layout measured: the images must
// agree, so painting follows layout's positions and nothing else.
func TestGlyphsAtMeasuredAdvances(t *testing.T) {
	const s = "Adenocarcinoma, Gleason 3+4"
	f := fonts.Get(fonts.Sans)
	whole := layout.Page{Width: 400, Height: 40, Ops: []layout.Op{text(10, 25, s)}}
	parts := layout.Page{Width: 400, Height: 40}
	x := 10.0
	for _, r := range s {
		parts.Ops = append(parts.Ops, text(x, 25, string(r)))
		x += f.Advance(r) * 20
	}
	a := paint(t, whole, 1.5, false)
	b := paint(t, parts, 1.5, false)
	for i := range a.Pix {
		if d := int(a.Pix[i]) - int(b.Pix[i]); d > 2 || d < -2 {
			t.Fatalf("pixel %d: string %d, glyph by glyph %d", i/4, a.Pix[i], b.Pix[i])
		}
	}
	// And the last glyph ends where layout said the string ends.
	got, _ := inkBounds(a)
	end := (10 + f.Width(s)*20) * 1.5
	if math.Abs(float64(got.Max.X)-end) > 3 {
		t.Errorf("ink ends at x=%d, measured end %.1f", got.Max.X, end)
	}
}

func TestDeidentifyLeavesOutPHI(t *testing.T) {
	name := text(10, 30, "DOE, Jane")
	name.PHI = true
	title := text(10, 70, "Surgical Pathology")
	page := layout.Page{Width: 200, Height: 100, Ops: []layout.Op{name, title}}
	const scale = 2
	for _, deid := range []bool{false, true} {
		img := paint(t, page, scale, deid)
		nameInk, titleInk := 0, 0
		nb, tb := textBox(name, scale), textBox(title, scale)
		for y := 0; y < img.Rect.Dy(); y++ {
			for x := 0; x < img.Rect.Dx(); x++ {
				if !ink(img, x, y) {
					continue
				}
				switch p := image.Pt(x, y); {
				case p.In(nb):
					nameInk++
				case p.In(tb):
					titleInk++
				}
			}
		}
		if titleInk == 0 {
			t.Errorf("deidentify=%v: the title is gone", deid)
		}
		if deid && nameInk != 0 {
			t.Errorf("deidentified: %d pixels of the patient name remain", nameInk)
		}
		if !deid && nameInk == 0 {
			t.Errorf("as printed: the patient name is missing")
		}
	}
}

func TestRectsAndLines(t *testing.T) {
	gray, red := layout.LightGray, layout.Red
	page := layout.Page{Width: 100, Height: 100, Ops: []layout.Op{
		&layout.Rect{X: 10, Y: 10, W: 30, H: 20, Fill: &gray},
		&layout.Rect{X: 50, Y: 10, W: 40, H: 40, Stroke: &red, StrokeWidth: 1},
		&layout.Line{X1: 10, Y1: 70, X2: 90, Y2: 70, Width: 0.25, Color: layout.Black},
		&layout.Line{X1: 10, Y1: 80, X2: 90, Y2: 95, Width: 2, Color: layout.Black},
	}}
	img := paint(t, page, 2, false)
	at := func(x, y int) color.RGBA { return img.RGBAAt(x, y) }
	white := color.RGBA{0xFF, 0xFF, 0xFF, 0xFF}
	checks := []struct {
		what string
		x, y int
		want color.RGBA
	}{
		{"fill inside", 50, 40, color.RGBA{0xE6, 0xE6, 0xE6, 0xFF}},
		{"fill corner", 21, 21, color.RGBA{0xE6, 0xE6, 0xE6, 0xFF}},
		{"left of fill", 18, 40, white},
		{"below fill", 50, 61, white},
		{"outline top", 140, 20, color.RGBA{0xB0, 0, 0, 0xFF}},
		{"outline left", 100, 60, color.RGBA{0xB0, 0, 0, 0xFF}},
		{"outline right", 180, 60, color.RGBA{0xB0, 0, 0, 0xFF}},
		{"inside outline", 140, 60, white},
		{"hairline", 100, 140, color.RGBA{0, 0, 0, 0xFF}},
		{"above hairline", 100, 137, white},
		{"below hairline", 100, 142, white},
		{"diagonal line", 100, 2 * (80 + 15*40.0/80), color.RGBA{0, 0, 0, 0xFF}},
		{"beside diagonal", 100, 2*(80+15*40.0/80) + 8, white},
	}
	for _, c := range checks {
		if got := at(c.x, c.y); got != c.want {
			t.Errorf("%s (%d,%d): %v, want %v", c.what, c.x, c.y, got, c.want)
		}
	}
	// A hairline thinner than a pixel is still one whole pixel row.
	rows := 0
	for y := 130; y < 150; y++ {
		if at(100, y) != white {
			rows++
		}
	}
	if rows != 1 {
		t.Errorf("hairline covers %d rows, want 1", rows)
	}
}

func TestPicture(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 2, 2))
	src.Set(0, 0, color.NRGBA{0xFF, 0, 0, 0xFF})
	src.Set(1, 0, color.NRGBA{0, 0, 0xFF, 0xFF})
	src.Set(0, 1, color.NRGBA{0, 0xFF, 0, 0xFF})
	src.Set(1, 1, color.NRGBA{0, 0, 0, 0}) // transparent: page shows through
	page := layout.Page{Width: 100, Height: 100, Ops: []layout.Op{
		&layout.Picture{X: 20, Y: 20, W: 60, H: 60, Img: src, ContentType: "image/png"},
	}}
	img := paint(t, page, 1, false)
	near := func(c color.RGBA, r, g, b uint8) bool {
		d := func(a, b uint8) bool { return math.Abs(float64(a)-float64(b)) < 40 }
		return d(c.R, r) && d(c.G, g) && d(c.B, b)
	}
	if c := img.RGBAAt(30, 30); !near(c, 0xFF, 0, 0) {
		t.Errorf("top left quadrant %v, want red", c)
	}
	if c := img.RGBAAt(70, 30); !near(c, 0, 0, 0xFF) {
		t.Errorf("top right quadrant %v, want blue", c)
	}
	if c := img.RGBAAt(30, 70); !near(c, 0, 0xFF, 0) {
		t.Errorf("bottom left quadrant %v, want green", c)
	}
	if c := img.RGBAAt(75, 75); !near(c, 0xFF, 0xFF, 0xFF) {
		t.Errorf("transparent quadrant %v, want white", c)
	}
	// The picture fills exactly its box, [20, 80) in both directions.
	for _, p := range []image.Point{{10, 50}, {19, 30}, {80, 30}, {30, 19}, {30, 80}} {
		if c := img.RGBAAt(p.X, p.Y); c != (color.RGBA{0xFF, 0xFF, 0xFF, 0xFF}) {
			t.Errorf("outside the picture at %v: %v, want white", p, c)
		}
	}
	for _, p := range []image.Point{{20, 30}, {79, 30}, {30, 20}, {30, 79}} {
		if c := img.RGBAAt(p.X, p.Y); near(c, 0xFF, 0xFF, 0xFF) {
			t.Errorf("inside the picture at %v: white", p)
		}
	}
}

func TestTextColour(t *testing.T) {
	tx := text(10, 40, "PRELIMINARY")
	tx.Color = layout.Red
	img := paint(t, layout.Page{Width: 200, Height: 60, Ops: []layout.Op{tx}}, 2, false)
	solid := 0
	for i := 0; i < len(img.Pix); i += 4 {
		p := img.Pix[i : i+4]
		if p[1] != p[2] {
			t.Fatalf("pixel %d: %v is not on the white-red ramp", i/4, p)
		}
		if p[0] == 0xB0 && p[1] == 0 {
			solid++
		}
	}
	if solid < 100 {
		t.Errorf("only %d fully red pixels", solid)
	}
}

func TestPaintRefusesBadPages(t *testing.T) {
	tests := []struct {
		name  string
		page  layout.Page
		scale float64
		want  string
	}{
		{"zero size", layout.Page{Width: 0, Height: 792}, 1, "not positive"},
		{"NaN size", layout.Page{Width: math.NaN(), Height: 792}, 1, "not positive"},
		{"zero scale", layout.Page{Width: 612, Height: 792}, 0, "scale"},
		{"huge", layout.Page{Width: 612, Height: 792}, 1000, "pixels"},
		{"unknown face", layout.Page{Width: 100, Height: 100, Ops: []layout.Op{
			&layout.Text{X: 1, Y: 50, Face: 200, Size: 10, S: "x"}}}, 1, "unknown face"},
		{"bad size", layout.Page{Width: 100, Height: 100, Ops: []layout.Op{
			&layout.Text{X: 1, Y: 50, Face: fonts.Sans, Size: -3, S: "x"}}}, 1, "bad size"},
		{"huge text", layout.Page{Width: 100, Height: 100, Ops: []layout.Op{
			&layout.Text{X: 1, Y: 50, Face: fonts.Sans, Size: 1e7, S: "x"}}}, 1, "bad size"},
		{"text at infinity", layout.Page{Width: 100, Height: 100, Ops: []layout.Op{
			&layout.Text{X: math.Inf(1), Y: 50, Face: fonts.Sans, Size: 10, S: "x"}}}, 1, "position"},
		{"NaN line", layout.Page{Width: 100, Height: 100, Ops: []layout.Op{
			&layout.Line{X1: math.NaN(), Y1: 1, X2: 5, Y2: 9, Width: 1}}}, 1, "bad coordinates"},
		{"negative line width", layout.Page{Width: 100, Height: 100, Ops: []layout.Op{
			&layout.Line{X1: 1, Y1: 1, X2: 5, Y2: 9, Width: -1}}}, 1, "bad coordinates"},
		{"NaN rect", layout.Page{Width: 100, Height: 100, Ops: []layout.Op{
			&layout.Rect{X: 1, Y: 1, W: math.NaN(), H: 9, Fill: &layout.Black}}}, 1, "bad coordinates"},
		{"infinite picture", layout.Page{Width: 100, Height: 100, Ops: []layout.Op{
			&layout.Picture{X: 1, Y: 1, W: math.Inf(1), H: 10, Img: image.NewGray(image.Rect(0, 0, 2, 2))}}}, 1, "bad coordinates"},
		{"giant picture", layout.Page{Width: 100, Height: 100, Ops: []layout.Op{
			&layout.Picture{X: 1, Y: 1, W: 1e5, H: 10, Img: image.NewGray(image.Rect(0, 0, 2, 2))}}}, 1, "four times"},
		{"picture without image", layout.Page{Width: 100, Height: 100, Ops: []layout.Op{
			&layout.Picture{X: 1, Y: 1, W: 10, H: 10}}}, 1, "without an image"},
	}
	for _, tt := range tests {
		_, err := raster.Paint(tt.page, tt.scale, false)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one saying %q", tt.name, err, tt.want)
		}
	}
}

// TestPainterIsAPainter paints through the layout.Painter interface into an
// image with a non-zero origin.
func TestPainterOffsetOrigin(t *testing.T) {
	dst := image.NewRGBA(image.Rect(100, 100, 300, 200))
	p := raster.NewPainter(dst, 1)
	var lp layout.Painter = p
	lp.Rect(&layout.Rect{X: 10, Y: 10, W: 20, H: 20, Fill: &layout.Black})
	if p.Err() != nil {
		t.Fatal(p.Err())
	}
	if c := dst.RGBAAt(115, 115); c != (color.RGBA{0, 0, 0, 0xFF}) {
		t.Errorf("(115,115) = %v, want black", c)
	}
	if c := dst.RGBAAt(105, 105); c.A != 0 {
		t.Errorf("(105,105) = %v, want untouched", c)
	}
}

// TestGlyphOffsets: a mark the shaper placed (layout.GlyphOffset) is
// painted at its offset, the pen unaffected.
func TestGlyphOffsets(t *testing.T) {
	page := func(offs []layout.GlyphOffset) layout.Page {
		tx := text(20, 60, "\u064E") // fatha alone: a zero-advance mark
		tx.Offsets = offs
		return layout.Page{Width: 100, Height: 100, Ops: []layout.Op{tx}}
	}
	plain, n := inkBounds(paint(t, page(nil), 2, false))
	moved, m := inkBounds(paint(t, page([]layout.GlyphOffset{{Index: 0, DX: 10, DY: 15}}), 2, false))
	if n == 0 || m == 0 {
		t.Fatal("mark not painted")
	}
	if dx, dy := moved.Min.X-plain.Min.X, plain.Min.Y-moved.Min.Y; dx < 19 || dx > 21 || dy < 29 || dy > 31 {
		t.Errorf("mark moved by (%d, %d) px, want (20, 30) at scale 2: %v -> %v", dx, dy, plain, moved)
	}
}
