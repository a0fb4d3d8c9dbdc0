// Package hl7 parses HL7 version 2 messages (ER7, the pipe-delimited
// encoding of v2.3 to v2.8): segments, fields, repetitions, components and
// subcomponents with the delimiters the message declares in MSH-1 and MSH-2,
// escape sequences, FT formatting commands and the MSH-18 character set.
//
// Parsing never interprets a message type: it gives access to the values
// and names every problem by its HL7 location (PID^1^3). Values are kept as
// raw (still escaped) slices of the message until a caller asks for their
// text, so a message is split once and decoded only where it is read.
package hl7

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/foliohealth/folio"
)

// Delimiters are a message's encoding characters (MSH-1 and MSH-2).
type Delimiters struct {
	Field, Component, Repetition, Escape, Subcomponent byte
	Truncation                                         byte // v2.7+, 0 when absent
}

// Message is one parsed HL7 v2 message. Its values are slices of the bytes
// given to Parse, which must not change afterwards.
type Message struct {
	Delims  Delimiters
	Charset Charset
	// CharsetDetected is true when MSH-18 is empty and the message was read
	// as UTF-8 because its bytes are valid UTF-8 with at least one
	// multi-byte sequence (text in windows-1252 almost never is: it would
	// need pairs such as "Ã©"); Charset is then CharsetUTF8.
	CharsetDetected bool
	Segments        []*Segment
}

// Segment is one segment: its three-letter name and its fields. Field 0
// is the name; field n is field n, raw (still escaped). For MSH, field 1
// is the field separator and field 2 the encoding characters, as the
// standard numbers them.
type Segment struct {
	Name string
	Seq  int // 1 for the first segment of this name in the message, 2 for the next...
	line []byte
	// bounds holds the start and end in line of each field: field n is
	// line[bounds[2n]:bounds[2n+1]] (offsets rather than slices: a
	// message's fields take 8 bytes each, none of them pointers).
	bounds []uint32
	msg    *Message
}

// NumFields returns the number of fields of s, the name (field 0) included.
func (s *Segment) NumFields() int { return len(s.bounds) / 2 }

// Location is a position in a message, written as HL7's ERR-2 error
// location (data type ERL): Segment^sequence^field^repetition^component^subcomponent,
// with trailing zero parts left out (PID^1^3, OBX^4^5^1^2).
type Location struct {
	Segment                    string
	Seq, Field, Rep, Comp, Sub int
}

// String returns the ERL form, e.g. PID^1^3.
func (l Location) String() string {
	if l.Segment == "" {
		return "MSH^1"
	}
	parts := []int{l.Seq, l.Field, l.Rep, l.Comp, l.Sub}
	n := len(parts)
	for n > 0 && parts[n-1] == 0 {
		n--
	}
	var b strings.Builder
	b.WriteString(l.Segment)
	for i := 0; i < n; i++ {
		v := parts[i]
		if v == 0 {
			v = 1 // a component without its repetition means the first one
		}
		b.WriteByte('^')
		b.WriteString(strconv.Itoa(v))
	}
	return b.String()
}

// Error codes from HL7 table 0357 (message error condition codes), as ERR-3 carries them.
const (
	CodeSegmentSequence        = 100
	CodeRequiredMissing        = 101
	CodeDataType               = 102
	CodeTableValue             = 103
	CodeUnsupportedMessageType = 200
	CodeUnsupportedEvent       = 201
	CodeUnsupportedProcessing  = 202
	CodeUnsupportedVersion     = 203
	CodeUnknownKey             = 204
	CodeApplicationInternal    = 207
)

// Error is one problem of a message: where it is, the table 0357 code, and
// a sentence for a person.
type Error struct {
	Loc  Location
	Code int
	Text string
}

// Error returns "LOCATION: text".
func (e *Error) Error() string { return e.Loc.String() + ": " + e.Text }

func errorf(loc Location, code int, format string, args ...any) *Error {
	return &Error{Loc: loc, Code: code, Text: fmt.Sprintf(format, args...)}
}

// Versions are the MSH-12 version ids Parse accepts.
var Versions = []string{"2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"}

// MaxSegments bounds the segments of one message.
const MaxSegments = 100000

