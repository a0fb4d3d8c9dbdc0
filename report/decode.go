package report

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/foliohealth/folio"
)

// Decode parses and validates one report JSON document against the v1
// contract (docs/report-v1.md) and lim, and returns the report.
//
// Decode is strict: besides every rule of the contract it refuses fields the
// contract does not name, anywhere, and fields of one section kind used in
// another, because a silently ignored field is almost always an
// integration typo ("acession", "birthdate") that would otherwise print a
// report without the data its sender meant to send. It also refuses JSON
// objects that repeat a key and strings holding a lone UTF-16 surrogate
// escape. A field given as null is absent: fine when the field is optional,
// refused as "required" when it is not; null elsewhere (an array element,
// the document) is refused.
//
// A refused report is refused whole: the error is an Errors listing one
// FieldError per problem (at most 100), each naming the field path and the
// rule. Every error Decode returns is an Errors. Decode never fetches
// anything and never decodes image pixels; it reads image headers only.
// It is safe for concurrent use.
func Decode(data []byte, lim Limits) (*Report, error) {
	lim = lim.withDefaults()
	data = folio.TrimBOM(data) // a Windows tool's byte order mark says nothing
	if len(data) > lim.MaxBytes {
		return nil, Errors{{Path: "$", Rule: fmt.Sprintf("report is %d bytes, more than the limit of %d", len(data), lim.MaxBytes)}}
	}
	tree, perr := parse(data, lim.MaxJSONDepth)
	if perr != nil {
		return nil, Errors{*perr}
	}
	root, ok := tree.(*object)
	if !ok {
		return nil, Errors{{Path: "$", Rule: "must be a JSON object, not " + article(tree)}}
	}
	w := &walker{lim: lim}
	r := w.report(root)
	if len(w.errs) > 0 {
		return nil, w.errs
	}
	return r, nil
}

// walker validates a parsed tree and builds the Report, collecting errors.
type walker struct {
	lim       Limits
	errs      Errors
	full      bool // maxErrors reached
	text      int  // bytes of all strings so far, image data excepted
	textOver  bool
	nsections int // sections walked so far, all levels
	nimages   int // image sections walked so far
}

// fail records one problem.
func (w *walker) fail(path, format string, args ...any) {
	if w.full {
		return
	}
	if len(w.errs) == maxErrors {
		w.full = true
		w.errs = append(w.errs, FieldError{Path: "$", Rule: fmt.Sprintf("more problems not listed (the first %d are)", maxErrors)})
		return
	}
	if path == "" {
		path = "$"
	}
	w.errs = append(w.errs, FieldError{Path: path, Rule: fmt.Sprintf(format, args...)})
}

// join appends a field name to a path.
func join(path, key string) string {
	if !isName(key) {
		return path + "[" + quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// index appends an array index to a path.
func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// isName reports whether key can be written in a dotted path as it is.
func isName(key string) bool {
	if key == "" || len(key) > 64 {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= '0' && c <= '9' && i > 0) {
			return false
		}
	}
	return true
}

// quote returns s as a Go-quoted string, shortened to about 40 characters, so
// that a hostile value never makes an error unreadable.
func quote(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) <= max {
		return strconv.Quote(s)
	}
	n := 0
	for i := range s {
		if n == max {
			return strconv.Quote(s[:i]) + "..."
		}
		n++
	}
	return strconv.Quote(s)
}

// asString returns a string value: a string of parsed JSON, or a *string
// of the tree Check builds (which so holds strings without allocating
// one interface value each).
func asString(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case *string:
		return *s, true
	}
	return "", false
}

