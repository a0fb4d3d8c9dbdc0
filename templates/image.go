package templates

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	_ "image/jpeg" // decoders for image.Decode
	_ "image/png"
	"math"
	"runtime/debug"
	"sync"

	"github.com/disintegration/imaging"
)

// Images are decoded one at a time, under a process-wide memory budget,
// and brought down at once to the most they can ever print at: a copy of
// at most maxImageW x maxImageH pixels in 8 bits per channel is all a
// document holds of an image; the full-size decoded pixels (NRGBA64 for a
// 16-bit PNG, 8 bytes a pixel) live only while that copy is made.
//
// The largest box layout ever prints an image in is the text width by half
// the body height of a page: on US Letter (the larger text width, 7 in)
// the body is at most 792 - 72 (margins) - 22 (footer) - 12 pt high,
// so half of it is under 343 pt (4.77 in); painters embed at most 300 dpi
// (render/pdf maxDPI), so 2100 x 1430 pixels keep every printed pixel.
const (
	maxImageW = 7 * 300
	maxImageH = 1430
)

// DecodeBudget bounds the bytes of full-size decoded pixels that image
// decodes of this process hold at once (all render workers together); a
// decode waits until its share is free. An image larger than the whole
// budget is decoded alone.
const DecodeBudget = 384 << 20

var decodeMem = newBudget(DecodeBudget)

// bigDecode is the size of full-size pixels past which a decode collects
// garbage once done (64 MiB: an 8-bit RGBA image of 16 megapixels).
const bigDecode = 64 << 20

// budget is a counting semaphore over bytes.
type budget struct {
	mu       sync.Mutex
	cond     *sync.Cond
	cap, use int64
	peak     int64 // highest use seen (tests)
}

func newBudget(n int64) *budget {
	b := &budget{cap: n}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// acquire waits until n bytes (at most the whole budget) are free, takes
// them and returns the function that gives them back.
func (b *budget) acquire(n int64) func() {
	n = min(max(n, 1), b.cap)
	b.mu.Lock()
	for b.use+n > b.cap {
		b.cond.Wait()
	}
	b.use += n
	b.peak = max(b.peak, b.use)
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			b.use -= n
			b.mu.Unlock()
			b.cond.Broadcast()
		})
	}
}

// bytesPerPixel is what the Go decoders allocate per pixel for a color
// model (a YCbCr JPEG is counted at 4:4:4, the most it can be).
func bytesPerPixel(m color.Model) int64 {
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.YCbCrModel:
		return 3
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 4 // RGBA, NRGBA, CMYK
}

// decodeImage decodes a PNG or JPEG whose header report.Decode has checked
// (size and pixel limits), applies its EXIF orientation, and returns it
// brought down to at most maxImageW x maxImageH (aspect kept) in 8 bits per
// channel. An image already within those bounds in an 8-bit model is
// returned as decoded.
func decodeImage(data []byte) (image.Image, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	cost := int64(cfg.Width) * int64(cfg.Height) * bytesPerPixel(cfg.ColorModel)
	release := decodeMem.acquire(cost)
	defer release()
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	orient := exifOrientation(data)
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	ow, oh := w, h // as shown, after orientation
	if orient >= 5 {
		ow, oh = h, w
	}
	f := math.Min(1, math.Min(maxImageW/float64(ow), maxImageH/float64(oh)))
	switch {
	case f < 1:
		tw := max(1, int(math.Round(float64(w)*f)))
		th := max(1, int(math.Round(float64(h)*f)))
		img = imaging.Resize(img, tw, th, imaging.Linear)
	case !eightBit(img):
		img = imaging.Clone(img)
	}
	release() // the full-size pixels are garbage from here on
	if cost > bigDecode {
		// Reclaim them now and hand the pages back to the OS, before
		// another decode asks for as much again: the collector would
		// otherwise let the heap grow by a second full-size image before
		// it runs, and freed pages that are not yet returned still count
		// in the process's resident memory (a full-suite run measured
		// 526 MiB with a collection alone).
		debug.FreeOSMemory()
	}
	img = orient8(img, orient)
	if n, ok := img.(*image.NRGBA); ok && cost > bigDecode {
		// A large image's printed-size copy waits compressed for the
		// painter (layout.Unpacker): 20 of them uncompressed (up to 12 MB
		// each) beside the next full-size decode would pass 512 MiB.
		return pack(n), nil
	}
	return img, nil
}

// eightBit reports whether img holds 8 bits per channel at most.
func eightBit(img image.Image) bool {
	switch img.(type) {
	case *image.Gray, *image.YCbCr, *image.NRGBA, *image.RGBA, *image.Paletted, *image.CMYK, *image.Alpha:
		return true
	}
	return false
}

// orient8 applies EXIF orientation o (1..8) to img.
func orient8(img image.Image, o int) image.Image {
	switch o {
	case 2:
		return imaging.FlipH(img)
	case 3:
		return imaging.Rotate180(img)
	case 4:
		return imaging.FlipV(img)
	case 5:
		return imaging.Transpose(img)
	case 6:
		return imaging.Rotate270(img)
	case 7:
		return imaging.Transverse(img)
	case 8:
		return imaging.Rotate90(img)
	}
	return img
}

// exifOrientation returns the EXIF orientation (1..8) of a JPEG, 1 when it
// has none or is not a JPEG. It reads the APP1 Exif segment's first IFD
// only, within the segment's bounds.
func exifOrientation(data []byte) int {
	if len(data) < 4 || data[0] != 0xFF || data[1] != jpegSOI {
		return 1
	}
	p := 2
	for p+4 <= len(data) {
		if data[p] != 0xFF {
			return 1
		}
		marker := data[p+1]
		if marker == jpegSOS || marker == jpegEOI {
			return 1
		}
		n := int(binary.BigEndian.Uint16(data[p+2:]))
		if n < 2 || p+2+n > len(data) {
			return 1
		}
		seg := data[p+4 : p+2+n]
		if marker == jpegAPP1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return tiffOrientation(seg[6:])
		}
		p += 2 + n
	}
	return 1
}

const (
	jpegSOI  = 0xD8
	jpegSOS  = 0xDA
	jpegEOI  = 0xD9
	jpegAPP1 = 0xE1
)

// tiffOrientation reads tag 0x0112 of IFD0 of a TIFF header.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	off := int(bo.Uint32(t[4:]))
	if off < 8 || off+2 > len(t) {
		return 1
	}
	n := int(bo.Uint16(t[off:]))
	for i := 0; i < n; i++ {
		e := off + 2 + 12*i
		if e+12 > len(t) {
			return 1
		}
		if bo.Uint16(t[e:]) == 0x0112 {
			v := int(bo.Uint16(t[e+8:]))
			if v >= 1 && v <= 8 {
				return v
			}
			return 1
		}
	}
	return 1
}
