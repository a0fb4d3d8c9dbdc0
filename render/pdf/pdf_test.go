package pdf

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode"

	"golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
	"golang.org/x/text/unicode/norm"

	"github.com/foliohealth/folio/fonts"
	"github.com/foliohealth/folio/render/layout"
)

// tool runs one of the PDF tools on a file and returns its standard output.
func tool(t *testing.T, name string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not installed (poppler-utils, qpdf): %v", name, err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	if name != "qpdf" && strings.Contains(stderr.String(), "Error") {
		t.Errorf("%s %s reports errors:\n%s", name, strings.Join(args, " "), stderr.String())
	}
	return stdout.String()
}

func writePDF(t *testing.T, pages []layout.Page) (string, []byte) {
	t.Helper()
	data, err := Paint(pages, testInfo)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "out.pdf")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	tool(t, "qpdf", "--check", path)
	return path, data
}

// normalize composes combining marks and collapses white space, so text
// extracted with -layout compares with what was painted.
func normalize(s string) string {
	return strings.Join(strings.Fields(norm.NFC.String(s)), " ")
}

// checkText checks that pdftotext recovers every text op of every page.
func checkText(t *testing.T, path string, pages []layout.Page) {
	t.Helper()
	for i, pg := range pages {
		n := fmt.Sprint(i + 1)
		got := normalize(tool(t, "pdftotext", "-layout", "-enc", "UTF-8", "-f", n, "-l", n, path, "-"))
		for _, op := range pg.Ops {
			if tx, ok := op.(*layout.Text); ok && !strings.Contains(got, normalize(tx.S)) {
				t.Errorf("page %d: pdftotext lacks %q\nextracted: %s", i+1, tx.S, got)
			}
		}
	}
}

type pdfFont struct {
	name, typ, enc, emb, sub, uni string
}

func listFonts(t *testing.T, path string) []pdfFont {
	t.Helper()
	var fs []pdfFont
	for _, line := range strings.Split(tool(t, "pdffonts", path), "\n")[2:] {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		fs = append(fs, pdfFont{name: f[0], typ: f[1], enc: f[2], emb: f[3], sub: f[4], uni: f[5]})
	}
	return fs
}

func TestPaintReaders(t *testing.T) {
	pages := append(reportPages(2), scriptPage())
	path, data := writePDF(t, pages)
	checkText(t, path, pages)

	want := map[string]bool{}
	for _, l := range scriptLines {
		want[fonts.Get(l.face).Name] = false
	}
	for _, f := range listFonts(t, path) {
		tag, face, ok := strings.Cut(f.name, "+")
		if !ok || len(tag) != 6 || strings.ToUpper(tag) != tag {
			t.Errorf("font %s: no subset tag", f.name)
		}
		if f.typ != "TrueType" || f.emb != "yes" || f.sub != "yes" || f.uni != "yes" {
			t.Errorf("font %s: type %s, embedded %s, subset %s, ToUnicode %s; want an embedded TrueType subset with a ToUnicode CMap", f.name, f.typ, f.emb, f.sub, f.uni)
		}
		if _, ok := want[face]; !ok {
			t.Errorf("unexpected font %s", f.name)
		}
		want[face] = true
	}
	for face, seen := range want {
		if !seen {
			t.Errorf("pdffonts does not list %s", face)
		}
	}

	info := tool(t, "pdfinfo", path)
	for _, w := range []string{
		"Title:           " + testInfo.Title,
		"Author:          " + testInfo.Author,
		"Subject:         " + testInfo.Subject,
		"Creator:         " + testInfo.Creator,
		"CreationDate:    Tue Mar  5 14:30:00 2024",
		"Pages:           3",
		"Page size:       612 x 792 pts (letter)",
	} {
		if !strings.Contains(info, w) {
			t.Errorf("pdfinfo lacks %q:\n%s", w, info)
		}
	}
	if bytes.Contains(data, []byte("/FontFile2")) == false {
		t.Error("no embedded TrueType font file")
	}
}

