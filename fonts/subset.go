package fonts

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// This file builds subset TrueType fonts for embedding in PDF files: a font
// holding .notdef plus exactly the glyphs a document draws (and the
// components of composite glyphs), renumbered, with a (3,1) format-4 cmap
// for the requested runes. Hinting instructions are left out (PDF viewers
// draw unhinted or auto-hinted outlines), so the subset needs no fpgm, prep
// or cvt table.

// sfntTables is the part of a face's TTF that subsetting reads, located once
// and shared read-only by every goroutine.
type sfntTables struct {
	head, hhea, maxp, os2, hmtx, loca, glyf, post []byte
	numGlyphs                                     int
	numHMetrics                                   int
	longLoca                                      bool
}

var (
	tablesOnce [NumFaces]sync.Once
	tablesOf   [NumFaces]*sfntTables
	tablesErr  [NumFaces]error
)

// tables returns the located tables of f, parsing them on first use.
func (f *Face) tables() (*sfntTables, error) {
	if f.ID >= NumFaces {
		return nil, fmt.Errorf("fonts: %s: unknown face id", f.Name)
	}
	tablesOnce[f.ID].Do(func() {
		tablesOf[f.ID], tablesErr[f.ID] = locateTables(f.TTF)
		if tablesErr[f.ID] != nil {
			tablesErr[f.ID] = fmt.Errorf("fonts: %s: %w", f.Name, tablesErr[f.ID])
		}
	})
	return tablesOf[f.ID], tablesErr[f.ID]
}

var be = binary.BigEndian

func locateTables(ttf []byte) (*sfntTables, error) {
	if len(ttf) < 12 {
		return nil, errors.New("font file too short")
	}
	if v := be.Uint32(ttf); v != 0x00010000 && v != 0x74727565 { // 'true'
		return nil, fmt.Errorf("not a TrueType outline font (version %#x)", v)
	}
	n := int(be.Uint16(ttf[4:]))
	if len(ttf) < 12+16*n {
		return nil, errors.New("table directory truncated")
	}
	t := &sfntTables{}
	for i := 0; i < n; i++ {
		rec := ttf[12+16*i:]
		off, length := be.Uint32(rec[8:]), be.Uint32(rec[12:])
		if uint64(off)+uint64(length) > uint64(len(ttf)) {
			return nil, fmt.Errorf("table %q out of bounds", rec[:4])
		}
		data := ttf[off : off+length : off+length]
		switch string(rec[:4]) {
		case "head":
			t.head = data
		case "hhea":
			t.hhea = data
		case "maxp":
			t.maxp = data
		case "OS/2":
			t.os2 = data
		case "hmtx":
			t.hmtx = data
		case "loca":
			t.loca = data
		case "glyf":
			t.glyf = data
		case "post":
			t.post = data
		}
	}
	switch {
	case len(t.head) < 54:
		return nil, errors.New("missing or short head table")
	case len(t.hhea) < 36:
		return nil, errors.New("missing or short hhea table")
	case len(t.maxp) < 6:
		return nil, errors.New("missing or short maxp table")
	case t.glyf == nil || t.loca == nil:
		return nil, errors.New("missing glyf or loca table")
	}
	t.numGlyphs = int(be.Uint16(t.maxp[4:]))
	t.numHMetrics = int(be.Uint16(t.hhea[34:]))
	t.longLoca = be.Uint16(t.head[50:]) == 1
	entry := 2
	if t.longLoca {
		entry = 4
	}
	if len(t.loca) < entry*(t.numGlyphs+1) {
		return nil, errors.New("loca table too short")
	}
	if t.numHMetrics < 1 || len(t.hmtx) < 4*t.numHMetrics+2*(t.numGlyphs-t.numHMetrics) {
		return nil, errors.New("hmtx table too short")
	}
	return t, nil
}

// glyph returns the glyf data of glyph g.
func (t *sfntTables) glyph(g int) ([]byte, error) {
	var lo, hi uint32
	if t.longLoca {
		lo, hi = be.Uint32(t.loca[4*g:]), be.Uint32(t.loca[4*g+4:])
	} else {
		lo, hi = 2*uint32(be.Uint16(t.loca[2*g:])), 2*uint32(be.Uint16(t.loca[2*g+2:]))
	}
	if lo > hi || hi > uint32(len(t.glyf)) {
		return nil, fmt.Errorf("glyph %d: bad loca offsets", g)
	}
	return t.glyf[lo:hi], nil
}