// article names a JSON value's type for an error message.
func article(v any) string {
	switch v.(type) {
	case *object:
		return "an object"
	case []any:
		return "an array"
	case string, *string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// keys reports duplicate keys and keys not in allowed. other, when non-nil,
// names the keys that are known elsewhere (fields of another section kind)
// and says why they are refused here.
func (w *walker) keys(path string, o *object, allowed map[string]bool, other func(key string) string) {
	for _, k := range o.dups {
		w.fail(join(path, k), "duplicate key")
	}
	for _, k := range o.keys {
		if allowed[k] {
			continue
		}
		if _, present := o.get(k); !present && other != nil && other(k) != "" {
			continue // null: absent, so not a field of another kind
		}
		if other != nil {
			if why := other(k); why != "" {
				w.fail(join(path, k), "%s", why)
				continue
			}
		}
		w.fail(join(path, k), "unknown field")
	}
}

// set builds a key set.
func set(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// need says whether a field must be present and non-empty.
type need int

const (
	optional need = iota // may be absent or empty
	required             // must be present, may be empty
	nonEmpty             // must be present and not empty
)

// str reads a string field. It returns the value and whether the field was
// present with a string value. A required field that is absent is reported
// as "required"; pass optional and check presence yourself for rules that
// get returns the value of key in o, reporting a missing key that is
// required (n is not optional). The field's path is built only when there
// is a problem to report.
func (w *walker) get(path string, o *object, key string, n need) (any, bool) {
	v, ok := o.get(key)
	if !ok && n != optional {
		w.fail(join(path, key), "required")
	}
	return v, ok
}

// depend on other fields.
func (w *walker) str(path string, o *object, key string, n need) (string, bool) {
	v, ok := w.get(path, o, key, n)
	if !ok {
		return "", false
	}
	s, ok := asString(v)
	if !ok {
		w.fail(join(path, key), "must be a string, not %s", article(v))
		return "", false
	}
	if w.textFits(s) {
		w.text += len(s)
	} else {
		w.checkText(join(path, key), s)
	}
	if n == nonEmpty && s == "" {
		w.fail(join(path, key), "must not be empty")
	}
	return s, true
}

// textFits reports whether s passes every rule checkText applies, so
// that the caller only needs to count its bytes; when it does not,
// checkText says what is wrong.
func (w *walker) textFits(s string) bool {
	if len(s) > w.lim.MaxStringBytes || w.text+len(s) > w.lim.MaxTextBytes {
		return false
	}
	// The control characters isControl names, read from the UTF-8 bytes:
	// C0 other than tab and newline, DEL, and C1 (U+0080-U+009F, encoded
	// C2 80 to C2 9F).
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\t' && c != '\n' || c == 0x7f || c == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f {
			return false
		}
	}
	return true
}

// checkText applies the rules every string shares: length, control
// characters and the report's total text.
func (w *walker) checkText(path, s string) {
	if len(s) > w.lim.MaxStringBytes {
		w.fail(path, "string is %d bytes, more than the limit of %d", len(s), w.lim.MaxStringBytes)
	}
	w.text += len(s)
	if w.text > w.lim.MaxTextBytes && !w.textOver {
		w.textOver = true
		w.fail(path, "text of the report exceeds %d bytes in all", w.lim.MaxTextBytes)
	}
	for _, r := range s {
		if isControl(r) {
			w.fail(path, "control character U+%04X not allowed", r)
			return
		}
	}
}

// isControl reports whether r is a control character the contract refuses:
// C0 controls other than tab and newline (so CR and NUL too), DEL and the C1
// controls.
func isControl(r rune) bool {
	return r < 0x20 && r != '\t' && r != '\n' || r >= 0x7F && r <= 0x9F
}

// enum reads a string field whose value must be one of values; what names
// the kind of value for messages.
func (w *walker) enum(path string, o *object, key string, n need, what string, values ...string) (string, bool) {
	s, ok := w.str(path, o, key, n)
	if !ok || s == "" && n == nonEmpty { // absent, wrong type or empty: reported
		return s, false
	}
	for _, v := range values {
		if s == v {
			return s, true
		}
	}
	w.fail(join(path, key), "%s is not %s (%s)", quote(s), what, strings.Join(values, ", "))
	return s, false
}

// The shapes of ids, times and dates, as regular expressions would say them
// (TestShapes holds the functions below equal to these):
//
//	id:   ^[A-Za-z0-9.-]{1,48}$
//	FHIR: ^[A-Za-z0-9.-]{1,64}$
//	time: ^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$
//	date: ^[0-9]{4}-[0-9]{2}-[0-9]{2}$

// idShape reports whether s is 1 to max characters of A-Z a-z 0-9 - . .
func idShape(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// shape reports whether s has the shape of pattern, in which 9 stands for
// a digit, T for T or t, and any other byte for itself.
func shape(s, pattern string) bool {
	if len(s) != len(pattern) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c, p := s[i], pattern[i]
		switch {
		case p == '9':
			if c < '0' || c > '9' {
				return false
			}
		case p == 'T':
			if c != 'T' && c != 't' {
				return false
			}
		case c != p:
			return false
		}
	}
	return true
}

// dateShape reports the shape YYYY-MM-DD.
func dateShape(s string) bool { return shape(s, "9999-99-99") }

// timeShape reports the shape of an RFC 3339 date-time.
func timeShape(s string) bool {
	const head = "9999-99-99T99:99:99"
	if len(s) < len(head)+1 || !shape(s[:len(head)], head) {
		return false
	}
	rest := s[len(head):]
	if rest[0] == '.' {
		j := 1
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if j == 1 {
			return false
		}
		rest = rest[j:]
	}
	if rest == "Z" || rest == "z" {
		return true
	}
	return len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && shape(rest[1:], "99:99")
}

// fhirID reads a field holding a FHIR resource id. Every such field of
// the contract identifies a patient (patient.id, encounterId), so its
// errors describe the problem without the value.
func (w *walker) fhirID(path string, o *object, key string, n need) string {
	s, ok := w.str(path, o, key, n)
	if ok && (s != "" || n == optional) && !idShape(s, 64) {
		w.fail(join(path, key), "is not a FHIR id (1-64 characters of A-Z a-z 0-9 - .): %s", withoutValue(s, 64))
	}
	return s
}

// withoutValue says what is wrong with s, a value that identifies a patient
// and so never appears in an error (errors reach logs, job statuses and
// events): its length or the position of its first character outside
// A-Z a-z 0-9 - . , never the characters themselves.
func withoutValue(s string, max int) string {
	n := utf8.RuneCountInString(s)
	if n > max {
		return fmt.Sprintf("%d characters long (value not shown)", n)
	}
	i := 0
	for _, r := range s {
		i++
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return fmt.Sprintf("character %d of %d is not allowed (value not shown)", i, n)
		}
	}
	return "value not shown"
}

