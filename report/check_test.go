package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// sameTree reports where two parsed trees differ ("" when they do not):
// objects compare by their keys in order, their values and repeated keys,
// whether the values sit in a map (parsed JSON) or a list (Check's tree).
func sameTree(path string, a, b any) string {
	switch x := a.(type) {
	case *object:
		y, ok := b.(*object)
		if !ok {
			return fmt.Sprintf("%s: object vs %T", path, b)
		}
		if !slices.Equal(x.keys, y.keys) {
			return fmt.Sprintf("%s: keys %q vs %q", path, x.keys, y.keys)
		}
		if len(x.dups) != 0 || len(y.dups) != 0 {
			return fmt.Sprintf("%s: repeated keys %q vs %q", path, x.dups, y.dups)
		}
		for _, k := range x.keys {
			va, _ := x.get(k)
			vb, _ := y.get(k)
			if d := sameTree(path+"."+k, va, vb); d != "" {
				return d
			}
		}
		return ""
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return fmt.Sprintf("%s: array of %d vs %#v", path, len(x), b)
		}
		for i := range x {
			if d := sameTree(fmt.Sprintf("%s[%d]", path, i), x[i], y[i]); d != "" {
				return d
			}
		}
		return ""
	}
	if p, ok := b.(*string); ok {
		b = *p // Check's tree holds strings by pointer; the walk reads both alike
	}
	if !reflect.DeepEqual(a, b) {
		return fmt.Sprintf("%s: %#v vs %#v", path, a, b)
	}
	return ""
}

// sameAsEncoded checks that Check(r) gives exactly what encoding r with
// encoding/json and decoding it gives: the same report or the same errors,
// and, where Check builds its tree, the very tree the parser makes of the
// encoding.
func sameAsEncoded(t *testing.T, r *Report, lim Limits) {
	t.Helper()
	got, gotErr := Check(r, lim)
	want, wantErr := checkEncoded(r, lim)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || reflect.TypeOf(gotErr) != reflect.TypeOf(wantErr) {
		t.Fatalf("Check says\n%v\nencoding and Decode say\n%v", gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Check returns\n%+v\nencoding and Decode return\n%+v", got, want)
	}
	lim = lim.withDefaults()
	b := &treeBuilder{lim: lim}
	tree := b.report(r)
	if b.exotic {
		return // Check took the long way
	}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("tree built for a report encoding/json refuses: %v", err)
	}
	if b.bytes < len(data) {
		t.Fatalf("size bound %d is below the encoding's %d bytes", b.bytes, len(data))
	}
	parsed, perr := parse(data, 1000)
	if perr != nil {
		t.Fatal(perr)
	}
	if d := sameTree("$", parsed, tree); d != "" {
		t.Fatalf("Check's tree differs from the parsed encoding at %s", d)
	}
}

// TestCheckIsDecode: for every good fixture and many broken variants of
// them, Check answers exactly as encoding the report and decoding it does.
func TestCheckIsDecode(t *testing.T) {
	for _, f := range goodFixtures(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		base, err := Decode(data, DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			sameAsEncoded(t, base, DefaultLimits())
			for name, mutate := range mutations {
				t.Run(name, func(t *testing.T) {
					r := clone(t, base)
					lim := DefaultLimits()
					mutate(r, &lim)
					sameAsEncoded(t, r, lim)
				})
			}
		})
	}
}