// metric returns the advance width and left side bearing of glyph g.
func (t *sfntTables) metric(g int) (adv, lsb uint16) {
	if g < t.numHMetrics {
		return be.Uint16(t.hmtx[4*g:]), be.Uint16(t.hmtx[4*g+2:])
	}
	adv = be.Uint16(t.hmtx[4*(t.numHMetrics-1):])
	return adv, be.Uint16(t.hmtx[4*t.numHMetrics+2*(g-t.numHMetrics):])
}

// Composite glyph flags.
const (
	argsAreWords    = 0x0001
	haveScale       = 0x0008
	moreComponents  = 0x0020
	haveXYScale     = 0x0040
	haveTwoByTwo    = 0x0080
	haveInstruction = 0x0100
)

// subsetBuilder holds the state of one Subset call.
type subsetBuilder struct {
	t      *sfntTables
	old    []uint16          // new glyph id -> old glyph id
	newID  map[uint16]uint16 // old glyph id -> new glyph id
	glyphs [][]byte          // new glyph id -> original glyf data
}

func (b *subsetBuilder) add(old uint16) uint16 {
	if id, ok := b.newID[old]; ok {
		return id
	}
	id := uint16(len(b.old))
	b.newID[old] = id
	b.old = append(b.old, old)
	return id
}

// Subset returns a TrueType font file holding .notdef and the glyphs that
// draw runes (plus the components of composite glyphs), renumbered in order
// of first use, with a Windows Unicode BMP (3,1) format-4 cmap mapping
// exactly those runes. Hinting instructions are dropped. The result depends
// only on the face and runes, so it is deterministic.
//
// Every rune must be in the Basic Multilingual Plane and covered by the face.
// Subset is safe for concurrent use.
func (f *Face) Subset(runes []rune) ([]byte, error) {
	if len(runes) > 0xFFFE {
		return nil, fmt.Errorf("fonts: %s: subset of %d runes is too large", f.Name, len(runes))
	}
	keys := make([]uint16, len(runes))
	glyphs := make([]uint16, len(runes))
	for i, r := range runes {
		if r < 0 || r > 0xFFFF {
			return nil, fmt.Errorf("fonts: %s: subset: rune %U is outside the Basic Multilingual Plane", f.Name, r)
		}
		g := f.gid[r]
		if g == 0 {
			return nil, fmt.Errorf("fonts: %s: subset: no glyph for %U", f.Name, r)
		}
		keys[i], glyphs[i] = uint16(r), g
	}
	return f.subset(keys, glyphs, 1)
}

// SymbolFirst is the first cmap code of a symbolic subset (see
// SymbolicSubset): one-byte code c is found at SymbolFirst+c.
const SymbolFirst = 0xF000

// SymbolicSubset returns a TrueType font file holding .notdef and the given
// glyphs of the face (plus the components of composite glyphs), with a
// single cmap subtable, Windows Symbol (3,0) format 4, that maps
// SymbolFirst+codes[i] to glyphs[i]. This is the font program of a
// symbolic simple TrueType font in PDF: its character codes select glyphs
// directly, whatever characters they draw (the PDF says which, in a
// ToUnicode CMap), and it needs no Encoding entry, as PDF/A requires of
// symbolic TrueType fonts.
//
// Codes must be distinct. SymbolicSubset is safe for concurrent use.
func (f *Face) SymbolicSubset(glyphs []uint16, codes []byte) ([]byte, error) {
	if len(glyphs) != len(codes) {
		return nil, fmt.Errorf("fonts: %s: symbolic subset: %d glyphs for %d codes", f.Name, len(glyphs), len(codes))
	}
	keys := make([]uint16, len(codes))
	var seen [256]bool
	for i, c := range codes {
		if seen[c] {
			return nil, fmt.Errorf("fonts: %s: symbolic subset: code %d used twice", f.Name, c)
		}
		seen[c] = true
		keys[i] = SymbolFirst + uint16(c)
		if glyphs[i] == 0 || int(glyphs[i]) >= len(f.adv) {
			return nil, fmt.Errorf("fonts: %s: symbolic subset: no glyph %d", f.Name, glyphs[i])
		}
	}
	return f.subset(keys, glyphs, 0)
}

