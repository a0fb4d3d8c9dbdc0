package hl7input

import (
	"bytes"
	"strings"

	"github.com/foliohealth/folio/hl7"
)

// ft turns a formatted-text (FT) field into markdown for a text section.
// Every repetition is a line. The text is escaped so nothing in it is read
// as markdown; \.br\ and line ends are hard line breaks, \.sp\ starts a new
// paragraph, \H\...\N\ is bold, \.in\ and \.ti\ indent with no-break
// spaces, \.ce\ puts the next line on its own (markdown cannot centre), and
// in no-fill mode (\.nf\) runs of spaces are kept as no-break spaces.
func (mp *mapper) ft(f hl7.Field, loc hl7.Location) string {
	b, ok := mp.appendFT(mp.scratch[:0], f, loc)
	mp.scratch = b[:0]
	if !ok {
		return ""
	}
	return string(trimFT(b))
}

// appendFT appends ft's markdown, not yet trimmed, to b; false when a
// problem was recorded.
func (mp *mapper) appendFT(b []byte, f hl7.Field, loc hl7.Location) ([]byte, bool) {
	for i := 1; i <= f.Reps(); i++ {
		raw := f.Rep(i).Raw()
		if bytes.IndexByte(raw, mp.m.Delims.Escape) < 0 {
			// No escape sequence, so no formatting command: the text as it is.
			t, err := mp.m.AppendText(mp.text2[:0], raw)
			mp.text2 = t
			if err != nil {
				mp.fail(comp(loc, i, 0), hl7.CodeDataType, "%v", err)
				return b, false
			}
			if i > 1 {
				b = append(b, "\\\n"...)
			}
			b = escapeMD(b, mp.text2, false, true)
			continue
		}
		toks, err := mp.m.Formatted(raw)
		if err != nil {
			mp.fail(comp(loc, i, 0), hl7.CodeDataType, "%v", err)
			return b, false
		}
		if i > 1 {
			b = append(b, "\\\n"...)
		}
		b = writeFT(b, toks)
	}
	return b, true
}

// trimFT drops the line breaks and spaces that end ft's markdown.
func trimFT(b []byte) []byte {
	return bytes.TrimRight(b, "\\\n ")
}

const nbsp = "\u00a0"

func writeFT(b []byte, toks []hl7.Token) []byte {
	indent, temp := 0, -1
	nofill, bold := false, false
	lineStart := true
	startLine := func() {
		if !lineStart {
			return
		}
		lineStart = false
		n := indent
		if temp >= 0 {
			n, temp = temp, -1
		}
		for range n {
			b = append(b, nbsp...)
		}
	}
	endLine := func(hard string) {
		b = append(b, hard...)
		lineStart = true
	}
	set := func(cur int, t hl7.Token) int {
		switch t.Sign {
		case '+':
			cur += t.N
		case '-':
			cur -= t.N
		default:
			cur = t.N
		}
		return max(0, min(cur, 80))
	}
	for _, t := range toks {
		switch t.Kind {
		case hl7.TokText:
			first := true
			for ln := range strings.SplitSeq(t.Text, "\n") {
				if !first {
					endLine("\\\n")
				}
				first = false
				if ln == "" {
					continue
				}
				atStart := lineStart
				startLine()
				core := strings.TrimSpace(ln)
				if !bold || core == "" {
					b = escapeMD(b, ln, nofill, atStart)
					continue
				}
				i := strings.Index(ln, core)
				b = escapeMD(b, ln[:i], nofill, atStart)
				b = append(b, "**"...)
				b = escapeMD(b, core, nofill, false)
				b = append(b, "**"...)
				b = escapeMD(b, ln[i+len(core):], nofill, false)
			}
		case hl7.TokHighlightOn:
			bold = true
		case hl7.TokHighlightOff:
			bold = false
		case hl7.TokBreak, hl7.TokCenter:
			endLine("\\\n")
		case hl7.TokSkip:
			endLine("\n\n")
		case hl7.TokIndent:
			indent = set(indent, t)
		case hl7.TokTempIndent:
			temp = set(indent, t)
		case hl7.TokFillOff:
			nofill = true
		case hl7.TokFillOn:
			nofill = false
		}
	}
	return b
}

// escapeMD escapes what markdown would read as markup, so the text prints
// as sent: everywhere \ ` * _ [ ] < > | ~ &, and at the start of a line
// the characters that open a heading, list, quote or setext underline
// (# - + = and a number followed by . or )). Leading spaces, and in no-fill
// mode every run of two or more spaces, become no-break spaces so markdown
// keeps them. It appends to b.
func escapeMD[T string | []byte](b []byte, s T, nofill, lead bool) []byte {
	digits := lead
	for i := 0; i < len(s); i++ {
		if !lead && !digits && !nofill {
			// Past the start of the line, only the characters markdown
			// reads anywhere, and tabs, need more than copying: copy up
			// to the next one at once.
			j := i
			for j < len(s) && !mdAnywhere[s[j]] && s[j] != '\t' {
				j++
			}
			b = append(b, s[i:j]...)
			if i = j; i == len(s) {
				break
			}
		}
		c := s[i]
		if c == ' ' && (lead || nofill && (i+1 < len(s) && s[i+1] == ' ' || i > 0 && s[i-1] == ' ')) {
			b = append(b, nbsp...)
			continue
		}
		if c == '\t' {
			b = append(b, nbsp+nbsp+nbsp+nbsp...)
			continue
		}
		switch {
		case mdAnywhere[c]:
			b = append(b, '\\')
		case lead && mdLineStart[c]:
			b = append(b, '\\')
		case digits && (c == '.' || c == ')') && i > 0:
			b = append(b, '\\')
		}
		if !(c >= '0' && c <= '9') {
			digits = false
		}
		lead = false
		b = append(b, c)
	}
	return b
}

// mdAnywhere and mdLineStart are the bytes escapeMD escapes everywhere and
// at the start of a line.
var mdAnywhere, mdLineStart = byteSet("\\`*_[]<>|~&"), byteSet("#-+=")

func byteSet(s string) (set [256]bool) {
	for i := 0; i < len(s); i++ {
		set[s[i]] = true
	}
	return set
}
