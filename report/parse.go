package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// object is a parsed JSON object that keeps its keys in document order and
// remembers keys that occurred more than once.
type object struct {
	keys []string       // distinct keys, in document order
	vals map[string]any // first value of each key
	dups []string       // keys seen again, in document order
}

// get returns the value of key and whether it was present.
func (o *object) get(key string) (any, bool) {
	v, ok := o.vals[key]
	return v, ok
}

// parse turns data into a tree of *object, []any, string, json.Number, bool
// and nil. It bounds nesting by maxDepth and never recurses, so no input can
// exhaust the stack. A problem with the document as a whole is returned as a
// FieldError with path $.
func parse(data []byte, maxDepth int) (any, *FieldError) {
	if off, ok := findBadUTF8(data); !ok {
		return nil, docError(data, off, "invalid UTF-8")
	}
	if off, esc, ok := findLoneSurrogate(data); !ok {
		return nil, docError(data, off, fmt.Sprintf("escape %s is a lone UTF-16 surrogate, not a character", esc))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()

	type frame struct {
		obj    *object
		arr    []any
		key    string
		hasKey bool // object frame: key read, value pending
	}
	var stack []*frame
	var root any
	done := false
	// put stores a finished value in the enclosing container, or as root.
	put := func(v any) {
		if len(stack) == 0 {
			root, done = v, true
			return
		}
		f := stack[len(stack)-1]
		if f.obj != nil {
			if _, dup := f.obj.vals[f.key]; dup {
				f.obj.dups = append(f.obj.dups, f.key)
			} else {
				f.obj.keys = append(f.obj.keys, f.key)
				f.obj.vals[f.key] = v
			}
			f.hasKey = false
			return
		}
		f.arr = append(f.arr, v)
	}
	for !done {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxError(data, err)
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if len(stack) >= maxDepth {
					return nil, docError(data, start, fmt.Sprintf("JSON nested more than %d levels deep", maxDepth))
				}
				if d == '{' {
					stack = append(stack, &frame{obj: &object{vals: map[string]any{}}})
				} else {
					stack = append(stack, &frame{arr: []any{}})
				}
			case '}', ']':
				f := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if f.obj != nil {
					put(f.obj)
				} else {
					put(f.arr)
				}
			}
			continue
		}
		if n := len(stack); n > 0 && stack[n-1].obj != nil && !stack[n-1].hasKey {
			stack[n-1].key, stack[n-1].hasKey = tok.(string), true
			continue
		}
		put(tok)
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		return nil, docError(data, end, "not JSON: more data after the top-level value")
	}
	return root, nil
}

// syntaxError describes a json.Decoder error as a whole-document problem.
func syntaxError(data []byte, err error) *FieldError {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		off := se.Offset
		if strings.HasPrefix(se.Error(), "invalid character") && off > 0 {
			off-- // Offset is just after the offending character
		}
		return docError(data, off, "not JSON: "+se.Error())
	case err == io.EOF && len(bytes.TrimSpace(data)) == 0:
		return &FieldError{Path: "$", Rule: "not JSON: empty document"}
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return &FieldError{Path: "$", Rule: "not JSON: unexpected end of input"}
	}
	return &FieldError{Path: "$", Rule: "not JSON: " + err.Error()}
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

// findLoneSurrogate returns the offset and text of the first \uXXXX escape in
// a JSON string that is a UTF-16 surrogate without its pair; encoding/json
// would silently replace it with U+FFFD. It only looks inside strings and
// leaves every other syntax check to the JSON parser.
func findLoneSurrogate(data []byte) (int64, string, bool) {
	if bytes.IndexByte(data, '\\') < 0 {
		return 0, "", true
	}
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if !inString {
			if c == '"' {
				inString = true
			}
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if i+1 >= len(data) {
				return 0, "", true
			}
			if data[i+1] != 'u' {
				i++
				continue
			}
			r, ok := hex4(data, i+2)
			if !ok {
				i++
				continue // the parser reports it
			}
			switch {
			case r >= 0xD800 && r < 0xDC00:
				if i+7 < len(data) && data[i+6] == '\\' && data[i+7] == 'u' {
					if lo, ok := hex4(data, i+8); ok && lo >= 0xDC00 && lo < 0xE000 {
						i += 11
						continue
					}
				}
				return int64(i), string(data[i : i+6]), false
			case r >= 0xDC00 && r < 0xE000:
				return int64(i), string(data[i : i+6]), false
			}
			i += 5
		}
	}
	return 0, "", true
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