// subset builds a font of the glyphs with a (3, encodingID) cmap mapping
// keys[i] to glyphs[i].
func (f *Face) subset(keys, glyphs []uint16, encodingID uint16) ([]byte, error) {
	t, err := f.tables()
	if err != nil {
		return nil, err
	}
	b := subsetBuilder{
		t:     t,
		old:   make([]uint16, 0, len(glyphs)+8),
		newID: make(map[uint16]uint16, len(glyphs)+8),
	}
	b.add(0)
	pairs := make([]cmapPair, 0, len(keys))
	for i, k := range keys {
		g := glyphs[i]
		if g == 0 || int(g) >= t.numGlyphs {
			return nil, fmt.Errorf("fonts: %s: subset: no glyph for %U", f.Name, k)
		}
		pairs = append(pairs, cmapPair{k, b.add(g)})
	}
	// Copy glyphs, adding composite components as they are found; b.old
	// grows while this loop runs.
	size := 0
	b.glyphs = make([][]byte, 0, len(b.old)+8)
	for i := 0; i < len(b.old); i++ {
		data, err := t.glyph(int(b.old[i]))
		if err != nil {
			return nil, fmt.Errorf("fonts: %s: %w", f.Name, err)
		}
		if data, err = b.strip(data); err != nil {
			return nil, fmt.Errorf("fonts: %s: glyph %d: %w", f.Name, b.old[i], err)
		}
		b.glyphs = append(b.glyphs, data)
		size += (len(data) + 3) &^ 3
	}
	if len(b.old) > 0xFFFF {
		return nil, fmt.Errorf("fonts: %s: subset needs too many glyphs", f.Name)
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].r < pairs[j].r })
	k := 0
	for i, p := range pairs {
		if i == 0 || p.r != pairs[k-1].r {
			pairs[k] = p
			k++
		}
	}
	pairs = pairs[:k]
	return b.assemble(f, pairs, size, encodingID)
}

// strip returns glyph data without hinting instructions, with composite
// component ids renumbered (adding the components to the subset). data is
// returned as is when nothing needs changing.
func (b *subsetBuilder) strip(data []byte) ([]byte, error) {
	if len(data) == 0 {
		return data, nil
	}
	if len(data) < 10 {
		return nil, errors.New("glyph header truncated")
	}
	nc := int16(be.Uint16(data))
	if nc >= 0 {
		p := 10 + 2*int(nc)
		if len(data) < p+2 {
			return nil, errors.New("simple glyph truncated")
		}
		ni := int(be.Uint16(data[p:]))
		if len(data) < p+2+ni {
			return nil, errors.New("instructions truncated")
		}
		if ni == 0 {
			return data, nil
		}
		out := make([]byte, 0, len(data)-ni)
		out = append(out, data[:p]...)
		out = append(out, 0, 0)
		return append(out, data[p+2+ni:]...), nil
	}
	out := make([]byte, 0, len(data))
	out = append(out, data[:10]...)
	p := 10
	for {
		if len(data) < p+4 {
			return nil, errors.New("component truncated")
		}
		flags := be.Uint16(data[p:])
		old := be.Uint16(data[p+2:])
		if int(old) >= b.t.numGlyphs {
			return nil, fmt.Errorf("component glyph %d out of range", old)
		}
		n := 4 + 2
		if flags&argsAreWords != 0 {
			n = 4 + 4
		}
		switch {
		case flags&haveScale != 0:
			n += 2
		case flags&haveXYScale != 0:
			n += 4
		case flags&haveTwoByTwo != 0:
			n += 8
		}
		if len(data) < p+n {
			return nil, errors.New("component truncated")
		}
		out = be.AppendUint16(out, flags&^haveInstruction)
		out = be.AppendUint16(out, b.add(old))
		out = append(out, data[p+4:p+n]...)
		p += n
		if flags&moreComponents == 0 {
			return out, nil
		}
	}
}

type cmapPair struct {
	r, g uint16
}

type table struct {
	tag  string
	data []byte
}

