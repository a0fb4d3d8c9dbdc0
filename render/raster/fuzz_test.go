package raster_test

import (
	"image"
	"math"
	"testing"

	"github.com/foliohealth/folio/fonts"
	"github.com/foliohealth/folio/render/layout"
	"github.com/foliohealth/folio/render/raster"
)

// FuzzPaint paints pages of arbitrary operations: painting returns an image
// or an error, never panics, and never allocates past MaxPixels.
func FuzzPaint(f *testing.F) {
	f.Add([]byte("\x00text"), 1.0, 10.0, 20.0, 9.5)
	f.Add([]byte("\x01"), 0.25, -5.0, 3.0, 0.5)
	f.Add([]byte("\x02\x03"), 2.0, 1e9, math.NaN(), 1.0)
	f.Add([]byte("\x04 \x05\xff\xfe"), 0.1, 599.0, 780.0, 300.0)
	f.Fuzz(func(t *testing.T, data []byte, scale, x, y, v float64) {
		if !(scale > 0.01 && scale < 2) {
			scale = 0.5
		}
		if len(data) > 64 {
			data = data[:64] // pages hold a few hundred ops; keep executions fast
		}
		page := layout.Page{Width: 612, Height: 792}
		red := layout.Red
		for i, b := range data {
			w := v * float64(i+1)
			switch b % 4 {
			case 0:
				page.Ops = append(page.Ops, &layout.Text{X: x, Y: y, Face: fonts.ID(b / 4 % uint8(fonts.NumFaces+1)), Size: v, S: string(data[i:])})
			case 1:
				page.Ops = append(page.Ops, &layout.Line{X1: x, Y1: y, X2: x + w, Y2: y + float64(b), Width: v / 10})
			case 2:
				page.Ops = append(page.Ops, &layout.Rect{X: x, Y: y, W: w, H: v, Fill: &red, Stroke: &red, StrokeWidth: v / 20})
			case 3:
				img := image.NewGray(image.Rect(0, 0, 1+int(b)%7, 1+len(data)%5))
				img.Pix[0] = b
				page.Ops = append(page.Ops, &layout.Picture{X: x, Y: y, W: w, H: v, Img: img})
			}
		}
		img, err := raster.Paint(page, scale, b2(data))
		if err == nil && img == nil {
			t.Fatal("no image and no error")
		}
	})
}

func b2(data []byte) bool { return len(data)%2 == 0 }
