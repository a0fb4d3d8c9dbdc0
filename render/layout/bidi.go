package layout

import (
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/foliohealth/folio/fonts"

	gtbidi "github.com/go-text/typesetting/bidi"
	xbidi "golang.org/x/text/unicode/bidi"
)

// This file applies the Unicode Bidirectional Algorithm (UAX #9) to flows of
// items: paragraph direction (rules P2, P3, or the sender's explicit marks),
// embedding levels (X1-X10, W1-W7, N0-N2, I1-I2, by
// github.com/go-text/typesetting/bidi, which fixes the open bugs of
// golang.org/x/text/unicode/bidi), and per-line reordering (L1, L2) after
// line breaking, which works in logical order. Text of an odd (right-to-left)
// level is shaped into visual order when its item is made (shape.go), so
// reordering a line only moves whole items.

// mayNeedBidi reports whether s holds a character that can make any part of
// a flow right-to-left or change its embedding: Hebrew, Arabic and the other
// right-to-left blocks, and the explicit directional marks. Text without
// such characters (every Latin, Greek, Cyrillic or CJK report) keeps the
// old, cheaper path: all levels 0, no reordering.
func mayNeedBidi(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0xD6: // every rune below U+0580 starts with a smaller byte
			continue
		case c <= 0xDF: // U+0580..U+07FF: (Armenian,) Hebrew, Arabic, Syriac, Thaana, NKo
			return true
		case c == 0xE0 || c == 0xE2 || c == 0xEF: // U+0800.., U+2000.., U+F000..
			if r, _ := utf8.DecodeRuneInString(s[i:]); isBidiRune(r) {
				return true
			}
		}
	}
	return false
}

func isBidiRune(r rune) bool {
	switch {
	case r >= 0x0590 && r <= 0x08FF: // Hebrew .. Arabic Extended-A
		return true
	case r == 0x200E || r == 0x200F || r == 0x061C: // LRM, RLM, ALM
		return true
	case r >= 0x202A && r <= 0x202E: // LRE RLE PDF LRO RLO
		return true
	case r >= 0x2066 && r <= 0x2069: // LRI RLI FSI PDI
		return true
	case r >= 0xFB1D && r <= 0xFDFF: // Hebrew and Arabic presentation forms A
		return true
	case r >= 0xFE70 && r <= 0xFEFF: // Arabic presentation forms B
		return true
	}
	return false
}

