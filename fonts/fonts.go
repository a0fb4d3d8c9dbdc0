// Package fonts holds folio's embedded typefaces and the metrics that layout
// measures text with; painters load the very same TTF bytes, so measured and
// painted widths agree.
//
// Faces are parsed once per process and are safe for concurrent use by any
// number of render jobs. The package does not shape text (render/layout
// does): every glyph advances by its hmtx width.
package fonts

import (
	_ "embed"
	"fmt"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// ID names one embedded face. IDs are small integers so that layout output
// can carry them cheaply.
type ID uint8

// The embedded faces.
const (
	Sans ID = iota
	SansBold
	SansItalic
	SansBoldItalic
	Mono
	MonoBold
	CJK // DroidSansFallback: CJK ideographs, kana, hangul; one weight only
	NumFaces
)

// Replacement is the rune drawn in place of a character that no embedded face
// covers.
const Replacement = '\uFFFD'

var (
	//go:embed DejaVuSans.ttf
	dejaVuSans []byte
	//go:embed DejaVuSans-Bold.ttf
	dejaVuSansBold []byte
	//go:embed DejaVuSans-Oblique.ttf
	dejaVuSansOblique []byte
	//go:embed DejaVuSans-BoldOblique.ttf
	dejaVuSansBoldOblique []byte
	//go:embed DejaVuSansMono.ttf
	dejaVuSansMono []byte
	//go:embed DejaVuSansMono-Bold.ttf
	dejaVuSansMonoBold []byte
	//go:embed DroidSansFallbackFull.ttf
	droidSansFallback []byte
)

var sources = [NumFaces]struct {
	name string
	ttf  []byte
}{
	Sans:           {"DejaVuSans", dejaVuSans},
	SansBold:       {"DejaVuSans-Bold", dejaVuSansBold},
	SansItalic:     {"DejaVuSans-Oblique", dejaVuSansOblique},
	SansBoldItalic: {"DejaVuSans-BoldOblique", dejaVuSansBoldOblique},
	Mono:           {"DejaVuSansMono", dejaVuSansMono},
	MonoBold:       {"DejaVuSansMono-Bold", dejaVuSansMonoBold},
	CJK:            {"DroidSansFallbackFull", droidSansFallback},
}

// Face is one parsed typeface: its TTF bytes and the per-rune glyph index
// and advance tables for the Basic Multilingual Plane. A Face is immutable
// after loading and safe for concurrent use.
type Face struct {
	ID   ID
	Name string // PostScript-style name, e.g. "DejaVuSans-Bold"
	TTF  []byte // the complete font file as embedded

	UnitsPerEm int
	Ascent     int // font units above the baseline (hhea), positive
	Descent    int // font units below the baseline (hhea), negative
	CapHeight  int // font units
	ItalicDeg  float64

	Font *sfnt.Font // parsed font; use with a per-goroutine sfnt.Buffer

	gid [0x10000]uint16 // BMP rune -> glyph index, 0 = missing
	adv []uint16        // glyph index -> advance width in font units
}

var (
	loadOnce sync.Once
	faces    [NumFaces]*Face
	loadErr  error
)

// Load parses every embedded face. It is called by Get and may be called at
// start-up to surface a broken font file early.
func Load() error {
	loadOnce.Do(func() {
		var wg sync.WaitGroup
		errs := make([]error, NumFaces)
		for id := ID(0); id < NumFaces; id++ {
			wg.Add(1)
			go func(id ID) {
				defer wg.Done()
				faces[id], errs[id] = parse(id, sources[id].name, sources[id].ttf)
			}(id)
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				loadErr = err
				return
			}
		}
	})
	return loadErr
}

// Get returns the face with the given id. It panics if the embedded fonts
// cannot be parsed, which a test of this package rules out for every build.
func Get(id ID) *Face {
	if err := Load(); err != nil {
		panic(err)
	}
	return faces[id]
}

