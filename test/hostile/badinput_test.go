package hostile

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/report"
)

// badCase is one class of bad or oversized input. want is the field path
// the refusal must name, "" when the report must render (bounded).
type badCase struct {
	name string
	data func(t testing.TB) []byte
	want string
	// maxPages bounds the pages of a report that renders (0: no bound
	// checked).
	maxPages int
}

// raw returns the base report with the JSON text old replaced by new, for
// bytes json.Marshal would not write (invalid UTF-8, raw control bytes,
// lone surrogate escapes).
func raw(old, new string) func(t testing.TB) []byte {
	return func(t testing.TB) []byte {
		b := mustJSON(t, baseReport())
		if !bytes.Contains(b, []byte(old)) {
			t.Fatalf("%q not in the base report", old)
		}
		return bytes.Replace(b, []byte(old), []byte(new), 1)
	}
}

// with returns the base report changed by f.
func with(f func(r map[string]any)) func(t testing.TB) []byte {
	return func(t testing.TB) []byte {
		r := baseReport()
		f(r)
		return mustJSON(t, r)
	}
}

func sections(ss ...map[string]any) func(t testing.TB) []byte {
	return func(t testing.TB) []byte { return mustJSON(t, baseReport(ss...)) }
}

func imageSection(data []byte, ct string) map[string]any {
	return map[string]any{"kind": "image", "title": "Image", "contentType": ct, "caption": "c", "data": base64.StdEncoding.EncodeToString(data)}
}

