package pdf

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"hash/fnv"
	"math/bits"
	"strconv"
	"sync"

	"github.com/foliohealth/folio/fonts"
)

// Fonts reach the PDF as single-byte ("simple") TrueType fonts: per document
// and per face, the distinct runes drawn are split into encoding pages of at
// most pageRunes runes (codes 32..255). Each page becomes one symbolic
// subset font: no /Encoding entry, its codes select glyphs through the
// subset's single (3,0) cmap (code c at 0xF000+c), and a /ToUnicode CMap
// says which characters each code draws, which is how text extractors
// recover them. PDF/A-1 allows a non-symbolic TrueType font only with the
// plain WinAnsi or MacRoman encoding (PDFBox preflight refuses a
// /Differences array), which cannot reach beyond Latin-1; a symbolic font
// with no encoding and one cmap subtable is what it allows for any glyphs.

const (
	firstCode = 32
	pageRunes = 256 - firstCode
)

// faceRunes collects the distinct runes drawn in one face.
type faceRunes struct {
	set [0x10000 / 64]uint64
	n   int
}

func (s *faceRunes) add(r rune) {
	if r < 0 || r > 0xFFFF {
		return // refused by the subsetter with a clear error
	}
	w, b := r>>6, uint64(1)<<(r&63)
	if s.set[w]&b == 0 {
		s.set[w] |= b
		s.n++
	}
}

// sorted returns the collected runes in ascending order; runes outside the
// BMP are listed as seen by the caller separately.
func (s *faceRunes) sorted() []rune {
	rs := make([]rune, 0, s.n)
	for w, word := range s.set {
		for word != 0 {
			t := bits.TrailingZeros64(word)
			rs = append(rs, rune(w<<6+t))
			word &= word - 1
		}
	}
	return rs
}

// encoding is the code assignment of one face in one document.
type encoding struct {
	face  *fonts.Face
	pages [][]rune // per encoding page: runes in code order (see codes)
	codes [][]byte // per encoding page: the code of each rune of pages
	ascii [128]uint16
	other map[rune]uint16 // rune -> page<<8 | code
}

// newEncoding assigns codes to runes (sorted ascending). Printable ASCII
// keeps its own code, so content streams stay readable; other runes take
// the free codes from 127 upwards, then the free ASCII codes.
func newEncoding(face *fonts.Face, runes []rune) *encoding {
	e := &encoding{face: face}
	nOther := 0
	for _, r := range runes {
		if r >= 128 {
			nOther++
		}
	}
	if nOther > 0 {
		e.other = make(map[rune]uint16, nOther)
	}
	for p := 0; len(runes) > 0; p++ {
		n := min(len(runes), pageRunes)
		page := runes[:n:n]
		runes = runes[n:]
		var used [256]bool
		codes := make([]byte, n)
		for i, r := range page {
			if r >= firstCode && r < 127 {
				codes[i] = byte(r)
				used[r] = true
			}
		}
		next := 127
		for i, r := range page {
			if r >= firstCode && r < 127 {
				continue
			}
			for next < 256 && used[next] {
				next++
			}
			if next == 256 {
				next = firstCode
				for used[next] {
					next++
				}
			}
			codes[i] = byte(next)
			used[next] = true
		}
		for i, r := range page {
			v := uint16(p)<<8 | uint16(codes[i])
			if r < 128 {
				e.ascii[r] = v
			} else {
				e.other[r] = v
			}
		}
		e.pages = append(e.pages, page)
		e.codes = append(e.codes, codes)
	}
	return e
}

// code returns the encoding page and code of r; ok is false for a rune the
// document's rune collection never saw.
func (e *encoding) code(r rune) (page int, code byte, ok bool) {
	var v uint16
	if r >= 0 && r < 128 {
		v = e.ascii[r]
	} else {
		v = e.other[r]
	}
	return int(v >> 8), byte(v), v != 0
}

// fontFile is one encoding page of a face ready for fpdf.AddFontFromBytes:
// the JSON font definition and the zlib-compressed subset font.
type fontFile struct {
	name    string // PDF BaseFont: subset tag + face name
	json, z []byte
}

// The cache of finished font files, shared by all documents: reports of
// one kind tend to draw the same runes in the same faces. It is emptied
// when it holds more than cacheSize entries or cacheBytes bytes.
var (
	cacheMu    sync.Mutex
	cache      = map[string]*fontFile{}
	cacheSize  = 256
	cacheBytes = 16 << 20
	cacheUsed  int
)