// manyRunes returns n distinct runes the face covers, starting at from.
func manyRunes(id fonts.ID, from rune, n int) string {
	var b strings.Builder
	face := fonts.Get(id)
	for r := from; n > 0 && r < 0xFFFF; r++ {
		if face.Has(r) && unicode.IsGraphic(r) && !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
			n--
		}
	}
	return b.String()
}

// TestPaintManyRunes paints more distinct runes per face than one encoding
// page holds, including strings that cross encoding pages.
func TestPaintManyRunes(t *testing.T) {
	var ops []layout.Op
	y := 30.0
	add := func(id fonts.ID, s string) {
		rs := []rune(s)
		for len(rs) > 0 {
			n := min(len(rs), 60)
			ops = append(ops, &layout.Text{X: 20, Y: y, Face: id, Size: 7, S: string(rs[:n])})
			rs = rs[n:]
			y += 10
		}
	}
	add(fonts.Sans, manyRunes(fonts.Sans, '!', 500))
	add(fonts.CJK, manyRunes(fonts.CJK, 0x4E00, 300))
	// Both ends of the rune range in one string: two encoding pages.
	add(fonts.Sans, "Aa Жж ω ≥ z")
	add(fonts.CJK, "一 中文 龟")
	pages := []layout.Page{{Width: letterW, Height: letterH, Ops: ops}}
	path, _ := writePDF(t, pages)
	checkText(t, path, pages)
	count := map[string]int{}
	for _, f := range listFonts(t, path) {
		_, face, _ := strings.Cut(f.name, "+")
		count[face]++
	}
	if count["DejaVuSans"] != 3 || count["DroidSansFallbackFull"] != 2 {
		t.Errorf("fonts per face %v, want 3 DejaVuSans (500+ runes) and 2 DroidSansFallbackFull (300+ runes)", count)
	}
}

// inkCase is one rune drawn alone for the glyph comparison.
type inkCase struct {
	face fonts.ID
	r    rune
}

var inkCases = []inkCase{
	{fonts.Sans, 'A'}, {fonts.Sans, 'g'}, {fonts.Sans, 'ệ'}, {fonts.Sans, 'ữ'}, {fonts.Sans, 'µ'},
	{fonts.Sans, 'Ω'}, {fonts.Sans, 'Ж'}, {fonts.Sans, '≥'}, {fonts.Sans, '→'}, {fonts.Sans, '½'},
	{fonts.Sans, '‰'}, {fonts.Sans, '€'}, {fonts.Sans, '±'}, {fonts.Sans, 'Ǆ'},
	{fonts.SansBold, 'Ệ'}, {fonts.SansBold, '≤'}, {fonts.SansItalic, 'ą'}, {fonts.SansItalic, 'ß'},
	{fonts.SansBoldItalic, 'Ω'}, {fonts.Mono, 'µ'}, {fonts.Mono, '0'}, {fonts.MonoBold, 'W'},
	{fonts.CJK, '中'}, {fonts.CJK, '文'}, {fonts.CJK, 'や'}, {fonts.CJK, '龟'},
}

const cell = 60 // points (and pixels at 72 dpi) per glyph cell

