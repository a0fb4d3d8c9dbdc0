package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds Decode arbitrary bytes, seeded from every good and bad
// fixture. Decode must not panic or hang; a refusal must be a non-empty
// Errors with paths; an accepted report, re-encoded with encoding/json, must
// decode again to an equal report (equal meaning the same JSON encoding:
// same values, same instants and offsets).
func FuzzDecode(f *testing.F) {
	for _, pattern := range []string{"../fixtures/*.json", "../fixtures/bad/*.json"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	lim := DefaultLimits()
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(data, lim)
		if err != nil {
			var errs Errors
			if r != nil || !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("refusal is %T %v with report %v", err, err, r)
			}
			for _, e := range errs {
				if e.Path == "" || e.Rule == "" {
					t.Fatalf("error without path or rule: %q", e.Error())
				}
			}
			return
		}
		first, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("accepted report does not encode: %v", err)
		}
		lim2 := lim
		lim2.MaxBytes = 8 * len(first) // escaping may grow the JSON; the content limits are unchanged
		r2, err := Decode(first, lim2)
		if err != nil {
			t.Fatalf("re-encoded report refused:\n%v\n%s", err, first)
		}
		second, err := json.Marshal(r2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("round trip changed the report:\n%s\n%s", first, second)
		}
	})
}

// BenchmarkDecode decodes the spec's example report (a typical 2-page AP
// report, 1.1 KB) and a report with an embedded key image.
func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"spec-example", "surgical-breast", "key-images"} {
		data, err := os.ReadFile("../fixtures/" + name + ".json")
		if err != nil {
			b.Skipf("fixture %s: %v", name, err)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(data, DefaultLimits()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzDecodeValues puts fuzzed text into the fields whose parsing is most
// intricate (times, dates, version, ids, image data) of an otherwise valid
// report, so that the round-trip property of FuzzDecode is exercised on
// accepted reports and not only on refusals.
func FuzzDecodeValues(f *testing.F) {
	f.Add("2026-11-20T14:03:00-05:00", "1961-04-09", "1", "S26-1", "Body", "iVBORw0KGgo=")
	f.Add("2026-11-20t14:03:00.5z", "2000-02-29", "2.0", "a.b-c", "a\tb\nc", "/9j/4AAQ")
	f.Add("0000-01-01T00:00:00+23:59", "9999-12-31", "1e2", "x", "\u2028", "")
	f.Fuzz(func(t *testing.T, issued, birth, version, id, body, data string) {
		doc := map[string]any{
			"schema": Schema, "id": id, "kind": KindRadiology, "title": "T", "status": "final", "issued": issued,
			"patient": map[string]any{"id": "p", "name": "N", "birthDate": birth},
			"exam":    map[string]any{"modality": "CT", "description": "d", "performed": issued},
			"sections": []any{
				map[string]any{"kind": "text", "title": "t", "body": body},
				map[string]any{"kind": "image", "title": "i", "contentType": "image/png", "data": data},
			},
		}
		raw, err := json.Marshal(doc)
		if err != nil {
			t.Skip()
		}
		raw = bytes.Replace(raw, []byte(`"schema"`), []byte(`"version":`+version+`,"schema"`), 1)
		r, err := Decode(raw, DefaultLimits())
		if err != nil {
			return
		}
		first, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("accepted report does not encode: %v", err)
		}
		r2, err := Decode(first, DefaultLimits())
		if err != nil {
			t.Fatalf("re-encoded report refused:\n%v\n%s", err, first)
		}
		if second, _ := json.Marshal(r2); !bytes.Equal(first, second) {
			t.Fatalf("round trip changed the report:\n%s\n%s", first, second)
		}
	})
}
