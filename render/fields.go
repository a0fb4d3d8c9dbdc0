package render

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/foliohealth/folio/render/layout"
	"github.com/foliohealth/folio/report"
)

// maxFieldsNamed bounds the field paths one replacement warning lists.
const maxFieldsNamed = 5

// replacementWarnings returns one warning per character layout replaced
// (a script folio cannot shape, or no embedded font), naming the report
// fields that hold it by their JSON paths ("sections[2].body: character
// U+0915 ..."), so an integration engineer can find the text. A character
// found in no field (text of folio's own) keeps layout's warning as is.
func replacementWarnings(r *report.Report, res *layout.Result) []string {
	if len(res.Replaced) == 0 {
		return res.Warnings
	}
	paths := make(map[rune][]string, len(res.Replaced))
	more := make(map[rune]int)
	walkStrings(reflect.ValueOf(r).Elem(), "", func(path, s string) {
		for _, rp := range res.Replaced {
			if strings.ContainsRune(s, rp.R) {
				if len(paths[rp.R]) < maxFieldsNamed {
					paths[rp.R] = append(paths[rp.R], path)
				} else {
					more[rp.R]++
				}
			}
		}
	})
	out := make([]string, 0, len(res.Warnings))
	for i, w := range res.Warnings {
		if i >= len(res.Replaced) || len(paths[res.Replaced[i].R]) == 0 {
			out = append(out, w)
			continue
		}
		rp := res.Replaced[i]
		names := strings.Join(paths[rp.R], ", ")
		if n := more[rp.R]; n > 0 {
			names += fmt.Sprintf(" (and %d more)", n)
		}
		out = append(out, names+": "+w)
	}
	return out
}

// walkStrings calls visit with the JSON path and value of every string in
// v (a report model value), in field order.
func walkStrings(v reflect.Value, path string, visit func(path, s string)) {
	switch v.Kind() {
	case reflect.String:
		visit(path, v.String())
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkStrings(v.Elem(), path, visit)
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // image data
		}
		for i := 0; i < v.Len(); i++ {
			walkStrings(v.Index(i), path+"["+strconv.Itoa(i)+"]", visit)
		}
	case reflect.Struct:
		t := v.Type()
		if t.PkgPath() != reflect.TypeOf(report.Report{}).PkgPath() {
			return // time.Time and the like hold no text
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			walkStrings(v.Field(i), p, visit)
		}
	}
}