// Parse splits one message. Segments end with CR, LF or CRLF; empty lines
// are skipped. The delimiters come from MSH-1 and MSH-2, the character set
// from MSH-18, and every byte is checked against that character set. Every
// error Parse returns is an *Error.
func Parse(data []byte) (*Message, error) {
	data = folio.TrimBOM(data) // a byte order mark before MSH says nothing
	if len(data) < 8 || !bytes.HasPrefix(data, []byte("MSH")) {
		return nil, errorf(Location{Segment: "MSH", Seq: 1}, CodeSegmentSequence, "not an HL7 v2 message: it must start with an MSH segment")
	}
	if int64(len(data)) > math.MaxUint32 {
		return nil, errorf(Location{Segment: "MSH", Seq: 1}, CodeApplicationInternal, "message is %d bytes, more than the 4 GiB folio reads", len(data))
	}
	d := Delimiters{Field: data[3]}
	// MSH-2 runs from byte 4 to the next field separator.
	end := bytes.IndexByte(data[4:], d.Field)
	if end < 0 {
		return nil, errorf(Location{"MSH", 1, 2, 0, 0, 0}, CodeRequiredMissing, "MSH-2 (encoding characters) is not followed by a field separator")
	}
	enc := data[4 : 4+end]
	if len(enc) < 4 || len(enc) > 5 {
		return nil, errorf(Location{"MSH", 1, 2, 0, 0, 0}, CodeDataType, "MSH-2 must hold 4 encoding characters (component, repetition, escape, subcomponent) or 5 with the truncation character, not %d", len(enc))
	}
	d.Component, d.Repetition, d.Escape, d.Subcomponent = enc[0], enc[1], enc[2], enc[3]
	if len(enc) == 5 {
		d.Truncation = enc[4]
	}
	var seen [256]bool
	for _, c := range data[3 : 4+len(enc)] { // MSH-1 and MSH-2
		if seen[c] || c == '\r' || c == '\n' || c < 0x20 || c >= 0x7f || isAlnum(c) || c == ' ' {
			return nil, errorf(Location{"MSH", 1, 1, 0, 0, 0}, CodeDataType, "the delimiters %q must be distinct printable ASCII characters other than letters, digits and space", string(data[3:4+len(enc)]))
		}
		seen[c] = true
	}
	m := &Message{Delims: d}
	// One allocation for all segments and one for all fields: at most one
	// segment per line end (plus the last), at most one field per field
	// separator and segment (plus MSH-1, which has no separator of its own).
	nseg := bytes.Count(data, []byte{'\r'}) + bytes.Count(data, []byte{'\n'}) + 1
	nseg = min(nseg, MaxSegments)
	segs := make([]Segment, 0, nseg)
	bounds := make([]uint32, 0, 2*(bytes.Count(data, []byte{d.Field})+nseg+1))
	m.Segments = make([]*Segment, 0, nseg)
	var counts segCounts
	lines := lineReader{data: data}
	for {
		line, more := lines.next()
		if !more {
			break
		}
		if len(line) == 0 {
			continue
		}
		if len(m.Segments) == MaxSegments {
			return nil, errorf(Location{Segment: "MSH", Seq: 1}, CodeApplicationInternal, "message has more than %d segments", MaxSegments)
		}
		if len(line) < 3 || !isSegName(line[:3]) || (len(line) > 3 && line[3] != d.Field) {
			loc := Location{Segment: "MSH", Seq: 1}
			if len(m.Segments) > 0 {
				last := m.Segments[len(m.Segments)-1]
				loc = Location{Segment: last.Name, Seq: last.Seq}
			}
			return nil, errorf(loc, CodeSegmentSequence, "segment %d after this one does not start with a segment name (three capital letters or digits) and a field separator", len(m.Segments)+1)
		}
		name := segName(line[:3])
		segs = append(segs, Segment{Name: name, Seq: counts.next(name), msg: m})
		seg := &segs[len(segs)-1]
		start := len(bounds)
		if len(m.Segments) == 0 {
			if name != "MSH" {
				return nil, errorf(Location{Segment: "MSH", Seq: 1}, CodeSegmentSequence, "not an HL7 v2 message: it must start with an MSH segment")
			}
			// MSH|^~\&|... : field 1 is the separator itself.
			bounds = append(bounds, 0, 3, 3, 4)
			bounds = splitBounds(bounds, line, 4, d.Field)
		} else {
			bounds = splitBounds(bounds, line, 0, d.Field)
		}
		seg.line, seg.bounds = line, bounds[start:len(bounds):len(bounds)]
		m.Segments = append(m.Segments, seg)
	}
	msh := m.Segments[0]
	if counts.mshSeen > 1 {
		return nil, errorf(Location{"MSH", 2, 0, 0, 0, 0}, CodeSegmentSequence, "a second MSH segment: one message per frame (batch files are split before parsing)")
	}
	cs, err := charsetOf(m, msh)
	if err != nil {
		return nil, err
	}
	m.Charset = cs
	if cs == CharsetDefault && !isASCII(data) && utf8.Valid(data) {
		m.Charset, m.CharsetDetected = CharsetUTF8, true
	}
	if err := m.checkBytes(); err != nil {
		return nil, err
	}
	v := msh.Text(12, 1)
	if v == "" {
		return nil, errorf(Location{"MSH", 1, 12, 0, 0, 0}, CodeRequiredMissing, "MSH-12 (version id) is empty")
	}
	ok := false
	for _, s := range Versions {
		ok = ok || v == s
	}
	if !ok {
		return nil, errorf(Location{"MSH", 1, 12, 0, 0, 0}, CodeUnsupportedVersion, "version %q is not supported (2.3 to 2.8.2 are)", v)
	}
	return m, nil
}

