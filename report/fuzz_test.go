package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
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

// FuzzParse checks folio's JSON parser against encoding/json: the same
// documents are JSON, and they parse to the same values, except where folio
// is deliberately stricter (invalid UTF-8, lone surrogate escapes, nesting
// deeper than the limit) or keeps the first of repeated keys where
// encoding/json keeps the last.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"a":[1,-2.5e+3,"x\u00e9\ud83d\ude00",true,false,null,{}]}`, `[]`, `"\/\b\f\n\r\t"`, `-0`, `01`, `1.`, `{"a" 1}`, `[1,]`, ` {"k":"v"} `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const depth = 20
		got, perr := parse(data, depth)
		var want any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		jerr := dec.Decode(&want)
		if jerr == nil && dec.InputOffset() < int64(len(bytes.TrimRight(data, " \t\r\n"))) {
			jerr = errors.New("trailing data")
		}
		if perr != nil {
			if jerr != nil || strings.Contains(perr.Rule, "invalid UTF-8") || strings.Contains(perr.Rule, "surrogate") ||
				strings.Contains(perr.Rule, "levels deep") {
				return
			}
			t.Fatalf("folio refuses, encoding/json accepts: %v", perr)
		}
		if jerr != nil {
			t.Fatalf("folio accepts, encoding/json refuses: %v", jerr)
		}
		if hasDups(got) {
			return
		}
		if g := plain(got); !reflect.DeepEqual(g, want) {
			t.Fatalf("parsed differently:\nfolio %#v\njson  %#v", g, want)
		}
	})
}

// plain converts a parse tree to encoding/json's generic form.
func plain(v any) any {
	switch v := v.(type) {
	case *object:
		m := make(map[string]any, len(v.keys))
		for _, k := range v.keys {
			m[k] = plain(v.vals[k])
		}
		return m
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = plain(e)
		}
		return out
	}
	return v
}

// hasDups reports whether any object in the tree repeated a key.
func hasDups(v any) bool {
	switch v := v.(type) {
	case *object:
		if len(v.dups) > 0 {
			return true
		}
		for _, k := range v.keys {
			if hasDups(v.vals[k]) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if hasDups(e) {
				return true
			}
		}
	}
	return false
}
