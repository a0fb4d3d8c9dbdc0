package layout

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"

	gtbidi "github.com/go-text/typesetting/bidi"
	xbidi "golang.org/x/text/unicode/bidi"
	"golang.org/x/text/unicode/norm"

	"github.com/foliohealth/folio/document"
	"github.com/foliohealth/folio/fonts"
	"github.com/foliohealth/folio/report"
	"github.com/foliohealth/folio/templates"
)

// visual lays s out as one paragraph of the given width and returns its
// lines as displayed (each line's Text ops left to right, NFKC-normalised so
// shaped Arabic reads as its letters), and the x of each line's first op.
func visual(t *testing.T, s string, width float64) ([]string, []float64) {
	t.Helper()
	var sh shaper
	items := sh.itemsString(s, font{face: fonts.Sans, size: 10}, nil)
	var lines []string
	var xs []float64
	for _, ln := range breakLines(items, width) {
		x := 0.0
		if rtlLine(ln) {
			x = width - lineWidth(ln)
		}
		ops := lineOps(ln, x, 0, nil)
		var sb strings.Builder
		first := -1.0
		for _, op := range ops {
			if tx, ok := op.(*Text); ok {
				sb.WriteString(tx.S)
				if first < 0 {
					first = tx.X
				}
			}
		}
		lines = append(lines, norm.NFKC.String(sb.String()))
		xs = append(xs, first)
	}
	return lines, xs
}

// rev reverses a string's runes: how a right-to-left run is displayed.
func rev(s string) string {
	rs := []rune(s)
	for a, b := 0, len(rs)-1; a < b; a, b = a+1, b-1 {
		rs[a], rs[b] = rs[b], rs[a]
	}
	return string(rs)
}

func TestBidiVisualOrder(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"latin only", "abc def", "abc def"},
		{"hebrew in ltr", "Patient כהן שרה MRN 12", "Patient " + rev("כהן שרה") + " MRN 12"},
		{"rtl paragraph with latin", "שלום abc עולם", rev("עולם") + " abc " + rev("שלום")},
		{"numbers inside rtl", "גיל 42 שנים", rev("שנים") + " 42 " + rev("גיל")},
		{"date inside rtl", "תאריך 2026-11-26 היום", rev("היום") + " 2026-11-26 " + rev("תאריך")},
		{"mirrored brackets", "שרה (כהן)", "(" + rev("כהן") + ") " + rev("שרה")},
		{"brackets around latin in rtl", "בדיקה (MRI) היום", rev("היום") + " (MRI) " + rev("בדיקה")},
		{"comma between rtl words in ltr", "Name: כהן, שרה", "Name: " + rev("כהן, שרה")},
		{"rlm makes a latin-first paragraph rtl", "\u200fabc שלום", rev("שלום") + " abc"},
		{"isolate keeps the number with latin", "שלום \u2066abc 12\u2069 עולם", rev("עולם") + " abc 12 " + rev("שלום")},
		// Arabic is shaped into presentation forms; NFKC reads them as
		// letters, in display order. The lam-alef ligature is one glyph
		// whose NFKC form is lam, alef.
		{"arabic name", "محمد عبد الله", rev("محمد عبد الله")},
		{"arabic-indic digits stay in order", "عدد ١٢٣", "١٢٣ " + rev("عدد")},
		{"lam-alef", "لا", "لا"},
		// The number is at level 2 and the Latin after it at level 0:
		// one direction run, two levels (the case go-text's runs merge).
		{"number between arabic and latin", "Name: ع 42 abc", "Name: 42 ع abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, _ := visual(t, tt.in, 1000)
			got := strings.Join(lines, "/")
			want := tt.want
			if got != want {
				t.Errorf("%q displayed as %q, want %q", tt.in, got, want)
			}
		})
	}
}

func TestBidiArabicShaping(t *testing.T) {
	var sh shaper
	items := sh.itemsString("محمد لا پزشک", font{face: fonts.Sans, size: 10}, nil)
	var sb strings.Builder
	for _, ln := range breakLines(items, 1000) {
		for _, op := range lineOps(ln, 0, 0, nil) {
			sb.WriteString(op.(*Text).S)
		}
	}
	got := sb.String()
	// Visual order, joined forms: final dal, medial meem, medial hah,
	// initial meem; the lam-alef ligature; Persian kaf final, sheen medial,
	// zain final, peh isolated... as presentation forms.
	for _, want := range []string{"\uFEAA\uFEE4\uFEA4\uFEE3", "\uFEFB", "\uFB8F"} {
		if !strings.Contains(got, want) {
			t.Errorf("shaped %q lacks %q (%U)", got, want, []rune(want))
		}
	}
	for _, r := range got {
		if r >= 0x0620 && r <= 0x064A {
			t.Errorf("shaped text %q still holds the nominal letter %U", got, r)
		}
	}
}

