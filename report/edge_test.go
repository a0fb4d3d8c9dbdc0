package report

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"strings"
	"testing"
	"time"
)

// minimal returns a valid radiology report as a map the test can change.
func minimal() map[string]any {
	return map[string]any{
		"schema": Schema, "id": "R-1", "kind": KindRadiology, "title": "CT Head",
		"status": "final", "issued": "2026-01-02T03:04:05Z",
		"patient": map[string]any{"id": "p1", "name": "Doe, John"},
		"exam":    map[string]any{"modality": "CT", "description": "CT head", "performed": "2026-01-02T02:00:00Z"},
		"sections": []any{
			map[string]any{"kind": "text", "title": "Impression", "body": "Normal."},
		},
	}
}

func encode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// refuse decodes v and returns its error lines, failing if it is accepted.
func refuse(t *testing.T, v any, lim Limits) []string {
	t.Helper()
	data, ok := v.([]byte)
	if !ok {
		data = encode(t, v)
	}
	r, err := Decode(data, lim)
	if err == nil {
		t.Fatalf("accepted: %+v", r)
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, not Errors", err)
	}
	return strings.Split(err.Error(), "\n")
}

// accept decodes v and fails on any error.
func accept(t *testing.T, v any) *Report {
	t.Helper()
	r, err := Decode(encode(t, v), DefaultLimits())
	if err != nil {
		t.Fatalf("refused:\n%v", err)
	}
	return r
}