// assemble writes the subset font file.
func (b *subsetBuilder) assemble(f *Face, pairs []cmapPair, glyfSize int, encodingID uint16) ([]byte, error) {
	t := b.t
	n := len(b.old)

	// Scratch for the small tables, allocated once.
	scratch := make([]byte, 0, 54+36+len(t.maxp)+len(t.os2)+32+4*n+4*(n+1)+cmapSize(pairs)+nameSize(f.Name))
	cut := func(start int) []byte { return scratch[start:len(scratch):len(scratch)] }

	s := len(scratch)
	scratch = append(scratch, t.head[:54]...)
	head := cut(s)
	be.PutUint32(head[8:], 0)  // checkSumAdjustment, set below
	be.PutUint16(head[50:], 1) // long loca

	s = len(scratch)
	scratch = append(scratch, t.hhea[:36]...)
	hhea := cut(s)
	be.PutUint16(hhea[34:], uint16(n))

	s = len(scratch)
	scratch = append(scratch, t.maxp...)
	maxp := cut(s)
	be.PutUint16(maxp[4:], uint16(n))

	var os2 []byte
	if len(t.os2) >= 68 {
		s = len(scratch)
		scratch = append(scratch, t.os2...)
		os2 = cut(s)
		if len(pairs) > 0 {
			be.PutUint16(os2[64:], pairs[0].r)
			be.PutUint16(os2[66:], pairs[len(pairs)-1].r)
		}
	}

	s = len(scratch)
	scratch = append(scratch, 0, 3, 0, 0) // post format 3.0
	if len(t.post) >= 16 {
		scratch = append(scratch, t.post[4:16]...) // italicAngle, underline, isFixedPitch
	} else {
		scratch = append(scratch, make([]byte, 12)...)
	}
	scratch = append(scratch, make([]byte, 16)...)
	post := cut(s)

	s = len(scratch)
	for _, old := range b.old {
		adv, lsb := t.metric(int(old))
		scratch = be.AppendUint16(scratch, adv)
		scratch = be.AppendUint16(scratch, lsb)
	}
	hmtx := cut(s)

	s = len(scratch)
	off := uint32(0)
	for _, g := range b.glyphs {
		scratch = be.AppendUint32(scratch, off)
		off += uint32((len(g) + 3) &^ 3)
	}
	scratch = be.AppendUint32(scratch, off)
	loca := cut(s)

	s = len(scratch)
	scratch = appendCmap(scratch, pairs, encodingID)
	cmap := cut(s)

	s = len(scratch)
	scratch = appendName(scratch, f.Name)
	name := cut(s)

	tables := [...]table{
		{"OS/2", os2}, {"cmap", cmap}, {"glyf", nil}, {"head", head}, {"hhea", hhea},
		{"hmtx", hmtx}, {"loca", loca}, {"maxp", maxp}, {"name", name}, {"post", post},
	}
	numTables := 0
	total := 0
	for _, tb := range tables {
		if tb.tag == "glyf" {
			total += glyfSize
		} else if tb.data == nil {
			continue
		} else {
			total += (len(tb.data) + 3) &^ 3
		}
		numTables++
	}
	dirSize := 12 + 16*numTables
	out := make([]byte, dirSize, dirSize+total)
	be.PutUint32(out, 0x00010000)
	be.PutUint16(out[4:], uint16(numTables))
	sr, es := 1, 0
	for sr*2 <= numTables {
		sr *= 2
		es++
	}
	be.PutUint16(out[6:], uint16(16*sr))
	be.PutUint16(out[8:], uint16(es))
	be.PutUint16(out[10:], uint16(16*(numTables-sr)))
	rec := 12
	headOff := 0
	for _, tb := range tables {
		start := len(out)
		if tb.tag == "glyf" {
			for _, g := range b.glyphs {
				out = append(out, g...)
				out = pad4(out)
			}
		} else if tb.data == nil {
			continue
		} else {
			out = append(out, tb.data...)
			out = pad4(out)
		}
		if tb.tag == "head" {
			headOff = start
		}
		length := len(out) - start
		if tb.tag != "glyf" {
			length = len(tb.data)
		}
		copy(out[rec:], tb.tag)
		be.PutUint32(out[rec+4:], checksum(out[start:len(out)]))
		be.PutUint32(out[rec+8:], uint32(start))
		be.PutUint32(out[rec+12:], uint32(length))
		rec += 16
	}
	be.PutUint32(out[headOff+8:], 0xB1B0AFBA-checksum(out))
	return out, nil
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// checksum is the sfnt table checksum of b, whose length is a multiple of 4.
func checksum(b []byte) uint32 {
	var sum uint32
	for len(b) >= 16 {
		sum += be.Uint32(b) + be.Uint32(b[4:]) + be.Uint32(b[8:]) + be.Uint32(b[12:])
		b = b[16:]
	}
	for len(b) >= 4 {
		sum += be.Uint32(b)
		b = b[4:]
	}
	return sum
}

// cmapSegments counts the format-4 segments needed for pairs (sorted by
// rune), including the final 0xFFFF segment.
func cmapSegments(pairs []cmapPair) int {
	n := 1
	for i := range pairs {
		if i == 0 || pairs[i].r != pairs[i-1].r+1 || pairs[i].g != pairs[i-1].g+1 {
			n++
		}
	}
	return n
}

func cmapSize(pairs []cmapPair) int { return 4 + 8 + 14 + 8*cmapSegments(pairs) + 2 }

// appendCmap appends a cmap table with one (3, encodingID) format-4
// subtable mapping pairs: encoding 1 (Unicode BMP) or 0 (Symbol). Each
// segment is a run of consecutive keys drawn by consecutive glyphs, mapped
// with idDelta alone.
func appendCmap(b []byte, pairs []cmapPair, encodingID uint16) []byte {
	segs := cmapSegments(pairs)
	b = append(b, 0, 0, 0, 1, 0, 3, byte(encodingID>>8), byte(encodingID), 0, 0, 0, 12) // version 0, 1 table: (3,e) at 12
	length := 14 + 8*segs + 2
	b = be.AppendUint16(b, 4)
	b = be.AppendUint16(b, uint16(length))
	b = be.AppendUint16(b, 0) // language
	b = be.AppendUint16(b, uint16(2*segs))
	sr, es := 1, 0
	for sr*2 <= segs {
		sr *= 2
		es++
	}
	b = be.AppendUint16(b, uint16(2*sr))
	b = be.AppendUint16(b, uint16(es))
	b = be.AppendUint16(b, uint16(2*(segs-sr)))
	// endCode, reservedPad, startCode, idDelta, idRangeOffset arrays.
	forEachSegment := func(fn func(start, end, delta uint16)) {
		i := 0
		for i < len(pairs) {
			j := i + 1
			for j < len(pairs) && pairs[j].r == pairs[j-1].r+1 && pairs[j].g == pairs[j-1].g+1 {
				j++
			}
			fn(pairs[i].r, pairs[j-1].r, pairs[i].g-pairs[i].r)
			i = j
		}
		fn(0xFFFF, 0xFFFF, 1)
	}
	forEachSegment(func(_, end, _ uint16) { b = be.AppendUint16(b, end) })
	b = be.AppendUint16(b, 0)
	forEachSegment(func(start, _, _ uint16) { b = be.AppendUint16(b, start) })
	forEachSegment(func(_, _, delta uint16) { b = be.AppendUint16(b, delta) })
	for i := 0; i < segs; i++ {
		b = be.AppendUint16(b, 0)
	}
	return b
}

// nameIDs are the name records written: family, subfamily, full name,
// PostScript name.
var nameIDs = [...]uint16{1, 2, 4, 6}

func nameValue(id uint16, psName string) string {
	if id == 2 {
		return "Regular"
	}
	return psName
}

func nameSize(psName string) int {
	n := 6 + 12*len(nameIDs)
	for _, id := range nameIDs {
		n += 2 * len(nameValue(id, psName))
	}
	return n
}

// appendName appends a name table with Windows English records for the
// face's name (an ASCII PostScript name).
func appendName(b []byte, psName string) []byte {
	b = be.AppendUint16(b, 0)
	b = be.AppendUint16(b, uint16(len(nameIDs)))
	b = be.AppendUint16(b, uint16(6+12*len(nameIDs)))
	off := 0
	for _, id := range nameIDs {
		l := 2 * len(nameValue(id, psName))
		b = append(b, 0, 3, 0, 1, 0x04, 0x09) // platform 3, encoding 1, en-US
		b = be.AppendUint16(b, id)
		b = be.AppendUint16(b, uint16(l))
		b = be.AppendUint16(b, uint16(off))
		off += l
	}
	for _, id := range nameIDs {
		for _, c := range []byte(nameValue(id, psName)) {
			b = append(b, 0, c)
		}
	}
	return b
}

// FontBox returns the face's bounding box in font units from its head table:
// xMin, yMin, xMax, yMax (y up). It is zero if the table cannot be read.
func (f *Face) FontBox() [4]int {
	t, err := f.tables()
	if err != nil {
		return [4]int{}
	}
	h := t.head
	return [4]int{
		int(int16(be.Uint16(h[36:]))), int(int16(be.Uint16(h[38:]))),
		int(int16(be.Uint16(h[40:]))), int(int16(be.Uint16(h[42:]))),
	}
}

// Underline returns the underline position (negative: below the baseline)
// and thickness in font units from the face's post table, zero if absent.
func (f *Face) Underline() (position, thickness int) {
	t, err := f.tables()
	if err != nil || len(t.post) < 12 {
		return 0, 0
	}
	return int(int16(be.Uint16(t.post[8:]))), int(int16(be.Uint16(t.post[10:])))
}
