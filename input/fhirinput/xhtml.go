package fhirinput

import (
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// xhtml converts a narrative div or an HTML/XHTML presentedForm to
// markdown through a strict subset: p, br, b/strong, i/em, u, ul, ol, li,
// table, h1-h6, pre (and div, span, blockquote as containers). Nothing is
// fetched or run: an a href prints "text (target)", an img prints its alt
// text and "(image not shown: src)", script, style and embedded objects
// are dropped with a warning. All sender text is escaped, so it is never
// read as markdown.
func (m *mapper) xhtml(path, src string) (string, bool) {
	if len(src) > 4<<20 {
		m.fail(path, "XHTML is %d bytes, more than the limit of %d", len(src), 4<<20)
		return "", false
	}
	var nodes []*html.Node
	if head := strings.ToLower(src[:min(len(src), 512)]); strings.Contains(head, "<html") || strings.Contains(head, "<!doctype") {
		doc, err := html.Parse(strings.NewReader(src))
		if err != nil {
			m.fail(path, "cannot read as XHTML: %v", err)
			return "", false
		}
		nodes = []*html.Node{doc}
	} else {
		ctx := &html.Node{Type: html.ElementNode, Data: "body", DataAtom: atom.Body}
		var err error
		if nodes, err = html.ParseFragment(strings.NewReader(src), ctx); err != nil {
			m.fail(path, "cannot read as XHTML: %v", err)
			return "", false
		}
	}
	c := &xconv{m: m, path: path}
	for _, n := range nodes {
		c.block(n, "")
	}
	c.endPara()
	return strings.TrimSpace(strings.Join(c.blocks, "\n\n")), true
}

type xconv struct {
	m       *mapper
	path    string
	blocks  []string
	para    strings.Builder // inline text of the paragraph being built
	dropped bool
	depth   int
}

func (c *xconv) endPara() {
	s := trimBreaks(collapseSpaces(c.para.String()))
	if s != "" {
		c.blocks = append(c.blocks, strings.TrimSpace(s))
	}
	c.para.Reset()
}

// trimBreaks removes spaces and hard breaks ("\\\n") at both ends of a
// paragraph: a break there is not a break in markdown, and would print.
func trimBreaks(s string) string {
	for {
		t := strings.TrimSpace(s)
		t = strings.TrimPrefix(t, "\\\n")
		t = strings.TrimSuffix(t, "\\\n")
		if strings.HasSuffix(t, "\\") && !strings.HasSuffix(t, "\\\\") {
			t = t[:len(t)-1]
		}
		if t == s {
			return t
		}
		s = t
	}
}

func collapseSpaces(s string) string {
	var b strings.Builder
	sp := false
	for _, r := range s {
		if r == ' ' || r == '\t' || r == '\r' {
			sp = true
			continue
		}
		if r == '\n' { // hard breaks ("\\\n") are kept
			b.WriteByte('\n')
			sp = false
			continue
		}
		if sp && b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
			b.WriteByte(' ')
		}
		sp = false
		b.WriteRune(r)
	}
	return b.String()
}

func (c *xconv) drop(what string) {
	if !c.dropped {
		c.m.warn("%s: %s not printed (never run or fetched)", c.path, what)
		c.dropped = true
	}
}

