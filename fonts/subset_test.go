package fonts

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"golang.org/x/image/font"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

const (
	latin    = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"
	accents  = "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿÀÉÎÕÜßĀāĞğİıŁłŒœŠšŽžệữẫỗươĐđ\u0300\u0301\u0303\u0323"
	greek    = "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΩ"
	cyrillic = "абвгдежзийклмнопрстуфхцчшщъыьэюяАБВГДЖЯ"
	symbols  = "µ±≥≤°×÷→½‰·–—‘’“”•…€"
	cjk      = "中文李王张伟芳医院病理报告检查"
)

// subsetCases lists, per face, the runes every test subsets.
func subsetCases() map[ID]string {
	all := latin + accents + greek + cyrillic + symbols
	return map[ID]string{
		Sans:           all,
		SansBold:       all,
		SansItalic:     all,
		SansBoldItalic: all,
		Mono:           latin + "àéệữươĐđ" + greek + cyrillic + "µ±≥≤°×÷→½·",
		MonoBold:       latin + "µ±≥≤°×÷→½·",
		CJK:            cjk + "あア",
	}
}

func dedupe(s string) []rune {
	seen := map[rune]bool{}
	var rs []rune
	for _, r := range s {
		if !seen[r] {
			seen[r] = true
			rs = append(rs, r)
		}
	}
	return rs
}

// TestSubsetOutlines parses every subset with x/image/font/sfnt and checks
// that each rune draws exactly the original glyph's outline and advance.
func TestSubsetOutlines(t *testing.T) {
	for id, s := range subsetCases() {
		t.Run(id.String(), func(t *testing.T) {
			face := Get(id)
			runes := dedupe(s)
			for _, r := range runes {
				if !face.Has(r) {
					t.Fatalf("test set: %s lacks %U", face.Name, r)
				}
			}
			ttf, err := face.Subset(runes)
			if err != nil {
				t.Fatal(err)
			}
			sub, err := sfnt.Parse(ttf)
			if err != nil {
				t.Fatalf("sfnt.Parse(subset): %v", err)
			}
			if sub.UnitsPerEm() != face.Font.UnitsPerEm() {
				t.Errorf("unitsPerEm %d, want %d", sub.UnitsPerEm(), face.Font.UnitsPerEm())
			}
			var ob, sb sfnt.Buffer
			ppem := fixed.I(face.UnitsPerEm)
			for _, r := range runes {
				og, _ := face.Font.GlyphIndex(&ob, r)
				sg, err := sub.GlyphIndex(&sb, r)
				if err != nil || sg == 0 {
					t.Errorf("%U (%c): subset cmap gives glyph %d, %v", r, r, sg, err)
					continue
				}
				want, err := face.Font.LoadGlyph(&ob, og, ppem, nil)
				if err != nil {
					t.Fatal(err)
				}
				want = append(sfnt.Segments(nil), want...)
				got, err := sub.LoadGlyph(&sb, sg, ppem, nil)
				if err != nil {
					t.Errorf("%U: LoadGlyph(subset glyph %d): %v", r, sg, err)
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%U (%c): subset outline differs from the original (%d vs %d segments)", r, r, len(got), len(want))
				}
				oa, _ := face.Font.GlyphAdvance(&ob, og, ppem, font.HintingNone)
				sa, _ := sub.GlyphAdvance(&sb, sg, ppem, font.HintingNone)
				if oa != sa {
					t.Errorf("%U: advance %v, want %v", r, sa, oa)
				}
			}
			// A rune outside the set is not mapped.
			if g, _ := sub.GlyphIndex(&sb, 'Ж'); g != 0 && !strings.ContainsRune(s, 'Ж') {
				t.Errorf("unrequested rune Ж maps to glyph %d", g)
			}
			// .notdef is glyph 0 and keeps its outline.
			want, _ := face.Font.LoadGlyph(&ob, 0, ppem, nil)
			want = append(sfnt.Segments(nil), want...)
			got, err := sub.LoadGlyph(&sb, 0, ppem, nil)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf(".notdef differs: %v", err)
			}
		})
	}
}

