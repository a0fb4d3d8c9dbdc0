package raster

import (
	"fmt"
	"image"
	"image/draw"
	"math"
	"sync"
	"sync/atomic"

	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
	"golang.org/x/image/vector"

	"github.com/foliohealth/folio/fonts"
)

// outline is one glyph's contour in font units, y growing downwards, as
// sfnt.LoadGlyph returns it at ppem = units per em. Outlines are immutable
// once built and shared by every painter in the process.
type outline struct {
	ops  []sfnt.SegmentOp
	pts  []float32 // 2, 2 or 4 or 6 coordinates per op (move, line, quad, cube)
	minX float32   // control-point bounds, font units
	minY float32
	maxX float32
	maxY float32
}

// maxOutlines bounds the process-wide outline cache. The Latin faces have a
// few thousand glyphs between them; the CJK fallback has tens of thousands,
// and a stream of CJK reports must not grow the cache without end. Past the
// bound outlines are parsed per paint and not kept.
const maxOutlines = 8192

var (
	outlines     sync.Map // uint32(face)<<16 | glyph -> *outline
	outlineCount atomic.Int32
)

// loadOutline returns the outline of glyph g of face, from the process-wide
// cache when it is there. buf is the caller's own parse buffer.
func loadOutline(buf *sfnt.Buffer, face *fonts.Face, g uint16) (*outline, error) {
	key := uint32(face.ID)<<16 | uint32(g)
	if o, ok := outlines.Load(key); ok {
		return o.(*outline), nil
	}
	segs, err := face.Font.LoadGlyph(buf, sfnt.GlyphIndex(g), fixed.I(face.UnitsPerEm), nil)
	if err != nil {
		return nil, fmt.Errorf("raster: %s glyph %d: %w", face.Name, g, err)
	}
	o := &outline{ops: make([]sfnt.SegmentOp, len(segs))}
	n := 0
	for _, s := range segs {
		n += 2 * argCount(s.Op)
	}
	o.pts = make([]float32, 0, n)
	o.minX, o.minY = math.MaxFloat32, math.MaxFloat32
	o.maxX, o.maxY = -math.MaxFloat32, -math.MaxFloat32
	for i, s := range segs {
		o.ops[i] = s.Op
		for j := 0; j < argCount(s.Op); j++ {
			x := float32(s.Args[j].X) / 64
			y := float32(s.Args[j].Y) / 64
			o.pts = append(o.pts, x, y)
			o.minX = min(o.minX, x)
			o.minY = min(o.minY, y)
			o.maxX = max(o.maxX, x)
			o.maxY = max(o.maxY, y)
		}
	}
	if outlineCount.Load() < maxOutlines {
		if _, loaded := outlines.LoadOrStore(key, o); !loaded {
			outlineCount.Add(1)
		}
	}
	return o, nil
}

func argCount(op sfnt.SegmentOp) int {
	switch op {
	case sfnt.SegmentOpQuadTo:
		return 2
	case sfnt.SegmentOpCubeTo:
		return 3
	}
	return 1
}

// Glyphs are rasterised at a quarter-pixel horizontal phase; baselines are
// snapped to whole device pixels (what hinting renderers do too), so one
// glyph at one size has at most subX masks per paint.
const subX = 4

// glyphKey names one glyph mask within one paint: face, glyph, horizontal
// phase (in 1/subX pixel) and the size in points as float32 bits, packed in
// one word so that the map hashes it cheaply. The scale is fixed for a paint,
// so the size in points stands for the size in pixels.
type glyphKey uint64

func makeGlyphKey(face fonts.ID, g uint16, size float64, phase uint8) glyphKey {
	return glyphKey(uint64(face)<<56 | uint64(phase)<<48 | uint64(g)<<32 | uint64(math.Float32bits(float32(size))))
}

// mask is a rasterised glyph: coverage in a w x h box whose top-left corner
// is (dx, dy) from the pen position (whole pixels, on the baseline).
type mask struct {
	dx, dy, w, h int
	a            []uint8
}

// glyphCache rasterises glyphs on demand and keeps the masks for one paint.
// It is not safe for concurrent use.
type glyphCache struct {
	buf   sfnt.Buffer
	z     vector.Rasterizer
	masks map[glyphKey]*mask
	slab  []uint8 // masks are carved from this to keep allocations few
}

// get returns the mask of glyph g of face at size points (scale pixels per
// point) and the given phase; nil for a glyph with no ink (a space).
func (c *glyphCache) get(face *fonts.Face, g uint16, size float64, scale float64, phase uint8) (*mask, error) {
	k := makeGlyphKey(face.ID, g, size, phase)
	if m, ok := c.masks[k]; ok {
		return m, nil
	}
	o, err := loadOutline(&c.buf, face, g)
	if err != nil {
		return nil, err
	}
	m := c.rasterize(o, float32(size*scale/float64(face.UnitsPerEm)), float32(phase)/subX)
	if c.masks == nil {
		c.masks = make(map[glyphKey]*mask, 256)
	}
	c.masks[k] = m
	return m, nil
}

// rasterize draws outline o scaled by k pixels per font unit with its origin
// at (ox, 0) into a new coverage mask.
func (c *glyphCache) rasterize(o *outline, k, ox float32) *mask {
	if len(o.ops) == 0 {
		return nil
	}
	x0 := int(math.Floor(float64(ox + o.minX*k)))
	y0 := int(math.Floor(float64(o.minY * k)))
	x1 := int(math.Ceil(float64(ox + o.maxX*k)))
	y1 := int(math.Ceil(float64(o.maxY * k)))
	w, h := x1-x0, y1-y0
	if w <= 0 || h <= 0 {
		return nil
	}
	tx, ty := ox-float32(x0), -float32(y0)
	z := &c.z
	z.Reset(w, h)
	p := o.pts
	for _, op := range o.ops {
		switch op {
		case sfnt.SegmentOpMoveTo:
			z.MoveTo(tx+p[0]*k, ty+p[1]*k)
			p = p[2:]
		case sfnt.SegmentOpLineTo:
			z.LineTo(tx+p[0]*k, ty+p[1]*k)
			p = p[2:]
		case sfnt.SegmentOpQuadTo:
			z.QuadTo(tx+p[0]*k, ty+p[1]*k, tx+p[2]*k, ty+p[3]*k)
			p = p[4:]
		case sfnt.SegmentOpCubeTo:
			z.CubeTo(tx+p[0]*k, ty+p[1]*k, tx+p[2]*k, ty+p[3]*k, tx+p[4]*k, ty+p[5]*k)
			p = p[6:]
		}
	}
	z.ClosePath()
	n := w * h
	if len(c.slab) < n {
		c.slab = make([]uint8, max(n, 16<<10))
	}
	m := &mask{dx: x0, dy: y0, w: w, h: h, a: c.slab[:n:n]}
	c.slab = c.slab[n:]
	z.DrawOp = draw.Src
	r := image.Rect(0, 0, w, h)
	z.Draw(&image.Alpha{Pix: m.a, Stride: w, Rect: r}, r, image.Opaque, image.Point{})
	return m
}
