package mllp

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/foliohealth/folio/hl7"
)

var ackSeq atomic.Uint64

// header is what an acknowledgement needs of a message's MSH, read
// leniently (a message Parse refuses still gets its control id echoed).
type header struct {
	d      hl7.Delimiters
	fields []string // fields[n] is MSH-n for n >= 2; fields[1] is MSH-1
}

func readHeader(msg []byte) header {
	h := header{d: hl7.Delimiters{Field: '|', Component: '^', Repetition: '~', Escape: '\\', Subcomponent: '&'}}
	line := msg
	if i := bytes.IndexAny(line, "\r\n"); i >= 0 {
		line = line[:i]
	}
	if len(line) < 8 || !bytes.HasPrefix(line, []byte("MSH")) {
		return h
	}
	fs := line[3]
	enc := line[4:]
	if i := bytes.IndexByte(enc, fs); i >= 4 && i <= 5 {
		enc = enc[:i]
		d := hl7.Delimiters{Field: fs, Component: enc[0], Repetition: enc[1], Escape: enc[2], Subcomponent: enc[3]}
		ok := true
		for _, c := range []byte{d.Field, d.Component, d.Repetition, d.Escape, d.Subcomponent} {
			ok = ok && c > ' ' && c < 0x7f && c != '\r' && c != '\n'
		}
		if ok {
			h.d = d
		}
	} else {
		return h
	}
	parts := strings.Split(string(line), string(fs))
	h.fields = make([]string, len(parts)+1)
	h.fields[1] = string(fs)
	for i := 1; i < len(parts); i++ {
		h.fields[i+1] = parts[i]
	}
	return h
}

// field returns MSH-n raw, "" when absent. MSH-1 and MSH-2 are not asked for.
func (h header) field(n int) string {
	if n < len(h.fields) {
		return h.fields[n]
	}
	return ""
}

// comp returns component c (1-based) of MSH-n's first repetition.
func (h header) comp(n, c int) string {
	f := h.field(n)
	if i := strings.IndexByte(f, h.d.Repetition); i >= 0 {
		f = f[:i]
	}
	parts := strings.Split(f, string(h.d.Component))
	if c-1 < len(parts) {
		return parts[c-1]
	}
	return ""
}

// escape writes text with the message's delimiters escaped, control
// characters as spaces.
func (h header) escape(s string) string {
	var b strings.Builder
	e := string(h.d.Escape)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case h.d.Field:
			b.WriteString(e + "F" + e)
		case h.d.Component:
			b.WriteString(e + "S" + e)
		case h.d.Subcomponent:
			b.WriteString(e + "T" + e)
		case h.d.Repetition:
			b.WriteString(e + "R" + e)
		case h.d.Escape:
			b.WriteString(e + "E" + e)
		default:
			if c < 0x20 {
				c = ' '
			}
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Ack builds the original-mode acknowledgement of msg: MSH (sender and
// receiver swapped, MSH-9 ACK^event^ACK, a new control id, MSH-11 and
// MSH-12 copied), MSA (code and the message's MSH-10), and one ERR per
// error (ERR-1 for v2.3/2.4 readers, ERR-2 location, ERR-3 code from table
// 0357, ERR-4 severity, ERR-8 the sentence). The message's delimiters are
// used; app and fac stand in for an empty MSH-5/MSH-6.
func Ack(msg []byte, out Outcome, app, fac string) []byte {
	h := readHeader(msg)
	d := h.d
	fsep, cs, ss := string(d.Field), string(d.Component), string(d.Subcomponent)
	recvApp, recvFac := h.field(5), h.field(6)
	if recvApp == "" {
		recvApp = h.escape(app)
	}
	if recvFac == "" {
		recvFac = h.escape(fac)
	}
	event := h.comp(9, 2)
	proc := h.field(11)
	if proc == "" {
		proc = "P"
	}
	ver := h.field(12) // the message's version, when folio reads it
	if !slices.Contains(hl7.Versions, ver) {
		ver = "2.5.1"
	}
	now := time.Now().UTC()
	ctrl := "FOLIO" + now.Format("20060102150405") + strconv.FormatUint(ackSeq.Add(1), 10)
	enc := cs + string(d.Repetition) + string(d.Escape) + ss
	var b strings.Builder
	fmt.Fprintf(&b, "MSH%s%s%s%s%s%s%s%s%s%s%s%s%s", fsep, enc, fsep, recvApp, fsep, recvFac, fsep, h.field(3), fsep, h.field(4), fsep, now.Format("20060102150405-0700"), fsep)
	fmt.Fprintf(&b, "%sACK%s%s%sACK%s%s%s%s%s%s\r", fsep, cs, event, cs, fsep, ctrl, fsep, proc, fsep, ver)
	b.WriteString("MSA" + fsep + out.Code + fsep + h.field(10))
	if out.Code != AA && len(out.Errors) > 0 {
		b.WriteString(fsep + h.escape(out.Errors[0].Error()))
	}
	b.WriteString("\r")
	for _, e := range out.Errors {
		loc := e.Loc
		if loc.Segment == "" {
			loc = hl7.Location{Segment: "MSH", Seq: 1}
		}
		erl := strings.ReplaceAll(loc.String(), "^", cs)
		code := strconv.Itoa(e.Code)
		name := codeNames[e.Code]
		sev := "E"
		if out.Code == AA {
			sev = "W"
		}
		eld := loc.Segment + cs + strconv.Itoa(loc.Seq) + cs
		if loc.Field > 0 {
			eld += strconv.Itoa(loc.Field)
		}
		eld += cs + code + ss + h.escape(name) + ss + "HL70357"
		b.WriteString("ERR" + fsep + eld + fsep + erl + fsep + code + cs + h.escape(name) + cs + "HL70357" + fsep + sev + strings.Repeat(fsep, 4) + h.escape(e.Text) + "\r")
	}
	return []byte(b.String())
}

// codeNames are the texts of table 0357.
var codeNames = map[int]string{
	hl7.CodeSegmentSequence:        "Segment sequence error",
	hl7.CodeRequiredMissing:        "Required field missing",
	hl7.CodeDataType:               "Data type error",
	hl7.CodeTableValue:             "Table value not found",
	hl7.CodeUnsupportedMessageType: "Unsupported message type",
	hl7.CodeUnsupportedEvent:       "Unsupported event code",
	hl7.CodeUnsupportedProcessing:  "Unsupported processing id",
	hl7.CodeUnsupportedVersion:     "Unsupported version id",
	hl7.CodeUnknownKey:             "Unknown key identifier",
	hl7.CodeApplicationInternal:    "Application internal error",
	0:                              "Message accepted",
}
