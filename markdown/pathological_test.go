package markdown

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/yuin/goldmark/text"
)

// pathological inputs, each built to about n bytes.
var pathological = []struct {
	name string
	gen  func(n int) string
}{
	{"quotes", func(n int) string { return strings.Repeat(">", n) + " deep" }},
	{"quotes-spaced", func(n int) string { return strings.Repeat("> ", n/2) + "deep" }},
	{"bullets", func(n int) string { return strings.Repeat("- ", n/2) + "deep" }},
	{"ordered", func(n int) string { return strings.Repeat("1. ", n/3) + "deep" }},
	{"quote-list", func(n int) string { return strings.Repeat("> 1) ", n/5) + "deep" }},
	{"staircase", func(n int) string {
		// Each line one level deeper by indentation.
		var b strings.Builder
		for i := 0; b.Len() < n; i++ {
			b.WriteString(strings.Repeat("  ", i))
			fmt.Fprintf(&b, "- item%d\n", i)
		}
		return b.String()
	}},
	{"lazy-lines", func(n int) string {
		// Thousands of lines continuing a paragraph deep in quotes.
		return strings.Repeat(">", 100) + " start\n" + strings.Repeat("lazy\n", n/5)
	}},
	{"quoted-lines", func(n int) string {
		return strings.Repeat(strings.Repeat("> ", 20)+"line\n", n/45)
	}},
	{"emphasis-nested", func(n int) string { return strings.Repeat("*", n/2) + "a" + strings.Repeat("*", n/2) }},
	{"emphasis-mixed", func(n int) string { return strings.Repeat("*_", n/4) + "a" + strings.Repeat("_*", n/4) }},
	{"emphasis-open", func(n int) string { return strings.Repeat("*a ", n/3) }},
	{"emphasis-pairs", func(n int) string { return strings.Repeat("**a** _b_ ", n/10) }},
	{"strike-open", func(n int) string { return strings.Repeat("~~a ", n/4) }},
	{"brackets-open", func(n int) string { return strings.Repeat("[a", n/2) }},
	{"links-nested", func(n int) string { return strings.Repeat("[", n/5) + "a" + strings.Repeat("](b)", n/5) }},
	{"images-nested", func(n int) string { return strings.Repeat("![", n/6) + "a" + strings.Repeat("](b)", n/6) }},
	{"backticks", func(n int) string {
		var b strings.Builder
		for i := 1; b.Len() < n; i++ {
			b.WriteString(strings.Repeat("`", i%200+1))
			b.WriteString("a")
		}
		return b.String()
	}},
	{"html-open", func(n int) string { return strings.Repeat("<a ", n/3) }},
	{"entities", func(n int) string { return strings.Repeat("&amp;&#123;&nosuch;", n/19) }},
	{"table-rows", func(n int) string { return "|a|b|\n|-|-|\n" + strings.Repeat("|c|d|\n", n/6) }},
	{"table-wide", func(n int) string {
		w := n / 200
		return strings.Repeat("|a", w) + "\n" + strings.Repeat("|-", w) + "\n" + strings.Repeat(strings.Repeat("|c", w)+"\n", 98)
	}},
	{"table-excess", func(n int) string { return "|a|\n|-|\n" + strings.Repeat("|c", n/2) }},
}

// TestPathological converts every pathological input and checks the result
// like the fuzzer does: well formed, bounded nesting, no word lost.
func TestPathological(t *testing.T) {
	for _, p := range pathological {
		t.Run(p.name, func(t *testing.T) {
			src := p.gen(100_000)
			blocks := Convert(src)
			checkBlocks(t, blocks, 0, true)
			checkWords(t, src, blocks)
		})
	}
}

func TestDefuse(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain text\n> quote\n- item\n1. one\n", "plain text\n> quote\n- item\n1. one\n"},
		{strings.Repeat(">", 16) + "x", strings.Repeat(">", 16) + "x"},
		{strings.Repeat(">", 17) + "x", strings.Repeat(">", 16) + `\>x`},
		{strings.Repeat("- ", 17) + "x", strings.Repeat("- ", 16) + `\- x`},
		{strings.Repeat("12. ", 17) + "x", strings.Repeat("12. ", 16) + `12\. x`},
		{strings.Repeat("> ", 16) + "-x -", strings.Repeat("> ", 16) + "-x -"}, // "-x" is no marker
		{strings.Repeat(" ", 70) + "x", strings.Repeat(" ", 65) + "x"},
		{strings.Repeat("\t", 20) + "x\n" + strings.Repeat(" ", 3) + "y", strings.Repeat("\t", 17) + "x\n   y"},
		{strings.Repeat(" ", 64) + "> " + strings.Repeat(" ", 9) + "x", strings.Repeat(" ", 64) + "> x"},
		{"a" + strings.Repeat(" ", 100) + "b", "a" + strings.Repeat(" ", 100) + "b"}, // not leading
		{"- a\n" + strings.Repeat(" ", 80) + "- b\n", "- a\n" + strings.Repeat(" ", 65) + "- b\n"},
	}
	for _, tt := range tests {
		if got := string(defuse([]byte(tt.in))); got != tt.want {
			t.Errorf("defuse(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
	// Ordinary markdown is not copied, let alone changed.
	src, err := os.ReadFile("testdata/diagnosis.md")
	if err != nil {
		t.Fatal(err)
	}
	if got := defuse(src); &got[0] != &src[0] {
		t.Error("defuse copied a document it did not need to change")
	}
}

// BenchmarkConvert converts a typical 2 KB pathology diagnosis.
func BenchmarkConvert(b *testing.B) {
	src, err := os.ReadFile("testdata/diagnosis.md")
	if err != nil {
		b.Fatal(err)
	}
	s := string(src)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		Convert(s)
	}
}

// BenchmarkPathological converts each pathological input at growing sizes:
// MB/s that stays level as the size grows means linear time.
func BenchmarkPathological(b *testing.B) {
	for _, p := range pathological {
		for _, n := range []int{10_000, 100_000, 1_000_000} {
			src := p.gen(n)
			b.Run(fmt.Sprintf("%s/%d", p.name, n), func(b *testing.B) {
				b.SetBytes(int64(len(src)))
				for b.Loop() {
					Convert(src)
				}
			})
		}
	}
}

// BenchmarkGoldmark parses the nesting inputs with goldmark alone, without
// defuse, to show why defuse exists: time grows with the square of the
// nesting depth.
func BenchmarkGoldmark(b *testing.B) {
	for _, p := range pathological[:6] {
		for _, n := range []int{2_000, 8_000, 32_000} {
			src := []byte(p.gen(n))
			b.Run(fmt.Sprintf("%s/%d", p.name, n), func(b *testing.B) {
				b.SetBytes(int64(len(src)))
				for b.Loop() {
					md.Parser().Parse(text.NewReader(src))
				}
			})
		}
	}
}
