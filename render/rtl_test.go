package render_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"

	"github.com/foliohealth/folio/document"
	"github.com/foliohealth/folio/fonts"
	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/render"
	"github.com/foliohealth/folio/render/layout"
	"github.com/foliohealth/folio/render/pdf"
	"github.com/foliohealth/folio/render/raster/rastertest"
	"github.com/foliohealth/folio/report"
)

// run is one directional run of a reference line: its logical text and
// direction. HarfBuzz (hb-view) shapes runs, it does not reorder them: the
// runs of a mixed line are listed here in visual order, worked out by hand
// from UAX #9, and drawn side by side.
type run struct {
	text string
	rtl  bool
}

// rtlLines are the lines of issue 14's reference comparison: each is laid
// out by folio as a paragraph, painted to PDF, rasterised by pdftoppm and
// compared with HarfBuzz's own rendering (hb-view) of the same string with
// the same font at the same size.
var rtlLines = []struct {
	name string
	text string // logical order, as a sender writes it
	runs []run  // visual order
}{
	{"hebrew-name", "כהן, שרה", []run{{"כהן, שרה", true}}},
	{"arabic-name", "محمد عبد الله", []run{{"محمد عبد الله", true}}},
	{"arabic-numbers-latin", "الخزعة رقم 42 صبغة Giemsa إيجابية",
		[]run{{"إيجابية", true}, {" Giemsa ", false}, {"صبغة", true}, {" 42 ", false}, {"الخزعة رقم", true}}},
	{"lam-alef-harakat", "السَّلَامُ عَلَيْكُمْ وَلَا بَأْسَ", []run{{"السَّلَامُ عَلَيْكُمْ وَلَا بَأْسَ", true}}},
	{"persian", "پزشک معالج: دکتر ژیلا گلچین", []run{{"پزشک معالج: دکتر ژیلا گلچین", true}}},
	{"hebrew-points", "שָׂרָה כֹּהֵן", []run{{"שָׂרָה כֹּהֵן", true}}},
}

// Thresholds of the hb-view comparison, on ink-cropped images at 288 dpi
// (see TestRTLMatchesHarfBuzz). Measured values are in the README.
const (
	hbMaxMeanAbsDiff = 0.05 // per channel, fraction of full scale
	hbMinRowCorr     = 0.97 // row profiles of ink
	hbMinColCorr     = 0.92 // column profiles of ink, in 1 pt bins
	hbMaxWidthDiff   = 0.03 // ink widths differ by at most 3%
	hbDPI            = 288
)

// linePDF lays out text as the body paragraph of a one-page document and
// paints it; it returns the PDF and the body line's Text ops.
func linePDF(t *testing.T, text string) ([]byte, []*layout.Text) {
	t.Helper()
	d := &document.Document{Header: document.Header{Title: "t"}, Body: []document.Block{document.Paragraph{Text: document.T(text)}}}
	res, err := layout.Layout(d, layout.Letter)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) > 0 {
		t.Fatalf("warnings: %v", res.Warnings)
	}
	var ops []*layout.Text
	for _, op := range res.Pages[0].Ops {
		if tx, ok := op.(*layout.Text); ok && tx.Size == 9.5 {
			ops = append(ops, tx)
		}
	}
	if len(ops) == 0 {
		t.Fatal("no body text")
	}
	data, err := pdf.Paint(res.Pages, document.Info{})
	if err != nil {
		t.Fatal(err)
	}
	return data, ops
}

