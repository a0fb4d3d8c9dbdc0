package layout

import (
	"bytes"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/go-text/typesetting/di"
	gtfont "github.com/go-text/typesetting/font"
	"github.com/go-text/typesetting/language"
	"github.com/go-text/typesetting/shaping"
	"golang.org/x/image/math/fixed"

	"github.com/foliohealth/folio/fonts"
)

// This file shapes the text of one item into the glyphs painters draw.
//
// Arabic (and any right-to-left text with combining marks) is shaped by the
// HarfBuzz port of github.com/go-text/typesetting with the embedded face's
// own GSUB and GPOS tables: contextual forms, the lam-alef ligatures,
// Persian and Urdu letters, marks attached to their bases. The shaped glyphs
// reach painters as characters again: every glyph is addressed through a
// code point the face's cmap maps to it (for Arabic, the presentation forms
// U+FB50..U+FDFF and U+FE70..U+FEFF), so Text ops stay plain strings, PDF
// subsets and encodings stay per character (glyph names uniXXXX), and text
// extraction recovers the letters (NFKC folds the presentation forms back).
// Combining marks stay in the string, in the shaper's order, with the
// offsets the shaper gives them (GPOS mark attachment), so text extraction
// finds them inside their words.
//
// Right-to-left text without Arabic letters or marks (Hebrew names, digits
// and punctuation inside right-to-left text) needs no shaper: its runes are
// reversed and mirrored.

// markOffset moves the Index-th rune of a shaped string off its pen
// position: dx to the right, dy up, both in ems.
type markOffset struct {
	index  int
	dx, dy float64
}

// shaped is the visual form of one item's text.
type shaped struct {
	s       string       // visual-order characters, drawn at their advances
	w       float64      // advance of s in ems
	offsets []markOffset // marks placed by the shaper
}

// needsShaper reports whether s holds Arabic-script letters or combining
// marks, which only the shaper draws right.
func needsShaper(s string) bool {
	for _, r := range s {
		if r >= 0x0600 && (isArabic(r) || isMark(r)) {
			return true
		}
		if r >= 0x0300 && r < 0x0370 {
			return true
		}
	}
	return false
}

func isArabic(r rune) bool {
	return (r >= 0x0600 && r <= 0x06FF) || (r >= 0x0750 && r <= 0x077F) ||
		(r >= 0x08A0 && r <= 0x08FF) || (r >= 0xFB50 && r <= 0xFDFF) ||
		(r >= 0xFE70 && r <= 0xFEFF)
}

// shapeText returns the visual form of s in face: shaped by HarfBuzz when
// it needs to be, else reversed and mirrored when rtl, else s itself.
func shapeText(face fonts.ID, s string, rtl bool) shaped {
	f := fonts.Get(face)
	if needsShaper(s) && hbFace(face) != nil {
		return shapeCached(face, s, rtl)
	}
	if !rtl {
		return shaped{s: s, w: f.Width(s)}
	}
	rs := []rune(s)
	for a, b := 0, len(rs)-1; a < b; a, b = a+1, b-1 {
		rs[a], rs[b] = rs[b], rs[a]
	}
	for i, r := range rs {
		if m := mirror(r); m != r && f.Has(m) {
			rs[i] = m
		}
	}
	v := string(rs)
	return shaped{s: v, w: f.Width(v)}
}

// The shaped-text cache, shared by all documents: names and the words of
// report text repeat from report to report. It is emptied when full.
var (
	shapeMu    sync.Mutex
	shapeCache = map[string]shaped{}
	shapeMax   = 16384
	// maxCachedText bounds the text of one cache entry (words are short; a
	// long run without spaces is shaped every time), so the cache holds at
	// most a few MB.
	maxCachedText = 96
	hbShaper      shaping.HarfbuzzShaper
)

func shapeCached(face fonts.ID, s string, rtl bool) shaped {
	if len(s) > maxCachedText {
		shapeMu.Lock()
		defer shapeMu.Unlock()
		return shapeHB(face, s, rtl)
	}
	var kb strings.Builder
	kb.Grow(len(s) + 2)
	kb.WriteByte(byte(face))
	if rtl {
		kb.WriteByte(1)
	} else {
		kb.WriteByte(0)
	}
	kb.WriteString(s)
	key := kb.String()
	shapeMu.Lock()
	defer shapeMu.Unlock()
	if sh, ok := shapeCache[key]; ok {
		return sh
	}
	sh := shapeHB(face, s, rtl)
	if len(shapeCache) >= shapeMax {
		clear(shapeCache)
	}
	shapeCache[key] = sh
	return sh
}

// hbFaces holds the faces parsed for the shaper, once per process.
var (
	hbOnce  [fonts.NumFaces]sync.Once
	hbFaces [fonts.NumFaces]*gtfont.Face
	revOf   [fonts.NumFaces][]rune
)

