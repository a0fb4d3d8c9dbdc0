package layout

import (
	"fmt"
	"strings"
	"testing"

	"github.com/foliohealth/folio/document"
	"github.com/foliohealth/folio/fonts"
)

// words builds items from a compact description: letters are text of width
// 1 per character, "_" a space of width 1, "|" a forced break, "^" a
// zero-width break opportunity. No fonts are involved.
func words(desc string) []item {
	var out []item
	for _, tok := range strings.Split(desc, " ") {
		switch tok {
		case "_":
			out = append(out, item{kind: itemSpace, s: " ", w: 1})
		case "|":
			out = append(out, item{kind: itemBreak})
		case "^":
			out = append(out, item{kind: itemZW})
		default:
			out = append(out, item{kind: itemText, s: tok, w: float64(len(tok))})
		}
	}
	return out
}

func render(lines [][]item) string {
	var parts []string
	for _, ln := range lines {
		var sb strings.Builder
		for _, it := range ln {
			switch it.kind {
			case itemText:
				sb.WriteString(it.s)
			case itemSpace:
				sb.WriteString(" ")
			}
		}
		parts = append(parts, sb.String())
	}
	return strings.Join(parts, "/")
}

func TestBreakLines(t *testing.T) {
	tests := []struct {
		in    string
		width float64
		want  string
	}{
		{"aaa _ bbb _ ccc", 20, "aaa bbb ccc"},
		{"aaa _ bbb _ ccc", 7, "aaa bbb/ccc"},
		{"aaa _ bbb _ ccc", 6, "aaa/bbb/ccc"},
		{"aaa _ bbb _ ccc", 3, "aaa/bbb/ccc"},
		{"aaa | bbb", 20, "aaa/bbb"},
		{"aaa | | bbb", 20, "aaa//bbb"},
		{"aa bb _ cc", 4, "aabb/cc"},    // glued runs stay together
		{"x ^ y ^ z", 2, "xy/z"},        // CJK-style breaks
		{"aaa _ _ _ bbb", 4, "aaa/bbb"}, // spaces vanish at the break
		{"_ aaa", 10, "aaa"},            // leading space dropped
		{"", 10, ""},
	}
	for _, tt := range tests {
		got := render(breakLines(words(tt.in), tt.width))
		if got != tt.want {
			t.Errorf("breakLines(%q, %g) = %q, want %q", tt.in, tt.width, got, tt.want)
		}
	}
}

func TestBreakLinesSplitsOverlongWords(t *testing.T) {
	if err := fonts.Load(); err != nil {
		t.Fatal(err)
	}
	var sh shaper
	items := sh.items(document.T("Pneumonoultramicroscopicsilicovolcanoconiosis ok"), font{face: fonts.Sans, size: 10}, nil)
	lines := breakLines(items, 60)
	if len(lines) < 3 {
		t.Fatalf("got %d lines, want the long word split over several", len(lines))
	}
	var all strings.Builder
	for _, ln := range lines {
		if w := lineWidth(ln); w > 60+1e-6 {
			t.Errorf("line %q is %.1f wide, over 60", render([][]item{ln}), w)
		}
		for _, it := range ln {
			all.WriteString(it.s)
		}
	}
	if got := all.String(); got != "Pneumonoultramicroscopicsilicovolcanoconiosis ok" {
		t.Errorf("text changed by splitting: %q", got)
	}
}

func heights(pages [][]placed, boxes []*box) string {
	idx := map[*box]int{}
	for i, b := range boxes {
		idx[b] = i
	}
	var parts []string
	for _, p := range pages {
		var ps []string
		for _, x := range p {
			if i, ok := idx[x.b]; ok {
				ps = append(ps, fmt.Sprintf("%d@%g", i, x.y))
			} else {
				ps = append(ps, fmt.Sprintf("H@%g", x.y))
			}
		}
		parts = append(parts, strings.Join(ps, " "))
	}
	return strings.Join(parts, " | ")
}

func TestPaginate(t *testing.T) {
	mk := func(spec string) []*box {
		// "h" height 10; "h+" keep with next; "b" height 10 with 5 before.
		var out []*box
		for _, s := range strings.Fields(spec) {
			b := &box{h: 10}
			if strings.HasPrefix(s, "b") {
				b.before = 5
			}
			if strings.HasPrefix(s, "T") {
				b.h = 45
			}
			b.keep = strings.HasSuffix(s, "+")
			out = append(out, b)
		}
		return out
	}
	tests := []struct {
		spec  string
		bodyH float64
		want  string
	}{
		{"h h h", 30, "0@0 1@10 2@20"},
		{"h h h h", 30, "0@0 1@10 2@20 | 3@0"},
		{"h b b", 30, "0@0 1@15 | 2@0"}, // space before dropped at page top
		{"h h+ h", 30, "0@0 1@10 2@20"},
		{"h h h+ h", 30, "0@0 1@10 | 2@0 3@10"},           // keep chain moves together
		{"h+ h+ h+ h+ h", 30, "0@0 1@10 2@20 | 3@0 4@10"}, // chain taller than a page breaks
		{"T h", 30, "0@0 | 1@0"},                          // an oversize box is placed alone
	}
	for _, tt := range tests {
		boxes := mk(tt.spec)
		got := heights(paginate(boxes, tt.bodyH), boxes)
		if got != tt.want {
			t.Errorf("paginate(%q, %g) = %q, want %q", tt.spec, tt.bodyH, got, tt.want)
		}
	}
}

