package fhirinput

import (
	"strings"

	"github.com/foliohealth/folio/report"
)

// clean prepares a FHIR string for the report: CR LF and lone CR become
// LF, a form feed (page break in legacy text) a blank line; any other
// control character but tab refuses the input at path (report v1 refuses
// them, and FHIR strings may not hold them either).
func (m *mapper) clean(path, s string) string {
	if s == "" {
		return s
	}
	ok := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\t' && c != '\n' || c == 0x7f {
			ok = false
			break
		}
	}
	if ok && !strings.Contains(s, "\u0085") && !hasC1(s) {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.ReplaceAll(s, "\f", "\n\n")
	for _, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' || r >= 0x7f && r < 0xa0 {
			m.fail(path, "holds the control character U+%04X (only tab and line breaks are allowed in text)", r)
			return ""
		}
	}
	return s
}

func hasC1(s string) bool {
	for _, r := range s {
		if r >= 0x80 && r < 0xa0 {
			return true
		}
	}
	return false
}

// escapeMD makes text literal in markdown: the characters that start
// inline markup anywhere (\ ` * _ [ ] < > ! | ~ & #) are backslash-escaped,
// and so are block markers at the start of a line (- + = and the . or ) of
// "1." / "1)"), so no sender text is ever read as markup, a link, an
// entity or raw HTML.
func escapeMD(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	lineStart, digits := true, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case strings.IndexByte("\\`*_[]<>!|~&#", c) >= 0:
			b.WriteByte('\\')
		case lineStart && (c == '-' || c == '+' || c == '='):
			b.WriteByte('\\')
		case digits && (c == '.' || c == ')') && (i+1 == len(s) || s[i+1] == ' ' || s[i+1] == '\t' || s[i+1] == '\n'):
			b.WriteByte('\\')
		}
		b.WriteByte(c)
		switch {
		case c == '\n':
			lineStart, digits = true, false
		case lineStart && (c == ' ' || c == '\t'):
		case (lineStart || digits) && c >= '0' && c <= '9':
			lineStart, digits = false, true
		default:
			lineStart, digits = false, false
		}
	}
	return b.String()
}

// markdownText turns plain text into markdown that prints the same words:
// blank lines separate paragraphs, other line breaks are kept as hard
// breaks, leading indentation is dropped (it would make code blocks).
func markdownText(s string) string {
	if s == "" {
		return ""
	}
	var paras []string
	for _, p := range strings.Split(s, "\n\n") {
		var lines []string
		for _, l := range strings.Split(p, "\n") {
			l = strings.TrimSpace(l)
			if l != "" {
				lines = append(lines, escapeMD(l))
			}
		}
		if len(lines) > 0 {
			paras = append(paras, strings.Join(lines, "\\\n"))
		}
	}
	return strings.Join(paras, "\n\n")
}

// fitDepth keeps sections within report v1's nesting limit: sub-sections
// below level max are folded into their parent (fields as more items,
// everything else as markdown text).
func fitDepth(secs []report.Section, depth, max int) []report.Section {
	for i := range secs {
		s := &secs[i]
		if len(s.Sections) == 0 {
			continue
		}
		if depth < max {
			s.Sections = fitDepth(s.Sections, depth+1, max)
			continue
		}
		subs := s.Sections
		s.Sections = nil
		if s.Kind == report.SectionFields && allFields(subs) {
			s.Items = append(s.Items, flatItems(subs, "")...)
			continue
		}
		md := flatMarkdown(subs)
		switch s.Kind {
		case report.SectionText:
			if s.Body != "" {
				s.Body += "\n\n"
			}
			s.Body += md
		default:
			// Keep the parent as it is and put the folded content after
			// it as a text section of the same level.
			secs = append(secs[:i+1], append([]report.Section{{Kind: report.SectionText, Title: s.Title + " (continued)", Body: md}}, secs[i+1:]...)...)
		}
	}
	return secs
}

func allFields(secs []report.Section) bool {
	for _, s := range secs {
		if s.Kind != report.SectionFields && !(s.Kind == report.SectionText && s.Body == "") || !allFields(s.Sections) {
			return false
		}
	}
	return true
}

func flatItems(secs []report.Section, prefix string) []report.Item {
	var out []report.Item
	for _, s := range secs {
		p := prefix + s.Title + ": "
		for _, it := range s.Items {
			out = append(out, report.Item{Label: p + it.Label, Value: it.Value})
		}
		out = append(out, flatItems(s.Sections, p)...)
	}
	return out
}

// flatMarkdown prints sections as markdown: a bold title, then the body.
func flatMarkdown(secs []report.Section) string {
	var parts []string
	for _, s := range secs {
		parts = append(parts, "**"+escapeMD(s.Title)+"**")
		switch s.Kind {
		case report.SectionText:
			if s.Body != "" {
				parts = append(parts, s.Body)
			}
		case report.SectionPlain:
			parts = append(parts, fence(s.Body))
		case report.SectionFields:
			var lines []string
			for _, it := range s.Items {
				lines = append(lines, escapeMD(it.Label)+": "+strings.ReplaceAll(escapeMD(it.Value), "\n", "\\\n"))
			}
			parts = append(parts, strings.Join(lines, "\\\n"))
		case report.SectionTable:
			parts = append(parts, escapeMD(strings.Join(s.Columns, " | ")))
			for _, r := range s.Rows {
				parts = append(parts, escapeMD(strings.Join(r, " | ")))
			}
		case report.SectionURL:
			parts = append(parts, escapeMD(s.LinkText+": "+s.URL+" (not included, never fetched)"))
		case report.SectionImage:
			parts = append(parts, escapeMD("(image not shown at this depth: "+s.Caption+")"))
		}
		if len(s.Sections) > 0 {
			parts = append(parts, flatMarkdown(s.Sections))
		}
	}
	return strings.Join(parts, "\n\n")
}

// fence wraps text in a fenced code block whose fence is longer than any
// run of tildes in it.
func fence(s string) string {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == '~' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	f := strings.Repeat("~", max(3, longest+1))
	return f + "\n" + s + "\n" + f
}
