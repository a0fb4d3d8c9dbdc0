package raster_test

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"strings"
	"sync"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/foliohealth/folio/fonts"
	"github.com/foliohealth/folio/render/layout"
	"github.com/foliohealth/folio/render/raster"
	"github.com/foliohealth/folio/render/raster/rastertest"
)

// samplePage is a hand-built letter page: a header with PHI, a red banner,
// body text in several faces, a table rule, a boxed notice and a picture.
func samplePage() layout.Page {
	red, light := layout.Red, layout.LightGray
	pic := image.NewNRGBA(image.Rect(0, 0, 40, 30))
	for i := range pic.Pix {
		pic.Pix[i] = uint8(i * 7)
	}
	ops := []layout.Op{
		&layout.Text{X: 54, Y: 50, Face: fonts.SansBold, Size: 14, Color: layout.Black, S: "Surgical Pathology Report"},
		&layout.Text{X: 54, Y: 66, Face: fonts.Sans, Size: 8, Color: layout.DarkGray, S: "Patient DOE, Jane  MRN 0012345  DOB 1961-04-09", PHI: true},
		&layout.Line{X1: 54, Y1: 72, X2: 558, Y2: 72, Width: 0.5, Color: layout.Gray},
		&layout.Rect{X: 54, Y: 80, W: 504, H: 18, Fill: &red},
		&layout.Text{X: 60, Y: 93, Face: fonts.SansBold, Size: 10, Color: layout.White, S: "PRELIMINARY"},
		&layout.Rect{X: 54, Y: 300, W: 504, H: 30, Fill: &light, Stroke: &layout.Gray, StrokeWidth: 0.5},
		&layout.Text{X: 60, Y: 318, Face: fonts.SansItalic, Size: 9.5, Color: layout.Black, S: "Linked section not shown: view it in the source system."},
		&layout.Picture{X: 54, Y: 400, W: 200, H: 150, Img: pic, ContentType: "image/png"},
		&layout.Text{X: 54, Y: 600, Face: fonts.Mono, Size: 8.2, Color: layout.Black, S: "ER 95%  PR 80%  HER2 1+  Ki-67 15%"},
		&layout.Text{X: 54, Y: 620, Face: fonts.CJK, Size: 9.5, Color: layout.Black, S: "病理診断 浸潤性乳管癌"},
	}
	for i := 0; i < 12; i++ {
		ops = append(ops, &layout.Text{X: 54, Y: 120 + float64(i)*12.5, Face: fonts.Sans, Size: 9.5, Color: layout.Black,
			S: "Invasive ductal carcinoma, Nottingham grade 2 (tubules 3, nuclei 2, mitoses 1); margins negative."})
	}
	return layout.Page{Width: 612, Height: 792, Ops: ops}
}

func TestOptionsRefused(t *testing.T) {
	tests := []struct {
		o    raster.Options
		want string
	}{
		{raster.Options{Size: 0}, "size: 0 is outside 32..2048"},
		{raster.Options{Size: 31}, "size: 31 is outside"},
		{raster.Options{Size: 2049}, "size: 2049 is outside"},
		{raster.Options{Size: 5000}, "size: 5000 is outside"},
		{raster.Options{Size: -256}, "size: -256"},
		{raster.Options{Size: 256, Format: "gif"}, `format: "gif" is not "png" or "jpeg"`},
		{raster.Options{Size: 256, Format: "PNG"}, `format: "PNG"`},
		{raster.Options{Size: 256, Format: "jpeg", Quality: 101}, "quality: 101 is outside 1..100"},
		{raster.Options{Size: 256, Format: "jpeg", Quality: -1}, "quality: -1"},
	}
	page := samplePage()
	for _, tt := range tests {
		_, err := raster.Thumbnail(page, tt.o)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, raster.ErrOption) {
			t.Errorf("%+v: Thumbnail error %v, want ErrOption saying %q", tt.o, err, tt.want)
		}
		img := image.NewGray(image.Rect(0, 0, 4, 4))
		if _, err := raster.Encode(img, tt.o); !errors.Is(err, raster.ErrOption) {
			t.Errorf("%+v: Encode error %v, want ErrOption", tt.o, err)
		}
	}
	for _, o := range []raster.Options{{Size: 32}, {Size: 2048}, {Size: 256, Format: "png"}, {Size: 256, Format: "jpeg"}, {Size: 256, Format: "jpeg", Quality: 100}} {
		if err := o.Validate(); err != nil {
			t.Errorf("%+v refused: %v", o, err)
		}
	}
}

