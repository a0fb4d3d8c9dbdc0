// Package raster paints laid-out pages into images and encodes page
// thumbnails, from the same layout and the same embedded fonts as the PDF.
//
// Painting never measures or lays out text: each glyph is placed at the
// text's start plus the sum of the preceding glyphs' hmtx advances, exactly as
// layout measured them, with no kerning and no hinting. Glyph outlines are
// rasterised with anti-aliasing by golang.org/x/image/vector; no external
// program runs. A Painter is used by one goroutine; any number of painters may
// run at once (they share only the immutable fonts and a concurrency-safe
// cache of parsed glyph outlines).
package raster

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"

	"github.com/disintegration/imaging"
	"golang.org/x/image/vector"

	"github.com/foliohealth/folio/fonts"
	"github.com/foliohealth/folio/render/layout"
)

// MaxPixels bounds the painted image (width times height), so that a page of
// absurd size or scale is refused instead of exhausting memory.
const MaxPixels = 64 << 20

// Painter paints layout operations into an RGBA image. It implements
// layout.Painter. A Painter is not safe for concurrent use.
type Painter struct {
	dst   *image.RGBA
	scale float64 // pixels per point
	// Deidentify leaves out text marked PHI (the running header's patient
	// identity fields).
	Deidentify bool
	// Grid, when positive, is the pixel grid in device pixels that text
	// baselines and the edges of horizontal and vertical rules and boxes
	// snap to, rules being at least one grid cell thick. It is 1 for an
	// image shown as painted and the oversampling factor for one that is
	// downsampled, so that each lands on whole pixels of the final image.
	// PDF rasterisers do the same (poppler's stroke adjustment, baselines
	// on whole pixels), which keeps thin rules and small text crisp.
	Grid int

	glyphs glyphCache
	z      vector.Rasterizer
	err    error
}

var _ layout.Painter = (*Painter)(nil)

// NewPainter returns a painter that draws into dst at scale pixels per
// point; page coordinate (0, 0) is dst.Bounds().Min.
func NewPainter(dst *image.RGBA, scale float64) *Painter {
	return &Painter{dst: dst, scale: scale}
}

// Err returns the first error met while painting (an unknown face, a glyph
// the font cannot load); the operations after it were still painted.
func (p *Painter) Err() error { return p.err }

func (p *Painter) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

// Paint paints page on a white image at scale pixels per point, snapping to
// whole pixels (see Painter.Grid). With deidentify, text marked PHI is left
// out.
func Paint(page layout.Page, scale float64, deidentify bool) (*image.RGBA, error) {
	return paint(page, scale, 1, deidentify)
}

