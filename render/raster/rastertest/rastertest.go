// Package rastertest holds the image comparisons that tests use to check
// folio's thumbnails against a real PDF rasteriser (pdftoppm) and against
// golden images; it is imported only by tests.
package rastertest

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Fidelity thresholds of issue 3: a thumbnail shows the PDF's page when the
// mean absolute difference per channel is below MaxMeanAbsDiff of full scale
// and the row profiles of ink correlate above MinRowCorr.
const (
	MaxMeanAbsDiff = 0.04
	MinRowCorr     = 0.95
)

// Compare returns the mean absolute difference per channel of a and b as a
// fraction of full scale (0 = identical, 1 = black against white), and the
// Pearson correlation of their row profiles of ink: for each row, the sum
// over its pixels of darkness (1 - luminance), so text lines show as peaks
// and the gaps between them as troughs. Images are compared as if composited
// over white. Images of different sizes get the worst scores, 1 and 0.
func Compare(a, b image.Image) (meanAbsDiff, rowCorr float64) {
	ab, bb := a.Bounds(), b.Bounds()
	if ab.Dx() != bb.Dx() || ab.Dy() != bb.Dy() || ab.Empty() {
		return 1, 0
	}
	w, h := ab.Dx(), ab.Dy()
	var sum float64
	pa := make([]float64, h)
	pb := make([]float64, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r1, g1, b1 := overWhite(a, ab.Min.X+x, ab.Min.Y+y)
			r2, g2, b2 := overWhite(b, bb.Min.X+x, bb.Min.Y+y)
			sum += math.Abs(r1-r2) + math.Abs(g1-g2) + math.Abs(b1-b2)
			pa[y] += 1 - luma(r1, g1, b1)
			pb[y] += 1 - luma(r2, g2, b2)
		}
	}
	return sum / float64(3*w*h), correlation(pa, pb)
}

// RowProfile returns the ink per row of img (see Compare), for test output.
func RowProfile(img image.Image) []float64 {
	b := img.Bounds()
	p := make([]float64, b.Dy())
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			r, g, bl := overWhite(img, b.Min.X+x, b.Min.Y+y)
			p[y] += 1 - luma(r, g, bl)
		}
	}
	return p
}

// overWhite returns the pixel at (x, y) composited over white, channels in
// 0..1.
func overWhite(img image.Image, x, y int) (r, g, b float64) {
	r16, g16, b16, a16 := img.At(x, y).RGBA() // premultiplied
	k := float64(0xFFFF - a16)
	return (float64(r16) + k) / 0xFFFF, (float64(g16) + k) / 0xFFFF, (float64(b16) + k) / 0xFFFF
}

func luma(r, g, b float64) float64 { return 0.299*r + 0.587*g + 0.114*b }

// correlation returns Pearson's r of a and b; 1 when both are constant and
// equal, 0 when only one is constant.
func correlation(a, b []float64) float64 {
	n := float64(len(a))
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= n
	mb /= n
	var sab, saa, sbb float64
	for i := range a {
		da, db := a[i]-ma, b[i]-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	switch {
	case saa == 0 && sbb == 0:
		if ma == mb {
			return 1
		}
		return 0
	case saa == 0 || sbb == 0:
		return 0
	}
	return sab / math.Sqrt(saa*sbb)
}

// Pdftoppm rasterises page (1-based) of a PDF with poppler's pdftoppm so that
// its longest side is size pixels (pdftoppm -png -scale-to size
// -singlefile), and decodes the result. It needs pdftoppm on PATH.
func Pdftoppm(pdf []byte, page, size int) (image.Image, error) {
	dir, err := os.MkdirTemp("", "rastertest")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "in.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		return nil, err
	}
	out := filepath.Join(dir, "out")
	cmd := exec.Command("pdftoppm", "-png", "-f", fmt.Sprint(page), "-l", fmt.Sprint(page),
		"-scale-to", fmt.Sprint(size), "-singlefile", in, out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pdftoppm: %v: %s", err, msg)
	}
	data, err := os.ReadFile(out + ".png")
	if err != nil {
		return nil, err
	}
	return png.Decode(bytes.NewReader(data))
}

// MaxChannelDiff returns the largest per-channel difference between a and b
// (0..255, after compositing over white) and how many pixels differ by more
// than tol in some channel. Images of different sizes return 255 and every
// pixel of the larger.
func MaxChannelDiff(a, b image.Image, tol int) (maxDiff, over int) {
	ab, bb := a.Bounds(), b.Bounds()
	if ab.Dx() != bb.Dx() || ab.Dy() != bb.Dy() {
		return 255, max(ab.Dx()*ab.Dy(), bb.Dx()*bb.Dy())
	}
	for y := 0; y < ab.Dy(); y++ {
		for x := 0; x < ab.Dx(); x++ {
			r1, g1, b1 := overWhite(a, ab.Min.X+x, ab.Min.Y+y)
			r2, g2, b2 := overWhite(b, bb.Min.X+x, bb.Min.Y+y)
			d := int(math.Round(255 * max(math.Abs(r1-r2), math.Abs(g1-g2), math.Abs(b1-b2))))
			maxDiff = max(maxDiff, d)
			if d > tol {
				over++
			}
		}
	}
	return maxDiff, over
}

// Golden compares img with the PNG at path: it fails t when the sizes differ
// or any pixel differs by more than tol per channel. With update it writes
// img to path instead. On a mismatch the image is written to the temporary
// directory as folio-golden-NAME for review.
func Golden(t testing.TB, path string, img image.Image, tol int, update bool) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := WritePNG(path, img); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run the test with -update to create it)", path, err)
	}
	want, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("golden %s: %v", path, err)
	}
	if d, n := MaxChannelDiff(img, want, tol); n > 0 {
		got := filepath.Join(os.TempDir(), "folio-golden-"+filepath.Base(path))
		_ = WritePNG(got, img)
		t.Errorf("%s: %d pixel(s) differ by more than %d (max %d) from the golden; got %v want %v; wrote %s (refresh with -update if intended)",
			path, n, tol, d, img.Bounds().Size(), want.Bounds().Size(), got)
	}
}

// WritePNG writes img to path as PNG.
func WritePNG(path string, img image.Image) error {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