// hbFace returns the shaper's view of a face, nil if it cannot be parsed
// (then the text is drawn unshaped; the embedded faces all parse, which a
// test checks).
func hbFace(id fonts.ID) *gtfont.Face {
	if id >= fonts.NumFaces {
		return nil
	}
	hbOnce[id].Do(func() {
		f := fonts.Get(id)
		ft, err := gtfont.ParseTTF(bytes.NewReader(f.TTF))
		if err != nil {
			return
		}
		hbFaces[id] = ft
		// Reverse cmap: glyph -> the code point that addresses it, the
		// lowest one except that presentation forms win (a glyph shared by
		// a letter and its isolated form is the letter's anyway).
		rev := make([]rune, f.NumGlyphs())
		for r := rune(0xFFFF); r > 0; r-- {
			if g := f.Glyph(r); g != 0 && int(g) < len(rev) {
				if rev[g] == 0 || !isPresentationForm(rev[g]) || isPresentationForm(r) {
					rev[g] = r
				}
			}
		}
		revOf[id] = rev
	})
	return hbFaces[id]
}

func isPresentationForm(r rune) bool {
	return (r >= 0xFB50 && r <= 0xFDFF) || (r >= 0xFE70 && r <= 0xFEFF)
}

// shapeWithContext shapes s with the letters before and after it as the
// shaper's context (they join with s but are not drawn). Not cached.
func shapeWithContext(face fonts.ID, before []rune, s string, after []rune, rtl bool) shaped {
	shapeMu.Lock()
	defer shapeMu.Unlock()
	return shapeRunes(face, before, []rune(s), after, rtl)
}

// shapeHB shapes s with HarfBuzz at one em = UnitsPerEm, so the result is
// in font units whatever the size. The caller holds shapeMu.
func shapeHB(id fonts.ID, s string, rtl bool) shaped {
	return shapeRunes(id, nil, []rune(s), nil, rtl)
}

// shapeRunes shapes rs with HarfBuzz, before and after as context. The
// caller holds shapeMu.
func shapeRunes(id fonts.ID, before, rs, after []rune, rtl bool) shaped {
	f := fonts.Get(id)
	s := string(rs)
	script, lang := language.Latin, language.NewLanguage("en")
	for _, r := range rs {
		if unicode.Is(unicode.Hebrew, r) {
			script, lang = language.Hebrew, language.NewLanguage("he")
			break
		}
		if isArabic(r) {
			script, lang = language.Arabic, language.NewLanguage("ar")
			break
		}
	}
	dir := di.DirectionLTR
	if rtl {
		dir = di.DirectionRTL
	}
	upem := f.UnitsPerEm
	text := rs
	if len(before) > 0 || len(after) > 0 {
		text = make([]rune, 0, len(before)+len(rs)+len(after))
		text = append(append(append(text, before...), rs...), after...)
	}
	out := hbShaper.Shape(shaping.Input{
		Text: text, RunStart: len(before), RunEnd: len(before) + len(rs), Direction: dir,
		Face: hbFaces[id], Size: fixed.I(upem), Script: script, Language: lang,
	})
	rev := revOf[id]
	var sb strings.Builder
	sb.Grow(len(s) + 8)
	var offs []markOffset
	n := 0 // runes written
	pen := 0
	em := float64(upem)
	put := func(r rune, dx, dy float64) {
		if dx != 0 || dy != 0 {
			offs = append(offs, markOffset{index: n, dx: dx / em, dy: dy / em})
		}
		sb.WriteRune(r)
		n++
		pen += f.GlyphAdvance(f.Glyph(r))
	}
	// Marks keep the shaper's order: in right-to-left output a cluster's
	// marks come before their base, which is also the order text
	// extractors, reversing the line, need to attach them to it.
	for _, g := range out.Glyphs {
		gid := uint16(g.GlyphID)
		lo := min(max(g.ClusterIndex-len(before), 0), len(rs))
		hi := min(lo+max(g.RuneCount, 1), len(rs))
		dx, dy := float64(g.XOffset)/64, float64(g.YOffset)/64
		if r := glyphRune(f, rev, gid, rs[lo:hi]); r != 0 {
			put(r, dx, dy)
			continue
		}
		if g.Advance != 0 {
			continue // no such glyph in the embedded faces; nothing to draw
		}
		// A glyph no code point reaches: DejaVu's ligatures of shadda with
		// a vowel mark. Its marks are drawn one by one, shadda at the
		// shaper's place and each other mark stacked above it.
		for k, r := range markOrder(rs[lo:hi]) {
			if f.Has(r) {
				put(r, dx, dy+float64(k)*0.28*em)
			}
		}
	}
	return shaped{s: sb.String(), w: float64(pen) / em, offsets: offs}
}

// markOrder returns the combining marks of a cluster, shadda first.
func markOrder(cluster []rune) []rune {
	var out []rune
	for _, r := range cluster {
		if r == 0x0651 {
			out = append(out, r)
		}
	}
	for _, r := range cluster {
		if isMark(r) && r != 0x0651 {
			out = append(out, r)
		}
	}
	return out
}

// glyphRune returns the code point that addresses glyph g in face f: one of
// the cluster's own characters when it is that character's glyph, else the
// code point the cmap maps to g (a presentation form); 0 when no code point
// reaches g.
func glyphRune(f *fonts.Face, rev []rune, g uint16, cluster []rune) rune {
	for _, r := range cluster {
		if f.Glyph(r) == g {
			return r
		}
	}
	if int(g) < len(rev) {
		return rev[g]
	}
	return 0
}

// clusters splits s into grapheme-like clusters: a character and the
// combining marks after it.
func clusters(s string) []string {
	var out []string
	start := 0
	for i, r := range s {
		if i > 0 && !isMark(r) && !(r == 0x200D) {
			out = append(out, s[start:i])
			start = i
		}
		_ = utf8.RuneLen(r)
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