// isBidiControl reports the explicit directional formatting characters:
// they steer the algorithm and are never drawn.
func isBidiControl(r rune) bool {
	return r == 0x200E || r == 0x200F || r == 0x061C ||
		(r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}

// paragraphLevel applies rules P2 and P3: the level of the first strong
// character that is not inside an isolate, 0 when there is none.
func paragraphLevel(rs []rune) uint8 {
	depth := 0
	for _, r := range rs {
		p, _ := xbidi.LookupRune(r)
		switch p.Class() {
		case xbidi.LRI, xbidi.RLI, xbidi.FSI:
			depth++
		case xbidi.PDI:
			if depth > 0 {
				depth--
			}
		case xbidi.L:
			if depth == 0 {
				return 0
			}
		case xbidi.R, xbidi.AL:
			if depth == 0 {
				return 1
			}
		}
	}
	return 0
}

// resolveLevels computes the embedding level of every rune of one paragraph
// with the given paragraph level (0 or 1) into levels.
func resolveLevels(p *gtbidi.Paragraph, rs []rune, para uint8, levels []uint8) {
	dir := gtbidi.LeftToRight
	if para == 1 {
		dir = gtbidi.RightToLeft
	}
	runs := p.Segment(rs, dir)
	// Runs are split where the direction changes, not the level: a digit
	// run at level 2 and the Latin after it at level 0 share one run, whose
	// level is its first character's. Rule L2 needs every character's own
	// level, which the package keeps in an unexported field: read it. The
	// module version is pinned and TestBidiConformance (the Unicode test
	// file) fails if this stops working; the run levels are the fallback.
	if lv := reflect.ValueOf(runs).FieldByName("levels"); lv.IsValid() && lv.Kind() == reflect.Slice &&
		lv.Len() == len(rs) && lv.Type().Elem().Kind() == reflect.Int8 {
		for k := range levels {
			levels[k] = uint8(lv.Index(k).Int())
		}
		return
	}
	for i := 0; i < runs.NumRuns(); i++ {
		run := runs.Run(i)
		for k := run.Start; k < run.End && k < len(levels); k++ {
			levels[k] = uint8(run.Level)
		}
	}
}

// visualOrder returns the items of one line in display order (rule L2:
// from the highest level down to the lowest odd level, reverse every
// maximal sequence at that level or higher). Rule L1 needs no work here:
// breakLines already drops the spaces at a line's end, and every other
// space keeps its resolved level. The line is returned as is when every
// item is at level 0.
func visualOrder(line []item) []item {
	var hi uint8
	lowOdd := uint8(255)
	for _, it := range line {
		hi = max(hi, it.level)
		if it.level%2 == 1 {
			lowOdd = min(lowOdd, it.level)
		}
	}
	if hi == 0 {
		return line
	}
	if lowOdd == 255 {
		lowOdd = 1
		if hi < 1 {
			return line
		}
	}
	out := make([]item, len(line))
	copy(out, line)
	for lv := hi; lv >= lowOdd; lv-- {
		for i := 0; i < len(out); {
			if out[i].level < lv {
				i++
				continue
			}
			j := i
			for j < len(out) && out[j].level >= lv {
				j++
			}
			for a, b := i, j-1; a < b; a, b = a+1, b-1 {
				out[a], out[b] = out[b], out[a]
			}
			i = j
		}
		if lv == 0 {
			break
		}
	}
	return out
}

// mirror returns the mirrored glyph of r for right-to-left text (the
// Bidi_Mirroring_Glyph property of the characters a report is likely to
// hold), or r itself.
func mirror(r rune) rune {
	switch r {
	case '(':
		return ')'
	case ')':
		return '('
	case '[':
		return ']'
	case ']':
		return '['
	case '{':
		return '}'
	case '}':
		return '{'
	case '<':
		return '>'
	case '>':
		return '<'
	case '«':
		return '»'
	case '»':
		return '«'
	case '‹':
		return '›'
	case '›':
		return '‹'
	case '≤':
		return '≥'
	case '≥':
		return '≤'
	case '≪':
		return '≫'
	case '≫':
		return '≪'
	case '⁅':
		return '⁆'
	case '⁆':
		return '⁅'
	case '⁽':
		return '⁾'
	case '⁾':
		return '⁽'
	case '₍':
		return '₎'
	case '₎':
		return '₍'
	case '∈':
		return '∋'
	case '∋':
		return '∈'
	case '⟨':
		return '⟩'
	case '⟩':
		return '⟨'
	case '〈':
		return '〉'
	case '〉':
		return '〈'
	case '≺':
		return '≻'
	case '≻':
		return '≺'
	case '⊂':
		return '⊃'
	case '⊃':
		return '⊂'
	}
	return r
}

// isMark reports a combining mark (general category Mn or Me).
func isMark(r rune) bool {
	return r >= 0x0300 && (unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r))
}

// bidi resolves the embedding levels of the items appended from start on
// (one flow: a paragraph, a cell, a field value), paragraph by paragraph
// (forced breaks end a paragraph, as U+000A does in UAX #9), splits text
// items where the level changes, drops the explicit directional marks and
// shapes every item for display. A flow without right-to-left text or marks
// is returned untouched.
func (sh *shaper) bidi(items []item, start int) []item {
	if !sh.needBidi {
		return items
	}
	sh.needBidi = false
	out := sh.scratch[:0]
	for p := start; p < len(items); {
		q := p
		for q < len(items) && items[q].kind != itemBreak {
			q++
		}
		out = sh.bidiParagraph(items[p:q], out)
		if q < len(items) {
			out = append(out, items[q]) // the break itself
			q++
		}
		p = q
	}
	items = append(items[:start], out...)
	sh.scratch = out[:0]
	return items
}