func parse(id ID, name string, ttf []byte) (*Face, error) {
	f, err := sfnt.Parse(ttf)
	if err != nil {
		return nil, fmt.Errorf("fonts: %s: %w", name, err)
	}
	var b sfnt.Buffer
	upem := int(f.UnitsPerEm())
	m, err := f.Metrics(&b, fixed.I(upem), font.HintingNone)
	if err != nil {
		return nil, fmt.Errorf("fonts: %s: metrics: %w", name, err)
	}
	face := &Face{
		ID:         id,
		Name:       name,
		TTF:        ttf,
		UnitsPerEm: upem,
		Ascent:     m.Ascent.Round(),
		Descent:    -m.Descent.Round(),
		CapHeight:  m.CapHeight.Round(),
		Font:       f,
	}
	if face.CapHeight <= 0 {
		face.CapHeight = face.Ascent * 7 / 10
	}
	if id == SansItalic || id == SansBoldItalic {
		face.ItalicDeg = -11
	}
	n := f.NumGlyphs()
	face.adv = make([]uint16, n)
	for g := 0; g < n; g++ {
		a, err := f.GlyphAdvance(&b, sfnt.GlyphIndex(g), fixed.I(upem), font.HintingNone)
		if err != nil {
			return nil, fmt.Errorf("fonts: %s: glyph %d: %w", name, g, err)
		}
		face.adv[g] = uint16(a.Round())
	}
	for r := rune(0); r < 0x10000; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		g, err := f.GlyphIndex(&b, r)
		if err != nil || g == 0 {
			continue
		}
		face.gid[r] = uint16(g)
	}
	return face, nil
}

// Has reports whether the face has a glyph for r.
func (f *Face) Has(r rune) bool {
	return r >= 0 && r < 0x10000 && f.gid[r] != 0
}

// Glyph returns the glyph index of r, 0 (.notdef) when the face lacks it.
func (f *Face) Glyph(r rune) uint16 {
	if r < 0 || r >= 0x10000 {
		return 0
	}
	return f.gid[r]
}

// GlyphAdvance returns the advance of glyph g in font units.
func (f *Face) GlyphAdvance(g uint16) int {
	if int(g) >= len(f.adv) {
		return 0
	}
	return int(f.adv[g])
}

// Advance returns the advance width of r in ems (1.0 = the font size).
// A rune the face lacks measures as .notdef.
func (f *Face) Advance(r rune) float64 {
	return float64(f.adv[f.Glyph(r)]) / float64(f.UnitsPerEm)
}

// Width returns the advance width of s in ems.
func (f *Face) Width(s string) float64 {
	var w int
	for _, r := range s {
		w += int(f.adv[f.Glyph(r)])
	}
	return float64(w) / float64(f.UnitsPerEm)
}

// NumGlyphs returns the number of glyphs in the face.
func (f *Face) NumGlyphs() int { return len(f.adv) }

// Bold returns the bold counterpart of a face (itself if there is none).
func (id ID) Bold() ID {
	switch id {
	case Sans:
		return SansBold
	case SansItalic:
		return SansBoldItalic
	case Mono:
		return MonoBold
	}
	return id
}

// Italic returns the italic counterpart of a face (itself if there is none:
// folio never synthesizes a slant).
func (id ID) Italic() ID {
	switch id {
	case Sans:
		return SansItalic
	case SansBold:
		return SansBoldItalic
	}
	return id
}

// Resolve returns the face that draws r for text styled with the preferred
// face: the preferred face itself, else its upright counterpart (the
// oblique faces have no Arabic), else the proportional face of the same
// weight (the monospaced faces have no Hebrew), else the CJK fallback. ok is
// false when no embedded face covers r (including every rune outside the
// BMP); the caller then draws Replacement in the preferred face and reports
// a warning.
func Resolve(preferred ID, r rune) (id ID, ok bool) {
	if Get(preferred).Has(r) {
		return preferred, true
	}
	for _, alt := range fallbacks(preferred) {
		if Get(alt).Has(r) {
			return alt, true
		}
	}
	return preferred, false
}

func fallbacks(id ID) []ID {
	switch id {
	case SansItalic:
		return []ID{Sans, CJK}
	case SansBoldItalic:
		return []ID{SansBold, CJK}
	case Mono:
		return []ID{Sans, CJK}
	case MonoBold:
		return []ID{SansBold, CJK}
	}
	return []ID{CJK}
}

// String returns the face's name.
func (id ID) String() string {
	if id < NumFaces {
		return sources[id].name
	}
	return fmt.Sprintf("fonts.ID(%d)", uint8(id))
}