// setCacheSize sets the cache's capacity (0 turns it off) and returns the
// previous one.
func setCacheSize(n int) int {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	old := cacheSize
	cacheSize = n
	clear(cache)
	cacheUsed = 0
	return old
}

// cacheKey identifies a face and the runes and codes of one encoding page.
func cacheKey(id fonts.ID, runes []rune, codes []byte) string {
	b := make([]byte, 0, 1+3*len(runes))
	b = append(b, byte(id))
	for i, r := range runes {
		b = append(b, byte(r>>8), byte(r), codes[i])
	}
	return string(b)
}

// font returns the font file for one encoding page, from the cache or made
// now. The result is shared and must not be modified.
func (e *encoding) font(page int) (*fontFile, error) {
	key := cacheKey(e.face.ID, e.pages[page], e.codes[page])
	cacheMu.Lock()
	ff := cache[key]
	cacheMu.Unlock()
	if ff != nil {
		return ff, nil
	}
	ff, err := makeFont(e.face, e.pages[page], e.codes[page])
	if err != nil {
		return nil, err
	}
	cacheMu.Lock()
	size := len(key) + len(ff.json) + len(ff.z)
	if len(cache) >= cacheSize || cacheUsed+size > cacheBytes {
		clear(cache)
		cacheUsed = 0
	}
	if cacheSize > 0 {
		cache[key] = ff
		cacheUsed += size
	}
	cacheMu.Unlock()
	return ff, nil
}

// zlibPool holds font compressors. The default level: BestSpeed was
// measured to make a document with new fonts about 17% faster to paint and
// about 2% larger.
var zlibPool = sync.Pool{New: func() any {
	w, _ := zlib.NewWriterLevel(nil, zlib.DefaultCompression)
	return w
}}

// makeFont subsets face to runes and writes the fpdf font definition that
// maps codes[i] to runes[i].
func makeFont(face *fonts.Face, runes []rune, codes []byte) (*fontFile, error) {
	glyphs := make([]uint16, len(runes))
	for i, r := range runes {
		if glyphs[i] = face.Glyph(r); glyphs[i] == 0 {
			return nil, fmt.Errorf("fonts: %s: subset: no glyph for %U", face.Name, r)
		}
	}
	ttf, err := face.SymbolicSubset(glyphs, codes)
	if err != nil {
		return nil, err
	}
	var z bytes.Buffer
	z.Grow(len(ttf) / 2)
	zw := zlibPool.Get().(*zlib.Writer)
	zw.Reset(&z)
	zw.Write(ttf)
	err = zw.Close()
	zlibPool.Put(zw)
	if err != nil {
		return nil, fmt.Errorf("pdf: compressing %s subset: %w", face.Name, err)
	}

	upem := face.UnitsPerEm
	scale := func(v int) int { // font units to 1/1000 em, rounded half away from zero
		n := v * 1000
		if n < 0 {
			return -((-n + upem/2) / upem)
		}
		return (n + upem/2) / upem
	}

	h := fnv.New64a()
	h.Write([]byte(face.Name))
	h.Write([]byte(cacheKey(face.ID, runes, codes)))
	sum := h.Sum64()
	var tag [7]byte
	for i := 0; i < 6; i++ {
		tag[i] = 'A' + byte(sum%26)
		sum /= 26
	}
	tag[6] = '+'
	name := string(tag[:]) + face.Name

	flags := 4 // symbolic
	if face.ID == fonts.Mono || face.ID == fonts.MonoBold {
		flags |= 1 // fixed pitch
	}
	if face.ItalicDeg != 0 {
		flags |= 64
	}
	stemV := 70
	if face.ID.Bold() == face.ID && face.ID != fonts.CJK {
		stemV = 120
	}
	box := face.FontBox()
	upos, uthick := face.Underline()

	var cw [256]int
	order := make([]int, 256) // code -> index into runes, or -1
	for i := range order {
		order[i] = -1
	}
	for i, r := range runes {
		c := codes[i]
		cw[c] = scale(face.GlyphAdvance(face.Glyph(r)))
		order[c] = i
	}

	j := make([]byte, 0, 2048+12*len(runes))
	j = append(j, `{"Tp":"TrueType","Name":"`...)
	j = append(j, name...)
	j = append(j, `","Desc":{"Ascent":`...)
	j = strconv.AppendInt(j, int64(scale(face.Ascent)), 10)
	j = append(j, `,"Descent":`...)
	j = strconv.AppendInt(j, int64(scale(face.Descent)), 10)
	j = append(j, `,"CapHeight":`...)
	j = strconv.AppendInt(j, int64(scale(face.CapHeight)), 10)
	j = append(j, `,"Flags":`...)
	j = strconv.AppendInt(j, int64(flags), 10)
	j = append(j, `,"FontBBox":{"Xmin":`...)
	j = strconv.AppendInt(j, int64(scale(box[0])), 10)
	j = append(j, `,"Ymin":`...)
	j = strconv.AppendInt(j, int64(scale(box[1])), 10)
	j = append(j, `,"Xmax":`...)
	j = strconv.AppendInt(j, int64(scale(box[2])), 10)
	j = append(j, `,"Ymax":`...)
	j = strconv.AppendInt(j, int64(scale(box[3])), 10)
	j = append(j, `},"ItalicAngle":`...)
	j = strconv.AppendInt(j, int64(face.ItalicDeg), 10)
	j = append(j, `,"StemV":`...)
	j = strconv.AppendInt(j, int64(stemV), 10)
	j = append(j, `,"MissingWidth":`...)
	j = strconv.AppendInt(j, int64(scale(face.GlyphAdvance(0))), 10)
	j = append(j, `},"Up":`...)
	j = strconv.AppendInt(j, int64(scale(upos)), 10)
	j = append(j, `,"Ut":`...)
	j = strconv.AppendInt(j, int64(scale(uthick)), 10)
	j = append(j, `,"Cw":[`...)
	for c, w := range cw {
		if c > 0 {
			j = append(j, ',')
		}
		j = strconv.AppendInt(j, int64(w), 10)
	}
	j = append(j, `],"Enc":"","Diff":"","ToUnicode":"`...)
	j = appendToUnicode(j, runes, order)
	j = append(j, `","File":"`...)
	j = append(j, name...)
	j = append(j, `.z","OriginalSize":`...)
	j = strconv.AppendInt(j, int64(len(ttf)), 10)
	j = append(j, '}')
	return &fontFile{name: name, json: j, z: z.Bytes()}, nil
}