// TestPaintGlyphInk renders glyphs with pdftoppm and compares each with the
// same glyph drawn from the original font by golang.org/x/image: a subset
// that maps a code to the wrong glyph, to .notdef or to nothing fails.
// Filler text pushes the faces past one encoding page, so glyphs from later
// encoding pages are checked too.
func TestPaintGlyphInk(t *testing.T) {
	var ops []layout.Op
	ops = append(ops,
		&layout.Text{X: 10, Y: 770, Face: fonts.Sans, Size: 2, S: manyRunes(fonts.Sans, '!', 400)},
		&layout.Text{X: 10, Y: 780, Face: fonts.CJK, Size: 2, S: manyRunes(fonts.CJK, 0x4E00, 250)})
	want := image.NewGray(image.Rect(0, 0, int(letterW), int(letterH)))
	draw.Draw(want, want.Bounds(), image.White, image.Point{}, draw.Src)
	notdef := image.NewGray(want.Bounds())
	draw.Draw(notdef, notdef.Bounds(), image.White, image.Point{}, draw.Src)
	faces := map[fonts.ID]font.Face{}
	for i, c := range inkCases {
		x, y := 20+(i%9)*cell, 60+(i/9)*cell
		ops = append(ops, &layout.Text{X: float64(x), Y: float64(y), Face: c.face, Size: 40, S: string(c.r)})
		ff := faces[c.face]
		if ff == nil {
			var err error
			ff, err = opentype.NewFace(fonts.Get(c.face).Font, &opentype.FaceOptions{Size: 40, DPI: 72, Hinting: font.HintingNone})
			if err != nil {
				t.Fatal(err)
			}
			faces[c.face] = ff
		}
		d := font.Drawer{Dst: want, Src: image.Black, Face: ff, Dot: fixed.P(x, y)}
		d.DrawString(string(c.r))
		d = font.Drawer{Dst: notdef, Src: image.Black, Face: ff, Dot: fixed.P(x, y)}
		d.DrawString("\uFFFF") // a noncharacter: .notdef in every face
	}
	pages := []layout.Page{{Width: letterW, Height: letterH, Ops: ops}}
	path, _ := writePDF(t, pages)
	prefix := filepath.Join(filepath.Dir(path), "page")
	tool(t, "pdftoppm", "-r", "72", "-gray", "-png", "-singlefile", path, prefix)
	f, err := os.Open(prefix + ".png")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range inkCases {
		x, y := 20+(i%9)*cell, 60+(i/9)*cell
		r := image.Rect(x-5, y-cell+10, x+cell-5, y+15)
		// The metric must tell this glyph from .notdef, or the test proves
		// nothing.
		if s := similarity(want, notdef, r); s > 0.8 {
			t.Fatalf("%s %c: the glyph resembles .notdef (%.2f); pick another rune", c.face, c.r, s)
		}

		if s := similarity(got, want, r); s < 0.9 {
			t.Errorf("%s %c: pdftoppm drew something else (similarity %.2f to the original glyph, %.2f to .notdef)",
				c.face, c.r, s, similarity(got, notdef, r))
		}
	}
}

// similarity is the best normalised correlation of the ink of a and b in r,
// allowing b to be shifted by up to one pixel either way.
func similarity(a, b image.Image, r image.Rectangle) float64 {
	ink := func(img image.Image, x, y int) float64 {
		g := color.GrayModel.Convert(img.At(x, y)).(color.Gray)
		return float64(255 - g.Y)
	}
	best := -1.0
	for dy := -1; dy <= 1; dy++ {
		for dx := -1; dx <= 1; dx++ {
			var sab, saa, sbb float64
			for y := r.Min.Y; y < r.Max.Y; y++ {
				for x := r.Min.X; x < r.Max.X; x++ {
					va, vb := ink(a, x, y), ink(b, x+dx, y+dy)
					sab += va * vb
					saa += va * va
					sbb += vb * vb
				}
			}
			if saa == 0 || sbb == 0 {
				continue
			}
			best = math.Max(best, sab/math.Sqrt(saa*sbb))
		}
	}
	return best
}

func TestPaintDeterministic(t *testing.T) {
	pages := append(reportPages(2), scriptPage())
	defer setCacheSize(setCacheSize(0))
	cold, err := Paint(pages, testInfo)
	if err != nil {
		t.Fatal(err)
	}
	setCacheSize(256)
	var wg sync.WaitGroup
	results := make([][]byte, 8)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			out, err := Paint(pages, testInfo)
			if err != nil {
				t.Error(err)
			}
			results[i] = out
		}(i)
	}
	wg.Wait()
	for i, out := range results {
		if !bytes.Equal(out, cold) {
			t.Errorf("painting %d differs from the first (%d vs %d bytes)", i, len(out), len(cold))
		}
	}
}

