package templates

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"image"
	"image/color"
	"io"
)

// packed is an 8-bit NRGBA image held zlib-compressed (layout.Unpacker):
// the printed-size copy of a large image, kept compact while the document
// waits for its other images to decode and is painted. Unpack gives back
// exactly the pixels packed, so the painted output is the same byte for
// byte.
type packed struct {
	rect   image.Rectangle
	stride int
	z      []byte // zlib of Pix
}

// pack compresses img's pixels (fastest level: they are decompressed once
// per painter).
func pack(img *image.NRGBA) *packed {
	var buf bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&buf, zlib.BestSpeed) // a valid level: no error
	zw.Write(img.Pix)                                  // writes to a bytes.Buffer do not fail
	zw.Close()
	return &packed{rect: img.Rect, stride: img.Stride, z: bytes.Clone(buf.Bytes())}
}

// Unpack implements layout.Unpacker.
func (p *packed) Unpack() (image.Image, error) {
	zr, err := zlib.NewReader(bytes.NewReader(p.z))
	if err != nil {
		return nil, fmt.Errorf("templates: unpacking an image: %w", err)
	}
	pix := make([]byte, p.stride*p.rect.Dy())
	if _, err := io.ReadFull(zr, pix); err != nil {
		return nil, fmt.Errorf("templates: unpacking an image: %w", err)
	}
	return &image.NRGBA{Pix: pix, Stride: p.stride, Rect: p.rect}, nil
}

// ColorModel implements image.Image.
func (p *packed) ColorModel() color.Model { return color.NRGBAModel }

// Bounds implements image.Image.
func (p *packed) Bounds() image.Rectangle { return p.rect }

// At implements image.Image by unpacking the whole image (slow: painters
// use Unpack once instead).
func (p *packed) At(x, y int) color.Color {
	img, err := p.Unpack()
	if err != nil {
		return color.NRGBA{}
	}
	return img.At(x, y)
}