// block handles a node in block context; prefix is the list indentation.
func (c *xconv) block(n *html.Node, prefix string) {
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > 200 {
		c.drop("markup nested more than 200 levels deep")
		return
	}
	switch n.Type {
	case html.TextNode:
		c.para.WriteString(escapeMD(strings.ReplaceAll(c.m.clean(c.path, n.Data), "\n", " ")))
		return
	case html.ElementNode:
	case html.DocumentNode:
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			c.block(ch, prefix)
		}
		return
	default:
		return
	}
	switch n.DataAtom {
	case atom.Head, atom.Title, atom.Meta, atom.Link, atom.Base:
		// Document metadata: not report text (a link or base is never followed).
	case atom.Script, atom.Style, atom.Iframe, atom.Object, atom.Embed, atom.Template, atom.Svg, atom.Math, atom.Audio, atom.Video, atom.Form, atom.Noscript:
		c.drop(n.Data + " content")
	case atom.P, atom.Div, atom.Blockquote, atom.Section, atom.Article, atom.Center, atom.Body, atom.Html, atom.Dl, atom.Dd, atom.Dt, atom.Caption:
		c.endPara()
		c.children(n, prefix)
		c.endPara()
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		c.endPara()
		c.children(n, prefix)
		s := strings.TrimSpace(collapseSpaces(strings.ReplaceAll(c.para.String(), "\\\n", " ")))
		c.para.Reset()
		if s != "" {
			level, _ := strconv.Atoi(n.Data[1:])
			c.blocks = append(c.blocks, strings.Repeat("#", min(level, 6))+" "+s)
		}
	case atom.Hr:
		c.endPara()
	case atom.Ul, atom.Ol:
		c.endPara()
		c.list(n, prefix)
	case atom.Li:
		c.endPara()
		c.children(n, prefix)
		c.endPara()
	case atom.Table:
		c.endPara()
		c.table(n)
	case atom.Pre:
		c.endPara()
		c.blocks = append(c.blocks, fence(c.m.clean(c.path, strings.TrimSuffix(strings.TrimPrefix(textOf(n), "\n"), "\n"))))
	default:
		c.inline(n)
	}
}

func (c *xconv) children(n *html.Node, prefix string) {
	for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
		c.block(ch, prefix)
	}
}

// inline handles phrasing content.
func (c *xconv) inline(n *html.Node) {
	switch n.DataAtom {
	case atom.Br:
		c.para.WriteString("\\\n")
	case atom.B, atom.Strong:
		c.wrap(n, "**")
	case atom.I, atom.Em, atom.Cite, atom.Var:
		c.wrap(n, "*")
	case atom.A:
		c.children(n, "")
		if href := attr(n, "href"); href != "" && !strings.HasPrefix(href, "#") {
			c.para.WriteString(" (" + escapeMD(c.m.clean(c.path, href)) + ")")
		}
	case atom.Img:
		alt := attr(n, "alt")
		if alt != "" {
			c.para.WriteString(escapeMD(c.m.clean(c.path, alt)) + " ")
		}
		c.para.WriteString(escapeMD("(image not shown: " + c.m.clean(c.path, attr(n, "src")) + ")"))
	case atom.Script, atom.Style, atom.Iframe, atom.Object, atom.Embed:
		c.drop(n.Data + " content")
	case atom.Td, atom.Th, atom.Tr, atom.Tbody, atom.Thead, atom.Tfoot:
		c.children(n, "")
		c.para.WriteString(" ")
	default: // u, span, code, sub, sup, font and anything unknown: their text
		c.children(n, "")
	}
}

// wrap emphasises n's text, keeping the markers tight to the words.
func (c *xconv) wrap(n *html.Node, mark string) {
	outer := c.para.String()
	c.para.Reset()
	c.children(n, "")
	inner := c.para.String()
	c.para.Reset()
	c.para.WriteString(outer)
	t := strings.TrimSpace(inner)
	if t == "" || strings.Contains(inner, "\\\n") {
		c.para.WriteString(inner)
		return
	}
	lead := inner[:len(inner)-len(strings.TrimLeft(inner, " \t\n"))]
	trail := inner[len(strings.TrimRight(inner, " \t\n")):]
	c.para.WriteString(lead + mark + t + mark + trail)
}

