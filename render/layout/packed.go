package layout

import "image"

// Unpacker is an image a document holds in a compact form (templates keeps
// its printed-size copies of large images compressed, so that the copies of
// 20 images do not sit beside the next full-size decode). Painters call
// Pixels before reading the pixels of a Picture.
type Unpacker interface {
	image.Image
	// Unpack returns the image's pixels, the same on every call.
	Unpack() (image.Image, error)
}

// Pixels returns img's pixels: img itself, or what it unpacks to when it
// is an Unpacker.
func Pixels(img image.Image) (image.Image, error) {
	if u, ok := img.(Unpacker); ok {
		return u.Unpack()
	}
	return img, nil
}
