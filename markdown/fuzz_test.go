package markdown

import (
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/foliohealth/folio/document"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
)

// FuzzConvert checks on any input that Convert does not panic and that its
// blocks are well formed; on input the report contract admits (valid UTF-8,
// no control characters but tab and newline) it also checks that no word is
// lost. The seed corpus is every spec case in testdata.
func FuzzConvert(f *testing.F) {
	for _, path := range specFiles(f) {
		for _, c := range readSpec(f, path) {
			f.Add(c.source())
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		blocks := Convert(src)
		valid := admitted(src)
		checkBlocks(t, blocks, 0, valid)
		if valid {
			checkWords(t, src, blocks)
		}
	})
}

// admitted reports whether the report contract lets s through.
func admitted(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\t' && r != '\n' {
			return false
		}
	}
	return true
}

// checkBlocks checks the invariants layout relies on.
func checkBlocks(t *testing.T, blocks []document.Block, depth int, valid bool) {
	t.Helper()
	if depth > MaxDepth {
		t.Fatalf("blocks nested %d deep, more than MaxDepth %d", depth, MaxDepth)
	}
	text := func(what string, x document.Text) {
		for _, s := range x {
			if s.Text == "" {
				t.Fatalf("%s: empty span in %q", what, x.Plain())
			}
			if !valid {
				continue
			}
			for _, r := range s.Text {
				if unicode.IsControl(r) && r != '\n' {
					t.Fatalf("%s: control character %U in span %q", what, r, s.Text)
				}
			}
		}
	}
	for _, b := range blocks {
		switch b := b.(type) {
		case document.Paragraph:
			if len(b.Text) == 0 {
				t.Fatal("empty paragraph")
			}
			text("paragraph", b.Text)
		case document.Heading:
			if b.Level < 4 || b.Level > 6 || len(b.Text) == 0 {
				t.Fatalf("heading level %d text %q", b.Level, b.Text.Plain())
			}
			text("heading", b.Text)
		case document.Preformatted:
			if b.Text == "" {
				t.Fatal("empty preformatted block")
			}
		case document.Quote:
			checkBlocks(t, b.Blocks, depth+1, valid)
		case document.List:
			if len(b.Items) == 0 {
				t.Fatal("list without items")
			}
			for _, it := range b.Items {
				checkBlocks(t, it, depth+1, valid)
			}
		case document.Table:
			if len(b.Align) != len(b.Header) || len(b.Header) == 0 {
				t.Fatalf("table with %d columns and %d alignments", len(b.Header), len(b.Align))
			}
			for _, c := range b.Header {
				text("table header", c)
			}
			for _, r := range b.Rows {
				if len(r) != len(b.Header) {
					t.Fatalf("table row of %d cells under %d columns", len(r), len(b.Header))
				}
				for _, c := range r {
					text("table cell", c)
				}
			}
		case document.Rule:
		default:
			t.Fatalf("unexpected block %T", b)
		}
	}
}

// Text that CommonMark itself consumes: character references (decoded to
// other characters) and list item numbers (renumbered from the first).
var consumed = regexp.MustCompile(`&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[A-Za-z0-9]+);|\b[0-9]{1,9}[.)]`)

// checkWords checks that every word (run of letters and digits) of src
// appears in the plain text of blocks, except words only found in what
// CommonMark does not print: link reference definitions, link and image
// titles, code fence info strings, character references and list numbers.
func checkWords(t *testing.T, src string, blocks []document.Block) {
	t.Helper()
	out := PlainText(blocks)
	exempt := unprinted(src)
	for _, w := range words(consumed.ReplaceAllString(src, " ")) {
		if !strings.Contains(out, w) && !exempt[strings.ToLower(w)] {
			t.Fatalf("word %q lost\nsource: %q\nplain text: %q\ndump:\n%s", w, src, out, dump(blocks))
		}
	}
}

func words(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// unprinted returns the words of the parts of src that are deliberately not
// printed, found by parsing src as Convert does.
func unprinted(src string) map[string]bool {
	b := prepare(src)
	ctx := parser.NewContext()
	root := md.Parser().Parse(text.NewReader(b), parser.WithContext(ctx))
	m := map[string]bool{}
	add := func(s []byte) {
		for _, w := range words(string(s)) {
			m[strings.ToLower(w)] = true
		}
	}
	for _, r := range ctx.References() {
		add(r.Label())
		add(r.Destination())
		add(r.Title())
	}
	_ = ast.Walk(root, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Link:
			add(n.Title)
		case *ast.Image:
			add(n.Title)
		case *ast.FencedCodeBlock:
			if n.Info != nil {
				add(n.Info.Value(b))
			}
		}
		return ast.WalkContinue, nil
	})
	return m
}