func clone(t *testing.T, r *Report) *Report {
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Decode(data, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var mutations = map[string]func(r *Report, lim *Limits){
	"empty title":          func(r *Report, _ *Limits) { r.Title = "" },
	"bad id":               func(r *Report, _ *Limits) { r.ID = "S26 0045/12" },
	"long id":              func(r *Report, _ *Limits) { r.ID = strings.Repeat("a", 49) },
	"bad schema":           func(r *Report, _ *Limits) { r.Schema = "folio.report/v2" },
	"version 0":            func(r *Report, _ *Limits) { r.Version = 0 },
	"bad kind and status":  func(r *Report, _ *Limits) { r.Kind, r.Status = "lab", "done" },
	"no accession":         func(r *Report, _ *Limits) { r.Accession = "" },
	"corrected":            func(r *Report, _ *Limits) { r.Status = StatusCorrected; r.Amendment = nil },
	"control character":    func(r *Report, _ *Limits) { r.Title = "Report\x01"; r.Patient.Name = "A\rB" },
	"C1 control":           func(r *Report, _ *Limits) { r.Title = "Report\u0085" },
	"not UTF-8":            func(r *Report, _ *Limits) { r.Title = "Ram\xedrez\xff\xfe" },
	"HTML characters":      func(r *Report, _ *Limits) { r.Title = "<b>&amp;</b> \u2028 \"q\" \\" },
	"patient":              func(r *Report, _ *Limits) { r.Patient = Patient{ID: "12 34", BirthDate: "1961-02-30", Sex: "f"} },
	"bad encounter":        func(r *Report, _ *Limits) { r.EncounterID = "V 2026/1" },
	"zero times":           func(r *Report, _ *Limits) { r.Issued = time.Time{} },
	"year 10000":           func(r *Report, _ *Limits) { r.Issued = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
	"odd offset":           func(r *Report, _ *Limits) { r.Issued = r.Issued.In(time.FixedZone("", 5*3600+30*60+17)) },
	"nanoseconds":          func(r *Report, _ *Limits) { r.Issued = r.Issued.Add(123456789) },
	"no sections":          func(r *Report, _ *Limits) { r.Sections = nil },
	"empty sections":       func(r *Report, _ *Limits) { r.Sections = []Section{} },
	"empty facility":       func(r *Report, _ *Limits) { r.Facility = &Facility{} },
	"performer":            func(r *Report, _ *Limits) { r.Performers = append(r.Performers, Performer{}) },
	"specimen":             func(r *Report, _ *Limits) { r.Specimens = append(r.Specimens, Specimen{Label: "C"}) },
	"exam":                 func(r *Report, _ *Limits) { r.Exam = &Exam{Modality: "XX"} },
	"addendum":             func(r *Report, _ *Limits) { r.Addenda = append(r.Addenda, Addendum{Body: "x"}) },
	"amendment":            func(r *Report, _ *Limits) { r.Amendment = &Amendment{} },
	"too few performers":   func(r *Report, lim *Limits) { lim.MaxPerformers = 1; r.Performers = make([]Performer, 3) },
	"deep JSON":            func(r *Report, lim *Limits) { lim.MaxJSONDepth = 4 },
	"small MaxBytes":       func(r *Report, lim *Limits) { lim.MaxBytes = 200 },
	"small MaxTextBytes":   func(r *Report, lim *Limits) { lim.MaxTextBytes = 100 },
	"small MaxStringBytes": func(r *Report, lim *Limits) { lim.MaxStringBytes = 10 },
	"sections": func(r *Report, _ *Limits) {
		r.Sections = append(r.Sections,
			Section{Kind: SectionText, Title: "T", Items: []Item{{Label: "a", Value: "b"}}},
			Section{Kind: SectionText, Title: "T"},
			Section{Kind: SectionPlain, Title: "P", Body: "  x  "},
			Section{Kind: SectionFields, Title: "F", Items: []Item{{}, {Label: "L"}}},
			Section{Kind: SectionFields, Title: "F", Items: []Item{}},
			Section{Kind: SectionTable, Title: "T", Columns: []string{"a", "b"}, Rows: [][]string{nil, {}, {"1"}, {"1", "2"}}},
			Section{Kind: SectionTable, Title: "T", Rows: [][]string{{"1"}}},
			Section{Kind: SectionImage, Title: "I", ContentType: "image/gif", Data: []byte("GIF89a")},
			Section{Kind: SectionImage, Title: "I", ContentType: ContentTypePNG, Data: []byte("\x89PNG\r\n\x1a\nxxxx")},
			Section{Kind: SectionImage, Title: "I"},
			Section{Kind: SectionURL, Title: "U", URL: "https://example.org/x"},
			Section{Kind: "", Title: "", Body: "b", Sections: []Section{{Kind: SectionText, Title: "s", Body: "x",
				Sections: []Section{{Kind: SectionText, Title: "s", Body: "x",
					Sections: []Section{{Kind: SectionText, Title: "too deep", Body: "x"}}}}}}},
			Section{Kind: "chart", Title: "C", Body: "x"},
		)
	},
}

// FuzzCheck: for any report encoding/json can read into the model, Check
// answers exactly as encoding and decoding it does.
func FuzzCheck(f *testing.F) {
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
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Report
		if json.Unmarshal(data, &r) != nil {
			return
		}
		sameAsEncoded(t, &r, DefaultLimits())
	})
}
