package fpdf

// Digital signatures (a folio patch, see PATCHES): the document carries one
// signature field, and the signature value is computed while the document
// is closed, over the bytes just written, without parsing them again.

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
)

// SignatureType describes the one digital signature of a document: an
// invisible signature field (a widget with an empty rectangle and an empty
// appearance, printable and locked) on the first page, listed in the
// interactive form with /SigFlags 3, whose value is a signature
// dictionary.
//
// When the document is closed, space for the signature value is reserved
// in the signature dictionary's /Contents, the whole file is written, its
// /ByteRange is filled in (everything except the /Contents hex string) and
// Sign is called with the two byte ranges; what it returns is written, as
// hexadecimal digits padded with zeros, into the reserved space.
type SignatureType struct {
	Filter    string    // name of the preferred signature handler, without the slash, e.g. "Adobe.PPKLite"
	SubFilter string    // encoding of the signature value, e.g. "ETSI.CAdES.detached"
	Name      string    // /Name, the signer's name (UTF-8; empty: left out)
	Reason    string    // /Reason (UTF-8; empty: left out)
	Location  string    // /Location (UTF-8; empty: left out)
	Time      time.Time // /M, the time of signing
	Size      int       // bytes reserved for the signature value (the largest Sign may return)

	// Sign returns the signature value over head followed by tail (the
	// byte ranges of /ByteRange). The slices alias the document's buffer:
	// Sign must not keep or change them.
	Sign func(head, tail []byte) ([]byte, error)
}

// signatureState is a SignatureType with the object numbers and offsets
// recorded while the document is written.
type signatureState struct {
	SignatureType
	page, widget, dict int // object numbers of the first page, the widget and the signature dictionary
	byteRange          int // offset of the /ByteRange placeholder's first digit
	contents           int // offset of the '<' of /Contents
}

// byteRangeWidth is the width of the /ByteRange placeholder: four numbers
// of up to 10 digits, filled in with spaces after the last.
const byteRangeWidth = 4*11 - 1

// SetSignature signs the document when it is closed, as s describes. It
// may be called once, before the document is closed.
func (f *Fpdf) SetSignature(s SignatureType) {
	switch {
	case f.err != nil:
		return
	case f.signature != nil:
		f.err = fmt.Errorf("signature: already set")
	case f.state == 3:
		f.err = fmt.Errorf("signature: document already closed")
	case s.Sign == nil:
		f.err = fmt.Errorf("signature: no Sign function")
	case s.Size <= 0 || s.Size > 32767:
		// PDF/A-1 and PDF 1.4 limit strings to 65535 bytes: 32767 bytes
		// of signature in hexadecimal digits.
		f.err = fmt.Errorf("signature: size %d out of range 1..32767", s.Size)
	case !isName(s.Filter) || !isName(s.SubFilter):
		f.err = fmt.Errorf("signature: filter %q or subfilter %q is not a PDF name", s.Filter, s.SubFilter)
	default:
		f.signature = &signatureState{SignatureType: s}
	}
}

// isName reports whether s can be written as a PDF name without escapes.
func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > '~' || c == '#' || c == '/' || c == '%' ||
			c == '(' || c == ')' || c == '<' || c == '>' || c == '[' || c == ']' || c == '{' || c == '}' {
			return false
		}
	}
	return true
}

// sigText returns s as a PDF text string: printable ASCII as it is,
// anything else as UTF-16BE with a byte order mark.
func (f *Fpdf) sigText(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			return f.textstring(utf8toutf16(s))
		}
	}
	return f.textstring(s)
}

// putSignatureObjects writes the signature field's widget, the signature
// dictionary and the widget's appearance, right after the pages (putpages has referred to
// the widget by the number it gets here).
func (f *Fpdf) putSignatureObjects() {
	s := f.signature
	if s == nil || f.err != nil {
		return
	}
	if f.protect.encrypted {
		f.err = fmt.Errorf("signature: not supported in an encrypted document")
		return
	}
	f.newobj()
	if f.n != s.widget {
		f.err = fmt.Errorf("signature: widget is object %d, page 1 refers to %d", f.n, s.widget)
		return
	}
	s.dict = f.n + 1
	f.out("<</Type /Annot /Subtype /Widget /FT /Sig /T (Signature1) /F 132 /Rect [0 0 0 0]")
	f.out("/P " + strconv.Itoa(s.page) + " 0 R /V " + strconv.Itoa(s.dict) + " 0 R /AP <</N " + strconv.Itoa(s.dict+1) + " 0 R>>>>")
	f.out("endobj")

	f.newobj()
	f.out("<</Type /Sig /Filter /" + s.Filter + " /SubFilter /" + s.SubFilter)
	f.put("/ByteRange [")
	s.byteRange = f.buffer.Len()
	f.out(string(make([]byte, byteRangeWidth)) + "]") // placeholder, filled in by fillSignature
	f.put("/Contents ")
	s.contents = f.buffer.Len()
	hexZeros := make([]byte, 2+2*s.Size)
	for i := range hexZeros {
		hexZeros[i] = '0'
	}
	hexZeros[0], hexZeros[len(hexZeros)-1] = '<', '>'
	f.out(string(hexZeros))
	f.out("/M " + f.textstring(pdfDate(s.Time)))
	if s.Name != "" {
		f.out("/Name " + f.sigText(s.Name))
	}
	if s.Reason != "" {
		f.out("/Reason " + f.sigText(s.Reason))
	}
	if s.Location != "" {
		f.out("/Location " + f.sigText(s.Location))
	}
	f.out(">>")
	f.out("endobj")

	// The widget's appearance: an empty form (PDF/A requires every
	// widget to have one, even one that covers no area).
	f.newobj()
	f.out("<</Type /XObject /Subtype /Form /BBox [0 0 0 0] /Length 0>>")
	f.putstream(nil)
	f.out("endobj")
}

// putSignatureCatalog writes the interactive form that lists the
// signature field: /SigFlags 3, signatures exist and the file is to be
// changed only by appending.
func (f *Fpdf) putSignatureCatalog() {
	if f.signature == nil {
		return
	}
	f.out("/AcroForm <</Fields [" + strconv.Itoa(f.signature.widget) + " 0 R] /SigFlags 3>>")
}

// fillSignature fills in /ByteRange and /Contents of the finished
// document.
func (f *Fpdf) fillSignature() {
	s := f.signature
	if s == nil || f.err != nil {
		return
	}
	b := f.buffer.Bytes()
	start := s.contents
	end := start + 2 + 2*s.Size
	if b[start] != '<' || b[end-1] != '>' || b[s.byteRange] != 0 {
		f.err = fmt.Errorf("signature: placeholders moved")
		return
	}
	br := make([]byte, 0, byteRangeWidth)
	br = append(br, '0', ' ')
	br = strconv.AppendInt(br, int64(start), 10)
	br = append(br, ' ')
	br = strconv.AppendInt(br, int64(end), 10)
	br = append(br, ' ')
	br = strconv.AppendInt(br, int64(len(b)-end), 10)
	if len(br) > byteRangeWidth {
		f.err = fmt.Errorf("signature: file too large for /ByteRange")
		return
	}
	for len(br) < byteRangeWidth {
		br = append(br, ' ')
	}
	copy(b[s.byteRange:], br)
	sig, err := s.Sign(b[:start], b[end:])
	if err != nil {
		f.err = fmt.Errorf("signature: %w", err)
		return
	}
	if len(sig) > s.Size {
		f.err = fmt.Errorf("signature: %d bytes, %d reserved", len(sig), s.Size)
		return
	}
	hex.Encode(b[start+1:], sig)
}