func wantLines(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDecodeSpecExample(t *testing.T) {
	data, err := os.ReadFile("../fixtures/spec-example.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Decode(data, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	issued := time.Date(2026, 11, 20, 19, 3, 0, 0, time.UTC)
	if r.Kind != KindAP || r.Version != 1 || r.Patient.Name != "Ramírez, Ana" || r.Patient.BirthDate != "1961-04-09" ||
		!r.Issued.Equal(issued) || r.Accession != "S26-004512" || r.Facility == nil ||
		len(r.Performers) != 1 || r.Performers[0].SignedAt == nil || len(r.Specimens) != 1 {
		t.Errorf("top level decoded wrong: %+v", r)
	}
	if _, off := r.Issued.Zone(); off != -5*3600 {
		t.Errorf("issued lost its offset: %v", r.Issued)
	}
	if len(r.Sections) != 3 || r.Sections[1].Items[1] != (Item{"pT", "pT1c"}) ||
		r.Sections[2].URL != "https://slides.example.org/case/S26-004512" || r.Sections[2].LinkText != "Whole-slide images" {
		t.Errorf("sections decoded wrong: %+v", r.Sections)
	}
}

func TestDecodeAccepts(t *testing.T) {
	t.Run("version defaults to 1, integral numbers are integers", func(t *testing.T) {
		m := minimal()
		if r := accept(t, m); r.Version != 1 {
			t.Errorf("version %d", r.Version)
		}
		for in, want := range map[string]int{"2": 2, "2.0": 2, "3e0": 3, "999999999": MaxVersion} {
			data := bytes.Replace(encode(t, m), []byte(`"schema"`), []byte(`"version":`+in+`,"schema"`), 1)
			r, err := Decode(data, DefaultLimits())
			if err != nil || r.Version != want {
				t.Errorf("version %s: got %v, %v", in, r, err)
			}
		}
	})
	t.Run("lower-case t and z, fractions, offsets", func(t *testing.T) {
		m := minimal()
		m["issued"] = "2026-01-02t03:04:05.123456789z"
		m["exam"].(map[string]any)["performed"] = "2026-01-02T03:04:05+14:00"
		r := accept(t, m)
		if r.Issued.Nanosecond() != 123456789 || r.Exam.Performed.Hour() != 3 {
			t.Errorf("times: %v %v", r.Issued, r.Exam.Performed)
		}
	})
	t.Run("tab, newline, emoji, U+2028, surrogate pair escapes", func(t *testing.T) {
		data := bytes.Replace(encode(t, minimal()), []byte(`"Normal."`), []byte(`"a\tb\nc 😀 \u2028 \ud83d\ude00 \u00e9"`), 1)
		r, err := Decode(data, DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		if want := "a\tb\nc 😀 \u2028 😀 é"; r.Sections[0].Body != want {
			t.Errorf("body %q, want %q", r.Sections[0].Body, want)
		}
	})
	t.Run("text section with only sub-sections, 3 levels, empty arrays", func(t *testing.T) {
		m := minimal()
		m["performers"] = []any{}
		m["facility"] = map[string]any{}
		m["sections"] = []any{map[string]any{"kind": "text", "title": "Findings", "body": "", "sections": []any{
			map[string]any{"kind": "text", "title": "Chest", "sections": []any{
				map[string]any{"kind": "table", "title": "Nodules", "columns": []any{"Site", "mm"}, "sections": []any{}},
			}},
		}}}
		r := accept(t, m)
		if r.Performers != nil || r.Facility == nil || r.Sections[0].Sections[0].Sections[0].Columns[1] != "mm" ||
			r.Sections[0].Sections[0].Sections[0].Rows != nil {
			t.Errorf("decoded %+v", r)
		}
	})
	t.Run("amendment, addenda, specimens on radiology", func(t *testing.T) {
		m := minimal()
		m["status"] = StatusCorrected
		m["amendment"] = map[string]any{"reason": "Laterality corrected", "issued": "2026-01-03T00:00:00Z"}
		m["addenda"] = []any{map[string]any{"issued": "2026-01-04T00:00:00Z", "author": "Dr A", "body": "*Note*"}}
		m["encounterId"] = "enc-1.2"
		r := accept(t, m)
		if r.Amendment.Reason != "Laterality corrected" || r.Addenda[0].Body != "*Note*" || r.EncounterID != "enc-1.2" {
			t.Errorf("decoded %+v", r)
		}
	})
	t.Run("PNG and JPEG images", func(t *testing.T) {
		m := minimal()
		pngData, jpegData := testPNG(t, 3, 2), testJPEG(t, 4, 5)
		m["sections"] = []any{
			map[string]any{"kind": "image", "title": "Key image", "contentType": "image/png", "data": pngData},
			map[string]any{"kind": "image", "title": "Photo", "contentType": "image/jpeg", "data": jpegData, "caption": "Gross"},
		}
		r := accept(t, m)
		if !bytes.Equal(r.Sections[0].Data, pngData) || !bytes.Equal(r.Sections[1].Data, jpegData) || r.Sections[1].Caption != "Gross" {
			t.Error("image bytes or caption decoded wrong")
		}
	})
}

func testPNG(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func testJPEG(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, w, h)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDecodeRefuses(t *testing.T) {
	t.Run("one error per problem, in walk order", func(t *testing.T) {
		m := minimal()
		m["kind"] = KindAP
		delete(m, "schema")
		m["patient"].(map[string]any)["sex"] = ""
		m["sections"] = []any{map[string]any{"kind": "fields", "title": "F", "items": []any{map[string]any{"label": "a", "value": 1}}, "body": "x", "bogus": 1}}
		wantLines(t, refuse(t, m, DefaultLimits()),
			"schema: required",
			`patient.sex: must not be empty`,
			"sections[0].body: not allowed in a fields section",
			"sections[0].bogus: unknown field",
			"sections[0].items[0].value: must be a string, not a number")
	})
	t.Run("odd keys are quoted in paths", func(t *testing.T) {
		m := minimal()
		m["patient"].(map[string]any)["a.b"] = 1
		m["\x07"] = 1
		wantLines(t, refuse(t, m, DefaultLimits()), `["\a"]: unknown field`, `patient["a.b"]: unknown field`)
	})
	t.Run("long values are shortened in messages", func(t *testing.T) {
		m := minimal()
		m["status"] = strings.Repeat("é", 100)
		got := refuse(t, m, DefaultLimits())
		if len(got) != 1 || len(got[0]) > 200 || !strings.Contains(got[0], `éé"...`) {
			t.Errorf("got %q", got)
		}
	})
	t.Run("errors are capped", func(t *testing.T) {
		m := minimal()
		for i := 0; i < 150; i++ {
			m[fmt.Sprintf("x%03d", i)] = i
		}
		got := refuse(t, m, DefaultLimits())
		if len(got) != maxErrors+1 || got[maxErrors] != "$: more problems not listed (the first 100 are)" {
			t.Errorf("got %d lines, last %q", len(got), got[len(got)-1])
		}
	})
	t.Run("image not decodable as PNG with right magic", func(t *testing.T) {
		m := minimal()
		bad := append([]byte(nil), testPNG(t, 2, 2)...)
		bad[29] ^= 0xFF // IHDR CRC
		m["sections"] = []any{map[string]any{"kind": "image", "title": "K", "contentType": "image/png", "data": bad}}
		wantLines(t, refuse(t, m, DefaultLimits()), "sections[0].data: unreadable image/png header: png: invalid format: invalid checksum")
	})
	t.Run("base64 with line breaks", func(t *testing.T) {
		m := minimal()
		enc := base64.StdEncoding.EncodeToString(testPNG(t, 2, 2))
		m["sections"] = []any{map[string]any{"kind": "image", "title": "K", "contentType": "image/png", "data": enc[:8] + "\n" + enc[8:]}}
		wantLines(t, refuse(t, m, DefaultLimits()), `sections[0].data: not base64: character '\n' at offset 8 (standard alphabet with padding, no line breaks)`)
	})
}

func TestLimits(t *testing.T) {
	small := func(f func(*Limits)) Limits { l := DefaultLimits(); f(&l); return l }
	t.Run("zero limits mean defaults", func(t *testing.T) {
		if got := (Limits{}).withDefaults(); got != DefaultLimits() {
			t.Errorf("got %+v", got)
		}
		if _, err := Decode(encode(t, minimal()), Limits{}); err != nil {
			t.Error(err)
		}
	})
	t.Run("report bytes, before parsing", func(t *testing.T) {
		data := append(encode(t, minimal()), bytes.Repeat([]byte(" "), 100)...)
		lim := small(func(l *Limits) { l.MaxBytes = len(data) - 1 })
		wantLines(t, refuse(t, data, lim), fmt.Sprintf("$: report is %d bytes, more than the limit of %d", len(data), len(data)-1))
		if _, err := Decode(data[:len(data)-1], lim); err != nil {
			t.Errorf("report at the limit refused: %v", err)
		}
		if _, err := Decode([]byte("["+strings.Repeat(" ", 16<<20)), DefaultLimits()); err == nil ||
			!strings.HasPrefix(err.Error(), "$: report is 16777217 bytes") {
			t.Errorf("16 MiB default: %v", err)
		}
	})
	t.Run("JSON depth, without recursion", func(t *testing.T) {
		deep := []byte(strings.Repeat("[", 1_000_000))
		wantLines(t, refuse(t, deep, DefaultLimits()), "$: JSON nested more than 32 levels deep (line 1, column 33, byte offset 32)")
	})
	t.Run("text in all", func(t *testing.T) {
		m := minimal()
		m["sections"] = []any{
			map[string]any{"kind": "plain", "title": "A", "body": strings.Repeat("a", 600)},
			map[string]any{"kind": "plain", "title": "B", "body": strings.Repeat("b", 600)},
			map[string]any{"kind": "plain", "title": "C", "body": strings.Repeat("c", 600)},
		}
		wantLines(t, refuse(t, m, small(func(l *Limits) { l.MaxTextBytes = 1000 })), "sections[1].body: text of the report exceeds 1000 bytes in all")
	})
	t.Run("one string", func(t *testing.T) {
		m := minimal()
		m["title"] = strings.Repeat("t", 101)
		wantLines(t, refuse(t, m, small(func(l *Limits) { l.MaxStringBytes = 100 })), "title: string is 101 bytes, more than the limit of 100")
	})
	t.Run("sections in all, across levels", func(t *testing.T) {
		m := minimal()
		sub := []any{}
		for i := 0; i < 3; i++ {
			sub = append(sub, map[string]any{"kind": "text", "title": "s", "body": "b"})
		}
		m["sections"] = []any{map[string]any{"kind": "text", "title": "top", "sections": sub}, map[string]any{"kind": "text", "title": "x", "body": "y"}}
		wantLines(t, refuse(t, m, small(func(l *Limits) { l.MaxSections = 3 })), "sections[0].sections[2]: more than 3 sections in the report")
	})
	t.Run("section depth is configurable", func(t *testing.T) {
		m := minimal()
		m["sections"] = []any{map[string]any{"kind": "text", "title": "1", "sections": []any{map[string]any{"kind": "text", "title": "2", "body": "b"}}}}
		wantLines(t, refuse(t, m, small(func(l *Limits) { l.MaxSectionDepth = 1 })), "sections[0].sections: sections nest at most 1 levels deep")
	})
	table := func(cols, rows int) map[string]any {
		m := minimal()
		c := make([]any, cols)
		for i := range c {
			c[i] = "c"
		}
		r := make([]any, rows)
		for i := range r {
			r[i] = c
		}
		m["sections"] = []any{map[string]any{"kind": "table", "title": "T", "columns": c, "rows": r}}
		return m
	}
	t.Run("table columns", func(t *testing.T) {
		wantLines(t, refuse(t, table(5, 1), small(func(l *Limits) { l.MaxTableColumns = 4 })),
			"sections[0].columns: holds 5 columns, more than the limit of 4")
	})
	t.Run("table rows", func(t *testing.T) {
		wantLines(t, refuse(t, table(1, 5), small(func(l *Limits) { l.MaxTableRows = 4 })),
			"sections[0].rows: holds 5 rows, more than the limit of 4")
	})
	t.Run("table cells", func(t *testing.T) {
		wantLines(t, refuse(t, table(4, 4), small(func(l *Limits) { l.MaxTableCells = 15 })),
			"sections[0].rows: table has 16 cells, more than the limit of 15")
	})
	t.Run("items, performers, specimens, addenda", func(t *testing.T) {
		m := minimal()
		m["sections"] = []any{map[string]any{"kind": "fields", "title": "F", "items": []any{
			map[string]any{"label": "a", "value": ""}, map[string]any{"label": "b", "value": ""}}}}
		m["performers"] = []any{map[string]any{"name": "a", "role": "r"}, map[string]any{"name": "b", "role": "r"}}
		m["specimens"] = []any{map[string]any{"label": "A", "description": "d"}, map[string]any{"label": "B", "description": "d"}}
		m["addenda"] = []any{map[string]any{"issued": "2026-01-02T03:04:05Z", "author": "a", "body": "b"}, map[string]any{"issued": "2026-01-02T03:04:05Z", "author": "a", "body": "b"}}
		wantLines(t, refuse(t, m, small(func(l *Limits) { l.MaxItems, l.MaxPerformers, l.MaxSpecimens, l.MaxAddenda = 1, 1, 1, 1 })),
			"performers: holds 2 performers, more than the limit of 1",
			"specimens: holds 2 specimens, more than the limit of 1",
			"sections[0].items: holds 2 items, more than the limit of 1",
			"addenda: holds 2 addenda, more than the limit of 1")
	})
	t.Run("image bytes", func(t *testing.T) {
		m := minimal()
		img := testPNG(t, 50, 50)
		m["sections"] = []any{map[string]any{"kind": "image", "title": "K", "contentType": "image/png", "data": img}}
		wantLines(t, refuse(t, m, small(func(l *Limits) { l.MaxImageBytes = len(img) - 1 })),
			fmt.Sprintf("sections[0].data: image is %d bytes, more than the limit of %d", len(img), len(img)-1))
		wantLines(t, refuse(t, m, small(func(l *Limits) { l.MaxImageBytes = len(img) / 2 })),
			fmt.Sprintf("sections[0].data: image is about %d bytes, more than the limit of %d", base64.StdEncoding.DecodedLen(base64.StdEncoding.EncodedLen(len(img))), len(img)/2))
	})
	t.Run("image pixels", func(t *testing.T) {
		m := minimal()
		m["sections"] = []any{map[string]any{"kind": "image", "title": "K", "contentType": "image/jpeg", "data": testJPEG(t, 300, 200)}}
		wantLines(t, refuse(t, m, small(func(l *Limits) { l.MaxImagePixels = 59999 })),
			"sections[0].data: image is 300x200 pixels (0.1 megapixels), more than the limit of 0.1 megapixels")
		if _, err := Decode(encode(t, m), small(func(l *Limits) { l.MaxImagePixels = 60000 })); err != nil {
			t.Errorf("image at the pixel limit refused: %v", err)
		}
	})
}

// TestNoPanicOnPrefixes decodes every prefix and some byte flips of a rich
// fixture: each must be refused or accepted, never panic.
func TestNoPanicOnPrefixes(t *testing.T) {
	data, err := os.ReadFile("../fixtures/spec-example.json")
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.TrimSpace(data)
	for i := range data {
		if _, err := Decode(data[:i], DefaultLimits()); err == nil {
			t.Fatalf("prefix of %d bytes accepted", i)
		}
		flipped := append([]byte(nil), data...)
		flipped[i] ^= 0x20
		_, _ = Decode(flipped, DefaultLimits())
	}
}

func TestErrorsFormat(t *testing.T) {
	errs := Errors{{Path: "a", Rule: "x"}, {Path: "b[0].c", Rule: "y"}}
	if errs.Error() != "a: x\nb[0].c: y" || errs[1].Error() != "b[0].c: y" {
		t.Errorf("got %q", errs.Error())
	}
	var err error = errs
	var got Errors
	if !errors.As(fmt.Errorf("job 7: %w", err), &got) || len(got) != 2 {
		t.Error("errors.As does not find Errors through wrapping")
	}
}

// TestNoReportPixelBudget: images within the per-image limits are never
// refused for their number or their total pixels (issue 18): three images
// of the largest size a (lowered) per-image limit takes all decode.
func TestNoReportPixelBudget(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxImagePixels = 250 * 200
	var secs []any
	for i := 0; i < 3; i++ {
		secs = append(secs, map[string]any{"kind": "image", "title": "i", "contentType": "image/png", "data": testPNG(t, 250, 200)})
	}
	m := minimal()
	m["sections"] = secs
	if _, err := Decode(encode(t, m), lim); err != nil {
		t.Fatalf("three images each at the per-image limit: %v", err)
	}
	secs = append(secs, map[string]any{"kind": "image", "title": "i", "contentType": "image/png", "data": testPNG(t, 251, 200)})
	m["sections"] = secs
	_, err := Decode(encode(t, m), lim)
	if err == nil || err.Error() != "sections[3].data: image is 251x200 pixels (0.1 megapixels), more than the limit of 0.1 megapixels" {
		t.Fatalf("one image past the per-image limit: %v", err)
	}
}
