package hl7

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// Charset is a character set of HL7 table 0211 that folio reads.
type Charset string

// Character sets (MSH-18 values). CharsetDefault is an empty MSH-18: the
// standard's default is ASCII, and many senders put ISO-8859-1 text there,
// so folio reads it as CharsetLatin1.
//
// CharsetLatin1 (and so an empty MSH-18) is read as windows-1252, which is
// ISO-8859-1 with text in place of the C1 control codes 0x80-0x9F (€, curly
// quotes, dashes...): the WHATWG Encoding Standard, which every browser
// follows, reads the label ISO-8859-1 so, because that is what senders on
// Windows write under it. The five bytes windows-1252 leaves undefined
// (0x81 0x8D 0x8F 0x90 0x9D) stay control codes and are refused.
const (
	CharsetDefault Charset = ""
	CharsetASCII   Charset = "ASCII"
	CharsetLatin1  Charset = "8859/1"
	CharsetUTF8    Charset = "UNICODE UTF-8"
)

// charmaps are the single-byte character sets folio reads, by MSH-18
// value. For the ISO 8859 parts only 0xA0-0xFF are text (0x80-0x9F are
// C1 control codes); 8859/1 and the default are windows-1252, where
// 0x80-0x9F are text too (see validByte). ISO-8859-11 (Thai) is
// windows-874 from 0xA0 up, where the two agree; there is no 8859/12.
var charmaps = map[Charset]*charmap.Charmap{
	CharsetDefault: charmap.Windows1252,
	CharsetLatin1:  charmap.Windows1252,
	"8859/2":       charmap.ISO8859_2,
	"8859/3":       charmap.ISO8859_3,
	"8859/4":       charmap.ISO8859_4,
	"8859/5":       charmap.ISO8859_5,
	"8859/6":       charmap.ISO8859_6,
	"8859/7":       charmap.ISO8859_7,
	"8859/8":       charmap.ISO8859_8,
	"8859/9":       charmap.ISO8859_9,
	"8859/10":      charmap.ISO8859_10,
	"8859/11":      charmap.Windows874,
	"8859/13":      charmap.ISO8859_13,
	"8859/14":      charmap.ISO8859_14,
	"8859/15":      charmap.ISO8859_15,
}

// singleByte lists the ISO 8859 values of charmaps in order, for Charsets.
var singleByte = []Charset{"8859/2", "8859/3", "8859/4", "8859/5", "8859/6", "8859/7", "8859/8", "8859/9", "8859/10", "8859/11", "8859/13", "8859/14", "8859/15"}

// table0211 are the other values of HL7 table 0211 (v2.5-v2.8): real
// character sets folio does not read, refused as such rather than as
// values that name nothing.
var table0211 = map[string]bool{
	"ISO IR6": true, "ISO IR14": true, "ISO IR87": true, "ISO IR159": true,
	"UNICODE": true, "UNICODE UTF-16": true, "UNICODE UTF-32": true,
	"GB 18030-2000": true, "KS X 1001": true, "CNS 11643-1992": true, "BIG-5": true,
}

// Charsets lists the MSH-18 values Parse accepts.
func Charsets() []string {
	out := []string{"(empty)", string(CharsetASCII), string(CharsetLatin1), string(CharsetUTF8)}
	for _, n := range singleByte {
		out = append(out, string(n))
	}
	return out
}

// LookupCharset returns the character set an MSH-18 value names, as
// senders write it: case and surrounding spaces do not matter, and UTF-8
// (a common misspelling of UNICODE UTF-8) is UNICODE UTF-8. ok is false
// for a value folio does not read.
func LookupCharset(v string) (cs Charset, ok bool) {
	v = strings.ToUpper(strings.TrimSpace(v))
	switch v {
	case "UTF-8", "UTF8", "UNICODE UTF8":
		return CharsetUTF8, true
	case string(CharsetDefault), string(CharsetASCII), string(CharsetUTF8):
		return Charset(v), true
	}
	if charmaps[Charset(v)] != nil {
		return Charset(v), true
	}
	return "", false
}

func charsetOf(m *Message, msh *Segment) (Charset, error) {
	f := msh.Field(18)
	if f.Reps() > 1 {
		return "", errorf(msh.Loc(18), CodeTableValue, "MSH-18 names %d character sets; switching character sets inside a message (ISO 2022) is not supported", f.Reps())
	}
	raw := string(f.Rep(1).Raw())
	if strings.IndexByte(raw, m.Delims.Escape) >= 0 || strings.IndexByte(raw, m.Delims.Component) >= 0 {
		return "", errorf(msh.Loc(18), CodeTableValue, "MSH-18 %q is not a character set of table 0211 (folio reads: %s)", raw, strings.Join(Charsets(), ", "))
	}
	if cs, ok := LookupCharset(raw); ok {
		return cs, nil
	}
	if table0211[strings.ToUpper(strings.TrimSpace(raw))] {
		return "", errorf(msh.Loc(18), CodeTableValue, "character set %q of table 0211 is not supported (folio reads: %s)", raw, strings.Join(Charsets(), ", "))
	}
	return "", errorf(msh.Loc(18), CodeTableValue, "MSH-18 %q is not a character set of table 0211 (folio reads: %s)", raw, strings.Join(Charsets(), ", "))
}

