package rastertest

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// lines returns a white w x h image with black rows at the given indices.
func lines(w, h int, rows ...int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Rect, image.White, image.Point{}, draw.Src)
	for _, y := range rows {
		draw.Draw(img, image.Rect(0, y, w, y+1), image.Black, image.Point{}, draw.Src)
	}
	return img
}

func TestCompare(t *testing.T) {
	a := lines(20, 30, 3, 10, 20)
	tests := []struct {
		name           string
		b              image.Image
		madLo, madHi   float64
		corrLo, corrHi float64
	}{
		{"identical", lines(20, 30, 3, 10, 20), 0, 0, 1, 1},
		{"one line moved a row", lines(20, 30, 3, 11, 20), 2.0 / 30, 2.0 / 30, 680.0 / 1080, 680.0 / 1080},
		{"all lines moved", lines(20, 30, 5, 12, 22), 6.0 / 30, 6.0 / 30, -120.0 / 1080, -120.0 / 1080},
		{"blank", lines(20, 30), 3.0 / 30, 3.0 / 30, 0, 0},
		{"other size", lines(20, 31, 3, 10, 20), 1, 1, 0, 0},
	}
	for _, tt := range tests {
		mad, corr := Compare(a, tt.b)
		if mad < tt.madLo-1e-9 || mad > tt.madHi+1e-9 || corr < tt.corrLo-1e-9 || corr > tt.corrHi+1e-9 {
			t.Errorf("%s: mad %.4f corr %.4f, want mad in [%.4f, %.4f], corr in [%.2f, %.2f]",
				tt.name, mad, corr, tt.madLo, tt.madHi, tt.corrLo, tt.corrHi)
		}
	}
}

func TestCompareOverWhite(t *testing.T) {
	// A transparent image compares as white; a half-transparent black pixel
	// as mid grey.
	clear := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	if mad, _ := Compare(clear, lines(4, 4)); mad != 0 {
		t.Errorf("transparent vs white: %v", mad)
	}
	half := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	half.Set(0, 0, color.NRGBA{0, 0, 0, 0x80})
	mad, _ := Compare(half, lines(1, 1))
	if math.Abs(mad-0x80/255.0) > 0.01 {
		t.Errorf("half-transparent black vs white: %v, want about 0.5", mad)
	}
}

func TestMaxChannelDiff(t *testing.T) {
	a := lines(5, 5, 1)
	b := lines(5, 5, 1)
	b.Set(2, 2, color.RGBA{0xF0, 0xFF, 0xFF, 0xFF})
	b.Set(3, 3, color.RGBA{0xFF, 0x00, 0xFF, 0xFF})
	if d, n := MaxChannelDiff(a, b, 20); d != 0xFF || n != 1 {
		t.Errorf("MaxChannelDiff = %d, %d; want 255, 1", d, n)
	}
	if d, n := MaxChannelDiff(a, lines(5, 6), 20); d != 255 || n != 30 {
		t.Errorf("different sizes: %d, %d", d, n)
	}
}

func TestGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "g.png")
	img := lines(8, 8, 2)
	Golden(t, path, img, 0, true)
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	Golden(t, path, img, 0, false) // same image passes

	changed := lines(8, 8, 3)
	if !failed(t, func(tb testing.TB) { Golden(tb, path, changed, 10, false) }) {
		t.Error("a changed image passed the golden check")
	}
	if !failed(t, func(tb testing.TB) { Golden(tb, path, lines(8, 9, 2), 10, false) }) {
		t.Error("an image of another size passed the golden check")
	}
	if !failed(t, func(tb testing.TB) { Golden(tb, filepath.Join(t.TempDir(), "missing.png"), img, 10, false) }) {
		t.Error("a missing golden passed")
	}
	slight := lines(8, 8, 2)
	slight.Set(0, 0, color.RGBA{0xF8, 0xF8, 0xF8, 0xFF})
	if failed(t, func(tb testing.TB) { Golden(tb, path, slight, 10, false) }) {
		t.Error("a difference within the tolerance failed the golden check")
	}
}

// recorder catches failures of the code under test instead of failing the
// test itself.
type recorder struct {
	testing.TB
	failed bool
}

type stop struct{}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatal(...any)          { r.failed = true; panic(stop{}) }
func (r *recorder) Fatalf(string, ...any) { r.failed = true; panic(stop{}) }

// failed runs f against a fresh recorder and reports whether it failed.
func failed(t *testing.T, f func(tb testing.TB)) (bad bool) {
	rec := &recorder{TB: t}
	defer func() {
		if p := recover(); p != nil && p != (stop{}) {
			panic(p)
		}
		bad = rec.failed
	}()
	f(rec)
	return rec.failed
}