func TestBidiBreaksInLogicalOrder(t *testing.T) {
	// Three Hebrew words, room for two per line: the first line holds the
	// first two words (logical order), displayed right to left and aligned
	// right.
	w := fonts.Get(fonts.Sans).Width("אבג דהו ")*10 + 2
	lines, xs := visual(t, "אבג דהו זחט", w)
	if len(lines) != 2 || lines[0] != rev("אבג דהו") || lines[1] != rev("זחט") {
		t.Fatalf("lines %q", lines)
	}
	if xs[1] <= xs[0] {
		t.Errorf("right-aligned lines start at %v", xs)
	}
}

func TestBidiLatinUntouched(t *testing.T) {
	var sh shaper
	items := sh.itemsString("Invasive ductal carcinoma, grade 2 (of 3).", font{face: fonts.Sans, size: 10}, nil)
	for _, it := range items {
		if it.level != 0 || it.flags&flagRTLPara != 0 || it.shaped != nil {
			t.Fatalf("latin item %+v was changed by the bidi path", it)
		}
	}
	if n := unsafe.Sizeof(item{}); n > 48 {
		t.Errorf("an item is %d bytes; Latin layout makes many, keep it at 48", n)
	}
}

func TestBidiMarksCarryOffsets(t *testing.T) {
	var sh shaper
	items := sh.itemsString("قِطَع", font{face: fonts.Sans, size: 10}, nil)
	ops := lineOps(breakLines(items, 1000)[0], 0, 0, nil)
	tx := ops[0].(*Text)
	if len(tx.Offsets) != 2 {
		t.Fatalf("%q: offsets %+v, want one per mark", tx.S, tx.Offsets)
	}
	n := utf8.RuneCountInString(tx.S)
	rs := []rune(tx.S)
	for _, o := range tx.Offsets {
		if o.Index < 0 || o.Index >= n || !isMark(rs[o.Index]) {
			t.Errorf("offset %+v does not point at a mark of %q", o, tx.S)
		}
	}
	// Shadda with a vowel: DejaVu's unencoded ligature is drawn as both
	// marks, neither lost.
	items = sh.itemsString("سَّ", font{face: fonts.Sans, size: 10}, nil)
	s := items[0].s
	if !strings.ContainsRune(s, 0x0651) || !strings.ContainsRune(s, 0x064E) {
		t.Errorf("shadda+fatha shaped as %U", []rune(s))
	}
}

func TestComplexScriptsReplacedWithWarning(t *testing.T) {
	d := &document.Document{Header: document.Header{Title: "t"}, Body: []document.Block{
		document.Paragraph{Text: document.T("Devanagari नमस्ते, Thai สวัสดี, Tamil வணக்கம், baht ฿.")},
	}}
	res, err := Layout(d, Letter)
	if err != nil {
		t.Fatal(err)
	}
	dump := Dump(res.Pages)
	for _, r := range "नमสวவண" {
		if strings.ContainsRune(dump, r) {
			t.Errorf("%q printed unshaped", r)
		}
	}
	if !strings.Contains(dump, "\uFFFD") || !strings.Contains(dump, "฿") {
		t.Errorf("no visible replacement, or the baht sign replaced:\n%s", dump)
	}
	all := strings.Join(res.Warnings, "\n")
	for _, want := range []string{"U+0928 \"न\" (Devanagari) needs shaping folio does not do", "(Thai)", "(Tamil)"} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
	if len(res.Replaced) != len(res.Warnings) {
		t.Errorf("%d replaced characters, %d warnings", len(res.Replaced), len(res.Warnings))
	}
}

