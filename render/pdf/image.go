package pdf

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math"

	"github.com/disintegration/imaging"

	"github.com/foliohealth/folio/render/layout"
)

// maxDPI is the highest resolution an embedded image keeps at its printed
// size; larger images are resampled down.
const maxDPI = 300

// jpegQuality is the quality of re-encoded JPEG images.
const jpegQuality = 88

var pngEncoder = png.Encoder{CompressionLevel: png.DefaultCompression}

// encodeImage resamples pc.Img to at most maxDPI at its printed size,
// flattens any transparency onto white and encodes it as JPEG (when the
// source was a JPEG) or as a non-interlaced 8-bit PNG.
//
// taken holds the pixel widths of the images already embedded in the
// document. fpdf orders image objects by width alone, over map order, so two
// images of one width would make the output bytes vary from run to run: an
// image whose width is taken gets pad white columns on its right until its
// width is unique, and the caller widens the drawn box by the same number of
// pixels so that the picture itself keeps its size and place (the padding
// is white on the white page). encodeImage adds the width it used to taken.
func encodeImage(pc *layout.Picture, taken map[int]bool) (data []byte, pad int, err error) {
	img := pc.Img
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return nil, 0, fmt.Errorf("empty image")
	}
	tw := min(w, int(math.Ceil(pc.W/72*maxDPI)))
	th := min(h, int(math.Ceil(pc.H/72*maxDPI)))
	for taken[tw+pad] {
		pad++
	}
	taken[tw+pad] = true
	if tw < w || th < h {
		img = imaging.Resize(img, max(tw, 1), max(th, 1), imaging.Lanczos)
	}
	img = flatten(img)
	if pad > 0 {
		ib := img.Bounds()
		dst := image.NewRGBA(image.Rect(0, 0, ib.Dx()+pad, ib.Dy()))
		draw.Draw(dst, dst.Bounds(), image.White, image.Point{}, draw.Src)
		draw.Draw(dst, ib.Sub(ib.Min), img, ib.Min, draw.Src)
		img = dst
	}
	var buf bytes.Buffer
	if pc.ContentType == "image/jpeg" {
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: jpegQuality}); err != nil {
			return nil, 0, fmt.Errorf("encoding JPEG: %w", err)
		}
		return buf.Bytes(), pad, nil
	}
	if err := pngEncoder.Encode(&buf, img); err != nil {
		return nil, 0, fmt.Errorf("encoding PNG: %w", err)
	}
	return buf.Bytes(), pad, nil
}

// flatten returns img as an opaque 8-bit image fpdf can embed: 8-bit gray
// and opaque YCbCr images as they are, everything else drawn over white
// into RGBA (which also turns 16-bit images into 8-bit ones).
func flatten(img image.Image) image.Image {
	switch img.(type) {
	case *image.Gray, *image.YCbCr:
		return img
	}
	b := img.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(dst, dst.Bounds(), img, b.Min, draw.Over)
	return dst
}