// TestSubsetComposites checks that composite glyphs bring their components
// along, renumbered: the test set must contain composites for this to mean
// anything, so that is checked first.
func TestSubsetComposites(t *testing.T) {
	face := Get(Sans)
	tb, err := face.tables()
	if err != nil {
		t.Fatal(err)
	}
	var composite []rune
	for _, r := range "éệữÅŠǄ" {
		data, err := tb.glyph(int(face.Glyph(r)))
		if err != nil {
			t.Fatal(err)
		}
		if len(data) >= 10 && int16(binary.BigEndian.Uint16(data)) < 0 {
			composite = append(composite, r)
		}
	}
	if len(composite) == 0 {
		t.Fatal("no composite glyph in the test set")
	}
	ttf, err := face.Subset(composite)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := sfnt.Parse(ttf)
	if err != nil {
		t.Fatal(err)
	}
	if n := sub.NumGlyphs(); n <= len(composite)+1 {
		t.Errorf("subset of %d composite glyphs has %d glyphs, want components too", len(composite), n)
	}
	var b sfnt.Buffer
	for _, r := range composite {
		g, _ := sub.GlyphIndex(&b, r)
		segs, err := sub.LoadGlyph(&b, g, fixed.I(face.UnitsPerEm), nil)
		if err != nil || len(segs) == 0 {
			t.Errorf("%c: composite glyph %d: %d segments, %v", r, g, len(segs), err)
		}
	}
}

// TestSubsetChecksums checks every table checksum and the whole-file
// checksum adjustment.
func TestSubsetChecksums(t *testing.T) {
	ttf, err := Get(Sans).Subset(dedupe(latin + greek + "ệ"))
	if err != nil {
		t.Fatal(err)
	}
	be := binary.BigEndian
	if len(ttf)%4 != 0 {
		t.Fatalf("length %d not a multiple of 4", len(ttf))
	}
	n := int(be.Uint16(ttf[4:]))
	seen := map[string]bool{}
	prev := ""
	for i := 0; i < n; i++ {
		rec := ttf[12+16*i:]
		tag := string(rec[:4])
		if tag <= prev {
			t.Errorf("table %q after %q: directory not sorted", tag, prev)
		}
		prev = tag
		seen[tag] = true
		sum, off, length := be.Uint32(rec[4:]), be.Uint32(rec[8:]), be.Uint32(rec[12:])
		if off%4 != 0 {
			t.Errorf("%s: offset %d not 4-aligned", tag, off)
		}
		data := ttf[off : off+(length+3)&^3]
		if tag == "head" {
			data = append([]byte(nil), data...)
			be.PutUint32(data[8:], 0)
		}
		if got := checksum(data); got != sum {
			t.Errorf("%s: checksum %#x, directory says %#x", tag, got, sum)
		}
	}
	for _, tag := range []string{"cmap", "glyf", "head", "hhea", "hmtx", "loca", "maxp", "name", "post", "OS/2"} {
		if !seen[tag] {
			t.Errorf("table %s missing", tag)
		}
	}
	if got := checksum(ttf); got != 0xB1B0AFBA {
		t.Errorf("whole-file checksum %#x, want 0xB1B0AFBA", got)
	}
}

// TestSubsetFreeType loads a subset with FreeType through fc-query, a reader
// independent of this package, and checks the charset it reports.
func TestSubsetFreeType(t *testing.T) {
	fcq, err := exec.LookPath("fc-query")
	if err != nil {
		t.Skip("fc-query not installed")
	}
	runes := dedupe("Aµ≥")
	ttf, err := Get(CJK).Subset([]rune("中文"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{"cjk.ttf": ttf} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ttf, err = Get(SansBold).Subset(runes)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sans.ttf"), ttf, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"sans.ttf": "41 b5 2265", "cjk.ttf": "4e2d 6587"} {
		out, err := exec.Command(fcq, "-f", "%{charset}|%{postscriptname}", filepath.Join(dir, name)).CombinedOutput()
		if err != nil {
			t.Fatalf("fc-query %s: %v\n%s", name, err, out)
		}
		cs, ps, _ := strings.Cut(string(out), "|")
		for _, w := range strings.Fields(want) {
			if !strings.Contains(" "+cs+" ", " "+w+" ") && !strings.Contains(cs, w) {
				t.Errorf("%s: FreeType charset %q lacks %s", name, cs, w)
			}
		}
		if ps == "" {
			t.Errorf("%s: no PostScript name", name)
		}
	}
}

func TestSubsetErrors(t *testing.T) {
	face := Get(Sans)
	for _, tc := range []struct {
		runes []rune
		want  string
	}{
		{[]rune{'a', 0x1F600}, "U+1F600 is outside the Basic Multilingual Plane"},
		{[]rune{'a', '中'}, "no glyph for U+4E2D"},
		{[]rune{-1}, "outside the Basic Multilingual Plane"},
	} {
		_, err := face.Subset(tc.runes)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "fonts: DejaVuSans: ") {
			t.Errorf("Subset(%q) = %v, want error containing %q", tc.runes, err, tc.want)
		}
	}
	// An empty set still makes a valid font with .notdef alone.
	ttf, err := face.Subset(nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := sfnt.Parse(ttf)
	if err != nil || f.NumGlyphs() != 1 {
		t.Errorf("empty subset: %v, %d glyphs", err, f.NumGlyphs())
	}
}

func TestSubsetDeterministic(t *testing.T) {
	runes := dedupe(latin + accents + symbols)
	want, err := Get(SansItalic).Subset(runes)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := Get(SansItalic).Subset(runes)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("concurrent subset differs (%v)", err)
			}
		}()
	}
	wg.Wait()
}

