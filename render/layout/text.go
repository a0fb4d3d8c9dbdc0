package layout

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	gtbidi "github.com/go-text/typesetting/bidi"

	"github.com/foliohealth/folio/document"
	"github.com/foliohealth/folio/fonts"
)

// itemKind classifies the pieces of inline text that line breaking works on.
type itemKind uint8

const (
	itemText  itemKind = iota // glyphs; no break allowed inside or before unless marked
	itemSpace                 // a space: a break opportunity, dropped at a line end
	itemBreak                 // a forced line break ("\n")
	itemZW                    // a zero-width break opportunity (between CJK ideographs)
)

// item is a measured piece of inline text in one face.
type item struct {
	kind  itemKind
	face  fonts.ID
	flags itemFlags
	// level is the item's resolved bidi embedding level (odd: right to
	// left).
	level uint8
	color Color
	size  float64
	s     string
	w     float64
	// shaped is set when s was shaped (visual order, presentation forms).
	// Fields are ordered so that an item stays 48 bytes: Latin layout
	// makes many of them.
	shaped *shapedItem
}

// itemFlags are an item's boolean properties.
type itemFlags uint8

const (
	flagStrike  itemFlags = 1 << iota // struck through
	flagPHI                           // patient-identifying (Text.PHI)
	flagRTLPara                       // in a right-to-left paragraph
)

// shapedItem is what a shaped item keeps besides its display string.
type shapedItem struct {
	src     string       // the logical text
	offsets []markOffset // the marks the shaper placed (see shape.go)
}

// font is the look of a run of text before font fallback.
type font struct {
	face  fonts.ID
	size  float64
	color Color
	phi   bool
}

// faceFor returns the preferred face for an inline style on a base face.
func faceFor(base fonts.ID, st document.Style) fonts.ID {
	f := base
	if st&document.Mono != 0 {
		f = fonts.Mono
		if base == fonts.SansBold || base == fonts.SansBoldItalic {
			f = fonts.MonoBold
		}
	}
	if st&document.Bold != 0 {
		f = f.Bold()
	}
	if st&document.Italic != 0 {
		f = f.Italic()
	}
	return f
}

// isCJK reports whether r is a character after or before which a line may
// break without a space (ideographs, kana, hangul, CJK punctuation).
func isCJK(r rune) bool {
	return unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) ||
		unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Hangul, r) ||
		(r >= 0x3000 && r <= 0x303F) || (r >= 0xFF00 && r <= 0xFFEF)
}

// shaper turns styled text into measured items, resolving font fallback and
// replacing characters that no embedded face covers. It records what it
// replaced so the render result can warn about it.
type shaper struct {
	missing map[rune]int
	complex map[rune]int // characters of scripts folio cannot shape
	// needBidi is set by appendString when it meets a right-to-left
	// character or a directional mark; bidi clears it.
	needBidi bool
	para     gtbidi.Paragraph
	runes    []rune
	levels   []uint8
	scratch  []item
}

// items converts text into measured items. Tabs count as spaces.
func (sh *shaper) items(t document.Text, f font, dst []item) []item {
	start := len(dst)
	for _, sp := range t {
		pf := f
		pf.face = faceFor(f.face, sp.Style)
		pf.phi = f.phi || sp.PHI
		strike := sp.Style&document.Strike != 0
		dst = sh.appendString(dst, sp.Text, pf, strike)
	}
	return sh.bidi(dst, start)
}

// itemsString is items for one unstyled string.
func (sh *shaper) itemsString(s string, f font, dst []item) []item {
	start := len(dst)
	return sh.bidi(sh.appendString(dst, s, f, false), start)
}

