package report

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Check validates r, a report an input adapter built in Go (HL7 v2, FHIR),
// exactly as Decode validates r's encoding/json encoding, and returns what
// Decode would return: the same rules, the same field paths and messages,
// the same Report (times read back from their RFC 3339 form). It does so
// without encoding: it builds the tree Decode's parser would make of that
// encoding straight from r (the fields encoding/json writes, in its order,
// omitempty fields left out, nil slices as null) and runs Decode's own walk
// over it, so the rules exist once.
//
// Where the tree cannot cheaply be what the JSON would parse to (a string
// that is not valid UTF-8, which encoding/json rewrites byte by byte; nesting
// deeper than lim.MaxJSONDepth; an encoding that might exceed lim.MaxBytes;
// a time encoding/json refuses), Check encodes r and calls Decode instead,
// so the answer is the same either way. An error from encoding is returned
// as "encoding the report: ..."; every other error is an Errors.
func Check(r *Report, lim Limits) (*Report, error) {
	lim = lim.withDefaults()
	if r == nil {
		return checkEncoded(r, lim)
	}
	b := &treeBuilder{lim: lim}
	root := b.report(r)
	if b.exotic || b.bytes > lim.MaxBytes {
		return checkEncoded(r, lim)
	}
	w := &walker{lim: lim}
	out := w.report(root)
	if len(w.errs) > 0 {
		return nil, w.errs
	}
	return out, nil
}

// checkEncoded is Check the long way: encode, then Decode.
func checkEncoded(r *Report, lim Limits) (*Report, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding the report: %w", err)
	}
	return Decode(data, lim)
}

// treeBuilder makes the tree parse would return for the encoding/json
// encoding of a Report. bytes is an upper bound of that encoding's length
// (a string byte is at most 6 bytes escaped); exotic says the tree may
// differ from the parsed encoding and Check must take the long way.
type treeBuilder struct {
	lim    Limits
	bytes  int
	exotic bool

	// Storage handed out in chunks, so that a report's tree takes a few
	// allocations rather than several per field.
	strs []string
	objs []object
	keys []string
	vals []any
}

const chunk = 16

// obj starts an object of at most n members at nesting level depth (the
// report is level 1).
func (b *treeBuilder) obj(depth, n int) *object {
	if depth > b.lim.MaxJSONDepth {
		b.exotic = true
	}
	b.bytes += 2
	if len(b.objs) == cap(b.objs) {
		b.objs = make([]object, 0, chunk)
	}
	if cap(b.keys)-len(b.keys) < n {
		b.keys = make([]string, 0, max(n, 4*chunk))
		b.vals = make([]any, 0, max(n, 4*chunk))
	}
	b.objs = append(b.objs, object{keys: b.keys[len(b.keys) : len(b.keys) : len(b.keys)+n], list: b.vals[len(b.vals) : len(b.vals) : len(b.vals)+n]})
	b.keys, b.vals = b.keys[:len(b.keys)+n], b.vals[:len(b.vals)+n]
	return &b.objs[len(b.objs)-1]
}

func (b *treeBuilder) add(o *object, key string, v any) {
	b.bytes += len(key) + 4
	o.keys = append(o.keys, key)
	o.list = append(o.list, v)
}

// str is a string value.
func (b *treeBuilder) str(s string) any {
	if !utf8.ValidString(s) {
		b.exotic = true
	}
	b.bytes += 6*len(s) + 2
	if len(b.strs) == cap(b.strs) {
		b.strs = make([]string, 0, 4*chunk)
	}
	b.strs = append(b.strs, s)
	return &b.strs[len(b.strs)-1]
}

// addStr adds a string member; omitEmpty leaves an empty one out, as the
// field's omitempty tag does.
func (b *treeBuilder) addStr(o *object, key, s string, omitEmpty bool) {
	if omitEmpty && s == "" {
		return
	}
	b.add(o, key, b.str(s))
}

// time is a time value as time.Time.MarshalJSON writes it.
func (b *treeBuilder) time(t time.Time) any {
	js, err := t.MarshalJSON()
	if err != nil || len(js) < 2 {
		b.exotic = true // encoding/json refuses it: the long way says how
		return ""
	}
	b.bytes += len(js)
	return string(js[1 : len(js)-1])
}