func TestPaginateRepeatsTableHeader(t *testing.T) {
	hdr := &box{h: 10, keep: true}
	boxes := []*box{hdr}
	for i := 0; i < 5; i++ {
		boxes = append(boxes, &box{h: 10, header: []*box{hdr}})
	}
	got := heights(paginate(boxes, 30), boxes)
	want := "0@0 1@10 2@20 | 0@0 3@10 4@20 | 0@0 5@10"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLayoutPageNumbersAndText(t *testing.T) {
	var body []document.Block
	for i := 0; i < 120; i++ {
		body = append(body, document.Paragraph{Text: document.T(fmt.Sprintf("Paragraph %d: the quick brown fox jumps over the lazy dog; ≥ 3 foci, µm, 王小明.", i))})
	}
	d := &document.Document{
		Header: document.Header{Facility: "Lakeside", Title: "Surgical Pathology Report", Status: "AMENDED",
			Identity: []document.Field{{Label: "Patient", Value: document.T("Ramírez, Ana")}, {Label: "MRN", Value: document.T("000123456")}}},
		Body: body,
	}
	res, err := Layout(d, Letter)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Pages) < 2 {
		t.Fatalf("%d pages, want several", len(res.Pages))
	}
	dump := Dump(res.Pages)
	for i := range res.Pages {
		want := fmt.Sprintf("%q", fmt.Sprintf("Page %d of %d", i+1, len(res.Pages)))
		if !strings.Contains(dump, want) {
			t.Errorf("dump lacks %s", want)
		}
	}
	if n := strings.Count(dump, `"AMENDED"`); n != len(res.Pages) {
		t.Errorf("status banner on %d pages, want %d", n, len(res.Pages))
	}
	if n := strings.Count(dump, "phi \"Ramírez, Ana\""); n != len(res.Pages) {
		t.Errorf("patient name on %d pages, want %d", n, len(res.Pages))
	}
	for i := 0; i < 120; i++ {
		if !strings.Contains(dump, fmt.Sprintf("Paragraph %d:", i)) {
			t.Errorf("paragraph %d lost", i)
		}
	}
	// Every op stays inside the page.
	for pi, p := range res.Pages {
		for _, op := range p.Ops {
			if tx, ok := op.(*Text); ok && (tx.X < 0 || tx.X+tx.W > p.Width+0.01 || tx.Y < 0 || tx.Y > p.Height) {
				t.Errorf("page %d: text %q outside the page at %.1f,%.1f", pi+1, tx.S, tx.X, tx.Y)
			}
		}
	}
	if len(res.Warnings) != 0 {
		t.Errorf("unexpected warnings %v", res.Warnings)
	}
}

func TestLayoutReplacesUncoveredCharacters(t *testing.T) {
	d := &document.Document{Header: document.Header{Title: "T"}, Body: []document.Block{document.Paragraph{Text: document.T("smile 😀 here")}}}
	res, err := Layout(d, Letter)
	if err != nil {
		t.Fatal(err)
	}
	dump := Dump(res.Pages)
	if !strings.Contains(dump, "smile \uFFFD here") {
		t.Errorf("emoji not replaced visibly:\n%s", dump)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "U+1F600") {
		t.Errorf("warnings = %v, want one naming U+1F600", res.Warnings)
	}
}

func TestTableHeaderRepeatsAcrossPages(t *testing.T) {
	tb := document.Table{Header: []document.Text{document.T("Block"), document.T("Site"), document.T("Finding")}}
	for i := 0; i < 200; i++ {
		tb.Rows = append(tb.Rows, []document.Text{document.T(fmt.Sprint(i)), document.T("Lung, right upper lobe"), document.T("Alveolar damage, diffuse")})
	}
	res, err := Layout(&document.Document{Header: document.Header{Title: "T"}, Body: []document.Block{tb}}, Letter)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Pages) < 3 {
		t.Fatalf("%d pages, want >= 3", len(res.Pages))
	}
	for i, p := range res.Pages {
		if n := strings.Count(Dump([]Page{p}), `"Finding"`); n != 1 {
			t.Errorf("page %d: header row %d times, want 1", i+1, n)
		}
	}
}