func TestRTLBlocksAlignRight(t *testing.T) {
	d := &document.Document{Header: document.Header{Title: "t"}, Body: []document.Block{
		document.Paragraph{Text: document.T("שלום")},
		document.List{Items: [][]document.Block{{document.Paragraph{Text: document.T("פריט")}}}},
		document.Fields{Items: []document.Field{{Label: "Name", Value: document.T("כהן")}}},
	}}
	res, err := Layout(d, Letter)
	if err != nil {
		t.Fatal(err)
	}
	right := Letter.Width - Letter.Right
	var para, item, marker, value *Text
	for _, op := range res.Pages[0].Ops {
		tx, ok := op.(*Text)
		if !ok {
			continue
		}
		switch tx.S {
		case rev("שלום"):
			para = tx
		case rev("פריט"):
			item = tx
		case "•":
			marker = tx
		case rev("כהן"):
			value = tx
		}
	}
	if para == nil || item == nil || marker == nil || value == nil {
		t.Fatalf("ops missing:\n%s", Dump(res.Pages))
	}
	if d := right - (para.X + para.W); d > 0.01 || d < -0.01 {
		t.Errorf("rtl paragraph ends at %.2f, right margin %.2f", para.X+para.W, right)
	}
	if marker.X < item.X+item.W {
		t.Errorf("rtl list marker at %.1f is left of its item (ends %.1f)", marker.X, item.X+item.W)
	}
	if value.X > Letter.Left+200 {
		t.Errorf("field value at %.1f: values stay next to their labels", value.X)
	}
}

// fuzzPalette holds characters of every bidi class and Arabic joining type
// the algorithm and the shaper branch on: Latin (L), Hebrew (R), Arabic
// dual-, right- and non-joining letters (AL), Persian and Urdu letters,
// lam and alefs (ligatures), harakat and shadda (NSM, transparent), tatweel
// (join causing), ZWJ/ZWNJ, European and Arabic-Indic digits (EN, AN),
// separators and terminators (ES, ET, CS), brackets, spaces, a tab, a line
// break, the explicit embeddings, overrides and isolates, marks, a
// Devanagari letter and an emoji (both replaced).
var fuzzPalette = []rune("aZ5 \t\n.,:-+%$#()[]{}<>«»אבגשׁ" +
	"بمحدرواءلأإآةيىپچژگکیٹڈڑںےہ" +
	"\u064B\u064E\u064F\u0650\u0651\u0652\u0670ـ\u200C\u200D١٢٣۴۵" +
	"\u200E\u200F\u061C\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069" +
	"क😀\uFEFB\uFE8D")

// FuzzBidi lays out random mixes of directions and joining classes at
// random widths: nothing panics, every line is displayed with runes its face
// covers, and glyph offsets point inside their strings, in order.
func FuzzBidi(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 30, 31, 40, 3, 50, 60, 70}, uint8(40))
	f.Add([]byte("mixed \x10\x11 text"), uint8(5))
	f.Add([]byte{55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67}, uint8(200))
	f.Fuzz(func(t *testing.T, data []byte, w uint8) {
		if len(data) > 400 {
			data = data[:400]
		}
		var sb strings.Builder
		for _, b := range data {
			sb.WriteRune(fuzzPalette[int(b)%len(fuzzPalette)])
		}
		var sh shaper
		for _, face := range []fonts.ID{fonts.Sans, fonts.SansBoldItalic, fonts.Mono} {
			items := sh.items(document.Text{{Text: sb.String()}, {Text: sb.String(), Style: document.Bold}}, font{face: face, size: 9}, nil)
			for _, ln := range breakLines(items, float64(w)+1) {
				for _, op := range lineOps(ln, 0, 10, nil) {
					tx, ok := op.(*Text)
					if !ok {
						continue
					}
					fc := fonts.Get(tx.Face)
					n := 0
					for _, r := range tx.S {
						if !fc.Has(r) && r != ' ' {
							t.Fatalf("%U in %q is not covered by %s", r, tx.S, fc.Name)
						}
						n++
					}
					last := -1
					for _, o := range tx.Offsets {
						if o.Index <= last || o.Index >= n {
							t.Fatalf("offsets %+v out of order or range for %q", tx.Offsets, tx.S)
						}
						last = o.Index
					}
				}
			}
		}
	})
}