// TestRTLMatchesHarfBuzz is issue 14's independent reference: each line as
// folio prints it (PDF rasterised by pdftoppm) against HarfBuzz's hb-view
// drawing of the same runs with DejaVu Sans at the same pixel size, both
// cropped to their ink and padded to the same size: mean absolute
// difference, and correlation of the row and column profiles of ink (a
// line whose letters are unjoined, in the wrong order or mirrored fails the
// column profile).
func TestRTLMatchesHarfBuzz(t *testing.T) {
	testutil.NeedTools(t, "hb-view", "hb-shape", "pdftoppm")
	dir := t.TempDir()
	fontFile := filepath.Join(dir, "DejaVuSans.ttf")
	if err := os.WriteFile(fontFile, fonts.Get(fonts.Sans).TTF, 0o644); err != nil {
		t.Fatal(err)
	}
	px := 9.5 * hbDPI / 72 // font size in pixels
	for _, ln := range rtlLines {
		t.Run(ln.name, func(t *testing.T) {
			data, ops := linePDF(t, ln.text)
			folio := lineImage(t, data, ops)

			var parts []image.Image
			var advances []float64
			for i, r := range ln.runs {
				dirFlag := "ltr"
				if r.rtl {
					dirFlag = "rtl"
				}
				out := filepath.Join(dir, fmt.Sprintf("%s-%d.png", ln.name, i))
				cmd := exec.Command("hb-view", "--font-file", fontFile, "--font-size", fmt.Sprintf("%.3f", px),
					"--margin", "60 0 60 0", "--direction", dirFlag, "-O", "png", "-o", out, "--text", r.text)
				if msg, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("hb-view: %v: %s", err, msg)
				}
				parts = append(parts, readPNG(t, out))
				advances = append(advances, runAdvance(t, fontFile, dirFlag, r.text)*px)
			}
			ref := inkCrop(t, hstack(parts, advances))

			fw, rw := folio.Bounds().Dx(), ref.Bounds().Dx()
			widthDiff := math.Abs(float64(fw-rw)) / float64(rw)
			a, b := align(folio, ref)
			mad, rowCorr := rastertest.Compare(a, b)
			colCorr := columnCorr(a, b)
			t.Logf("%s: ink %dx%d (folio) vs %dx%d (hb-view): mean abs diff %.4f, row corr %.4f, column corr %.4f, width diff %.2f%%",
				ln.name, fw, folio.Bounds().Dy(), rw, ref.Bounds().Dy(), mad, rowCorr, colCorr, widthDiff*100)
			if mad > hbMaxMeanAbsDiff || rowCorr < hbMinRowCorr || colCorr < hbMinColCorr || widthDiff > hbMaxWidthDiff {
				saveFailure(t, ln.name, a, b)
				t.Errorf("%s differs from hb-view: mean abs diff %.4f (max %.2f), row corr %.4f (min %.2f), column corr %.4f (min %.2f), width diff %.2f%% (max %.0f%%)",
					ln.name, mad, hbMaxMeanAbsDiff, rowCorr, hbMinRowCorr, colCorr, hbMinColCorr, widthDiff*100, hbMaxWidthDiff*100)
			}
		})
	}
}

// TestRTLHarfBuzzComparisonCanFail checks that the comparison tells a
// wrong rendering apart: the Arabic name drawn left to right by hb-view
// (unjoined order reversed, as folio printed it before issue 14) must fail
// the thresholds against folio's line.
func TestRTLHarfBuzzComparisonCanFail(t *testing.T) {
	testutil.NeedTools(t, "hb-view", "hb-shape", "pdftoppm")
	dir := t.TempDir()
	fontFile := filepath.Join(dir, "DejaVuSans.ttf")
	if err := os.WriteFile(fontFile, fonts.Get(fonts.Sans).TTF, 0o644); err != nil {
		t.Fatal(err)
	}
	px := 9.5 * hbDPI / 72
	for _, s := range []string{"محمد عبد الله", "כהן, שרה"} {
		data, ops := linePDF(t, s)
		folio := lineImage(t, data, ops)
		// Wrong: the logical string's isolated forms drawn left to right
		// (what fpdf alone does).
		var iso []rune
		for _, r := range s {
			iso = append(iso, r, '\u200C') // ZWNJ: no joining
		}
		out := filepath.Join(dir, "wrong.png")
		cmd := exec.Command("hb-view", "--font-file", fontFile, "--font-size", fmt.Sprintf("%.3f", px),
			"--margin", "0", "--direction", "ltr", "-O", "png", "-o", out, "--text", string(iso))
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("hb-view: %v: %s", err, msg)
		}
		ref := inkCrop(t, readPNG(t, out))
		a, b := align(folio, ref)
		mad, rowCorr := rastertest.Compare(a, b)
		colCorr := columnCorr(a, b)
		t.Logf("%s wrong rendering: mean abs diff %.4f, row corr %.4f, column corr %.4f", s, mad, rowCorr, colCorr)
		if !(mad > hbMaxMeanAbsDiff || rowCorr < hbMinRowCorr || colCorr < hbMinColCorr) {
			t.Errorf("%s: a left-to-right, unjoined rendering passes the comparison", s)
		}
	}
}