// pngOf encodes img as PNG.
func pngOf(t testing.TB, img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// lyingPNG is a small real PNG whose header claims w x h pixels (with a
// correct header checksum, so only the size lies).
func lyingPNG(t testing.TB, w, h uint32) []byte {
	b := pngOf(t, image.NewGray(image.Rect(0, 0, 8, 8)))
	// signature (8), IHDR length (4), "IHDR" (4), width (4), height (4), ...
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// lyingJPEG is a small real JPEG whose SOF0 header claims w x h pixels.
func lyingJPEG(t testing.TB, w, h uint16) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	i := bytes.Index(b, []byte{0xFF, 0xC0})
	if i < 0 {
		t.Fatal("no SOF0")
	}
	// FFC0, length (2), precision (1), height (2), width (2)
	binary.BigEndian.PutUint16(b[i+5:], h)
	binary.BigEndian.PutUint16(b[i+7:], w)
	return b
}

// bombPNG is a real, valid PNG of w x h pixels that compresses to almost
// nothing (a decompression bomb within the pixel limit).
func bombPNG(t testing.TB, w, h int, deep bool) []byte {
	if deep {
		return pngOf(t, image.NewRGBA64(image.Rect(0, 0, w, h)))
	}
	return pngOf(t, image.NewGray(image.Rect(0, 0, w, h)))
}

func nested(open, close string, n int) string {
	return strings.Repeat(open, n) + "x" + strings.Repeat(close, n)
}

func table(cols, rows int) map[string]any {
	var cs []any
	for c := range cols {
		cs = append(cs, fmt.Sprintf("C%d", c))
	}
	var rs []any
	for r := range rows {
		row := make([]any, cols)
		for c := range cols {
			row[c] = fmt.Sprintf("r%dc%d", r, c)
		}
		rs = append(rs, row)
	}
	return map[string]any{"kind": "table", "title": "Big table", "columns": cs, "rows": rs}
}

// badCases is every class of bad input tried.
func badCases() []badCase {
	words := strings.Repeat("lorem ipsum dolor sit amet consectetur ", 1<<20/40) // ~1 MiB
	small := pngOf(nil, image.NewGray(image.Rect(0, 0, 16, 16)))
	return []badCase{
		// Control characters, NUL, invalid UTF-8, surrogates.
		{name: "control char BEL in title", data: with(func(r map[string]any) { r["title"] = "a\abc" }), want: "title"},
		{name: "control char ESC in markdown", data: sections(map[string]any{"kind": "text", "title": "t", "body": "\x1b[31mred"}), want: "sections[0].body"},
		{name: "C1 control U+0085 in plain", data: sections(map[string]any{"kind": "plain", "title": "t", "body": "a\u0085b"}), want: "sections[0].body"},
		{name: "NUL escaped in patient name", data: with(func(r map[string]any) { r["patient"].(map[string]any)["name"] = "Doe\x00Jane" }), want: "patient.name"},
		{name: "raw NUL byte inside a JSON string", data: raw(`"Doe, Jane"`, "\"Doe,\x00Jane\""), want: "$"},
		{name: "invalid UTF-8 bytes", data: raw(`"Doe, Jane"`, "\"Doe\xff\xfeJane\""), want: "$"},
		{name: "overlong UTF-8 encoding of '/'", data: raw(`"Doe, Jane"`, "\"Doe\xc0\xafJane\""), want: "$"},
		{name: "lone high surrogate escape", data: raw(`"Doe, Jane"`, `"Doe\ud800Jane"`), want: "$"},
		{name: "lone low surrogate escape", data: raw(`"Doe, Jane"`, `"Doe\udc00Jane"`), want: "$"},
		{name: "reversed surrogate pair", data: raw(`"Doe, Jane"`, `"Doe\udc00\ud800Jane"`), want: "$"},
		{name: "bidi override and zero-width characters", data: with(func(r map[string]any) {
			r["title"] = "Report \u202egnp.exe\u202c \u200b\u200d\ufeff"
		})},
		{name: "noncharacters and private use", data: sections(map[string]any{"kind": "text", "title": "t", "body": "\uffff \ufdd0 \ue000 \U0010FFFF"})},

		// Nesting.
		{name: "JSON nested 100000 levels", data: func(t testing.TB) []byte {
			return raw(`"Doe, Jane"`, nested("[", "]", 100000))(t)
		}, want: "$"},
		{name: "sections nested 4 levels", data: sections(map[string]any{"kind": "text", "title": "1", "body": "b", "sections": []any{
			map[string]any{"kind": "text", "title": "2", "body": "b", "sections": []any{
				map[string]any{"kind": "text", "title": "3", "body": "b", "sections": []any{
					map[string]any{"kind": "text", "title": "4", "body": "b"}}}}}}}), want: "sections[0].sections[0].sections[0].sections"},
		{name: "markdown block quotes nested 50000", data: sections(map[string]any{"kind": "text", "title": "t", "body": strings.Repeat(">", 50000) + " deep"}), maxPages: 50},
		{name: "markdown lists nested 1000", data: sections(map[string]any{"kind": "text", "title": "t", "body": func() string {
			var b strings.Builder
			for i := range 1000 {
				b.WriteString(strings.Repeat("  ", i) + "- item\n")
			}
			return b.String()
		}()}), maxPages: 500},
		{name: "markdown emphasis nested 50000", data: sections(map[string]any{"kind": "text", "title": "t", "body": nested("*_", "_*", 25000)}), maxPages: 100},
		{name: "markdown brackets 100000 unclosed", data: sections(map[string]any{"kind": "text", "title": "t", "body": strings.Repeat("[", 100000)}), maxPages: 100},
		{name: "markdown backticks 100000", data: sections(map[string]any{"kind": "text", "title": "t", "body": strings.Repeat("`", 100000) + "x"}), maxPages: 100},
		{name: "markdown table 50 columns x 2000 rows", data: sections(map[string]any{"kind": "text", "title": "t", "body": func() string {
			row := "|" + strings.Repeat(" c |", 50) + "\n"
			return row + "|" + strings.Repeat("---|", 50) + "\n" + strings.Repeat(row, 2000)
		}()}), maxPages: 2000},

		// Sizes.
		{name: "report JSON over 16 MiB", data: with(func(r map[string]any) { r["orderingProvider"] = strings.Repeat("x", 17<<20) }), want: "$"},
		{name: "one string over 1 MiB", data: with(func(r map[string]any) { r["orderingProvider"] = strings.Repeat("x", 1<<20+1) }), want: "orderingProvider"},
		{name: "text over 2 MiB in all", data: sections(
			map[string]any{"kind": "text", "title": "a", "body": words},
			map[string]any{"kind": "text", "title": "b", "body": words},
			map[string]any{"kind": "text", "title": "c", "body": words}), want: "sections[2].body"},
		{name: "text at the 2 MiB limit (many pages)", data: sections(
			map[string]any{"kind": "text", "title": "a", "body": words},
			map[string]any{"kind": "plain", "title": "b", "body": words[:len(words)-64<<10]}), maxPages: 3000},
		{name: "one 1 MiB word, no spaces", data: sections(map[string]any{"kind": "text", "title": "t", "body": strings.Repeat("W", 1<<20-16)}), maxPages: 3000},
		{name: "1001 sections", data: func(t testing.TB) []byte {
			var ss []map[string]any
			for i := range 1001 {
				ss = append(ss, map[string]any{"kind": "text", "title": fmt.Sprint(i), "body": "b"})
			}
			return mustJSON(t, baseReport(ss...))
		}, want: "sections"},
		{name: "1000 sections", data: func(t testing.TB) []byte {
			var ss []map[string]any
			for i := range 1000 {
				ss = append(ss, map[string]any{"kind": "text", "title": fmt.Sprint(i), "body": "b"})
			}
			return mustJSON(t, baseReport(ss...))
		}, maxPages: 1000},
		{name: "table 50 x 1000 = 50000 cells", data: sections(table(50, 1000)), maxPages: 2000},
		{name: "table 51 columns", data: sections(table(51, 1)), want: "sections[0].columns"},
		{name: "table 10001 rows", data: sections(table(1, 10001)), want: "sections[0].rows"},
		{name: "table 50 x 1001 = 50050 cells", data: sections(table(50, 1001)), want: "sections[0]"},
		{name: "fields 1001 items", data: func(t testing.TB) []byte {
			var items []any
			for range 1001 {
				items = append(items, map[string]any{"label": "l", "value": "v"})
			}
			return mustJSON(t, baseReport(map[string]any{"kind": "fields", "title": "f", "items": items}))
		}, want: "sections[0].items"},

		// Images.
		{name: "PNG header claiming 60000x60000", data: sections(imageSection(lyingPNG(nil, 60000, 60000), "image/png")), want: "sections[0].data"},
		{name: "PNG header claiming 2^31-1 x 1", data: sections(imageSection(lyingPNG(nil, 1<<31-1, 1), "image/png")), want: "sections[0].data"},
		{name: "PNG header claiming 6000x6000 over 8x8 of data", data: sections(imageSection(lyingPNG(nil, 6000, 6000), "image/png")), want: "sections[0]"},
		{name: "JPEG header claiming 60000x60000", data: sections(imageSection(lyingJPEG(nil, 60000, 60000), "image/jpeg")), want: "sections[0].data"},
		{name: "JPEG header claiming 6000x6000 over 8x8 of data", data: sections(imageSection(lyingJPEG(nil, 6000, 6000), "image/jpeg")), want: "sections[0]"},
		{name: "PNG labelled JPEG", data: sections(imageSection(small, "image/jpeg")), want: "sections[0].data"},
		{name: "truncated PNG", data: sections(imageSection(small[:40], "image/png")), want: "sections[0]"},
		{name: "PNG bomb 6000x6000 gray (36 MP, valid)", data: func(t testing.TB) []byte {
			return mustJSON(t, baseReport(imageSection(bombPNG(t, 6000, 6000, false), "image/png")))
		}, maxPages: 5},
		{name: "PNG bomb 6000x6000 RGBA64 (36 MP, valid)", data: func(t testing.TB) []byte {
			return mustJSON(t, baseReport(imageSection(bombPNG(t, 6000, 6000, true), "image/png")))
		}, maxPages: 5},
		{name: "image 40000x1 (extreme aspect ratio)", data: func(t testing.TB) []byte {
			img := image.NewGray(image.Rect(0, 0, 40000, 1))
			img.Set(0, 0, color.White)
			return mustJSON(t, baseReport(imageSection(pngOf(t, img), "image/png")))
		}, maxPages: 5},
		{name: "image 1x40000 (extreme aspect ratio)", data: func(t testing.TB) []byte {
			return mustJSON(t, baseReport(imageSection(pngOf(t, image.NewGray(image.Rect(0, 0, 1, 40000))), "image/png")))
		}, maxPages: 5},
		{name: "21 images", data: func(t testing.TB) []byte {
			var ss []map[string]any
			for range 21 {
				ss = append(ss, imageSection(small, "image/png"))
			}
			return mustJSON(t, baseReport(ss...))
		}, want: "sections[20]"},
		{name: "20 images of 2000x2000", data: func(t testing.TB) []byte {
			big := pngOf(t, image.NewGray(image.Rect(0, 0, 2000, 2000)))
			var ss []map[string]any
			for range 20 {
				ss = append(ss, imageSection(big, "image/png"))
			}
			return mustJSON(t, baseReport(ss...))
		}, maxPages: 40},
		{name: "image data over 8 MiB", data: sections(imageSection(bytes.Repeat([]byte{0}, 8<<20+1), "image/png")), want: "sections[0].data"},
	}
}

// TestBadInput runs every bad input class through decode, layout, PDF and
// thumbnail: each is refused with an error naming its field path, or
// renders within a page bound; nothing panics. Time, allocation and peak
// RSS of each are logged.
func TestBadInput(t *testing.T) {
	// Every PDF a bad input renders to must still be PDF/A-1b: they are
	// validated together at the end, in one Java process.
	pdfDir := t.TempDir()
	var pdfs []string
	defer func() {
		if len(pdfs) > 0 && !t.Failed() {
			start := time.Now()
			testutil.CheckPDFA(t, pdfs)
			t.Logf("PDFBox preflight of %d PDFs: %v", len(pdfs), time.Since(start).Round(time.Millisecond))
		}
	}()
	for i, c := range badCases() {
		t.Run(c.name, func(t *testing.T) {
			if testing.Short() && c.want == "" {
				t.Skip("rendering big inputs in -short mode")
			}
			data := c.data(t)
			var res *rendered
			var err error
			took, alloc, peak := measure(func() {
				defer func() {
					if p := recover(); p != nil {
						err = fmt.Errorf("panic: %v", p)
					}
				}()
				res, err = renderAll(data)
			})
			if err != nil && strings.HasPrefix(err.Error(), "panic") {
				t.Fatal(err)
			}
			switch {
			case c.want != "" && err == nil:
				t.Fatalf("rendered (%d pages); want a refusal naming %s", len(res.laid.Pages), c.want)
			case c.want != "":
				var errs report.Errors
				if !errors.As(err, &errs) {
					// Image bytes are decoded only at layout (the decoder
					// reads headers): the refusal comes from there.
					if !strings.Contains(err.Error(), c.want+".") && !strings.Contains(err.Error(), c.want+":") {
						t.Fatalf("refused with %v; want an error naming %s", err, c.want)
					}
					t.Logf("refused at layout, not by the decoder (%v): %s", took.Round(time.Millisecond), firstLine(err.Error(), 160))
					return
				}
				found := false
				for _, fe := range errs {
					if strings.HasPrefix(fe.Path, c.want) && fe.Rule != "" {
						found = true
					}
				}
				if !found {
					t.Errorf("refusal does not name %s: %v", c.want, err)
				}
				t.Logf("refused (%d bytes in, %v, %s allocated, peak RSS %s): %s", len(data), took.Round(time.Millisecond), mib(int64(alloc)), mib(peak), firstLine(err.Error(), 160))
			case err != nil:
				t.Fatalf("refused: %v; want it rendered", err)
			default:
				if len(res.laid.Pages) == 0 || c.maxPages > 0 && len(res.laid.Pages) > c.maxPages {
					t.Errorf("%d pages; want 1..%d", len(res.laid.Pages), c.maxPages)
				}
				p := filepath.Join(pdfDir, fmt.Sprintf("case%02d.pdf", i))
				if err := os.WriteFile(p, res.pdf, 0o644); err != nil {
					t.Fatal(err)
				}
				pdfs = append(pdfs, p)
				t.Logf("rendered (%d bytes in): %d pages, PDF %d bytes, thumbnail %dx%d, %d warnings; %v, %s allocated, peak RSS %s",
					len(data), len(res.laid.Pages), len(res.pdf), res.thumb.Width, res.thumb.Height, len(res.laid.Warnings),
					took.Round(time.Millisecond), mib(int64(alloc)), mib(peak))
			}
		})
	}
}

func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}