// lineReader cuts data into lines ended by CR, LF or CRLF (an empty line
// between CR and LF). It remembers where the next CR and LF are, so a
// message with only one kind of line end is scanned once, not once per line.
type lineReader struct {
	data     []byte
	pos      int
	cr, lf   int // index of the next CR / LF at or after pos, len(data) when none
	crl, lfl bool
}

func (r *lineReader) next() ([]byte, bool) {
	if r.pos >= len(r.data) {
		return nil, false
	}
	if !r.crl || r.cr < r.pos {
		r.cr, r.crl = r.find('\r'), true
	}
	if !r.lfl || r.lf < r.pos {
		r.lf, r.lfl = r.find('\n'), true
	}
	end := min(r.cr, r.lf)
	line := r.data[r.pos:end]
	r.pos = end + 1
	return line, true
}

func (r *lineReader) find(c byte) int {
	if i := bytes.IndexByte(r.data[r.pos:], c); i >= 0 {
		return r.pos + i
	}
	return len(r.data)
}

// splitBounds appends the start and end of each part of line[from:]
// split on sep to bounds.
func splitBounds(bounds []uint32, line []byte, from int, sep byte) []uint32 {
	for {
		i := bytes.IndexByte(line[from:], sep)
		if i < 0 {
			return append(bounds, uint32(from), uint32(len(line)))
		}
		bounds = append(bounds, uint32(from), uint32(from+i))
		from += i + 1
	}
}

// segName returns a segment name as a string, without allocating for the
// names of result messages.
func segName(b []byte) string {
	switch string(b) {
	case "MSH":
		return "MSH"
	case "PID":
		return "PID"
	case "PD1":
		return "PD1"
	case "PV1":
		return "PV1"
	case "PV2":
		return "PV2"
	case "ORC":
		return "ORC"
	case "OBR":
		return "OBR"
	case "OBX":
		return "OBX"
	case "NTE":
		return "NTE"
	case "SPM":
		return "SPM"
	case "TQ1":
		return "TQ1"
	case "CTD":
		return "CTD"
	case "SFT":
		return "SFT"
	}
	return string(b)
}

// segCounts numbers the segments of each name: a short list, and a map
// once a message holds many different names.
type segCounts struct {
	names   []string
	counts  []int
	many    map[string]int
	mshSeen int
}