func (b *treeBuilder) report(r *Report) *object {
	o := b.obj(1, 18)
	b.addStr(o, "schema", r.Schema, false)
	b.addStr(o, "id", r.ID, false)
	b.add(o, "version", json.Number(strconv.Itoa(r.Version)))
	b.bytes += 20
	b.addStr(o, "kind", r.Kind, false)
	b.addStr(o, "title", r.Title, false)
	b.addStr(o, "status", r.Status, false)
	b.add(o, "issued", b.time(r.Issued))

	p := b.obj(2, 5)
	b.addStr(p, "id", r.Patient.ID, false)
	b.addStr(p, "name", r.Patient.Name, false)
	b.addStr(p, "mrn", r.Patient.MRN, true)
	b.addStr(p, "birthDate", r.Patient.BirthDate, true)
	b.addStr(p, "sex", r.Patient.Sex, true)
	b.add(o, "patient", p)

	if f := r.Facility; f != nil {
		fo := b.obj(2, 3)
		b.addStr(fo, "name", f.Name, true)
		b.addStr(fo, "address", f.Address, true)
		b.addStr(fo, "phone", f.Phone, true)
		b.add(o, "facility", fo)
	}
	b.addStr(o, "accession", r.Accession, true)
	b.addStr(o, "orderingProvider", r.OrderingProvider, true)
	b.addStr(o, "encounterId", r.EncounterID, true)
	if len(r.Performers) > 0 {
		a := b.arr(2, len(r.Performers))
		for _, pf := range r.Performers {
			po := b.obj(3, 3)
			b.addStr(po, "name", pf.Name, false)
			b.addStr(po, "role", pf.Role, false)
			if pf.SignedAt != nil {
				b.add(po, "signedAt", b.time(*pf.SignedAt))
			}
			a = append(a, po)
		}
		b.add(o, "performers", a)
	}
	if len(r.Specimens) > 0 {
		a := b.arr(2, len(r.Specimens))
		for _, sp := range r.Specimens {
			so := b.obj(3, 4)
			b.addStr(so, "label", sp.Label, false)
			b.addStr(so, "description", sp.Description, false)
			if sp.Collected != nil {
				b.add(so, "collected", b.time(*sp.Collected))
			}
			if sp.Received != nil {
				b.add(so, "received", b.time(*sp.Received))
			}
			a = append(a, so)
		}
		b.add(o, "specimens", a)
	}
	if e := r.Exam; e != nil {
		eo := b.obj(2, 5)
		b.addStr(eo, "modality", e.Modality, true)
		b.addStr(eo, "description", e.Description, true)
		if !e.Performed.IsZero() {
			b.add(eo, "performed", b.time(e.Performed))
		}
		b.addStr(eo, "bodySite", e.BodySite, true)
		b.addStr(eo, "studyUid", e.StudyUID, true)
		b.add(o, "exam", eo)
	}
	if r.Sections == nil {
		b.add(o, "sections", nil) // encoding/json writes null
	} else {
		b.add(o, "sections", b.sections(r.Sections, 2))
	}
	if len(r.Addenda) > 0 {
		a := b.arr(2, len(r.Addenda))
		for _, ad := range r.Addenda {
			ao := b.obj(3, 3)
			b.add(ao, "issued", b.time(ad.Issued))
			b.addStr(ao, "author", ad.Author, false)
			b.addStr(ao, "body", ad.Body, false)
			a = append(a, ao)
		}
		b.add(o, "addenda", a)
	}
	if am := r.Amendment; am != nil {
		ao := b.obj(2, 2)
		b.addStr(ao, "reason", am.Reason, false)
		b.add(ao, "issued", b.time(am.Issued))
		b.add(o, "amendment", ao)
	}
	return o
}

// arr starts an array at nesting level depth.
func (b *treeBuilder) arr(depth, n int) []any {
	if depth > b.lim.MaxJSONDepth {
		b.exotic = true
	}
	b.bytes += 2 + n
	return make([]any, 0, n)
}

// itemKeys is the member list of every item (label and value are always written).
var itemKeyList = []string{"label", "value"}

// sections is an array of sections at nesting level depth.
func (b *treeBuilder) sections(ss []Section, depth int) []any {
	a := b.arr(depth, len(ss))
	for i := range ss {
		s := &ss[i]
		o := b.obj(depth+1, 12)
		b.addStr(o, "kind", s.Kind, false)
		b.addStr(o, "title", s.Title, false)
		b.addStr(o, "body", s.Body, true)
		if len(s.Items) > 0 {
			items := b.arr(depth+2, len(s.Items))
			objs := make([]object, len(s.Items))
			vals := make([]any, 2*len(s.Items))
			if depth+3 > b.lim.MaxJSONDepth {
				b.exotic = true
			}
			for j, it := range s.Items {
				vals[2*j], vals[2*j+1] = b.str(it.Label), b.str(it.Value)
				objs[j] = object{keys: itemKeyList, list: vals[2*j : 2*j+2 : 2*j+2]}
				b.bytes += 2 + len("label") + len("value") + 8
				items = append(items, &objs[j])
			}
			b.add(o, "items", items)
		}
		if len(s.Columns) > 0 {
			b.add(o, "columns", b.strArray(s.Columns, depth+2))
		}
		if len(s.Rows) > 0 {
			rows := b.arr(depth+2, len(s.Rows))
			for _, row := range s.Rows {
				if row == nil {
					rows = append(rows, nil)
					continue
				}
				rows = append(rows, b.strArray(row, depth+3))
			}
			b.add(o, "rows", rows)
		}
		b.addStr(o, "contentType", s.ContentType, true)
		if len(s.Data) > 0 {
			enc := base64.StdEncoding.EncodeToString(s.Data)
			b.bytes += len(enc) + 2
			b.add(o, "data", enc)
		}
		b.addStr(o, "caption", s.Caption, true)
		b.addStr(o, "url", s.URL, true)
		b.addStr(o, "text", s.LinkText, true)
		if len(s.Sections) > 0 {
			b.add(o, "sections", b.sections(s.Sections, depth+2))
		}
		a = append(a, o)
	}
	return a
}

// strArray is an array of strings.
func (b *treeBuilder) strArray(ss []string, depth int) []any {
	a := b.arr(depth, len(ss))
	for _, s := range ss {
		a = append(a, b.str(s))
	}
	return a
}
