package templates

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"sync"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/foliohealth/folio/render/layout"
)

// TestDecodeImageDownsamples: a 16-bit image larger than it can print is
// returned at most maxImageW x maxImageH, aspect kept, in 8 bits per channel.
func TestDecodeImageDownsamples(t *testing.T) {
	for _, c := range []struct{ w, h, ww, wh int }{
		{1600, 1600, 1430, 1430},
		{4200, 600, 2100, 300},
		{500, 400, 500, 400}, // small: size kept, but 8-bit
	} {
		src := image.NewNRGBA64(image.Rect(0, 0, c.w, c.h))
		for i := range src.Pix {
			src.Pix[i] = 0xFF
		}
		src.SetNRGBA64(0, 0, color.NRGBA64{R: 0x1234, A: 0xFFFF})
		var buf bytes.Buffer
		if err := png.Encode(&buf, src); err != nil {
			t.Fatal(err)
		}
		img, err := decodeImage(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		b := img.Bounds()
		if b.Dx() != c.ww || b.Dy() != c.wh {
			t.Errorf("%dx%d decoded as %dx%d, want %dx%d", c.w, c.h, b.Dx(), b.Dy(), c.ww, c.wh)
		}
		if !eightBit(img) {
			t.Errorf("%dx%d: decoded as %T, want 8 bits per channel", c.w, c.h, img)
		}
	}
}

// TestDecodeImageOrientation: EXIF orientation is applied as imaging (the
// library folio used before) applies it, on the key-images fixture's JPEG.
func TestDecodeImageOrientation(t *testing.T) {
	raw, err := os.ReadFile("../fixtures/key-images.json")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Sections []struct {
			ContentType string `json:"contentType"`
			Data        string `json:"data"`
		} `json:"sections"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range r.Sections {
		if s.Data == "" {
			continue
		}
		data, err := base64.StdEncoding.DecodeString(s.Data)
		if err != nil {
			t.Fatal(err)
		}
		want, err := imaging.Decode(bytes.NewReader(data), imaging.AutoOrientation(true))
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeImage(data)
		if err != nil {
			t.Fatal(err)
		}
		if got.Bounds().Size() != want.Bounds().Size() {
			t.Errorf("%s: %v, imaging says %v", s.ContentType, got.Bounds().Size(), want.Bounds().Size())
		}
		n++
	}
	if n == 0 {
		t.Fatal("no images in the fixture")
	}
	for o := 1; o <= 8; o++ {
		if got := exifOrientation(exifJPEGHeader(o)); got != o {
			t.Errorf("orientation %d read as %d", o, got)
		}
	}
	if got := exifOrientation([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF}); got != 1 {
		t.Errorf("truncated segment: orientation %d, want 1", got)
	}
}

// exifJPEGHeader is SOI and an APP1 Exif segment with orientation o.
func exifJPEGHeader(o int) []byte {
	tiff := []byte{'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, byte(o), 0, 0, 0, 0, 0, 0}
	seg := append([]byte("Exif\x00\x00"), tiff...)
	n := len(seg) + 2
	return append([]byte{0xFF, 0xD8, 0xFF, 0xE1, byte(n >> 8), byte(n)}, seg...)
}

// TestDecodeBudget: concurrent decodes never hold more than the budget.
func TestDecodeBudget(t *testing.T) {
	b := newBudget(100)
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release := b.acquire(60)
			release()
			release() // twice is once
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.acquire(1000)() // more than the budget: alone
		}()
	}
	wg.Wait()
	if b.peak > 100 || b.use != 0 {
		t.Fatalf("peak %d (budget 100), in use after %d", b.peak, b.use)
	}
}

// TestPackRoundTrip: a packed printed-size copy unpacks to exactly the
// pixels packed, so painting it gives the same bytes.
func TestPackRoundTrip(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 37, 23))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	p := pack(img)
	got, err := layout.Pixels(p)
	if err != nil {
		t.Fatal(err)
	}
	n, ok := got.(*image.NRGBA)
	if !ok || n.Rect != img.Rect || n.Stride != img.Stride || !bytes.Equal(n.Pix, img.Pix) {
		t.Fatal("unpacked pixels differ from the packed ones")
	}
	if p.Bounds() != img.Rect || p.At(5, 7) != img.At(5, 7) {
		t.Error("packed image's Bounds or At differ")
	}
}