// timeField reads an RFC 3339 date-time field; it returns nil when the field
// is absent or wrong.
// optionalTime is timeField of a key that may be absent (nil then) but not
// empty.
func (w *walker) optionalTime(path string, o *object, key string) *time.Time {
	if _, ok := o.get(key); !ok {
		return nil
	}
	return w.timeField(path, o, key, nonEmpty)
}

func (w *walker) timeField(path string, o *object, key string, n need) *time.Time {
	s, ok := w.str(path, o, key, n)
	if !ok || s == "" && n == nonEmpty {
		return nil
	}
	t, err := parseTime(s)
	if err != nil {
		w.fail(join(path, key), "%s is not an RFC 3339 time (e.g. 2026-11-20T14:03:00-05:00)", quote(s))
		return nil
	}
	return &t
}

// parseTime parses an RFC 3339 date-time (upper or lower case T and Z).
func parseTime(s string) (time.Time, error) {
	if !timeShape(s) {
		return time.Time{}, fmt.Errorf("not RFC 3339")
	}
	return time.Parse(time.RFC3339, strings.ToUpper(s))
}

// obj reads an object field.
func (w *walker) obj(path string, o *object, key string, n need) (*object, string) {
	p := join(path, key)
	v, ok := w.get(path, o, key, n)
	if !ok {
		return nil, p
	}
	m, ok := v.(*object)
	if !ok {
		w.fail(p, "must be an object, not %s", article(v))
		return nil, p
	}
	return m, p
}

