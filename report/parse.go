package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// object is a parsed JSON object that keeps its keys in document order and
// remembers keys that occurred more than once.
type object struct {
	keys []string       // distinct keys, in document order
	vals map[string]any // first value of each key (parsed JSON)
	list []any          // value of keys[i] when vals is nil (a tree Check builds from a Report)
	dups []string       // keys seen again, in document order
}

// get returns the value of key and whether it was present.
// get returns a member's value. A member whose value is null counts as
// absent (report-v1: null on an optional field means absent, on a required
// one it is refused as missing), as encoding/json and the proto3 JSON
// mapping read it.
func (o *object) get(key string) (any, bool) {
	var v any
	var ok bool
	if o.vals != nil {
		v, ok = o.vals[key]
	} else {
		for i, k := range o.keys {
			if k == key {
				v, ok = o.list[i], true
				break
			}
		}
	}
	if v == nil {
		return nil, false
	}
	return v, ok
}

// parse turns data into a tree of *object, []any, string, json.Number, bool
// and nil. It is a small RFC 8259 parser of its own rather than
// encoding/json, so that it can bound nesting without recursion (no input can
// exhaust the stack), see repeated keys, refuse lone UTF-16 surrogate escapes
// (which encoding/json replaces silently) and point at the byte of every
// problem; it is also several times faster than json.Decoder.Token. A problem
// with the document as a whole is returned as a FieldError with path $.
func parse(data []byte, maxDepth int) (any, *FieldError) {
	if off, ok := findBadUTF8(data); !ok {
		return nil, docError(data, off, "invalid UTF-8")
	}
	p := &parser{data: data}
	p.skipSpace()
	if p.pos == len(data) {
		return nil, &FieldError{Path: "$", Rule: "not JSON: empty document"}
	}
	v, err := p.document(maxDepth)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(data) {
		return nil, docError(data, int64(p.pos), "not JSON: more data after the top-level value")
	}
	return v, nil
}

// parser reads one JSON document from data.
type parser struct {
	data []byte
	pos  int
}

// frame is an open object or array.
type frame struct {
	obj *object
	arr []any
	key string // object: key of the value being read
}

// document reads one JSON value with an explicit stack.
func (p *parser) document(maxDepth int) (any, *FieldError) {
	var stack []*frame
	for {
		// Read a value, or open a container.
		p.skipSpace()
		if p.pos == len(p.data) {
			return nil, p.eof()
		}
		var v any
		switch c := p.data[p.pos]; {
		case c == '{' || c == '[':
			if len(stack) >= maxDepth {
				return nil, docError(p.data, int64(p.pos), fmt.Sprintf("JSON nested more than %d levels deep", maxDepth))
			}
			p.pos++
			p.skipSpace()
			if c == '{' {
				f := &frame{obj: &object{vals: map[string]any{}}}
				if p.peek() == '}' {
					p.pos++
					v = f.obj
					break
				}
				if err := p.key(f); err != nil {
					return nil, err
				}
				stack = append(stack, f)
				continue
			}
			if p.peek() == ']' {
				p.pos++
				v = []any{}
				break
			}
			stack = append(stack, &frame{arr: []any{}})
			continue
		case c == '"':
			s, err := p.str()
			if err != nil {
				return nil, err
			}
			v = s
		case c == '-' || c >= '0' && c <= '9':
			n, err := p.number()
			if err != nil {
				return nil, err
			}
			v = n
		case c == 't' || c == 'f' || c == 'n':
			word, val := "null", any(nil)
			if c == 't' {
				word, val = "true", true
			} else if c == 'f' {
				word, val = "false", false
			}
			if err := p.literal(word); err != nil {
				return nil, err
			}
			v = val
		default:
			return nil, p.unexpected("looking for the beginning of a value")
		}
		// Store the value; close every container it completes.
		for {
			if len(stack) == 0 {
				return v, nil
			}
			f := stack[len(stack)-1]
			if f.obj != nil {
				if _, dup := f.obj.vals[f.key]; dup {
					f.obj.dups = append(f.obj.dups, f.key)
				} else {
					f.obj.keys = append(f.obj.keys, f.key)
					f.obj.vals[f.key] = v
				}
			} else {
				f.arr = append(f.arr, v)
			}
			p.skipSpace()
			if p.pos == len(p.data) {
				return nil, p.eof()
			}
			c := p.data[p.pos]
			if c == ',' {
				p.pos++
				if f.obj != nil {
					p.skipSpace()
					if err := p.key(f); err != nil {
						return nil, err
					}
				}
				break // read the next value
			}
			switch {
			case f.obj != nil && c == '}':
				v = f.obj
			case f.obj == nil && c == ']':
				v = f.arr
			case f.obj != nil:
				return nil, p.unexpected("after an object member (expecting , or })")
			default:
				return nil, p.unexpected("after an array element (expecting , or ])")
			}
			p.pos++
			stack = stack[:len(stack)-1]
		}
	}
}

// key reads an object key and its colon into f.
func (p *parser) key(f *frame) *FieldError {
	if p.pos == len(p.data) {
		return p.eof()
	}
	if p.data[p.pos] != '"' {
		return p.unexpected("looking for the beginning of an object key string")
	}
	k, err := p.str()
	if err != nil {
		return err
	}
	p.skipSpace()
	if p.pos == len(p.data) {
		return p.eof()
	}
	if p.data[p.pos] != ':' {
		return p.unexpected("after an object key (expecting :)")
	}
	p.pos++
	f.key = k
	return nil
}