// next returns the sequence number of the next segment named name.
func (c *segCounts) next(name string) int {
	if name == "MSH" {
		c.mshSeen++
		return c.mshSeen
	}
	if c.many != nil {
		c.many[name]++
		return c.many[name]
	}
	for i, n := range c.names {
		if n == name {
			c.counts[i]++
			return c.counts[i]
		}
	}
	if len(c.names) == 16 {
		c.many = make(map[string]int, 32)
		for i, n := range c.names {
			c.many[n] = c.counts[i]
		}
		c.many[name] = 1
		return 1
	}
	c.names = append(c.names, name)
	c.counts = append(c.counts, 1)
	return 1
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

func isSegName(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// Version returns MSH-12.
func (m *Message) Version() string { return m.Segments[0].Text(12, 1) }

// ControlID returns MSH-10, the message control id.
func (m *Message) ControlID() string { return m.Segments[0].Text(10, 1) }

// Type returns MSH-9's message code, trigger event and message structure
// (ORU, R01, ORU_R01); the structure is empty when the sender left it out.
func (m *Message) Type() (code, event, structure string) {
	f := m.Segments[0].Field(9).Rep(1)
	return m.text(f.Comp(1)), m.text(f.Comp(2)), m.text(f.Comp(3))
}

// MSH returns the message header.
func (m *Message) MSH() *Segment { return m.Segments[0] }

// All returns every segment with the given name, in order.
func (m *Message) All(name string) []*Segment {
	var out []*Segment
	for _, s := range m.Segments {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// Loc returns the location of field n of s.
func (s *Segment) Loc(n int) Location { return Location{Segment: s.Name, Seq: s.Seq, Field: n} }

// Field returns field n (1-based), empty when the segment is shorter.
func (s *Segment) Field(n int) Field {
	if n < 0 || n >= s.NumFields() {
		return Field{}
	}
	if s.Name == "MSH" && n <= 2 {
		return Field{raw: s.raw(n), d: Delimiters{}} // never split MSH-1 and MSH-2
	}
	return Field{raw: s.raw(n), d: s.msg.Delims}
}

// raw returns field n (0 <= n < NumFields()) as sent.
func (s *Segment) raw(n int) []byte {
	return s.line[s.bounds[2*n]:s.bounds[2*n+1]:s.bounds[2*n+1]]
}

// Raw returns field n as sent, still escaped.
func (s *Segment) Raw(n int) []byte { return s.Field(n).raw }

// Text returns the decoded text of field n's first repetition's component
// comp (1-based); decoding errors give the raw text (Parse has already
// refused bytes invalid in the character set, so only a malformed escape
// sequence can fail, and TextErr reports it).
func (s *Segment) Text(n, comp int) string {
	t, _ := s.msg.Text(s.Field(n).Rep(1).Comp(comp).Raw())
	return t
}

// Value is a raw piece of a field: a repetition, component or subcomponent.
type Value struct {
	raw []byte
	d   Delimiters
}

// Field is one field, raw.
type Field Value

// Raw returns the field as sent, still escaped.
func (f Field) Raw() []byte { return f.raw }

// Empty reports a field with no content.
func (f Field) Empty() bool { return len(f.raw) == 0 }

// Reps returns the number of repetitions (0 for an empty field).
func (f Field) Reps() int {
	if len(f.raw) == 0 {
		return 0
	}
	if f.d.Repetition == 0 {
		return 1
	}
	return bytes.Count(f.raw, []byte{f.d.Repetition}) + 1
}

// Rep returns repetition i (1-based).
func (f Field) Rep(i int) Value {
	return Value{raw: nth(f.raw, f.d.Repetition, i), d: f.d}
}

// Comp returns component i (1-based) of a repetition.
func (v Value) Comp(i int) Value { return Value{raw: nth(v.raw, v.d.Component, i), d: v.d} }

// Sub returns subcomponent i (1-based) of a component.
func (v Value) Sub(i int) Value { return Value{raw: nth(v.raw, v.d.Subcomponent, i), d: v.d} }

// Raw returns the value as sent, still escaped.
func (v Value) Raw() []byte { return v.raw }

// Empty reports a value with no content.
func (v Value) Empty() bool { return len(v.raw) == 0 }

// nth returns the i-th (1-based) part of b split on sep. A zero sep (MSH-1,
// MSH-2) never splits.
func nth(b []byte, sep byte, i int) []byte {
	if i < 1 {
		return nil
	}
	if sep == 0 {
		if i == 1 {
			return b
		}
		return nil
	}
	for ; i > 1; i-- {
		j := bytes.IndexByte(b, sep)
		if j < 0 {
			return nil
		}
		b = b[j+1:]
	}
	if j := bytes.IndexByte(b, sep); j >= 0 {
		return b[:j]
	}
	return b
}

// startsMessage reports whether line starts with a message or batch
// header segment (MSH, FHS, BHS).
func startsMessage(line []byte) bool {
	if len(line) < 4 || isAlnum(line[3]) {
		return false
	}
	switch string(line[:3]) {
	case "MSH", "FHS", "BHS":
		return true
	}
	return false
}

// Split cuts a file of messages into one slice per message. A message starts
// with an MSH segment at the start of a line; batch envelope segments (FHS,
// BHS, BTS, FTS) and MLLP framing bytes (0x0B, 0x1C) between messages, as
// files written for MLLP senders hold them, are dropped. Anything before the
// first MSH other than those is returned as a message of its own, so that
// Parse refuses it rather than Split losing it.
func Split(data []byte) [][]byte {
	var out [][]byte
	var cur []byte
	flush := func() {
		if len(bytes.Trim(cur, "\r\n\x0b\x1c \t\f")) > 0 {
			out = append(out, cur)
		}
		cur = nil
	}
	for len(data) > 0 {
		i := bytes.IndexAny(data, "\r\n")
		line := data
		var term []byte
		if i >= 0 {
			line, term, data = data[:i], data[i:i+1], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimLeft(line, "\x0b\x1c\f")
		if t := folio.TrimBOM(line); len(t) < len(line) && startsMessage(t) {
			line = t // a byte order mark before a message (a file's first line)
		}
		if j := bytes.IndexByte(line, 0x1c); j >= 0 { // end of an MLLP frame inside the line
			rest := bytes.TrimLeft(line[j+1:], "\x0b\x1c\f\r\n")
			line = line[:j]
			if len(line) > 0 {
				cur = append(cur, line...)
				cur = append(cur, term...)
			}
			flush()
			line = rest
			if len(line) == 0 {
				continue
			}
		}
		if bytes.HasPrefix(line, []byte("MSH")) {
			flush()
		}
		if len(line) >= 3 {
			switch string(line[:3]) {
			case "FHS", "BHS", "BTS", "FTS":
				if len(line) == 3 || !isAlnum(line[3]) {
					flush()
					continue
				}
			}
		}
		cur = append(cur, line...)
		cur = append(cur, term...)
	}
	flush()
	return out
}

// isASCII reports whether every byte of b is below 0x80.
func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}