// bidiParagraph appends the resolved, shaped items of one paragraph to out.
func (sh *shaper) bidiParagraph(para []item, out []item) []item {
	rs := sh.runes[:0]
	for _, it := range para {
		switch it.kind {
		case itemText:
			for _, r := range it.s {
				rs = append(rs, r)
			}
		case itemSpace:
			rs = append(rs, ' ')
		}
	}
	sh.runes = rs
	if len(rs) == 0 {
		return append(out, para...)
	}
	base := paragraphLevel(rs)
	if cap(sh.levels) < len(rs) {
		sh.levels = make([]uint8, len(rs))
	}
	levels := sh.levels[:len(rs)]
	resolveLevels(&sh.para, rs, base, levels)
	k := 0 // rune index
	last := base
	for _, it := range para {
		if base == 1 {
			it.flags |= flagRTLPara
		}
		switch it.kind {
		case itemSpace:
			it.level = levels[k]
			last = it.level
			k++
			out = append(out, it)
			continue
		case itemText:
		default:
			it.level = last
			out = append(out, it)
			continue
		}
		// Split the text at level changes, leaving out directional marks.
		var sb strings.Builder
		lv := uint8(255)
		from := k // rune index of the piece's first character
		flush := func(end int) {
			if sb.Len() == 0 {
				return
			}
			c := it
			c.level = lv
			c.s = sb.String()
			out = append(out, shapeInContext(c, rs, from, end))
			sb.Reset()
		}
		for _, r := range it.s {
			l := levels[k]
			k++
			if isBidiControl(r) {
				continue
			}
			if l != lv {
				flush(k - 1)
				lv = l
				from = k - 1
			}
			sb.WriteRune(r)
		}
		flush(k)
		if lv != 255 {
			last = lv
		}
	}
	return out
}

// shapeInContext is shapeItem for the piece rs[from:end] of a paragraph:
// when the piece is Arabic and glued to Arabic letters of another item (a
// style change inside a word), the shaper sees those letters as context,
// so the word stays joined across the change.
func shapeInContext(it item, rs []rune, from, end int) item {
	before, after := glued(rs, from, -1), glued(rs, end, +1)
	if (len(before) == 0 && len(after) == 0) || !needsShaper(it.s) || hbFace(it.face) == nil {
		return shapeItem(it)
	}
	sh := shapeWithContext(it.face, before, it.s, after, it.level%2 == 1)
	it.shaped = &shapedItem{src: it.s, offsets: sh.offsets}
	it.s = sh.s
	it.w = sh.w * it.size
	return it
}

// glued returns up to 4 Arabic letters or marks of rs next to index i in
// direction d (before i for -1, from i on for +1), skipping directional
// marks: the shaping context of a piece of a word. Anything else ends it.
func glued(rs []rune, i, d int) []rune {
	var out []rune
	if d < 0 {
		i--
	}
	for ; i >= 0 && i < len(rs) && len(out) < 4; i += d {
		r := rs[i]
		if isBidiControl(r) {
			continue
		}
		if !isArabic(r) && !isMark(r) && r != 0x200D {
			break
		}
		out = append(out, r)
	}
	if d < 0 {
		for a, b := 0, len(out)-1; a < b; a, b = a+1, b-1 {
			out[a], out[b] = out[b], out[a]
		}
	}
	return out
}

// shapeItem shapes a text item for display according to its level.
func shapeItem(it item) item {
	rtl := it.level%2 == 1
	if !rtl && !needsShaper(it.s) {
		it.w = fonts.Get(it.face).Width(it.s) * it.size
		return it
	}
	sh := shapeText(it.face, it.s, rtl)
	it.shaped = &shapedItem{src: it.s, offsets: sh.offsets}
	it.s = sh.s
	it.w = sh.w * it.size
	return it
}