func BenchmarkSubset(b *testing.B) {
	for _, bc := range []struct {
		name string
		id   ID
		s    string
	}{
		{"SansLatin", Sans, latin + "µ±≥≤°"},
		{"CJK", CJK, cjk},
	} {
		runes := dedupe(bc.s)
		face := Get(bc.id)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for i := 0; i < b.N; i++ {
				ttf, err := face.Subset(runes)
				if err != nil {
					b.Fatal(err)
				}
				n = len(ttf)
			}
			b.ReportMetric(float64(n), "ttf-bytes")
		})
	}
}

// TestSymbolicSubset checks the font program of a symbolic PDF font: one
// cmap subtable, Windows Symbol (3,0), mapping 0xF000+code to exactly the
// glyph asked for that code, with the original outline and advance.
func TestSymbolicSubset(t *testing.T) {
	face := Get(Sans)
	runes := []rune("Aβ≥Ж")
	var glyphs []uint16
	codes := []byte{'A', 127, 128, 32}
	for _, r := range runes {
		glyphs = append(glyphs, face.Glyph(r))
	}
	ttf, err := face.SymbolicSubset(glyphs, codes)
	if err != nil {
		t.Fatal(err)
	}
	// The cmap table holds one subtable, (3,0).
	n := int(binary.BigEndian.Uint16(ttf[4:]))
	var cmap []byte
	for i := 0; i < n; i++ {
		rec := ttf[12+16*i:]
		if string(rec[:4]) == "cmap" {
			off, l := binary.BigEndian.Uint32(rec[8:]), binary.BigEndian.Uint32(rec[12:])
			cmap = ttf[off : off+l]
		}
	}
	if cmap == nil {
		t.Fatal("no cmap table")
	}
	if got := binary.BigEndian.Uint16(cmap[2:]); got != 1 {
		t.Fatalf("cmap has %d subtables, want 1", got)
	}
	if pid, eid := binary.BigEndian.Uint16(cmap[4:]), binary.BigEndian.Uint16(cmap[6:]); pid != 3 || eid != 0 {
		t.Fatalf("cmap subtable (%d,%d), want (3,0)", pid, eid)
	}
	sub, err := sfnt.Parse(ttf)
	if err != nil {
		t.Fatalf("sfnt.Parse: %v", err)
	}
	var ob, sb sfnt.Buffer
	ppem := fixed.I(face.UnitsPerEm)
	for i, r := range runes {
		sg, err := sub.GlyphIndex(&sb, rune(SymbolFirst+int(codes[i])))
		if err != nil || sg == 0 {
			t.Fatalf("code %d: glyph %d, %v", codes[i], sg, err)
		}
		og, _ := face.Font.GlyphIndex(&ob, r)
		want, _ := face.Font.LoadGlyph(&ob, og, ppem, nil)
		want = append(sfnt.Segments(nil), want...)
		got, err := sub.LoadGlyph(&sb, sg, ppem, nil)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("code %d (%c): outline differs from the original glyph: %v", codes[i], r, err)
		}
		oa, _ := face.Font.GlyphAdvance(&ob, og, ppem, font.HintingNone)
		sa, _ := sub.GlyphAdvance(&sb, sg, ppem, font.HintingNone)
		if oa != sa {
			t.Errorf("code %d: advance %v, want %v", codes[i], sa, oa)
		}
	}
	if _, err := face.SymbolicSubset(glyphs[:2], []byte{65, 65}); err == nil {
		t.Error("a code used twice is accepted")
	}
	if _, err := face.SymbolicSubset([]uint16{0}, []byte{65}); err == nil {
		t.Error("glyph 0 is accepted")
	}
}