func appendHex4(b []byte, r rune) []byte {
	const hex = "0123456789ABCDEF"
	return append(b, hex[r>>12&15], hex[r>>8&15], hex[r>>4&15], hex[r&15])
}

// appendToUnicode appends the ToUnicode CMap mapping each code c with
// order[c] >= 0 to runes[order[c]], JSON-escaped (its line breaks as \n).
// Runs of consecutive codes drawing consecutive runes become one bfrange.
func appendToUnicode(j []byte, runes []rune, order []int) []byte {
	j = append(j, `/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n`+
		`/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n`+
		`/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n`+
		`1 begincodespacerange\n<00> <FF>\nendcodespacerange\n`...)
	type run struct {
		code, n int
		r       rune
	}
	var ranges, chars []run
	for c := 0; c < 256; c++ {
		if order[c] < 0 {
			continue
		}
		r := runes[order[c]]
		n := 1
		for c+n < 256 && order[c+n] >= 0 && runes[order[c+n]] == r+rune(n) {
			n++
		}
		if n > 1 {
			ranges = append(ranges, run{c, n, r})
		} else {
			chars = append(chars, run{c, 1, r})
		}
		c += n - 1
	}
	hex2 := func(j []byte, c int) []byte {
		const hex = "0123456789ABCDEF"
		return append(j, '<', hex[c>>4], hex[c&15], '>')
	}
	for len(ranges) > 0 {
		n := min(len(ranges), 100)
		j = strconv.AppendInt(j, int64(n), 10)
		j = append(j, " beginbfrange\\n"...)
		for _, rg := range ranges[:n] {
			j = hex2(j, rg.code)
			j = append(j, ' ')
			j = hex2(j, rg.code+rg.n-1)
			j = append(j, " <"...)
			j = appendHex4(j, rg.r)
			j = append(j, ">\\n"...)
		}
		j = append(j, "endbfrange\\n"...)
		ranges = ranges[n:]
	}
	for len(chars) > 0 {
		n := min(len(chars), 100)
		j = strconv.AppendInt(j, int64(n), 10)
		j = append(j, " beginbfchar\\n"...)
		for _, ch := range chars[:n] {
			j = hex2(j, ch.code)
			j = append(j, " <"...)
			j = appendHex4(j, ch.r)
			j = append(j, ">\\n"...)
		}
		j = append(j, "endbfchar\\n"...)
		chars = chars[n:]
	}
	return append(j, `endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend`...)
}
