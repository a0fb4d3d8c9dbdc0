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

// encodeImage returns an image as the PDF embeds it, with fpdf's image
// type ("JPG" or "PNG"). A JPEG source that needs no change (no rotation,
// no resampling, gray or YCbCr) is embedded byte for byte, so it loses
// nothing. Otherwise the image is resampled to at most maxDPI at its
// printed size, flattened onto white (PDF/A-1 allows no transparency) and
// encoded as JPEG (when the source was a JPEG) or as a non-interlaced 8-bit
// PNG.
func encodeImage(pc *layout.Picture) (data []byte, typ string, err error) {
	img, err := layout.Pixels(pc.Img)
	if err != nil {
		return nil, "", err
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return nil, "", fmt.Errorf("empty image")
	}
	tw := min(w, int(math.Ceil(pc.W/72*maxDPI)))
	th := min(h, int(math.Ceil(pc.H/72*maxDPI)))
	if pc.ContentType == "image/jpeg" && tw == w && th == h && keepJPEG(pc.Src, img) {
		return pc.Src, "JPG", nil
	}
	if tw < w || th < h {
		img = imaging.Resize(img, max(tw, 1), max(th, 1), imaging.Lanczos)
	}
	img = flatten(img)
	var buf bytes.Buffer
	if pc.ContentType == "image/jpeg" {
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: jpegQuality}); err != nil {
			return nil, "", fmt.Errorf("encoding JPEG: %w", err)
		}
		return buf.Bytes(), "JPG", nil
	}
	if err := pngEncoder.Encode(&buf, img); err != nil {
		return nil, "", fmt.Errorf("encoding PNG: %w", err)
	}
	return buf.Bytes(), "PNG", nil
}

// keepJPEG reports whether src, a JPEG, can be embedded as it is: img is
// what it decodes to unrotated (a rotated image is decoded to NRGBA), gray
// or YCbCr (so DeviceGray or DeviceRGB, which the sRGB output intent
// covers; CMYK is converted), with the same size.
func keepJPEG(src []byte, img image.Image) bool {
	if len(src) == 0 {
		return false
	}
	switch img.(type) {
	case *image.Gray, *image.YCbCr:
	default:
		return false
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(src))
	return err == nil && cfg.Width == img.Bounds().Dx() && cfg.Height == img.Bounds().Dy()
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