// validByte reports whether b may appear in text of the character set
// (single-byte sets; UTF-8 is checked by sequence).
func (cs Charset) validByte(b byte) bool {
	if b < 0x20 {
		return b == '\t'
	}
	if b == 0x7f {
		return false
	}
	if b < 0x80 {
		return true
	}
	cm := charmaps[cs]
	if cm == nil { // ASCII
		return false
	}
	if b < 0xa0 && cm != charmap.Windows1252 {
		return false // C1 control codes, never text
	}
	return cm.DecodeByte(b) != utf8.RuneError
}

func (cs Charset) name() string {
	switch cs {
	case CharsetDefault:
		return "the default character set (MSH-18 empty: ISO-8859-1, read as windows-1252)"
	case CharsetLatin1:
		return "8859/1 (read as windows-1252)"
	}
	return string(cs)
}

// checkBytes refuses any byte that is not text in the message's character
// set, naming the field it is in.
func (m *Message) checkBytes() error {
	for _, s := range m.Segments {
		for n := range s.NumFields() {
			f := s.raw(n)
			if m.Charset == CharsetUTF8 {
				for i := 0; i < len(f); {
					c := f[i]
					if c >= 0x20 && c < 0x7f {
						i++
						continue
					}
					if c < 0x80 {
						if !m.Charset.validByte(c) {
							return errorf(s.Loc(n), CodeDataType, "byte 0x%02X at offset %d of the field is a control character, not text", c, i)
						}
						i++
						continue
					}
					r, size := utf8.DecodeRune(f[i:])
					if r == utf8.RuneError && size <= 1 {
						return errorf(s.Loc(n), CodeDataType, "byte 0x%02X at offset %d of the field is not valid UTF-8, which MSH-18 declares", c, i)
					}
					if r >= 0x80 && r < 0xa0 {
						return errorf(s.Loc(n), CodeDataType, "character U+%04X at offset %d of the field is a control character, not text", r, i)
					}
					i += size
				}
				continue
			}
			for i, c := range f {
				if c >= 0x20 && c < 0x7f {
					continue // printable ASCII: text in every set
				}
				if !m.Charset.validByte(c) {
					if c < 0x80 {
						return errorf(s.Loc(n), CodeDataType, "byte 0x%02X at offset %d of the field is a control character, not text", c, i)
					}
					return errorf(s.Loc(n), CodeDataType, "byte 0x%02X at offset %d of the field is not valid in %s", c, i, m.Charset.name())
				}
			}
		}
	}
	return nil
}

// decode converts bytes of the message's character set to UTF-8. The bytes
// have been checked (checkBytes) or come from a \X..\ escape, which decode
// checks itself.
func (m *Message) decode(b []byte) (string, error) {
	if m.plain(b) {
		return string(b), nil
	}
	out, err := m.appendDecoded(nil, b)
	if err != nil {
		return "", err
	}
	return string(out), nil
}

// plain reports whether b is text that decodes to itself: printable ASCII,
// tab and line feed only.
func (m *Message) plain(b []byte) bool {
	for _, c := range b {
		if c >= 0x7f || c < 0x20 && c != '\t' && c != '\n' {
			return false
		}
	}
	return true
}

// appendDecoded appends decode's result to dst; on error dst is returned
// as it was.
func (m *Message) appendDecoded(dst, b []byte) ([]byte, error) {
	if m.plain(b) {
		return append(dst, b...), nil
	}
	switch m.Charset {
	case CharsetUTF8:
		if !utf8.Valid(b) {
			return dst, fmt.Errorf("the bytes are not valid UTF-8, which MSH-18 declares")
		}
		for _, r := range string(b) {
			if r < 0x20 && r != '\t' && r != '\n' || r == 0x7f || r >= 0x80 && r < 0xa0 {
				return dst, fmt.Errorf("character U+%04X is a control character, not text", r)
			}
		}
		return append(dst, b...), nil
	}
	out := dst
	cm := charmaps[m.Charset]
	for _, c := range b {
		if c == '\n' {
			out = append(out, c)
			continue
		}
		if !m.Charset.validByte(c) {
			if c < 0xa0 {
				return dst, fmt.Errorf("byte 0x%02X is a control character, not text", c)
			}
			return dst, fmt.Errorf("byte 0x%02X is not valid in %s", c, m.Charset.name())
		}
		if c < 0x80 {
			out = append(out, c)
		} else {
			out = utf8.AppendRune(out, cm.DecodeByte(c)) // validByte: cm is not nil
		}
	}
	return out, nil
}
