package markdown

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/foliohealth/folio/document"
)

var update = flag.Bool("update", false, "rewrite the expected dumps in testdata/*.txt")

// The spec files follow goldmark's extension/_test/*.txt layout: a case
// number and optional description, the markdown, the expected dump, each part
// ended by a separator line. In the markdown, "␣" stands for a space (for
// trailing spaces an editor would strip) and "⇥" for a tab.
const (
	partSeparator = "//- - - - - - - - -//"
	caseSeparator = "//= = = = = = = = = = = = = = = = = = = = = = = =//"
)

type specCase struct {
	title    string // "12: description"
	markdown string // as written in the file
	expected string
	line     int
}

func (c specCase) source() string {
	return strings.NewReplacer("␣", " ", "⇥", "\t").Replace(c.markdown)
}

func readSpec(t testing.TB, path string) []specCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []specCase
	sc := bufio.NewScanner(f)
	line := 0
	next := func() (string, bool) {
		ok := sc.Scan()
		line++
		return sc.Text(), ok
	}
	// part reads lines up to the separator end.
	part := func(end string) string {
		var buf []string
		for {
			s, ok := next()
			if !ok {
				t.Fatalf("%s:%d: missing %q", path, line, end)
			}
			if s == end {
				return strings.Join(buf, "\n")
			}
			buf = append(buf, s)
		}
	}
	for {
		title, ok := next()
		if !ok {
			break
		}
		if strings.TrimSpace(title) == "" {
			continue
		}
		c := specCase{title: title, line: line}
		if s, _ := next(); s != partSeparator {
			t.Fatalf("%s:%d: want %q after the case title, got %q", path, line, partSeparator, s)
		}
		c.markdown = part(partSeparator)
		c.expected = part(caseSeparator)
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

func writeSpec(t *testing.T, path string, cases []specCase) {
	t.Helper()
	var b strings.Builder
	for i, c := range cases {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s\n%s\n%s\n%s\n%s\n%s\n", c.title, partSeparator, c.markdown, partSeparator, c.expected, caseSeparator)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func specFiles(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no spec files in testdata: %v", err)
	}
	return files
}

func TestSpec(t *testing.T) {
	for _, path := range specFiles(t) {
		cases := readSpec(t, path)
		changed := false
		for i, c := range cases {
			name := filepath.Base(path) + "/" + strings.SplitN(c.title, ":", 2)[0]
			t.Run(name, func(t *testing.T) {
				got := strings.TrimSuffix(dump(Convert(c.source())), "\n")
				if got == c.expected {
					return
				}
				if *update {
					cases[i].expected = got
					changed = true
					return
				}
				t.Errorf("%s:%d: case %q\nmarkdown:\n%s\ngot:\n%s\nwant:\n%s", path, c.line, c.title, c.markdown, got, c.expected)
			})
		}
		if changed {
			writeSpec(t, path, cases)
		}
	}
}

// dump renders blocks one per line, nested content indented by two spaces,
// text as Go-quoted spans prefixed by their style letters (b bold, i italic,
// m mono, s strike). It is written against package doc only, so it can move
// there as-is if layout goldens want it.
func dump(blocks []document.Block) string {
	var b strings.Builder
	dumpBlocks(&b, blocks, "")
	return b.String()
}

func dumpBlocks(b *strings.Builder, blocks []document.Block, indent string) {
	for _, bl := range blocks {
		b.WriteString(indent)
		switch bl := bl.(type) {
		case document.Paragraph:
			fmt.Fprintf(b, "paragraph %s\n", dumpText(bl.Text))
		case document.Heading:
			fmt.Fprintf(b, "heading %d %s\n", bl.Level, dumpText(bl.Text))
		case document.Rule:
			b.WriteString("rule\n")
		case document.Preformatted:
			b.WriteString("pre\n")
			for _, l := range strings.Split(bl.Text, "\n") {
				fmt.Fprintf(b, "%s  %q\n", indent, l)
			}
		case document.Quote:
			b.WriteString("quote\n")
			dumpBlocks(b, bl.Blocks, indent+"  ")
		case document.List:
			if bl.Ordered {
				fmt.Fprintf(b, "list ordered start=%d\n", bl.Start)
			} else {
				b.WriteString("list bullet\n")
			}
			for _, it := range bl.Items {
				fmt.Fprintf(b, "%s  item\n", indent)
				dumpBlocks(b, it, indent+"    ")
			}
		case document.Table:
			b.WriteString("table align=")
			for i, a := range bl.Align {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString([...]string{"left", "center", "right"}[a])
			}
			b.WriteString("\n")
			fmt.Fprintf(b, "%s  header %s\n", indent, dumpCells(bl.Header))
			for _, r := range bl.Rows {
				fmt.Fprintf(b, "%s  row %s\n", indent, dumpCells(r))
			}
		default:
			fmt.Fprintf(b, "%T %+v\n", bl, bl)
		}
	}
}

func dumpCells(cells []document.Text) string {
	s := make([]string, len(cells))
	for i, c := range cells {
		s[i] = dumpText(c)
	}
	return strings.Join(s, " | ")
}

func dumpText(t document.Text) string {
	if len(t) == 0 {
		return `""`
	}
	s := make([]string, len(t))
	for i, sp := range t {
		var p string
		for _, st := range []struct {
			s document.Style
			c string
		}{{document.Bold, "b"}, {document.Italic, "i"}, {document.Mono, "m"}, {document.Strike, "s"}} {
			if sp.Style&st.s != 0 {
				p += st.c
			}
		}
		s[i] = p + strconv.Quote(sp.Text)
	}
	return strings.Join(s, " ")
}

// PlainText returns the text a reader sees in blocks, one block per line:
// list items with their bullet or number, table cells separated by " | ".
func PlainText(blocks []document.Block) string {
	var b strings.Builder
	plain(&b, blocks)
	return b.String()
}

func plain(b *strings.Builder, blocks []document.Block) {
	for _, bl := range blocks {
		switch bl := bl.(type) {
		case document.Paragraph:
			b.WriteString(bl.Text.Plain())
		case document.Heading:
			b.WriteString(bl.Text.Plain())
		case document.Preformatted:
			b.WriteString(bl.Text)
		case document.Rule:
			b.WriteString("---")
		case document.Quote:
			plain(b, bl.Blocks)
		case document.List:
			for i, it := range bl.Items {
				if bl.Ordered {
					fmt.Fprintf(b, "%d. ", bl.Start+i)
				} else {
					b.WriteString("- ")
				}
				plain(b, it)
			}
		case document.Table:
			for _, r := range append([][]document.Text{bl.Header}, bl.Rows...) {
				for i, c := range r {
					if i > 0 {
						b.WriteString(" | ")
					}
					b.WriteString(c.Plain())
				}
				b.WriteString("\n")
			}
		}
		b.WriteString("\n")
	}
}

// TestConcurrent converts every spec case from several goroutines at once
// (run it with -race) and checks each gets the sequential result.
func TestConcurrent(t *testing.T) {
	var srcs, want []string
	for _, path := range specFiles(t) {
		for _, c := range readSpec(t, path) {
			srcs = append(srcs, c.source())
			want = append(want, dump(Convert(c.source())))
		}
	}
	errs := make(chan string, 4*len(srcs))
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, s := range srcs {
				if got := dump(Convert(s)); got != want[i] {
					errs <- fmt.Sprintf("case %q: concurrent result differs:\n%s", s, got)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