func (sh *shaper) appendString(dst []item, s string, f font, strike bool) []item {
	var cur *item
	var sb strings.Builder
	flush := func() {
		if cur != nil {
			cur.s = sb.String()
			cur.w = fonts.Get(cur.face).Width(cur.s) * cur.size
			dst = append(dst, *cur)
			cur = nil
			sb.Reset()
		}
	}
	mk := func(kind itemKind, face fonts.ID) item {
		it := item{kind: kind, face: face, size: f.size, color: f.color}
		if strike {
			it.flags |= flagStrike
		}
		if f.phi {
			it.flags |= flagPHI
		}
		return it
	}
	for _, r := range s {
		switch r {
		case ' ', '\t':
			flush()
			it := mk(itemSpace, f.face)
			it.s = " "
			it.w = fonts.Get(f.face).Advance(' ') * f.size
			dst = append(dst, it)
			continue
		case '\n':
			flush()
			dst = append(dst, mk(itemBreak, f.face))
			continue
		case '\r':
			continue
		}
		pref := f.face
		if r >= 0x0590 { // only here: Latin text pays nothing below
			if isBidiRune(r) {
				sh.needBidi = true
			}
			if isBidiControl(r) {
				// Kept for the bidi algorithm, which drops it (bidi).
				if cur == nil {
					it := mk(itemText, f.face)
					cur = &it
				}
				sb.WriteRune(r)
				continue
			}
			if sc := complexScript(r); sc != "" {
				if sh.complex == nil {
					sh.complex = map[rune]int{}
				}
				sh.complex[r]++
				r = fonts.Replacement
			}
			if (pref == fonts.Mono || pref == fonts.MonoBold) && isArabic(r) {
				// DejaVu Sans Mono lacks some Arabic letters (Urdu ڈ ں
				// ...); a word drawn in two faces would be shaped in two
				// pieces and lose its joining there. Arabic is always
				// drawn proportional.
				pref = fonts.Sans
				if f.face == fonts.MonoBold {
					pref = fonts.SansBold
				}
			}
		}
		face, ok := fonts.Resolve(pref, r)
		if !ok {
			if sh.missing == nil {
				sh.missing = map[rune]int{}
			}
			sh.missing[r]++
			r = fonts.Replacement
			face = f.face
		}
		cjk := isCJK(r)
		if cjk {
			flush()
			if n := len(dst); n > 0 && dst[n-1].kind == itemText {
				dst = append(dst, mk(itemZW, face))
			}
			it := mk(itemText, face)
			it.s = string(r)
			it.w = fonts.Get(face).Advance(r) * f.size
			dst = append(dst, it, mk(itemZW, face))
			continue
		}
		if cur != nil && cur.face != face {
			flush()
		}
		if cur == nil {
			it := mk(itemText, face)
			cur = &it
		}
		sb.WriteRune(r)
	}
	flush()
	return dst
}

// complexScripts are the scripts whose text needs shaping (reordered vowel
// signs, conjuncts, stacked marks) or dictionary line breaking that folio
// does not do. Their characters print as fonts.Replacement with a warning,
// never as a silently wrong string of isolated glyphs.
var complexScripts = []struct {
	name string
	tab  *unicode.RangeTable
}{
	{"Devanagari", unicode.Devanagari}, {"Bengali", unicode.Bengali},
	{"Gurmukhi", unicode.Gurmukhi}, {"Gujarati", unicode.Gujarati},
	{"Oriya", unicode.Oriya}, {"Tamil", unicode.Tamil},
	{"Telugu", unicode.Telugu}, {"Kannada", unicode.Kannada},
	{"Malayalam", unicode.Malayalam}, {"Sinhala", unicode.Sinhala},
	{"Thai", unicode.Thai}, {"Lao", unicode.Lao},
	{"Tibetan", unicode.Tibetan}, {"Myanmar", unicode.Myanmar},
	{"Khmer", unicode.Khmer}, {"Syriac", unicode.Syriac},
	{"Thaana", unicode.Thaana}, {"Nko", unicode.Nko},
	{"Mongolian", unicode.Mongolian}, {"Balinese", unicode.Balinese},
	{"Javanese", unicode.Javanese}, {"Tai Tham", unicode.Tai_Tham},
	{"Tai Viet", unicode.Tai_Viet}, {"Sundanese", unicode.Sundanese},
}