// TestRTLTextExtraction: pdftotext of each line, NFKC-normalised, holds
// every word of the line in logical order (search and copy-paste work).
func TestRTLTextExtraction(t *testing.T) {
	testutil.NeedTools(t, "pdftotext")
	for _, ln := range rtlLines {
		data, _ := linePDF(t, ln.text)
		got := norm.NFKC.String(testutil.PDFToText(t, data))
		for _, w := range wordsOf(ln.text) {
			w = norm.NFKC.String(w)
			if !strings.Contains(got, w) && !strings.Contains(got, lamAlefMarks.ReplaceAllString(w, "$1$3$2")) {
				t.Errorf("%s: word %q not in the extracted text %q", ln.name, w, got)
			}
		}
	}
}

// lineImage rasterises the line of ops at hbDPI and crops it to its ink.
func lineImage(t *testing.T, data []byte, ops []*layout.Text) image.Image {
	t.Helper()
	minX, maxX, base := math.Inf(1), math.Inf(-1), ops[0].Y
	for _, o := range ops {
		minX = math.Min(minX, o.X)
		maxX = math.Max(maxX, o.X+o.W)
	}
	k := float64(hbDPI) / 72
	x0, y0 := int((minX-4)*k), int((base-9.5*1.3)*k)
	w, h := int((maxX-minX+8)*k), int(9.5*1.9*k)
	return inkCrop(t, pdftoppmCrop(t, data, x0, y0, w, h))
}

// lamAlefMarks finds a vowel mark on a lam followed by an alef. Lam and
// alef print as one ligature glyph, addressed through its presentation form
// (U+FEFB..U+FEFC, which NFKC turns back into lam, alef), so a mark on the
// lam comes out after the alef: the one reordering extraction may show.
var lamAlefMarks = regexp.MustCompile(`(ل)([\x{064B}-\x{0652}]+)([اأإآ])`)

// pdftoppmCrop rasterises page 1 at hbDPI and crops the given pixel box.
func pdftoppmCrop(t *testing.T, data []byte, x, y, w, h int) image.Image {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pdf")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	cmd := exec.Command("pdftoppm", "-png", "-r", fmt.Sprint(hbDPI), "-f", "1", "-l", "1",
		"-x", fmt.Sprint(x), "-y", fmt.Sprint(y), "-W", fmt.Sprint(w), "-H", fmt.Sprint(h), "-singlefile", in, out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v: %s", err, msg)
	}
	return readPNG(t, out+".png")
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// ink returns the darkness (1 - luminance over white) of a pixel.
func ink(img image.Image, x, y int) float64 {
	r, g, b, a := img.At(x, y).RGBA()
	k := float64(0xFFFF - a)
	l := (0.299*(float64(r)+k) + 0.587*(float64(g)+k) + 0.114*(float64(b)+k)) / 0xFFFF
	return 1 - l
}

// inkCrop crops img to the pixels darker than a faint threshold.
func inkCrop(t *testing.T, img image.Image) image.Image {
	t.Helper()
	b := img.Bounds()
	x0, y0, x1, y1 := b.Max.X, b.Max.Y, b.Min.X, b.Min.Y
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if ink(img, x, y) > 0.1 {
				x0, y0 = min(x0, x), min(y0, y)
				x1, y1 = max(x1, x+1), max(y1, y+1)
			}
		}
	}
	if x1 <= x0 || y1 <= y0 {
		t.Fatal("no ink")
	}
	out := image.NewRGBA(image.Rect(0, 0, x1-x0, y1-y0))
	draw.Draw(out, out.Bounds(), img, image.Pt(x0, y0), draw.Src)
	return out
}

// runAdvance returns the advance of a run as HarfBuzz shapes it, in ems
// (hb-shape at one em = 2048 units, DejaVu's units per em).
func runAdvance(t *testing.T, fontFile, dir, text string) float64 {
	t.Helper()
	out, err := exec.Command("hb-shape", "--font-file", fontFile, "--font-size", "2048", "--direction", dir,
		"--no-glyph-names", "--no-clusters", "--text", text).Output()
	if err != nil {
		t.Fatalf("hb-shape: %v", err)
	}
	sum := 0
	for _, m := range regexp.MustCompile(`\+(-?\d+)`).FindAllStringSubmatch(string(out), -1) {
		n, _ := strconv.Atoi(m[1])
		sum += n
	}
	return float64(sum) / 2048
}