func TestSelectPage(t *testing.T) {
	pages := []layout.Page{{Width: 1, Height: 1}, {Width: 2, Height: 2}}
	for n, want := range map[int]float64{0: 1, 1: 1, 2: 2} {
		p, err := raster.SelectPage(pages, n)
		if err != nil || p.Width != want {
			t.Errorf("SelectPage(%d) = %v, %v; want the page of width %g", n, p.Width, err, want)
		}
	}
	for _, n := range []int{3, -1, 100} {
		_, err := raster.SelectPage(pages, n)
		if !errors.Is(err, raster.ErrPage) || !strings.Contains(err.Error(), "2 page(s)") {
			t.Errorf("SelectPage(%d): %v, want ErrPage naming the page count", n, err)
		}
	}
}

func TestThumbnailSize(t *testing.T) {
	tests := []struct {
		w, h  float64
		size  int
		wantW int
		wantH int
	}{
		{612, 792, 256, 198, 256},       // US Letter
		{595.28, 841.89, 256, 182, 256}, // A4: 181.01 px wide, the partial pixel counts
		{792, 612, 256, 256, 198},       // landscape
		{612, 792, 32, 25, 32},
		{612, 792, 2048, 1583, 2048},
		{500, 500, 100, 100, 100},
		{2000, 10, 32, 32, 1}, // a sliver keeps one pixel
	}
	for _, tt := range tests {
		page := layout.Page{Width: tt.w, Height: tt.h, Ops: []layout.Op{text(1, 8, "x")}}
		img, err := raster.Thumbnail(page, raster.Options{Size: tt.size})
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != tt.wantW || b.Dy() != tt.wantH {
			t.Errorf("%gx%g at %d: %dx%d, want %dx%d", tt.w, tt.h, tt.size, b.Dx(), b.Dy(), tt.wantW, tt.wantH)
		}
	}
}

func TestEncodeDeterministic(t *testing.T) {
	page := samplePage()
	for _, o := range []raster.Options{
		{Size: 256},
		{Size: 256, Format: raster.JPEG},
		{Size: 128, Format: raster.JPEG, Quality: 40},
		{Size: 300, Deidentify: true},
	} {
		var first []byte
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				img, err := raster.Thumbnail(page, o)
				if err != nil {
					t.Error(err)
					return
				}
				data, err := raster.Encode(img, o)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if first == nil {
					first = data
				} else if !bytes.Equal(first, data) {
					t.Errorf("%+v: two encodings differ", o)
				}
			}()
		}
		wg.Wait()
		decoded, format, err := image.Decode(bytes.NewReader(first))
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		if want := map[string]string{"": "png", "png": "png", "jpeg": "jpeg"}[o.Format]; format != want {
			t.Errorf("%+v: encoded as %s", o, format)
		}
		if o.ContentType() != "image/"+format {
			t.Errorf("%+v: content type %s for %s", o, o.ContentType(), format)
		}
		if b := decoded.Bounds(); max(b.Dx(), b.Dy()) != o.Size {
			t.Errorf("%+v: decoded %v", o, b)
		}
		if format == "jpeg" {
			// Baseline: a SOF0 marker, no progressive SOF2.
			if !bytes.Contains(first, []byte{0xFF, 0xC0}) || bytes.Contains(first, []byte{0xFF, 0xC2}) {
				t.Errorf("%+v: not a baseline JPEG", o)
			}
		}
	}
}