// complexScript returns the name of the script r belongs to when folio
// cannot shape it, "" otherwise. The Thai currency sign, drawn alone,
// needs nothing.
func complexScript(r rune) string {
	if r < 0x0700 || r == 0x0E3F {
		return ""
	}
	if r > 0x1CFF && !(r >= 0xA800 && r <= 0xABFF) {
		return ""
	}
	for _, sc := range complexScripts {
		if unicode.Is(sc.tab, r) {
			return sc.name
		}
	}
	return ""
}

// warnings describes the characters that were replaced, in code point order.
func (sh *shaper) warnings() []string {
	if len(sh.missing) == 0 && len(sh.complex) == 0 {
		return nil
	}
	name := func(r rune) string {
		n := fmt.Sprintf("U+%04X", r)
		if utf8.ValidRune(r) && unicode.IsPrint(r) {
			n += fmt.Sprintf(" %q", string(r))
		}
		return n
	}
	var out []string
	for _, r := range sortedRunes(sh.complex) {
		out = append(out, fmt.Sprintf("character %s (%s) needs shaping folio does not do: printed as U+FFFD (%d×)", name(r), complexScript(r), sh.complex[r]))
	}
	for _, r := range sortedRunes(sh.missing) {
		out = append(out, fmt.Sprintf("character %s is not covered by any embedded font: printed as U+FFFD (%d×)", name(r), sh.missing[r]))
	}
	return out
}

// replaced lists the replaced characters in the order of warnings.
func (sh *shaper) replaced() []Replaced {
	var out []Replaced
	for _, r := range sortedRunes(sh.complex) {
		out = append(out, Replaced{R: r, Script: complexScript(r), Count: sh.complex[r]})
	}
	for _, r := range sortedRunes(sh.missing) {
		out = append(out, Replaced{R: r, Count: sh.missing[r]})
	}
	return out
}

func sortedRunes(m map[rune]int) []rune {
	rs := make([]rune, 0, len(m))
	for r := range m {
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i] < rs[j] })
	return rs
}

// breakLines splits items into lines no wider than width, greedily
// (first fit). It returns the [start, end) item ranges of each line; spaces
// at a line's end are excluded from the range, and a run of text wider than
// the line is split between characters. breakLines is a pure function of
// the items' kinds and widths (and text, for emergency splits).
func breakLines(items []item, width float64) [][]item {
	items = splitOverlong(items, width)
	var lines [][]item
	start := 0
	x := 0.0
	lastBreak := -1 // index of the last break opportunity on the line
	for i := 0; i < len(items); i++ {
		it := items[i]
		switch it.kind {
		case itemBreak:
			lines = append(lines, trimLine(items[start:i]))
			start, x, lastBreak = i+1, 0, -1
			continue
		case itemSpace, itemZW:
			if i == start { // no space at the start of a wrapped line
				start = i + 1
				continue
			}
			lastBreak = i
			x += it.w
			continue
		}
		if x+it.w > width+1e-9 && lastBreak > start {
			lines = append(lines, trimLine(items[start:lastBreak]))
			// Skip the break opportunities after the break point.
			k := lastBreak
			for k < len(items) && (items[k].kind == itemSpace || items[k].kind == itemZW) {
				k++
			}
			start, lastBreak, x = k, -1, 0
			i = start - 1 // rescan the carried-over items
			continue
		}
		x += it.w
	}
	if start < len(items) || len(lines) == 0 {
		lines = append(lines, trimLine(items[min(start, len(items)):]))
	}
	return lines
}

func trimLine(line []item) []item {
	for len(line) > 0 && (line[len(line)-1].kind == itemSpace || line[len(line)-1].kind == itemZW) {
		line = line[:len(line)-1]
	}
	return line
}