// arr reads an array field, checking its length against min and max; one
// and many name the elements for messages.
func (w *walker) arr(path string, o *object, key string, n need, min, max int, one, many string) ([]any, string) {
	p := join(path, key)
	v, ok := w.get(path, o, key, n)
	if !ok {
		return nil, p
	}
	a, ok := v.([]any)
	if !ok {
		w.fail(p, "must be an array, not %s", article(v))
		return nil, p
	}
	if len(a) < min {
		w.fail(p, "must hold at least %d %s", min, plural(min, one, many))
	}
	if len(a) > max {
		w.fail(p, "holds %d %s, more than the limit of %d", len(a), plural(len(a), one, many), max)
		return nil, p
	}
	return a, p
}

// Fields each object of the contract may hold.
var (
	facilityKeys  = set("name", "address", "phone")
	amendmentKeys = set("reason", "issued")
	patientKeys   = set("id", "name", "mrn", "birthDate", "sex")
	performerKeys = set("name", "role", "signedAt")
	specimenKeys  = set("label", "description", "collected", "received")
	examKeys      = set("modality", "description", "performed", "bodySite", "studyUid")
	addendumKeys  = set("issued", "author", "body")
	itemKeys      = set("label", "value")
)

// reportKeys are the top-level fields.
var reportKeys = set("schema", "id", "version", "kind", "title", "status", "issued", "patient", "facility",
	"accession", "orderingProvider", "encounterId", "performers", "specimens", "exam", "sections", "addenda", "amendment")

// report walks the top-level object.
func (w *walker) report(o *object) *Report {
	r := &Report{Version: 1}
	w.keys("", o, reportKeys, nil)
	if s, ok := w.str("", o, "schema", required); ok && s != Schema {
		w.fail("schema", "must be %q, not %s", Schema, quote(s))
	}
	r.Schema = Schema
	if s, ok := w.str("", o, "id", required); ok {
		r.ID = s
		// A control character the decoder refuses in every string is
		// reported once, by str.
		if c, err := checkIdentifier(s); err != nil && (c == 0 || !isControl(c)) {
			w.fail("id", "%v", err)
		}
	}
	r.Version = w.version(o)
	r.Kind, _ = w.enum("", o, "kind", nonEmpty, "a report kind", KindAP, KindRadiology)
	r.Title, _ = w.str("", o, "title", optional) // "": the kind's title, warned (templates)
	r.Status, _ = w.enum("", o, "status", nonEmpty, "a report status",
		StatusPreliminary, StatusFinal, StatusAmended, StatusCorrected, StatusAppended)
	if t := w.timeField("", o, "issued", nonEmpty); t != nil {
		r.Issued = *t
	}
	if p, path := w.obj("", o, "patient", required); p != nil {
		r.Patient = w.patient(path, p)
	}
	if f, path := w.obj("", o, "facility", optional); f != nil {
		w.keys(path, f, facilityKeys, nil)
		r.Facility = &Facility{}
		r.Facility.Name, _ = w.str(path, f, "name", optional)
		r.Facility.Address, _ = w.str(path, f, "address", optional)
		r.Facility.Phone, _ = w.str(path, f, "phone", optional)
	}
	var hasAccession bool
	r.Accession, hasAccession = w.str("", o, "accession", optional)
	if hasAccession && r.Accession == "" {
		w.fail("accession", "must not be empty")
	}
	r.OrderingProvider, _ = w.str("", o, "orderingProvider", optional)
	if _, ok := o.get("encounterId"); ok {
		r.EncounterID = w.fhirID("", o, "encounterId", nonEmpty)
	}
	if a, path := w.arr("", o, "performers", optional, 0, w.lim.MaxPerformers, "performer", "performers"); len(a) > 0 {
		w.objects(path, a, func(path string, e *object) { r.Performers = append(r.Performers, w.performer(path, e)) })
	}
	if a, path := w.arr("", o, "specimens", optional, 0, w.lim.MaxSpecimens, "specimen", "specimens"); len(a) > 0 {
		w.objects(path, a, func(path string, e *object) { r.Specimens = append(r.Specimens, w.specimen(path, e)) })
	}
	if e, path := w.obj("", o, "exam", optional); e != nil {
		r.Exam = w.exam(path, e)
	}
	if a, path := w.arr("", o, "sections", required, 1, w.lim.MaxSections, "section", "sections"); len(a) > 0 {
		r.Sections = w.sections(path, a, 1)
	}
	if a, path := w.arr("", o, "addenda", optional, 0, w.lim.MaxAddenda, "addendum", "addenda"); len(a) > 0 {
		w.objects(path, a, func(path string, e *object) { r.Addenda = append(r.Addenda, w.addendum(path, e)) })
	}
	if am, path := w.obj("", o, "amendment", optional); am != nil {
		w.keys(path, am, amendmentKeys, nil)
		r.Amendment = &Amendment{}
		r.Amendment.Reason, _ = w.str(path, am, "reason", optional) // "": not stated
		if t := w.timeField(path, am, "issued", nonEmpty); t != nil {
			r.Amendment.Issued = *t
		}
	}

	// No rule depends on other fields: an AP report without accession, a
	// radiology report without exam and an amended one without amendment
	// are printed with those lines as not stated, and warned about
	// (templates.Build; issue 18).
	return r
}

