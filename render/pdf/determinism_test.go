package pdf

import (
	"bytes"
	"image"
	"image/color"
	"testing"
	"time"

	"github.com/foliohealth/folio/document"
	"github.com/foliohealth/folio/render/layout"
)

// TestImagesOfEqualWidthAreDeterministic guards against fpdf ordering image
// objects by width over map order: two pictures of the same pixel width
// must still give the same bytes on every run.
func TestImagesOfEqualWidthAreDeterministic(t *testing.T) {
	mk := func(c color.Gray) image.Image {
		img := image.NewGray(image.Rect(0, 0, 120, 80))
		for i := range img.Pix {
			img.Pix[i] = c.Y + uint8(i%7)
		}
		return img
	}
	page := layout.Page{Width: 612, Height: 792, Ops: []layout.Op{
		&layout.Picture{X: 50, Y: 50, W: 120, H: 80, Img: mk(color.Gray{Y: 40}), ContentType: "image/png", Key: 1},
		&layout.Picture{X: 50, Y: 200, W: 120, H: 80, Img: mk(color.Gray{Y: 160}), ContentType: "image/jpeg", Key: 2},
	}}
	info := document.Info{Title: "t", Created: time.Date(2026, 11, 20, 14, 3, 0, 0, time.UTC)}
	first, err := Paint([]layout.Page{page}, info)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		b, err := Paint([]layout.Page{page}, info)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, b) {
			t.Fatalf("run %d gave different bytes", i+2)
		}
	}
}