// peek returns the byte at the read position, or 0 at the end.
func (p *parser) peek() byte {
	if p.pos < len(p.data) {
		return p.data[p.pos]
	}
	return 0
}

// skipSpace skips JSON whitespace.
func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// eof is the error for a document that ends too early.
func (p *parser) eof() *FieldError {
	return &FieldError{Path: "$", Rule: "not JSON: unexpected end of input"}
}

// unexpected is the error for the character at the read position.
func (p *parser) unexpected(context string) *FieldError {
	r, _ := utf8.DecodeRune(p.data[p.pos:])
	return docError(p.data, int64(p.pos), fmt.Sprintf("not JSON: invalid character %s %s", strconv.QuoteRune(r), context))
}

// str reads a string at the read position (an opening quote).
func (p *parser) str() (string, *FieldError) {
	p.pos++ // opening quote
	start := p.pos
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c == '"' {
			s := string(p.data[start:p.pos])
			p.pos++
			return s, nil
		}
		if c == '\\' {
			return p.escapedStr(start)
		}
		if c < 0x20 {
			return "", p.unexpected("in a string (control characters must be escaped)")
		}
		p.pos++
	}
	return "", p.eof()
}

// escapedStr finishes reading a string that holds escapes, from start.
func (p *parser) escapedStr(start int) (string, *FieldError) {
	b := make([]byte, 0, 2*(p.pos-start)+16)
	b = append(b, p.data[start:p.pos]...)
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(b), nil
		case c < 0x20:
			return "", p.unexpected("in a string (control characters must be escaped)")
		case c != '\\':
			b = append(b, c)
			p.pos++
			continue
		}
		if p.pos+1 == len(p.data) {
			return "", p.eof()
		}
		esc := p.data[p.pos+1]
		switch esc {
		case '"', '\\', '/':
			b = append(b, esc)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(p.data, p.pos+2)
			if !ok {
				if p.pos+6 > len(p.data) {
					return "", p.eof()
				}
				p.pos++
				return "", p.unexpected("in a \\u escape (expecting 4 hex digits)")
			}
			n := 6
			switch {
			case r >= 0xD800 && r < 0xDC00:
				lo, ok := rune(0), false
				if p.pos+7 < len(p.data) && p.data[p.pos+6] == '\\' && p.data[p.pos+7] == 'u' {
					lo, ok = hex4(p.data, p.pos+8)
				}
				if !ok || lo < 0xDC00 || lo >= 0xE000 {
					return "", p.loneSurrogate()
				}
				r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
				n = 12
			case r >= 0xDC00 && r < 0xE000:
				return "", p.loneSurrogate()
			}
			b = utf8.AppendRune(b, r)
			p.pos += n
			continue
		default:
			p.pos++
			return "", p.unexpected("in a string escape")
		}
		p.pos += 2
	}
	return "", p.eof()
}

// loneSurrogate is the error for a \u escape at the read position that is
// half of a UTF-16 surrogate pair; encoding/json would replace it silently.
func (p *parser) loneSurrogate() *FieldError {
	return docError(p.data, int64(p.pos), fmt.Sprintf("escape %s is a lone UTF-16 surrogate, not a character", p.data[p.pos:p.pos+6]))
}

// number reads a number (RFC 8259 grammar) and keeps its text.
func (p *parser) number() (json.Number, *FieldError) {
	start := p.pos
	digits := func() int {
		n := 0
		for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	// need reports a missing part of a number.
	need := func(what string) *FieldError {
		if p.pos == len(p.data) {
			return p.eof()
		}
		return p.unexpected(what)
	}
	if p.peek() == '-' {
		p.pos++
	}
	switch c := p.peek(); {
	case c == '0' && p.pos < len(p.data):
		p.pos++
	case c >= '1' && c <= '9':
		digits()
	default:
		return "", need("in a number")
	}
	if p.peek() == '.' {
		p.pos++
		if digits() == 0 {
			return "", need("after the decimal point of a number")
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.pos++
		if c := p.peek(); c == '+' || c == '-' {
			p.pos++
		}
		if digits() == 0 {
			return "", need("in the exponent of a number")
		}
	}
	return json.Number(p.data[start:p.pos]), nil
}

// literal reads true, false or null.
func (p *parser) literal(word string) *FieldError {
	for i := 0; i < len(word); i++ {
		if p.pos == len(p.data) {
			return p.eof()
		}
		if p.data[p.pos] != word[i] {
			return p.unexpected("in literal " + word)
		}
		p.pos++
	}
	return nil
}

// docError is a whole-document problem at byte offset off of data.
func docError(data []byte, off int64, rule string) *FieldError {
	if off < 0 {
		off = 0
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	col := int(off) - bytes.LastIndexByte(data[:off], '\n')
	return &FieldError{Path: "$", Rule: fmt.Sprintf("%s (line %d, column %d, byte offset %d)", rule, line, col, off)}
}

// findBadUTF8 returns the offset of the first invalid UTF-8 sequence.
// encoding/json would silently replace it with U+FFFD, so it is checked on
// the raw bytes first.
func findBadUTF8(data []byte) (int64, bool) {
	if utf8.Valid(data) {
		return 0, true
	}
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return int64(i), false
		}
		i += size
	}
	return 0, true
}

// hex4 reads four hex digits at data[i:].
func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