// objects calls f with the path and the object of each element of the
// array a at path that is an object (elem reports the others).
func (w *walker) objects(path string, a []any, f func(path string, o *object)) {
	for i, v := range a {
		if o, ok := w.elem(index(path, i), v); ok {
			f(index(path, i), o)
		}
	}
}

// elem checks that an array element is an object.
func (w *walker) elem(path string, v any) (*object, bool) {
	o, ok := v.(*object)
	if !ok {
		w.fail(path, "must be an object, not %s", article(v))
	}
	return o, ok
}

// version reads the optional version: an integer from 1 to MaxVersion,
// default 1. A number with a zero fraction (2.0, 2e0) is an integer, as in
// JSON Schema.
func (w *walker) version(o *object) int {
	v, ok := o.get("version")
	if !ok {
		return 1
	}
	num, ok := v.(json.Number)
	if !ok {
		w.fail("version", "must be an integer, not %s", article(v))
		return 1
	}
	if len(num) > 40 {
		w.fail("version", "%s... is not an integer from 1 to %d", num[:40], MaxVersion)
		return 1
	}
	if len(num) <= 9 && allDigits(string(num)) { // the usual case, without big numbers
		if n, _ := strconv.Atoi(string(num)); n >= 1 {
			return n
		}
	}
	var q big.Rat
	if _, ok := q.SetString(string(num)); !ok || !q.IsInt() {
		w.fail("version", "%s is not an integer", num)
		return 1
	}
	n := q.Num()
	if n.Sign() < 1 || n.Cmp(big.NewInt(MaxVersion)) > 0 {
		w.fail("version", "%s is not an integer from 1 to %d", num, MaxVersion)
		return 1
	}
	return int(n.Int64())
}

// patient walks the patient object.
func (w *walker) patient(path string, o *object) Patient {
	var p Patient
	w.keys(path, o, patientKeys, nil)
	p.ID = w.fhirID(path, o, "id", nonEmpty)
	p.Name, _ = w.str(path, o, "name", nonEmpty)
	p.MRN, _ = w.str(path, o, "mrn", optional)
	if s, ok := w.str(path, o, "birthDate", optional); ok {
		p.BirthDate = s
		// The value identifies the patient: the error says what is wrong
		// with it, never the value.
		if !dateShape(s) {
			w.fail(join(path, "birthDate"), "is not a date in the form YYYY-MM-DD (value not shown)")
		} else if _, err := time.Parse("2006-01-02", s); err != nil {
			w.fail(join(path, "birthDate"), "is not a calendar date: month or day out of range (value not shown)")
		}
	}
	if _, ok := o.get("sex"); ok {
		p.Sex, _ = w.enum(path, o, "sex", nonEmpty, "a sex code", "female", "male", "other", "unknown")
	}
	return p
}

// performer walks one performers element.
func (w *walker) performer(path string, o *object) Performer {
	var p Performer
	w.keys(path, o, performerKeys, nil)
	p.Name, _ = w.str(path, o, "name", nonEmpty)
	p.Role, _ = w.str(path, o, "role", optional) // "": not stated, line without it
	p.SignedAt = w.optionalTime(path, o, "signedAt")
	return p
}

