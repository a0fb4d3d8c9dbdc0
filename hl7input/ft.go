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
	var b strings.Builder
	b.Grow(len(f.Raw()) + len(f.Raw())/8)
	for i := 1; i <= f.Reps(); i++ {
		raw := f.Rep(i).Raw()
		if bytes.IndexByte(raw, mp.m.Delims.Escape) < 0 {
			// No escape sequence, so no formatting command: the text as it is.
			s, err := mp.m.Text(raw)
			if err != nil {
				mp.fail(comp(loc, i, 0), hl7.CodeDataType, "%v", err)
				return ""
			}
			if i > 1 {
				b.WriteString("\\\n")
			}
			escapeMD(&b, s, false, true)
			continue
		}
		toks, err := mp.m.Formatted(raw)
		if err != nil {
			mp.fail(comp(loc, i, 0), hl7.CodeDataType, "%v", err)
			return ""
		}
		if i > 1 {
			b.WriteString("\\\n")
		}
		writeFT(&b, toks)
	}
	return strings.TrimRight(b.String(), "\\\n ")
}

const nbsp = "\u00a0"

func writeFT(b *strings.Builder, toks []hl7.Token) {
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
		b.WriteString(strings.Repeat(nbsp, n))
	}
	endLine := func(hard string) {
		b.WriteString(hard)
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
			for j, ln := range strings.Split(t.Text, "\n") {
				if j > 0 {
					endLine("\\\n")
				}
				if ln == "" {
					continue
				}
				atStart := lineStart
				startLine()
				core := strings.TrimSpace(ln)
				if !bold || core == "" {
					escapeMD(b, ln, nofill, atStart)
					continue
				}
				i := strings.Index(ln, core)
				escapeMD(b, ln[:i], nofill, atStart)
				b.WriteString("**")
				escapeMD(b, core, nofill, false)
				b.WriteString("**")
				escapeMD(b, ln[i+len(core):], nofill, false)
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
}

// escapeMD escapes what markdown would read as markup, so the text prints
// as sent: everywhere \ ` * _ [ ] < > | ~ &, and at the start of a line
// the characters that open a heading, list, quote or setext underline
// (# - + = and a number followed by . or )). Leading spaces, and in no-fill
// mode every run of two or more spaces, become no-break spaces so markdown
// keeps them.
func escapeMD(b *strings.Builder, s string, nofill, lead bool) {
	digits := lead
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' && (lead || nofill && (i+1 < len(s) && s[i+1] == ' ' || i > 0 && s[i-1] == ' ')) {
			b.WriteString(nbsp)
			continue
		}
		if c == '\t' {
			b.WriteString(nbsp + nbsp + nbsp + nbsp)
			continue
		}
		switch {
		case strings.IndexByte("\\`*_[]<>|~&", c) >= 0:
			b.WriteByte('\\')
		case lead && strings.IndexByte("#-+=", c) >= 0:
			b.WriteByte('\\')
		case digits && (c == '.' || c == ')') && i > 0:
			b.WriteByte('\\')
		}
		if !(c >= '0' && c <= '9') {
			digits = false
		}
		lead = false
		b.WriteByte(c)
	}

}