func paint(page layout.Page, scale float64, grid int, deidentify bool) (*image.RGBA, error) {
	w, h, err := pixelSize(page, scale)
	if err != nil {
		return nil, err
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fillWhite(img.Pix)
	p := NewPainter(img, scale)
	p.Deidentify = deidentify
	p.Grid = grid
	for _, op := range page.Ops {
		op.Paint(p)
	}
	if p.err != nil {
		return nil, p.err
	}
	return img, nil
}

// pixels returns the number of whole pixels that cover a length of v pixels:
// partly covered pixels count, as pdftoppm counts them, but a rounding
// error in the last bits does not add one.
func pixels(v float64) float64 { return math.Ceil(v - 1e-6) }

// pixelSize returns the pixel size of page at scale, refusing sizes that
// are not finite and positive or that exceed MaxPixels.
func pixelSize(page layout.Page, scale float64) (w, h int, err error) {
	if !(page.Width > 0 && page.Height > 0) || math.IsInf(page.Width, 0) || math.IsInf(page.Height, 0) {
		return 0, 0, fmt.Errorf("raster: page size %gx%g pt is not positive", page.Width, page.Height)
	}
	if !(scale > 0) || math.IsInf(scale, 0) {
		return 0, 0, fmt.Errorf("raster: scale %g is not positive", scale)
	}
	fw, fh := pixels(page.Width*scale), pixels(page.Height*scale)
	if fw*fh > MaxPixels {
		return 0, 0, fmt.Errorf("raster: page of %gx%g pt at %g px/pt is over %d pixels", page.Width, page.Height, scale, MaxPixels)
	}
	return max(1, int(fw)), max(1, int(fh)), nil
}

// Text implements layout.Painter: glyph by glyph at the hmtx advances.
func (p *Painter) Text(t *layout.Text) {
	if t.PHI && p.Deidentify {
		return
	}
	if t.Face >= fonts.NumFaces {
		p.fail(fmt.Errorf("raster: text %q: unknown face %d", t.S, t.Face))
		return
	}
	if !(t.Size > 0) || t.Size*p.scale > maxGlyphPixels || !finite(t.X, t.Y) {
		p.fail(fmt.Errorf("raster: text %q: bad size %g or position (%g, %g)", t.S, t.Size, t.X, t.Y))
		return
	}
	face := fonts.Get(t.Face)
	b := p.dst.Bounds()
	if t.Angle != 0 {
		p.turnedText(t, face)
		return
	}
	// Baseline snapped to the grid; the pen advances in exact units.
	g := max(p.Grid, 1)
	by := b.Min.Y + g*int(math.Floor(t.Y*p.scale/float64(g)))
	k := t.Size * p.scale / float64(face.UnitsPerEm)
	x0 := float64(b.Min.X) + t.X*p.scale
	// No glyph reaches farther than a few ems from its origin; text wholly
	// above or below the image is skipped, and so are glyphs beside it.
	reach := 3 * t.Size * p.scale
	if float64(by)+reach < float64(b.Min.Y) || float64(by)-reach > float64(b.Max.Y) {
		return
	}
	units := 0
	offs := t.Offsets
	i := -1
	for _, r := range t.S {
		i++
		gl := face.Glyph(r)
		px := x0 + float64(units)*k
		gy := by
		if len(offs) > 0 && offs[0].Index == i {
			// A mark placed by the shaper.
			px += offs[0].DX * p.scale
			gy -= int(math.Round(offs[0].DY * p.scale))
			offs = offs[1:]
		}
		units += face.GlyphAdvance(gl)
		if px-reach > float64(b.Max.X) {
			break // advances are never negative
		}
		if px+reach < float64(b.Min.X) {
			continue
		}
		m, ix := p.glyphMask(face, gl, t.Size, px)
		if m == nil {
			continue
		}
		p.blendMask(ix+m.dx, gy+m.dy, m, t.Color)
	}
}

// blendMask composites colour c through mask m with its top-left corner at
// (x, y), clipped to the image.
func (p *Painter) blendMask(x, y int, m *mask, c layout.Color) {
	r := image.Rect(x, y, x+m.w, y+m.h).Intersect(p.dst.Rect)
	if r.Empty() {
		return
	}
	d := p.dst
	for yy := r.Min.Y; yy < r.Max.Y; yy++ {
		src := m.a[(yy-y)*m.w+(r.Min.X-x) : (yy-y)*m.w+(r.Max.X-x)]
		i := d.PixOffset(r.Min.X, yy)
		row := d.Pix[i : i+4*len(src) : i+4*len(src)]
		for j, a := range src {
			if a == 0 {
				continue
			}
			px := row[4*j : 4*j+4 : 4*j+4]
			if a == 0xFF {
				px[0], px[1], px[2], px[3] = c.R, c.G, c.B, 0xFF
				continue
			}
			px[0] = blend(px[0], c.R, a)
			px[1] = blend(px[1], c.G, a)
			px[2] = blend(px[2], c.B, a)
			px[3] = 0xFF - uint8((uint32(0xFF-px[3])*uint32(0xFF-a)+127)/255)
		}
	}
}

// blend returns d*(1-a) + s*a for 8-bit values and coverage a in 0..255.
func blend(d, s, a uint8) uint8 {
	return uint8((uint32(d)*uint32(0xFF-a) + uint32(s)*uint32(a) + 127) / 255)
}

// maxGlyphPixels bounds the size of text in pixels (per em), so that a
// corrupt size cannot ask for a glyph mask of gigabytes.
const maxGlyphPixels = 1024

// finite reports whether every value is a number within a range no page
// reaches (a million points is 350 metres).
func finite(v ...float64) bool {
	for _, x := range v {
		if !(x > -1e6 && x < 1e6) {
			return false
		}
	}
	return true
}

// Line implements layout.Painter: a butt-capped stroke.
func (p *Painter) Line(l *layout.Line) {
	if !finite(l.X1, l.Y1, l.X2, l.Y2, l.Width) || l.Width < 0 {
		p.fail(fmt.Errorf("raster: line (%g, %g)-(%g, %g) width %g: bad coordinates", l.X1, l.Y1, l.X2, l.Y2, l.Width))
		return
	}
	w := l.Width * p.scale
	x1, y1 := p.px(l.X1, l.Y1)
	x2, y2 := p.px(l.X2, l.Y2)
	switch {
	case y1 == y2:
		p.fillRule(min(x1, x2), y1-w/2, max(x1, x2), y1+w/2, l.Color)
	case x1 == x2:
		p.fillRule(x1-w/2, min(y1, y2), x1+w/2, max(y1, y2), l.Color)
	default:
		w = max(w, float64(p.Grid))
		dx, dy := x2-x1, y2-y1
		n := math.Hypot(dx, dy)
		nx, ny := -dy/n*w/2, dx/n*w/2
		p.fillPolygon(l.Color,
			x1+nx, y1+ny, x2+nx, y2+ny, x2-nx, y2-ny, x1-nx, y1-ny)
	}
}

// Rect implements layout.Painter: fill first, then an outline centred on
// the edges.
func (p *Painter) Rect(r *layout.Rect) {
	if !finite(r.X, r.Y, r.W, r.H, r.StrokeWidth) || r.StrokeWidth < 0 {
		p.fail(fmt.Errorf("raster: rect (%g, %g) %gx%g stroke %g: bad coordinates", r.X, r.Y, r.W, r.H, r.StrokeWidth))
		return
	}
	x0, y0 := p.px(r.X, r.Y)
	x1, y1 := p.px(r.X+r.W, r.Y+r.H)
	if x0 > x1 {
		x0, x1 = x1, x0
	}
	if y0 > y1 {
		y0, y1 = y1, y0
	}
	if r.Fill != nil {
		p.fillRule(x0, y0, x1, y1, *r.Fill)
	}
	if r.Stroke != nil {
		h := r.StrokeWidth * p.scale / 2
		c := *r.Stroke
		if p.Grid > 0 {
			// Snap the outer box, then draw sides one grid cell thick
			// at least, inside it.
			x0, x1 = p.snap(x0-h, x1+h)
			y0, y1 = p.snap(y0-h, y1+h)
			g := float64(p.Grid)
			t := g * max(1, math.Round(2*h/g))
			p.fillRect(x0, y0, x1, y0+t, c)
			p.fillRect(x0, y1-t, x1, y1, c)
			p.fillRect(x0, y0+t, x0+t, y1-t, c)
			p.fillRect(x1-t, y0+t, x1, y1-t, c)
			return
		}
		p.fillRect(x0-h, y0-h, x1+h, y0+h, c) // top
		p.fillRect(x0-h, y1-h, x1+h, y1+h, c) // bottom
		p.fillRect(x0-h, y0+h, x0+h, y1-h, c) // left
		p.fillRect(x1-h, y0+h, x1+h, y1-h, c) // right
	}
}

// snap rounds the span [a, b] to grid lines, keeping it at least one grid
// cell wide (poppler's stroke adjustment).
func (p *Painter) snap(a, b float64) (float64, float64) {
	g := float64(p.Grid)
	a, b = g*math.Round(a/g), g*math.Round(b/g)
	if b <= a {
		b = a + g
	}
	return a, b
}

// fillRule fills an axis-aligned rectangle, snapped to the grid when there
// is one.
func (p *Painter) fillRule(x0, y0, x1, y1 float64, c layout.Color) {
	if p.Grid > 0 {
		x0, x1 = p.snap(x0, x1)
		y0, y1 = p.snap(y0, y1)
	}
	p.fillRect(x0, y0, x1, y1, c)
}

// px converts a page position in points to image pixels.
func (p *Painter) px(x, y float64) (float64, float64) {
	b := p.dst.Rect.Min
	return float64(b.X) + x*p.scale, float64(b.Y) + y*p.scale
}

// fillRect paints the axis-aligned rectangle [x0,x1)x[y0,y1) in pixels
// with exact area coverage at its edges.
func (p *Painter) fillRect(x0, y0, x1, y1 float64, c layout.Color) {
	if !(x1 > x0 && y1 > y0) {
		return
	}
	b := p.dst.Rect
	ix0, iy0 := max(int(math.Floor(x0)), b.Min.X), max(int(math.Floor(y0)), b.Min.Y)
	ix1, iy1 := min(int(math.Ceil(x1)), b.Max.X), min(int(math.Ceil(y1)), b.Max.Y)
	for y := iy0; y < iy1; y++ {
		cy := overlap(float64(y), y0, y1)
		i := p.dst.PixOffset(ix0, y)
		for x := ix0; x < ix1; x, i = x+1, i+4 {
			a := uint8(math.Round(255 * cy * overlap(float64(x), x0, x1)))
			px := p.dst.Pix[i : i+4 : i+4]
			if a == 0xFF {
				px[0], px[1], px[2], px[3] = c.R, c.G, c.B, 0xFF
			} else if a != 0 {
				px[0] = blend(px[0], c.R, a)
				px[1] = blend(px[1], c.G, a)
				px[2] = blend(px[2], c.B, a)
				px[3] = 0xFF - uint8((uint32(0xFF-px[3])*uint32(0xFF-a)+127)/255)
			}
		}
	}
}

// overlap returns how much of the pixel [i, i+1) lies within [a, b).
func overlap(i, a, b float64) float64 {
	return max(0, min(i+1, b)-max(i, a))
}

// fillPolygon fills a closed polygon given as x, y pairs in pixels.
func (p *Painter) fillPolygon(c layout.Color, xy ...float64) {
	minX, minY := math.Inf(1), math.Inf(1)
	maxX, maxY := math.Inf(-1), math.Inf(-1)
	for i := 0; i < len(xy); i += 2 {
		minX, maxX = min(minX, xy[i]), max(maxX, xy[i])
		minY, maxY = min(minY, xy[i+1]), max(maxY, xy[i+1])
	}
	r := image.Rect(int(math.Floor(minX)), int(math.Floor(minY)), int(math.Ceil(maxX)), int(math.Ceil(maxY))).Intersect(p.dst.Rect)
	if r.Empty() {
		return
	}
	// The rasterizer covers the polygon's clipped bounding box; points
	// outside it are clipped by the rasterizer itself.
	ox, oy := float64(r.Min.X), float64(r.Min.Y)
	z := &p.z
	z.Reset(r.Dx(), r.Dy())
	z.MoveTo(float32(xy[0]-ox), float32(xy[1]-oy))
	for i := 2; i < len(xy); i += 2 {
		z.LineTo(float32(xy[i]-ox), float32(xy[i+1]-oy))
	}
	z.ClosePath()
	z.DrawOp = draw.Over
	z.Draw(p.dst, r, image.NewUniform(toRGBA(c)), image.Point{})
}

// Picture implements layout.Painter: the image resampled into its box.
func (p *Painter) Picture(pc *layout.Picture) {
	if pc.Img == nil {
		p.fail(errors.New("raster: picture without an image"))
		return
	}
	if !finite(pc.X, pc.Y, pc.W, pc.H) {
		p.fail(fmt.Errorf("raster: picture (%g, %g) %gx%g: bad coordinates", pc.X, pc.Y, pc.W, pc.H))
		return
	}
	x0, y0 := p.px(pc.X, pc.Y)
	x1, y1 := p.px(pc.X+pc.W, pc.Y+pc.H)
	r := image.Rect(int(math.Round(x0)), int(math.Round(y0)), int(math.Round(x1)), int(math.Round(y1))).Canon()
	if r.Empty() || r.Intersect(p.dst.Rect).Empty() {
		return
	}
	if d := p.dst.Rect; r.Dx() > 4*d.Dx() || r.Dy() > 4*d.Dy() {
		p.fail(fmt.Errorf("raster: picture (%g, %g) %gx%g is more than four times the page's size", pc.X, pc.Y, pc.W, pc.H))
		return
	}
	src, err := layout.Pixels(pc.Img)
	if err != nil {
		p.fail(fmt.Errorf("raster: picture: %w", err))
		return
	}
	if sb := src.Bounds(); sb.Dx() != r.Dx() || sb.Dy() != r.Dy() {
		src = imaging.Resize(src, r.Dx(), r.Dy(), imaging.Linear)
	}
	draw.Draw(p.dst, r, src, src.Bounds().Min, draw.Over)
}

func toRGBA(c layout.Color) color.RGBA { return color.RGBA{c.R, c.G, c.B, 0xFF} }

// fillWhite sets every byte of pix to 0xFF, doubling the filled prefix.
func fillWhite(pix []uint8) {
	if len(pix) == 0 {
		return
	}
	pix[0] = 0xFF
	for n := 1; n < len(pix); n *= 2 {
		copy(pix[n:], pix[:n])
	}
}

// glyphMask returns the glyph's coverage mask for a pen at x (pixels), at the
// nearest of subX sub-pixel phases, and the whole pixel its origin falls
// on; nil (after p.fail on an error) when there is nothing to draw.
func (p *Painter) glyphMask(face *fonts.Face, gl uint16, size, x float64) (*mask, int) {
	ix := math.Floor(x)
	ph := int(math.Round((x - ix) * subX))
	if ph == subX {
		ix, ph = ix+1, 0
	}
	m, err := p.glyphs.get(face, gl, size, p.scale, uint8(ph))
	if err != nil {
		p.fail(err)
		return nil, 0
	}
	return m, int(ix)
}

// turnedText draws a turned Text (a site's watermark): each glyph's mask
// turned about its origin, the origins stepped along the turned baseline.
func (p *Painter) turnedText(t *layout.Text, face *fonts.Face) {
	if !finite(t.Angle) {
		p.fail(fmt.Errorf("raster: text %q: bad angle %g", t.S, t.Angle))
		return
	}
	a := t.Angle * math.Pi / 180
	cos, sin := math.Cos(a), math.Sin(a)
	b := p.dst.Bounds()
	k := t.Size * p.scale / float64(face.UnitsPerEm)
	units := 0
	for _, r := range t.S {
		gl := face.Glyph(r)
		d := float64(units) * k
		px := float64(b.Min.X) + t.X*p.scale + d*cos
		py := float64(b.Min.Y) + t.Y*p.scale - d*sin
		units += face.GlyphAdvance(gl)
		m, ix := p.glyphMask(face, gl, t.Size, px)
		if m == nil {
			continue
		}
		m = turnMask(m, cos, sin)
		p.blendMask(ix+m.dx, int(math.Round(py))+m.dy, m, t.Color)
	}
}

// turnMask returns m turned counter-clockwise (y down: a vector (u, v)
// goes to (u cos + v sin, v cos - u sin)) about its origin, sampled
// bilinearly.
func turnMask(m *mask, cos, sin float64) *mask {
	fwd := func(u, v float64) (float64, float64) { return u*cos + v*sin, v*cos - u*sin }
	x0, y0 := math.Inf(1), math.Inf(1)
	x1, y1 := math.Inf(-1), math.Inf(-1)
	for _, c := range [][2]float64{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
		x, y := fwd(float64(m.dx)+c[0]*float64(m.w), float64(m.dy)+c[1]*float64(m.h))
		x0, y0, x1, y1 = math.Min(x0, x), math.Min(y0, y), math.Max(x1, x), math.Max(y1, y)
	}
	out := &mask{dx: int(math.Floor(x0)), dy: int(math.Floor(y0))}
	out.w, out.h = int(math.Ceil(x1))-out.dx, int(math.Ceil(y1))-out.dy
	out.a = make([]uint8, out.w*out.h)
	at := func(i, j int) float64 {
		if i < 0 || j < 0 || i >= m.w || j >= m.h {
			return 0
		}
		return float64(m.a[j*m.w+i])
	}
	for y := 0; y < out.h; y++ {
		for x := 0; x < out.w; x++ {
			// The source point of this pixel's centre (the inverse turn).
			X, Y := float64(out.dx+x)+0.5, float64(out.dy+y)+0.5
			u, v := X*cos-Y*sin-float64(m.dx)-0.5, X*sin+Y*cos-float64(m.dy)-0.5
			i, j := int(math.Floor(u)), int(math.Floor(v))
			fu, fv := u-float64(i), v-float64(j)
			a := at(i, j)*(1-fu)*(1-fv) + at(i+1, j)*fu*(1-fv) + at(i, j+1)*(1-fu)*fv + at(i+1, j+1)*fu*fv
			out.a[y*out.w+x] = uint8(math.Round(a))
		}
	}
	return out
}