// hstack places the runs' images side by side on white, each at its
// exact advance rounded to the pixel (hb-view rounds every image's width
// up, which would add up along a line), top-aligned (hb-view draws every
// run with the same ascent, so baselines agree).
func hstack(imgs []image.Image, advances []float64) image.Image {
	w, h := 0, 0
	pos := 0.0
	for i, im := range imgs {
		w = max(w, int(math.Round(pos))+im.Bounds().Dx())
		h = max(h, im.Bounds().Dy())
		pos += advances[i]
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	pos = 0
	for i, im := range imgs {
		x := int(math.Round(pos))
		r := image.Rect(x, 0, x+im.Bounds().Dx(), im.Bounds().Dy())
		draw.Draw(out, r, im, im.Bounds().Min, draw.Over)
		pos += advances[i]
	}
	return out
}

// align pads two ink-cropped images to the same size, left-aligned, with
// b moved up or down by the shift of at most 4 pixels that best matches
// their row profiles (a mark drawn a little higher or lower than HarfBuzz
// does moves the top of the ink box, not the baseline).
func align(a, b image.Image) (image.Image, image.Image) {
	w := max(a.Bounds().Dx(), b.Bounds().Dx())
	h := max(a.Bounds().Dy(), b.Bounds().Dy()) + 8
	pad := func(im image.Image, dy int) image.Image {
		out := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.Draw(out, out.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
		draw.Draw(out, im.Bounds().Sub(im.Bounds().Min).Add(image.Pt(0, 4+dy)), im, im.Bounds().Min, draw.Over)
		return out
	}
	pa := pad(a, 0)
	best, bestCorr := pad(b, 0), -2.0
	for dy := -4; dy <= 4; dy++ {
		pb := pad(b, dy)
		if _, c := rastertest.Compare(pa, pb); c > bestCorr {
			best, bestCorr = pb, c
		}
	}
	return pa, best
}

// colBin is the width in pixels of the column profile's bins: 1 pt at
// hbDPI, so that a sub-point drift along a line (HarfBuzz positions at
// fractional pixels, pdftoppm snaps glyphs) does not count as a difference.
const colBin = hbDPI / 72

// columnCorr is the Pearson correlation of the column profiles of ink of
// two images of the same size, in bins of colBin pixels.
func columnCorr(a, b image.Image) float64 {
	w, h := a.Bounds().Dx(), a.Bounds().Dy()
	n := (w + colBin - 1) / colBin
	pa, pb := make([]float64, n), make([]float64, n)
	for x := 0; x < w; x++ {
		for y := 0; y < h; y++ {
			pa[x/colBin] += ink(a, x, y)
			pb[x/colBin] += ink(b, x, y)
		}
	}
	w = n
	var ma, mb float64
	for i := range pa {
		ma += pa[i]
		mb += pb[i]
	}
	ma /= float64(w)
	mb /= float64(w)
	var sab, saa, sbb float64
	for i := range pa {
		da, db := pa[i]-ma, pb[i]-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	if saa == 0 || sbb == 0 {
		return 0
	}
	return sab / math.Sqrt(saa*sbb)
}

// saveFailure writes both images under $FOLIO_RTL_OUT (when set) for a look.
func saveFailure(t *testing.T, name string, folio, ref image.Image) {
	dir := os.Getenv("FOLIO_RTL_OUT")
	if dir == "" {
		return
	}
	for suffix, im := range map[string]image.Image{"folio": folio, "hbview": ref} {
		if err := rastertest.WritePNG(filepath.Join(dir, name+"-"+suffix+".png"), im); err != nil {
			t.Log(err)
		}
	}
}

// TestUnshapedScriptWarningNamesField: text in a script folio cannot shape
// prints as U+FFFD (never as a wrong string of isolated glyphs) and the
// render result's warning names the field by its JSON path.
func TestUnshapedScriptWarningNamesField(t *testing.T) {
	testutil.NeedTools(t, "pdftotext")
	raw, err := os.ReadFile(filepath.Join(fixtures, "spec-example.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := report.Decode(raw, report.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	r.Patient.Name = "ศรีสุข, สมชาย"
	r.Sections[0].Body += "\n\nनमस्ते"
	laid, err := render.Layout(r)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(laid.Warnings, "\n")
	for _, want := range []string{
		`patient.name: character U+0E28 "ศ" (Thai) needs shaping folio does not do: printed as U+FFFD`,
		`sections[0].body: character U+0928 "न" (Devanagari) needs shaping folio does not do: printed as U+FFFD`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
	data, err := laid.PDF()
	if err != nil {
		t.Fatal(err)
	}
	text := testutil.PDFToText(t, data)
	if strings.ContainsAny(text, "ศสนम") || !strings.Contains(text, "\uFFFD") {
		t.Errorf("unshaped script printed, or no visible replacement:\n%s", text)
	}
}