// BenchmarkLayoutRTL lays out the Arabic pathology fixture (2 pages) and,
// side by side, the Latin 2-page benchmark report: with the shaped-word
// cache warm (steady state: names and words repeat across reports) and
// emptied before every layout (every word shaped by HarfBuzz again).
func BenchmarkLayoutRTL(b *testing.B) {
	for _, name := range []string{"surgical-breast", "rtl-pathology"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "fixtures", name+".json"))
		if err != nil {
			b.Fatal(err)
		}
		r, err := report.Decode(raw, report.DefaultLimits())
		if err != nil {
			b.Fatal(err)
		}
		d, _, err := templates.Build(r)
		if err != nil {
			b.Fatal(err)
		}
		for _, cold := range []bool{false, true} {
			mode := "warm"
			if cold {
				mode = "cold"
			}
			b.Run(name+"/"+mode, func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if cold {
						shapeMu.Lock()
						clear(shapeCache)
						shapeMu.Unlock()
					}
					if _, err := Layout(d, Letter); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestBidiConformance runs the Unicode Bidirectional Character Test
// (BidiCharacterTest.txt, shipped in the go-text module) through folio's
// own parts of the algorithm: paragraph level (P2, P3, for the
// auto-direction cases), the per-character levels read from the bidi
// package, and line reordering (visualOrder, rule L2). Rule L1 (separators
// and trailing white space back to the paragraph level) is applied here as
// the test file expects; in layout, a line's trailing spaces are dropped
// and a tab is a space.
func TestBidiConformance(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/go-text/typesetting").Output()
	if err != nil {
		t.Fatalf("locating the go-text module: %v", err)
	}
	path := filepath.Join(strings.TrimSpace(string(out)), "bidi", "test", "BidiCharacterTest.txt")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p gtbidi.Paragraph
	cases, failed := 0, 0
	for ln, line := range strings.Split(string(data), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Split(line, ";")
		if len(f) != 5 {
			t.Fatalf("line %d: %d fields", ln+1, len(f))
		}
		var rs []rune
		for _, h := range strings.Fields(f[0]) {
			v, err := strconv.ParseUint(h, 16, 32)
			if err != nil {
				t.Fatalf("line %d: %v", ln+1, err)
			}
			rs = append(rs, rune(v))
		}
		var para uint8
		switch f[1] {
		case "0":
			para = 0
		case "1":
			para = 1
		default:
			para = paragraphLevel(rs)
		}
		cases++
		fail := func(format string, args ...any) {
			failed++
			if failed <= 10 {
				t.Errorf("line %d (%s): "+format, append([]any{ln + 1, f[0]}, args...)...)
			}
		}
		if strconv.Itoa(int(para)) != f[2] {
			fail("paragraph level %d, want %s", para, f[2])
			continue
		}
		levels := make([]uint8, len(rs))
		resolveLevels(&p, rs, para, levels)
		wantLv := strings.Fields(f[3])
		removed := make([]bool, len(rs))
		for i, w := range wantLv {
			removed[i] = w == "x"
		}
		// Rule L1.
		trailing := true
		for i := len(rs) - 1; i >= 0; i-- {
			if removed[i] {
				continue
			}
			c, _ := xbidi.LookupRune(rs[i])
			switch c.Class() {
			case xbidi.S, xbidi.B:
				levels[i] = para
				trailing = true
			case xbidi.WS, xbidi.LRI, xbidi.RLI, xbidi.FSI, xbidi.PDI:
				if trailing {
					levels[i] = para
				}
			default:
				trailing = false
			}
		}
		var items []item
		bad := false
		for i, w := range wantLv {
			if removed[i] {
				continue
			}
			if strconv.Itoa(int(levels[i])) != w {
				bad = true
			}
			items = append(items, item{kind: itemText, s: strconv.Itoa(i), level: levels[i]})
		}
		if bad {
			fail("levels %v, want %s", levels, f[3])
			continue
		}
		var order []string
		for _, it := range visualOrder(items) {
			order = append(order, it.s)
		}
		if got := strings.Join(order, " "); got != strings.TrimSpace(f[4]) {
			fail("order %s, want %s", got, f[4])
		}
	}
	t.Logf("%d cases, %d failed", cases, failed)
	if cases < 90000 {
		t.Errorf("only %d test cases read", cases)
	}
}

// TestShaperParsesEveryFace: a face the shaper could not parse would print
// its Arabic unshaped; every embedded face must parse.
func TestShaperParsesEveryFace(t *testing.T) {
	for id := fonts.ID(0); id < fonts.NumFaces; id++ {
		if hbFace(id) == nil {
			t.Errorf("%s: the shaper cannot parse it", id)
		}
	}
}

// TestArabicJoinsAcrossStyles: a word half bold stays joined.
func TestArabicJoinsAcrossStyles(t *testing.T) {
	var sh shaper
	items := sh.items(document.Text{{Text: "مح", Style: document.Bold}, {Text: "مد"}}, font{face: fonts.Sans, size: 10}, nil)
	var got []string
	for _, it := range items {
		got = append(got, it.s)
	}
	// Visual order within each piece; the bold piece ends in a medial hah
	// (joined to the meem after it), the plain one starts with a medial
	// meem.
	if len(got) != 2 || got[0] != "\uFEA4\uFEE3" || got[1] != "\uFEAA\uFEE4" {
		t.Errorf("pieces %q, want the joined forms [\"\\uFEA4\\uFEE3\" \"\\uFEAA\\uFEE4\"]", got)
	}
}