func TestPaintErrors(t *testing.T) {
	text := func(s string, id fonts.ID) []layout.Page {
		return []layout.Page{{Width: letterW, Height: letterH}, {Width: letterW, Height: letterH, Ops: []layout.Op{
			&layout.Text{X: 10, Y: 10, Face: id, Size: 10, S: s},
		}}}
	}
	nan := math.NaN()
	for _, tc := range []struct {
		name  string
		pages []layout.Page
		want  string
	}{
		{"no pages", nil, "pdf: no pages"},
		{"page size", []layout.Page{{Width: letterW, Height: 0}}, "pdf: page 1: size"},
		{"unknown face", text("x", 99), "pdf: page 2: op 0: text: unknown face 99"},
		{"emoji", text("ok 😀", fonts.Sans), "pdf: page 2: op 0: text: rune U+1F600 is outside the Basic Multilingual Plane"},
		{"uncovered rune", text("中", fonts.Sans), "no glyph for U+4E2D"},
		{"nan position", []layout.Page{{Width: letterW, Height: letterH, Ops: []layout.Op{
			&layout.Text{X: nan, Y: 10, Face: fonts.Sans, Size: 10, S: "x"}}}}, "pdf: page 1: op 0: text: position"},
		{"bad line", []layout.Page{{Width: letterW, Height: letterH, Ops: []layout.Op{
			&layout.Rect{X: 1, Y: 1, W: 2, H: 2, Fill: &layout.Black},
			&layout.Line{X1: 0, Y1: 0, X2: math.Inf(1), Y2: 0, Width: 1}}}}, "pdf: page 1: op 1: line"},
		{"nil op", []layout.Page{{Width: letterW, Height: letterH, Ops: []layout.Op{nil}}}, "pdf: page 1: op 0: nil operation"},
		{"nil image", []layout.Page{{Width: letterW, Height: letterH, Ops: []layout.Op{
			&layout.Picture{X: 1, Y: 1, W: 10, H: 10}}}}, "pdf: page 1: op 0: picture: no image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Paint(tc.pages, testInfo)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Paint: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestPaintPictures(t *testing.T) {
	// A large half-transparent PNG drawn 2 x 1 inches: resampled to 600 x 300.
	big := image.NewNRGBA(image.Rect(0, 0, 2000, 1000))
	for y := 0; y < 1000; y++ {
		for x := 0; x < 2000; x++ {
			big.SetNRGBA(x, y, color.NRGBA{R: uint8(x), G: 40, B: 200, A: uint8(y / 4)})
		}
	}
	// A small JPEG drawn at 1 inch: kept at 100 x 100.
	var jb bytes.Buffer
	small := image.NewRGBA(image.Rect(0, 0, 100, 100))
	draw.Draw(small, small.Bounds(), &image.Uniform{color.RGBA{200, 30, 30, 255}}, image.Point{}, draw.Src)
	if err := jpeg.Encode(&jb, small, nil); err != nil {
		t.Fatal(err)
	}
	jimg, err := jpeg.Decode(&jb)
	if err != nil {
		t.Fatal(err)
	}
	pic := &layout.Picture{X: 72, Y: 72, W: 144, H: 72, Img: big, ContentType: "image/png", Key: 1}
	pages := []layout.Page{
		{Width: letterW, Height: letterH, Ops: []layout.Op{
			pic,
			&layout.Picture{X: 72, Y: 200, W: 72, H: 72, Img: jimg, ContentType: "image/jpeg", Key: 2},
		}},
		{Width: letterH, Height: letterW, Ops: []layout.Op{pic}}, // landscape page, same image again
	}
	path, _ := writePDF(t, pages)
	list := tool(t, "pdfimages", "-list", path)
	var rows [][]string
	for _, line := range strings.Split(list, "\n")[2:] {
		if f := strings.Fields(line); len(f) > 10 {
			rows = append(rows, f)
		}
	}
	// page num type width height color comp bpc enc interp object ...
	want := [][]string{
		{"1", "image", "600", "300", "rgb", "3", "8", "image"},
		{"1", "image", "100", "100", "rgb", "3", "8", "jpeg"},
		{"2", "image", "600", "300", "rgb", "3", "8", "image"},
	}
	if len(rows) != len(want) {
		t.Fatalf("pdfimages lists %d images, want %d (no soft masks):\n%s", len(rows), len(want), list)
	}
	for i, w := range want {
		got := []string{rows[i][0], rows[i][2], rows[i][3], rows[i][4], rows[i][5], rows[i][6], rows[i][7], rows[i][8]}
		if strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("image %d: %v, want %v", i, got, w)
		}
	}
	if rows[0][10] != rows[2][10] {
		t.Errorf("the image drawn twice is embedded twice (objects %s and %s)", rows[0][10], rows[2][10])
	}
	if info := tool(t, "pdfinfo", "-f", "2", "-l", "2", path); !strings.Contains(info, "Page    2 size:  792 x 612 pts") {
		t.Errorf("page 2 not landscape:\n%s", info)
	}
	// Transparency is flattened onto white: the top row (alpha 0) is white.
	prefix := filepath.Join(filepath.Dir(path), "pic")
	tool(t, "pdftoppm", "-r", "72", "-f", "1", "-l", "1", "-png", "-singlefile", path, prefix)
	f, err := os.Open(prefix + ".png")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if r, g, b, _ := img.At(150, 73).RGBA(); r>>8 < 250 || g>>8 < 250 || b>>8 < 250 {
		t.Errorf("transparent top of the picture is %d,%d,%d, want white", r>>8, g>>8, b>>8)
	}
	if r, g, b, _ := img.At(150, 142).RGBA(); b>>8 < 150 || g>>8 > 150 {
		t.Errorf("opaque bottom of the picture is %d,%d,%d, want blue", r>>8, g>>8, b>>8)
	}
}

// TestPaintGlyphOffsets: a mark placed by the shaper is drawn at its
// offset and read once by text extraction, inside its word: the visible
// copy sits in an empty /ActualText span, the invisible one on the pen.
func TestPaintGlyphOffsets(t *testing.T) {
	// "قِطَع" as layout shapes it: final ain, medial tah with fatha, initial
	// qaf with kasra, in visual order, marks before their bases.
	s := "\uFECA\u064E\uFEC4\u0650\uFED7"
	tx := &layout.Text{X: 100, Y: 100, Face: fonts.Sans, Size: 20, Color: layout.Black, S: s,
		W:       fonts.Get(fonts.Sans).Width(s) * 20,
		Offsets: []layout.GlyphOffset{{Index: 1, DX: -1, DY: 4}, {Index: 3, DX: -1, DY: -2}}}
	pages := []layout.Page{{Width: 300, Height: 200, Ops: []layout.Op{tx}}}
	path, _ := writePDF(t, pages)
	// The content streams are compressed: read them through qpdf.
	qdf := filepath.Join(t.TempDir(), "qdf.pdf")
	tool(t, "qpdf", "--qdf", "--object-streams=disable", path, qdf)
	raw, err := os.ReadFile(qdf)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"3 Tr", "/Span<</ActualText()>>BDC", "EMC"} {
		if n := bytes.Count(raw, []byte(want)); n != 2 {
			t.Errorf("content has %d × %q, want 2 (one per mark)", n, want)
		}
	}
	got := norm.NFKC.String(tool(t, "pdftotext", path, "-"))
	if !strings.Contains(got, "قِطَع") {
		t.Errorf("extracted %q, want the word with its marks", got)
	}
}