// splitOverlong splits every run of glued text items (no break opportunity
// inside) that is wider than width into single characters joined by
// zero-width break opportunities, so that breakLines can wrap it.
func splitOverlong(items []item, width float64) []item {
	over := false
	for i := 0; i < len(items); {
		j, w := gluedRun(items, i)
		if w > width {
			over = true
			break
		}
		i = max(j, i+1)
	}
	if !over {
		return items
	}
	out := make([]item, 0, len(items)*2)
	for i := 0; i < len(items); {
		j, w := gluedRun(items, i)
		if j == i {
			out = append(out, items[i])
			i++
			continue
		}
		if w <= width {
			out = append(out, items[i:j]...)
			i = j
			continue
		}
		for _, it := range items[i:j] {
			face := fonts.Get(it.face)
			if it.shaped != nil {
				// Shaped text: split the logical text between clusters
				// and shape each piece alone.
				for _, cl := range clusters(it.shaped.src) {
					c := it
					c.s, c.shaped = cl, nil
					c = shapeItem(c)
					if len(out) > 0 && out[len(out)-1].kind == itemText {
						z := it
						z.kind, z.s, z.shaped, z.w = itemZW, "", nil, 0
						out = append(out, z)
					}
					out = append(out, c)
				}
				continue
			}
			for _, r := range it.s {
				c := it
				c.s = string(r)
				c.w = face.Advance(r) * it.size
				if len(out) > 0 && out[len(out)-1].kind == itemText {
					z := it
					z.kind, z.s, z.w = itemZW, "", 0
					out = append(out, z)
				}
				out = append(out, c)
			}
		}
		i = j
	}
	return out
}

// gluedRun returns the end of the run of text items starting at i and its
// width; j == i when items[i] is not text.
func gluedRun(items []item, i int) (j int, w float64) {
	j = i
	for j < len(items) && items[j].kind == itemText {
		w += items[j].w
		j++
	}
	return j, w
}

// rtlLine reports whether a line belongs to a right-to-left paragraph.
func rtlLine(line []item) bool {
	return len(line) > 0 && line[0].flags&flagRTLPara != 0
}

// lineWidth is the advance width of a line's items.
func lineWidth(line []item) float64 {
	w := 0.0
	for _, it := range line {
		w += it.w
	}
	return w
}

// lineOps emits the text ops of one line (items in logical order) starting
// at x on baseline y (relative to the box), in visual order, merging
// neighbouring items of the same look.
func lineOps(line []item, x, y float64, ops []Op) []Op {
	line = visualOrder(line)
	var cur *Text
	var sb strings.Builder
	var strikeFrom float64
	var strikeOn bool
	var strikeItem item
	endStrike := func(xEnd float64) {
		if strikeOn {
			ops = append(ops, &Line{X1: strikeFrom, Y1: y - strikeItem.size*0.3, X2: xEnd, Y2: y - strikeItem.size*0.3, Width: strikeItem.size * 0.06, Color: strikeItem.color})
			strikeOn = false
		}
	}
	flush := func() {
		if cur != nil {
			cur.S = sb.String()
			ops = append(ops, cur)
			cur = nil
			sb.Reset()
		}
	}
	for _, it := range line {
		if it.kind == itemZW || it.kind == itemBreak {
			continue
		}
		strike, phi := it.flags&flagStrike != 0, it.flags&flagPHI != 0
		if strike && !strikeOn {
			strikeOn, strikeFrom, strikeItem = true, x, it
		} else if !strike && strikeOn {
			endStrike(x)
		}
		if cur == nil || cur.Face != it.face || cur.Size != it.size || cur.Color != it.color || cur.PHI != phi {
			flush()
			cur = &Text{X: x, Y: y, Face: it.face, Size: it.size, Color: it.color, PHI: phi}
		}
		sb.WriteString(it.s)
		cur.W += it.w
		if it.shaped != nil && len(it.shaped.offsets) > 0 {
			before := utf8.RuneCountInString(sb.String()) - utf8.RuneCountInString(it.s)
			for _, o := range it.shaped.offsets {
				cur.Offsets = append(cur.Offsets, GlyphOffset{Index: before + o.index, DX: o.dx * it.size, DY: o.dy * it.size})
			}
		}
		x += it.w
	}
	flush()
	endStrike(x)
	return ops
}