// list prints ul/ol items, nested lists indented under their item.
func (c *xconv) list(n *html.Node, prefix string) {
	num := 1
	if s := attr(n, "start"); s != "" {
		if v, err := strconv.Atoi(s); err == nil && v >= 0 && v < 1e8 {
			num = v
		}
	}
	var lines []string
	for li := n.FirstChild; li != nil; li = li.NextSibling {
		if li.Type != html.ElementNode {
			continue
		}
		marker := "- "
		if n.DataAtom == atom.Ol {
			marker = strconv.Itoa(num) + ". "
			num++
		}
		sub := &xconv{m: c.m, path: c.path, depth: c.depth, dropped: c.dropped}
		if li.DataAtom == atom.Li {
			sub.children(li, prefix+strings.Repeat(" ", len(marker)))
		} else {
			sub.block(li, prefix)
		}
		sub.endPara()
		c.dropped = sub.dropped
		indent := strings.Repeat(" ", len(marker))
		body := strings.Join(sub.blocks, "\n\n")
		if body == "" {
			body = escapeMD("(empty)")
		}
		body = strings.ReplaceAll(body, "\n", "\n"+indent)
		lines = append(lines, marker+body)
	}
	if len(lines) > 0 {
		c.blocks = append(c.blocks, strings.Join(lines, "\n"))
	}
}

// table prints a GFM table; the first row is the header.
func (c *xconv) table(n *html.Node) {
	var rows [][]string
	var walk func(*html.Node)
	walk = func(x *html.Node) {
		for ch := x.FirstChild; ch != nil; ch = ch.NextSibling {
			switch ch.DataAtom {
			case atom.Tr:
				var row []string
				for cell := ch.FirstChild; cell != nil; cell = cell.NextSibling {
					if cell.DataAtom != atom.Td && cell.DataAtom != atom.Th {
						continue
					}
					sub := &xconv{m: c.m, path: c.path, depth: c.depth}
					sub.inline(cell)
					row = append(row, strings.TrimSpace(strings.ReplaceAll(collapseSpaces(sub.para.String()), "\\\n", " ")))
				}
				if len(row) > 0 && len(rows) < 10000 {
					rows = append(rows, row)
				}
			case atom.Caption:
				sub := &xconv{m: c.m, path: c.path, depth: c.depth}
				sub.inline(ch)
				sub.endPara()
				c.blocks = append(c.blocks, sub.blocks...)
			case atom.Thead, atom.Tbody, atom.Tfoot:
				walk(ch)
			}
		}
	}
	walk(n)
	if len(rows) == 0 {
		return
	}
	width := 0
	for _, r := range rows {
		width = max(width, len(r))
	}
	width = min(width, 50)
	line := func(r []string) string {
		cells := make([]string, width)
		for i := range cells {
			if i < len(r) {
				cells[i] = r[i]
			}
			if cells[i] == "" {
				cells[i] = " "
			}
		}
		return "| " + strings.Join(cells, " | ") + " |"
	}
	out := []string{line(rows[0]), "|" + strings.Repeat(" --- |", width)}
	for _, r := range rows[1:] {
		out = append(out, line(r))
	}
	c.blocks = append(c.blocks, strings.Join(out, "\n"))
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(x *html.Node) {
		if x.Type == html.TextNode {
			b.WriteString(x.Data)
		}
		if x.DataAtom == atom.Br {
			b.WriteByte('\n')
		}
		for ch := x.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(n)
	return b.String()
}

// xhtmlPlain is the text of XHTML for a fields value: markdown escapes
// and markers removed.
func (m *mapper) xhtmlPlain(path, src string) string {
	md, ok := m.xhtml(path, src)
	if !ok {
		return ""
	}
	return unescapeMDPlain(md)
}

// unescapeMDPlain strips the backslash escapes and emphasis markers this
// package writes, for plain-text use.
func unescapeMDPlain(md string) string {
	var b strings.Builder
	for i := 0; i < len(md); i++ {
		c := md[i]
		if c == '\\' && i+1 < len(md) {
			i++
			if md[i] == '\n' {
				b.WriteByte('\n')
				continue
			}
			b.WriteByte(md[i])
			continue
		}
		if c == '*' {
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