// specimen walks one specimens element.
func (w *walker) specimen(path string, o *object) Specimen {
	var s Specimen
	w.keys(path, o, specimenKeys, nil)
	s.Label, _ = w.str(path, o, "label", nonEmpty)
	s.Description, _ = w.str(path, o, "description", optional) // "": not stated
	s.Collected = w.optionalTime(path, o, "collected")
	s.Received = w.optionalTime(path, o, "received")
	return s
}

// Modalities are the DICOM modality codes the contract accepts in
// exam.modality.
var Modalities = []string{"CT", "MR", "US", "CR", "DX", "MG", "NM", "PT", "XA", "RF"}

// exam walks the exam object.
func (w *walker) exam(path string, o *object) *Exam {
	e := &Exam{}
	w.keys(path, o, examKeys, nil)
	// Modality, description and time may be left out: the PDF prints
	// them as not stated, with a warning (issue 18).
	if _, ok := o.get("modality"); ok {
		e.Modality, _ = w.enum(path, o, "modality", nonEmpty, "a DICOM modality code", Modalities...)
	}
	e.Description, _ = w.str(path, o, "description", optional)
	if t := w.timeField(path, o, "performed", optional); t != nil {
		e.Performed = *t
	}
	e.BodySite, _ = w.str(path, o, "bodySite", optional)
	e.StudyUID, _ = w.str(path, o, "studyUid", optional)
	return e
}

// addendum walks one addenda element.
func (w *walker) addendum(path string, o *object) Addendum {
	var a Addendum
	w.keys(path, o, addendumKeys, nil)
	if t := w.timeField(path, o, "issued", nonEmpty); t != nil {
		a.Issued = *t
	}
	a.Author, _ = w.str(path, o, "author", optional) // "": not stated
	a.Body, _ = w.str(path, o, "body", nonEmpty)
	return a
}

// sectionKinds lists the section kinds in contract order.
var sectionKinds = []string{SectionText, SectionPlain, SectionFields, SectionTable, SectionImage, SectionURL}

// sectionFields maps each section kind to the fields it may carry besides
// kind, title and sections.
var sectionFields = map[string][]string{
	SectionText:   {"body"},
	SectionPlain:  {"body"},
	SectionFields: {"items"},
	SectionTable:  {"columns", "rows"},
	SectionImage:  {"contentType", "data", "caption"},
	SectionURL:    {"url", "text"},
}

// anySectionField holds every field some section kind may carry.
var anySectionField = set("kind", "title", "sections", "body", "items", "columns", "rows", "contentType", "data", "caption", "url", "text")

// sectionKeys maps each section kind to every field it may hold.
var sectionKeys = func() map[string]map[string]bool {
	m := make(map[string]map[string]bool, len(sectionFields))
	for kind, fields := range sectionFields {
		m[kind] = set(append([]string{"kind", "title", "sections"}, fields...)...)
	}
	return m
}()