// TestEncodeKeepsPixels checks that the greyscale shortcut and the colour
// path both decode to the thumbnail that was encoded.
func TestEncodeKeepsPixels(t *testing.T) {
	grey := layout.Page{Width: 200, Height: 100, Ops: []layout.Op{text(10, 50, "grey only")}}
	colour := samplePage()
	for _, page := range []layout.Page{grey, colour} {
		o := raster.Options{Size: 200}
		img, err := raster.Thumbnail(page, o)
		if err != nil {
			t.Fatal(err)
		}
		data, err := raster.Encode(img, o)
		if err != nil {
			t.Fatal(err)
		}
		back, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if d, n := rastertest.MaxChannelDiff(img, back, 0); n != 0 {
			t.Errorf("decoded PNG differs from the thumbnail in %d pixels (max %d)", n, d)
		}
		o.Format, o.Quality = raster.JPEG, 95
		data, err = raster.Encode(img, o)
		if err != nil {
			t.Fatal(err)
		}
		back, err = jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if mad, corr := rastertest.Compare(img, back); mad > 0.02 || corr < 0.99 {
			t.Errorf("JPEG at quality 95: mean difference %.3f, row correlation %.3f", mad, corr)
		}
	}
	if _, ok := mustDecode(t, grey).(*image.Gray); !ok {
		t.Errorf("a page without colour is not encoded as greyscale")
	}
	if _, ok := mustDecode(t, colour).(*image.Gray); ok {
		t.Errorf("a page with colour was encoded as greyscale")
	}
}

func mustDecode(t *testing.T, page layout.Page) image.Image {
	t.Helper()
	o := raster.Options{Size: 128}
	img, err := raster.Thumbnail(page, o)
	if err != nil {
		t.Fatal(err)
	}
	data, err := raster.Encode(img, o)
	if err != nil {
		t.Fatal(err)
	}
	back, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return back
}

// TestOversampledAgrees paints thumbnails 2 and 3 times larger and
// downsamples them with the box filter: the result must match painting at
// the final size, which is why thumbnails are not oversampled (thumb.go).
func TestOversampledAgrees(t *testing.T) {
	page := samplePage()
	for _, size := range []int{64, 256} {
		direct, err := raster.Thumbnail(page, raster.Options{Size: size})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []int{2, 3} {
			raster.SetOversample(func(int) int { return k }, imaging.Box)
			over, err := raster.Thumbnail(page, raster.Options{Size: size})
			raster.SetOversample(func(int) int { return 1 }, imaging.Box)
			if err != nil {
				t.Fatal(err)
			}
			mad, corr := rastertest.Compare(direct, over)
			t.Logf("size %d, %dx oversampled: mean difference %.4f, row correlation %.4f", size, k, mad, corr)
			if mad > 0.01 || corr < 0.99 {
				t.Errorf("size %d, %dx oversampled: mean difference %.4f, row correlation %.4f", size, k, mad, corr)
			}
		}
	}
}

func TestDeidentifiedThumbnail(t *testing.T) {
	page := samplePage()
	full, err := raster.Thumbnail(page, raster.Options{Size: 792})
	if err != nil {
		t.Fatal(err)
	}
	deid, err := raster.Thumbnail(page, raster.Options{Size: 792, Deidentify: true})
	if err != nil {
		t.Fatal(err)
	}
	// At 792 px the page is 1 px per point: the PHI line is rows 58..68.
	diffRows := map[int]bool{}
	b := full.Bounds()
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			if full.At(x, y) != deid.At(x, y) {
				diffRows[y] = true
			}
		}
	}
	if len(diffRows) == 0 {
		t.Fatal("de-identified thumbnail is the same as the full one")
	}
	for y := range diffRows {
		if y < 56 || y > 69 {
			t.Errorf("row %d differs: only the PHI line should", y)
		}
	}
}
