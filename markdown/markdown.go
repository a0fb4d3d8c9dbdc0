// Package markdown converts the markdown of report text sections and addenda
// into folio's block model, once, so that layout never sees a markdown node.
//
// The dialect is CommonMark plus the GFM table and strikethrough extensions,
// parsed by github.com/yuin/goldmark; its HTML renderer is not used. Raw HTML
// is kept as literal text and never interpreted, links and images print their
// targets and nothing is ever fetched, and no typographic replacement is made:
// the words reach the page as written. Container nesting (block quotes and
// lists) deeper than MaxDepth is flattened into the deepest level, and input
// nesting that would make the parser itself slow is defused before parsing
// (see defuse), so conversion time grows linearly with the input's length
// (BenchmarkPathological) and recursion is bounded.
package markdown

import (
	"bytes"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/foliohealth/folio/document"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// MaxDepth is how many block quotes and lists nest inside each other in the
// output. Content nested deeper is placed, in order, in the deepest allowed
// container instead, so no text is lost.
const MaxDepth = 8

// md is the configured goldmark. Its parser sets itself up once (sync.Once)
// and keeps all per-parse state in a fresh parser.Context, so concurrent
// parses are safe (TestConcurrent checks this under -race).
var md = goldmark.New(goldmark.WithExtensions(extension.Table, extension.Strikethrough))

// Convert parses src as markdown and returns its blocks. It never fails: any
// input gives blocks holding all of its text. Convert is safe for concurrent
// use.
//
// Headings of markdown level 1, 2 and 3 or more become document.Heading levels 4, 5
// and 6 (levels 1-3 are the report's own sections). Code blocks and HTML blocks
// become document.Preformatted with their text as written; inline HTML is kept as
// literal text in the paragraph. A link prints its text followed by its target
// in parentheses, an autolink prints its address once, and an image prints its
// alternative text followed by "(image not shown: <source>)".
func Convert(src string) []document.Block {
	b := prepare(src)
	root := md.Parser().Parse(text.NewReader(b))
	c := converter{src: b}
	return c.blocks(nil, root, 0)
}

// prepare returns the bytes goldmark parses: src defused, ending in a newline
// (some of goldmark's block parsers assume every line has one).
func prepare(src string) []byte {
	b := defuse([]byte(src))
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	return b
}

type converter struct {
	src []byte
	in  inliner
}

// blocks appends the blocks of parent's children to out.
func (c *converter) blocks(out []document.Block, parent ast.Node, depth int) []document.Block {
	for n := parent.FirstChild(); n != nil; n = n.NextSibling() {
		out = c.block(out, n, depth)
	}
	return out
}

// block appends the blocks of n to out; depth counts the quotes and lists
// around n.
func (c *converter) block(out []document.Block, n ast.Node, depth int) []document.Block {
	switch n := n.(type) {
	case *ast.Blockquote:
		if depth >= MaxDepth {
			return c.flatten(out, n)
		}
		if q := c.blocks(nil, n, depth+1); len(q) > 0 {
			out = append(out, document.Quote{Blocks: q})
		}
		return out
	case *ast.List:
		if depth >= MaxDepth {
			return c.flatten(out, n)
		}
		l := document.List{Ordered: n.IsOrdered()}
		if l.Ordered {
			l.Start = n.Start
		}
		for it := n.FirstChild(); it != nil; it = it.NextSibling() {
			l.Items = append(l.Items, c.blocks([]document.Block{}, it, depth+1))
		}
		return append(out, l)
	case *ast.ListItem, *ast.Document:
		// A list item outside a list, or anything else that only holds
		// blocks: its content in place.
		return c.flatten(out, n)
	}
	return c.leaf(out, n)
}

// flatten appends the leaf blocks under n to out in document order, ignoring
// the quotes and lists around them. It walks the tree without recursion, so
// any depth is safe.
func (c *converter) flatten(out []document.Block, n ast.Node) []document.Block {
	top := n
	for {
		if isContainer(n) && n.FirstChild() != nil {
			n = n.FirstChild()
			continue
		}
		if !isContainer(n) {
			out = c.leaf(out, n)
		}
		for n != top && n.NextSibling() == nil {
			n = n.Parent()
		}
		if n == top {
			return out
		}
		n = n.NextSibling()
	}
}

func isContainer(n ast.Node) bool {
	switch n.(type) {
	case *ast.Blockquote, *ast.List, *ast.ListItem, *ast.Document:
		return true
	}
	return false
}

// leaf appends the block for a node that holds no further blocks.
func (c *converter) leaf(out []document.Block, n ast.Node) []document.Block {
	switch n := n.(type) {
	case *ast.Paragraph, *ast.TextBlock:
		if t := c.inline(n); len(t) > 0 {
			out = append(out, document.Paragraph{Text: t})
		}
	case *ast.Heading:
		level := 6
		if n.Level < 3 {
			level = n.Level + 3
		}
		if t := c.inline(n); len(t) > 0 {
			out = append(out, document.Heading{Level: level, Text: t})
		}
	case *ast.ThematicBreak:
		out = append(out, document.Rule{})
	case *ast.CodeBlock, *ast.FencedCodeBlock, *ast.HTMLBlock:
		var b strings.Builder
		lines := n.Lines()
		for i := 0; i < lines.Len(); i++ {
			s := lines.At(i)
			b.Write(s.Value(c.src))
		}
		if h, ok := n.(*ast.HTMLBlock); ok && h.HasClosure() {
			b.Write(h.ClosureLine.Value(c.src))
		}
		if s := strings.TrimSuffix(b.String(), "\n"); s != "" {
			out = append(out, document.Preformatted{Text: s})
		}
	case *east.Table:
		out = append(out, c.table(n))
	default:
		// A block kind this package does not know (none with the
		// configured extensions): keep its text as a paragraph.
		if ch := n.FirstChild(); ch != nil && ch.Type() == ast.TypeBlock {
			for ; ch != nil; ch = ch.NextSibling() {
				out = c.flatten(out, ch)
			}
			return out
		}
		if t := c.inline(n); len(t) > 0 {
			out = append(out, document.Paragraph{Text: t})
		}
	}
	return out
}

// table converts a GFM table. Goldmark pads short rows with empty cells; cells
// beyond the header's count, which GFM ignores, are kept as literal text at
// the end of the row's last cell so that nothing is lost.
func (c *converter) table(n *east.Table) document.Table {
	t := document.Table{Align: make([]document.Align, len(n.Alignments))}
	for i, a := range n.Alignments {
		switch a {
		case east.AlignCenter:
			t.Align[i] = document.AlignCenter
		case east.AlignRight:
			t.Align[i] = document.AlignRight
		}
	}
	for r := n.FirstChild(); r != nil; r = r.NextSibling() {
		var row []document.Text
		for cell := r.FirstChild(); cell != nil; cell = cell.NextSibling() {
			row = append(row, c.inline(cell))
		}
		if _, ok := r.(*east.TableHeader); ok {
			t.Header = row
			continue
		}
		if extra := c.excessCells(r); extra != "" && len(row) > 0 {
			last := len(row) - 1
			cell := row[last]
			if k := len(cell) - 1; k >= 0 && cell[k].Style == 0 {
				cell[k].Text += " | " + extra
			} else {
				row[last] = append(cell, document.Span{Text: " | " + extra})
			}
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// excessCells returns the source text after the last cell goldmark kept in
// row, without the row's closing pipe: the cells GFM drops.
func (c *converter) excessCells(row ast.Node) string {
	last := row.LastChild()
	if last == nil || last.Lines().Len() == 0 {
		return ""
	}
	stop := last.Lines().At(last.Lines().Len() - 1).Stop
	rest := c.src[stop:]
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		rest = rest[:i]
	}
	rest = bytes.TrimSpace(rest)
	rest = bytes.TrimPrefix(rest, []byte("|"))
	rest = bytes.TrimSuffix(rest, []byte("|"))
	return strings.ReplaceAll(string(bytes.TrimSpace(rest)), "\t", " ")
}

// inline returns the styled text of n's inline children.
func (c *converter) inline(n ast.Node) document.Text {
	c.in.reset(c.src)
	c.in.walk(n)
	t := c.in.finish()
	// CommonMark ignores a hard line break at the end of a block.
	if k := len(t); k > 0 {
		t[k-1].Text = strings.TrimRight(t[k-1].Text, "\n")
		if t[k-1].Text == "" {
			t = t[:k-1]
		}
	}
	return t
}

// inliner collects styled spans while walking inline nodes. Styles are
// counted rather than stacked, so nesting depth costs nothing.
type inliner struct {
	src                        []byte
	italic, bold, mono, strike int
	out                        document.Text
	cur                        strings.Builder
	curStyle                   document.Style
	plain                      []byte // all text emitted so far, unstyled
	marks                      []int  // len(plain) at the entry of open links and images
}

func (in *inliner) reset(src []byte) {
	*in = inliner{src: src, plain: in.plain[:0], marks: in.marks[:0]}
}

func (in *inliner) style() document.Style {
	var s document.Style
	if in.bold > 0 {
		s |= document.Bold
	}
	if in.italic > 0 {
		s |= document.Italic
	}
	if in.mono > 0 {
		s |= document.Mono
	}
	if in.strike > 0 {
		s |= document.Strike
	}
	return s
}

// emit appends s in the current style, merging with the previous span when
// the style is the same.
func (in *inliner) emit(s string) {
	if s == "" {
		return
	}
	st := in.style()
	if st != in.curStyle && in.cur.Len() > 0 {
		in.flush()
	}
	in.curStyle = st
	in.cur.WriteString(s)
	in.plain = append(in.plain, s...)
}

func (in *inliner) flush() {
	if in.cur.Len() > 0 {
		in.out = append(in.out, document.Span{Text: in.cur.String(), Style: in.curStyle})
		in.cur.Reset()
	}
}

func (in *inliner) finish() document.Text {
	in.flush()
	return in.out
}

// walk visits the inline descendants of parent in document order without
// recursion.
func (in *inliner) walk(parent ast.Node) {
	n := parent.FirstChild()
	for n != nil {
		descend := in.enter(n)
		if descend && n.FirstChild() != nil {
			n = n.FirstChild()
			continue
		}
		if descend {
			in.exit(n)
		}
		for n.NextSibling() == nil {
			n = n.Parent()
			if n == parent || n == nil {
				return
			}
			in.exit(n)
		}
		n = n.NextSibling()
	}
}

// enter handles the start of n and reports whether its children are to be
// visited (and exit called after them).
func (in *inliner) enter(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.Text:
		v := n.Segment.Value(in.src)
		if n.IsRaw() {
			in.emit(spaceTabs(string(v)))
		} else {
			in.emit(unescape(v))
		}
		switch {
		case n.HardLineBreak():
			in.emit("\n")
		case n.SoftLineBreak():
			in.emit(" ")
		}
		return false
	case *ast.String:
		if n.IsRaw() || n.IsCode() {
			in.emit(spaceTabs(string(n.Value)))
		} else {
			in.emit(unescape(n.Value))
		}
		return false
	case *ast.CodeSpan:
		var b strings.Builder
		for t := n.FirstChild(); t != nil; t = t.NextSibling() {
			switch t := t.(type) {
			case *ast.Text:
				v := t.Segment.Value(in.src)
				if k := len(v); k > 0 && v[k-1] == '\n' {
					b.Write(v[:k-1])
					b.WriteByte(' ')
				} else {
					b.Write(v)
				}
			case *ast.String:
				b.Write(t.Value)
			}
		}
		in.mono++
		in.emit(spaceTabs(b.String()))
		in.mono--
		return false
	case *ast.RawHTML:
		for i := 0; i < n.Segments.Len(); i++ {
			s := n.Segments.At(i)
			in.emit(strings.ReplaceAll(spaceTabs(string(s.Value(in.src))), "\n", " "))
		}
		return false
	case *ast.AutoLink:
		in.emit(spaceTabs(string(n.Label(in.src))))
		return false
	case *ast.Emphasis:
		if n.Level >= 2 {
			in.bold++
		} else {
			in.italic++
		}
	case *east.Strikethrough:
		in.strike++
	case *ast.Link, *ast.Image:
		in.marks = append(in.marks, len(in.plain))
	}
	return true
}

// exit handles the end of a node whose children were visited.
func (in *inliner) exit(n ast.Node) {
	switch n := n.(type) {
	case *ast.Emphasis:
		if n.Level >= 2 {
			in.bold--
		} else {
			in.italic--
		}
	case *east.Strikethrough:
		in.strike--
	case *ast.Link:
		label := in.plain[in.popMark():]
		dest := spaceTabs(string(n.Destination))
		switch {
		case string(label) == dest:
			// Printed already: [https://x.org](https://x.org).
		case len(label) == 0:
			in.emit(dest)
		default:
			in.emit(" (" + dest + ")")
		}
	case *ast.Image:
		sep := " "
		if in.popMark() == len(in.plain) {
			sep = ""
		}
		dest := spaceTabs(string(n.Destination))
		if dest == "" {
			in.emit(sep + "(image not shown)")
		} else {
			in.emit(sep + "(image not shown: " + dest + ")")
		}
	}
}

// popMark closes the innermost link or image and returns where its text
// starts in plain.
func (in *inliner) popMark() int {
	k := len(in.marks) - 1
	m := in.marks[k]
	in.marks = in.marks[:k]
	return m
}

// spaceTabs replaces tabs, which a span may not hold, by spaces.
func spaceTabs(s string) string {
	return strings.ReplaceAll(s, "\t", " ")
}

// unescape decodes backslash escapes and entity and numeric character
// references in inline text, as CommonMark specifies, and replaces NUL and
// tabs. A reference to a control character gives a space or U+FFFD instead
// (see visible), since spans hold no control characters but "\n".
func unescape(v []byte) string {
	if bytes.IndexAny(v, "\\&\t\x00") < 0 {
		return string(v)
	}
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		switch ch := v[i]; ch {
		case '\\':
			if i+1 < len(v) && util.IsPunct(v[i+1]) {
				b = append(b, v[i+1])
				i++
				continue
			}
		case '\t':
			b = append(b, ' ')
			continue
		case 0:
			b = utf8.AppendRune(b, utf8.RuneError)
			continue
		case '&':
			if r, n := reference(v[i:]); n > 0 {
				b = append(b, r...)
				i += n - 1
				continue
			}
		}
		b = append(b, v[i])
	}
	return string(b)
}

// reference decodes the character reference at the start of v ("&amp;",
// "&#35;", "&#x1F;"), returning its text and length, or n == 0 if there is
// none.
func reference(v []byte) (text []byte, n int) {
	end := bytes.IndexByte(v, ';')
	if end < 2 || end > 40 {
		return nil, 0
	}
	body := v[1:end]
	if body[0] != '#' {
		for _, ch := range body {
			if !util.IsAlphaNumeric(ch) {
				return nil, 0
			}
		}
		e, ok := util.LookUpHTML5EntityByName(string(body))
		if !ok {
			return nil, 0
		}
		if r, _ := utf8.DecodeRune(e.Characters); len(e.Characters) == 1 && unicode.IsControl(r) {
			return visible(r), end + 1 // &Tab; and &NewLine;
		}
		return e.Characters, end + 1
	}
	digits, base, max := body[1:], 10, 7
	if len(digits) > 0 && (digits[0] == 'x' || digits[0] == 'X') {
		digits, base, max = digits[1:], 16, 6
	}
	if len(digits) == 0 || len(digits) > max {
		return nil, 0
	}
	cp, err := strconv.ParseUint(string(digits), base, 32)
	if err != nil {
		return nil, 0
	}
	r := rune(cp)
	if cp == 0 || !utf8.ValidRune(r) {
		r = utf8.RuneError
	}
	return visible(r), end + 1
}

// visible returns r encoded, unless it is a control character, which a span
// may not hold: then white space becomes a space and others U+FFFD.
func visible(r rune) []byte {
	switch {
	case r == '\t' || r == '\n' || r == '\r' || r == '\f':
		r = ' '
	case unicode.IsControl(r):
		r = utf8.RuneError
	}
	return utf8.AppendRune(nil, r)
}