// sections walks an array of sections at nesting level depth (1 = top).
func (w *walker) sections(path string, a []any, depth int) []Section {
	out := make([]Section, 0, len(a))
	for i, v := range a {
		p := index(path, i)
		o, ok := w.elem(p, v)
		if !ok {
			continue
		}
		w.nsections++
		if w.nsections == w.lim.MaxSections+1 {
			w.fail(p, "more than %d sections in the report", w.lim.MaxSections)
		}
		if w.nsections > w.lim.MaxSections {
			return nil // bounded work: stop walking
		}
		out = append(out, w.section(p, o, depth))
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// section walks one section object.
func (w *walker) section(path string, o *object, depth int) Section {
	var s Section
	kind, kindOK := w.enum(path, o, "kind", nonEmpty, "a section kind", sectionKinds...)
	s.Kind = kind
	if kindOK {
		w.keys(path, o, sectionKeys[kind], func(key string) string {
			if anySectionField[key] {
				return fmt.Sprintf("not allowed in a %s section", kind)
			}
			return ""
		})
	} else {
		w.keys(path, o, anySectionField, nil)
	}
	s.Title, _ = w.str(path, o, "title", required)
	var subs []any
	hasSubs := false // sub-sections given, walked or not
	if v, ok := o.get("sections"); ok {
		a, isArr := v.([]any)
		hasSubs = len(a) > 0
		if depth >= w.lim.MaxSectionDepth {
			if !isArr || len(a) > 0 {
				w.fail(join(path, "sections"), "sections nest at most %d levels deep", w.lim.MaxSectionDepth)
			}
		} else {
			subs, _ = w.arr(path, o, "sections", optional, 0, w.lim.MaxSections, "section", "sections")
		}
	}
	if kindOK {
		switch kind {
		case SectionText:
			body, ok := w.str(path, o, "body", optional)
			s.Body = body
			if body == "" && !hasSubs {
				if ok {
					w.fail(join(path, "body"), "must not be empty in a text section without sub-sections")
				} else {
					w.fail(join(path, "body"), "required in a text section without sub-sections")
				}
			}
		case SectionPlain:
			s.Body = w.kindStr(path, o, "body", kind)
		case SectionFields:
			s.Items = w.items(path, o)
		case SectionTable:
			s.Columns, s.Rows = w.table(path, o)
		case SectionImage:
			w.image(path, o, &s)
		case SectionURL:
			s.URL = w.kindStr(path, o, "url", kind)
			s.LinkText = w.kindStr(path, o, "text", kind)
		}
	}
	if len(subs) > 0 {
		s.Sections = w.sections(join(path, "sections"), subs, depth+1)
	}
	return s
}

// kindStr reads a non-empty string a section of kind requires.
func (w *walker) kindStr(path string, o *object, key, kind string) string {
	if _, ok := o.get(key); !ok {
		w.fail(join(path, key), "required in a %s section", kind)
		return ""
	}
	s, _ := w.str(path, o, key, nonEmpty)
	return s
}

// items walks a fields section's items.
func (w *walker) items(path string, o *object) []Item {
	if _, ok := o.get("items"); !ok {
		w.fail(join(path, "items"), "required in a fields section")
		return nil
	}
	a, p := w.arr(path, o, "items", required, 1, w.lim.MaxItems, "item", "items")
	var out []Item
	if len(a) > 0 {
		out = make([]Item, 0, len(a))
	}
	for i, v := range a {
		ip := index(p, i)
		io, ok := w.elem(ip, v)
		if !ok {
			continue
		}
		w.keys(ip, io, itemKeys, nil)
		var it Item
		it.Label, _ = w.str(ip, io, "label", nonEmpty)
		it.Value, _ = w.str(ip, io, "value", required)
		out = append(out, it)
	}
	return out
}

// table walks a table section's columns and rows.
func (w *walker) table(path string, o *object) ([]string, [][]string) {
	var ca []any
	cp := join(path, "columns")
	if _, ok := o.get("columns"); !ok {
		w.fail(cp, "required in a table section")
	} else {
		ca, cp = w.arr(path, o, "columns", required, 1, w.lim.MaxTableColumns, "column", "columns")
	}
	cols := w.strings(cp, ca)
	ra, rp := w.arr(path, o, "rows", optional, 0, w.lim.MaxTableRows, "row", "rows")
	if len(ca) > 0 && len(ra)*len(ca) > w.lim.MaxTableCells {
		w.fail(rp, "table has %d cells, more than the limit of %d", len(ra)*len(ca), w.lim.MaxTableCells)
		return cols, nil
	}
	var rows [][]string
	for i, v := range ra {
		p := index(rp, i)
		cells, ok := v.([]any)
		if !ok {
			w.fail(p, "must be an array, not %s", article(v))
			continue
		}
		if ca != nil && len(cells) != len(ca) {
			w.fail(p, "has %d %s, the table has %d columns", len(cells), plural(len(cells), "cell", "cells"), len(ca))
		}
		if len(cells) > w.lim.MaxTableColumns {
			continue // bounded work; the count is reported above
		}
		rows = append(rows, w.strings(p, cells))
	}
	return cols, rows
}

// strings reads an array of strings.
func (w *walker) strings(path string, a []any) []string {
	if len(a) == 0 {
		return nil
	}
	out := make([]string, len(a))
	for i, v := range a {
		s, ok := asString(v)
		if !ok {
			w.fail(index(path, i), "must be a string, not %s", article(v))
			continue
		}
		if w.textFits(s) {
			w.text += len(s)
		} else {
			w.checkText(index(path, i), s)
		}
		out[i] = s
	}
	return out
}

// Image content types the contract accepts.
const (
	ContentTypePNG  = "image/png"
	ContentTypeJPEG = "image/jpeg"
)

var (
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
	jpegMagic = []byte{0xFF, 0xD8, 0xFF}
)

// image walks an image section: content type, base64 data within the byte
// limit, magic bytes matching the content type, and the pixel count read
// from the header (no pixel is decoded).
func (w *walker) image(path string, o *object, s *Section) {
	w.nimages++
	if w.nimages == w.lim.MaxImages+1 {
		w.fail(path, "more than %d images in the report", w.lim.MaxImages)
	}
	if _, ok := o.get("contentType"); !ok {
		w.fail(join(path, "contentType"), "required in an image section")
	} else {
		s.ContentType, _ = w.enum(path, o, "contentType", nonEmpty, "an image content type", ContentTypePNG, ContentTypeJPEG)
	}
	s.Caption, _ = w.str(path, o, "caption", optional)

	dp := join(path, "data")
	v, ok := o.get("data")
	if !ok {
		w.fail(dp, "required in an image section")
		return
	}
	enc, ok := asString(v)
	if !ok {
		w.fail(dp, "must be a string, not %s", article(v))
		return
	}
	if enc == "" {
		w.fail(dp, "must not be empty")
		return
	}
	if max := base64.StdEncoding.EncodedLen(w.lim.MaxImageBytes); len(enc) > max {
		w.fail(dp, "image is about %d bytes, more than the limit of %d", base64.StdEncoding.DecodedLen(len(enc)), w.lim.MaxImageBytes)
		return
	}
	if i := strings.IndexFunc(enc, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '/' || r == '=')
	}); i >= 0 {
		w.fail(dp, "not base64: character %s at offset %d (standard alphabet with padding, no line breaks)", quoteRune(enc[i:]), i)
		return
	}
	if w.nimages > w.lim.MaxImages {
		return // bounded work; reported above
	}
	data, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		w.fail(dp, "not base64: %v (standard alphabet with padding)", err)
		return
	}
	if len(data) > w.lim.MaxImageBytes {
		w.fail(dp, "image is %d bytes, more than the limit of %d", len(data), w.lim.MaxImageBytes)
		return
	}
	s.Data = data
	var actual string
	switch {
	case bytes.HasPrefix(data, pngMagic):
		actual = ContentTypePNG
	case bytes.HasPrefix(data, jpegMagic):
		actual = ContentTypeJPEG
	default:
		w.fail(dp, "bytes are neither a PNG nor a JPEG image")
		return
	}
	if s.ContentType != ContentTypePNG && s.ContentType != ContentTypeJPEG {
		return // reported
	}
	if actual != s.ContentType {
		w.fail(dp, "bytes are %s, but contentType says %s", actual, s.ContentType)
		return
	}
	var cfg image.Config
	if actual == ContentTypePNG {
		cfg, err = png.DecodeConfig(bytes.NewReader(data))
	} else {
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
	}
	if err != nil {
		w.fail(dp, "unreadable %s header: %v", actual, err)
		return
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		w.fail(dp, "image is %dx%d pixels, it has no pixels", cfg.Width, cfg.Height)
		return
	}
	px := int64(cfg.Width) * int64(cfg.Height)
	if px > w.lim.MaxImagePixels {
		w.fail(dp, "image is %dx%d pixels (%.1f megapixels), more than the limit of %.1f megapixels",
			cfg.Width, cfg.Height, float64(px)/1e6, float64(w.lim.MaxImagePixels)/1e6)
		return
	}
}

// plural returns one or many according to n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// quoteRune quotes the first character of s.
func quoteRune(s string) string {
	r, _ := utf8.DecodeRuneInString(s)
	return strconv.QuoteRune(r)
}

// allDigits reports whether s is one or more ASCII digits.
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
