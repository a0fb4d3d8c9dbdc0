package fhir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/foliohealth/folio"
)

// Page sizes of a search: _count asks for a page size; none gives
// DefaultCount, and more than MaxCount gives MaxCount.
const (
	DefaultCount = 50
	MaxCount     = 200
)

// Bounds on what a client may ask in one search.
const (
	maxParams    = 40      // parameters in one search
	maxValues    = 100     // comma-separated values of one parameter
	maxFormBytes = 1 << 16 // body of POST _search
)

// Code systems of the status parameters.
const (
	docStatusSystem    = "http://hl7.org/fhir/document-reference-status"
	reportStatusSystem = "http://hl7.org/fhir/diagnostic-report-status"
)

// paramDef is one search parameter a resource type supports: what
// /metadata lists and what a query is validated against.
type paramDef struct {
	name, typ, doc string
}

// searchDefs are the search parameters of each searchable type (US Core
// DocumentReference and DiagnosticReport).
var searchDefs = map[string][]paramDef{
	"DocumentReference": {
		{"_id", "token", "logical id; comma-separated ids for several"},
		{"patient", "reference", "Patient/{id} or {id}; one patient per search"},
		{"subject", "reference", "same as patient"},
		{"category", "token", "clinical-note (" + usCoreDocCategory + "); LOINC LP7839-6 pathology, LP29684-5 radiology"},
		{"type", "token", "LOINC 11526-1 pathology study, 18748-4 diagnostic imaging study"},
		{"date", "date", "DocumentReference.date: when the report was released (issued)"},
		{"period", "date", "context.period: the clinically relevant time (exam performed, specimens collected); the issued time when the report names none"},
		{"status", "token", "current | superseded (" + docStatusSystem + "); entered-in-error documents are never listed"},
		{"encounter", "reference", "Encounter/{id} or {id}"},
		{"_lastUpdated", "date", "meta.lastUpdated"},
	},
	"DiagnosticReport": {
		{"_id", "token", "logical id; comma-separated ids for several"},
		{"patient", "reference", "Patient/{id} or {id}; one patient per search"},
		{"subject", "reference", "same as patient"},
		{"category", "token", "LOINC LP7839-6 pathology, LP29684-5 radiology"},
		{"code", "token", "LOINC 11526-1 pathology study, 18748-4 diagnostic imaging study"},
		{"date", "date", "effective[x]: the clinically relevant time (exam performed, specimens collected); the issued time when the report names none"},
		{"status", "token", "registered | partial | preliminary | final | amended | corrected | appended | cancelled | unknown (" + reportStatusSystem + "); entered-in-error reports are never listed"},
		{"encounter", "reference", "Encounter/{id} or {id}"},
		{"_lastUpdated", "date", "meta.lastUpdated"},
	},
}

// controlParams are the result parameters every search takes.
var controlParams = map[string]bool{"_count": true, "_format": true, "_cursor": true}

func findDef(typ, name string) *paramDef {
	for i, d := range searchDefs[typ] {
		if d.name == name {
			return &searchDefs[typ][i]
		}
	}
	return nil
}

// tokenValue is one value of a token parameter: code (any system),
// |code (no system), system|code, or system| (any code of the system).
type tokenValue struct {
	system, code string
	anySystem    bool
}

func (t tokenValue) matches(system, code string) bool {
	return (t.anySystem || t.system == system) && (t.code == "" || t.code == code)
}

// dateValue is one value of a date parameter: a prefix and the range
// [lo, hi) its precision covers (2025 is all of 2025 UTC).
type dateValue struct {
	prefix string
	lo, hi time.Time
}

// searchValue is one value of a parameter, as given and as parsed.
type searchValue struct {
	raw  string
	tok  tokenValue
	date dateValue
	id   string // reference and _id parameters
}

// searchParam is one parameter of a search: its values are alternatives
// (OR); the parameters of a search must all match (AND).
type searchParam struct {
	name   string
	def    *paramDef
	values []searchValue
}

// searchRequest is a parsed, validated search: what runs, and what its
// links print.
type searchRequest struct {
	typ        string
	path       string // of the links: "DocumentReference" or "DocumentReference/$docref"
	params     []searchParam
	count      int
	countGiven bool
	format     string
	after      uint64
	before     uint64
	// docref: the $docref operation (current documents, period overlapping).
	docref bool
}

// queryPairs splits a query string into its name/value pairs, in order.
func queryPairs(raw string) ([][2]string, error) {
	var out [][2]string
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		var err error
		if k, err = url.QueryUnescape(k); err != nil {
			return nil, fail(errInvalid, "query: %v", err)
		}
		if v, err = url.QueryUnescape(v); err != nil {
			return nil, fail(errInvalid, "query parameter %q: %v", truncate(k, 40), err)
		}
		out = append(out, [2]string{k, v})
		if len(out) > maxParams {
			return nil, fail(errInvalid, "more than %d search parameters", maxParams)
		}
	}
	return out, nil
}

// lenient reports whether the client asked for Prefer: handling=lenient.
func lenient(r *http.Request) bool {
	for _, h := range r.Header.Values("Prefer") {
		for p := range strings.SplitSeq(h, ",") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(strings.TrimSpace(k), "handling") {
				return strings.EqualFold(strings.Trim(strings.TrimSpace(v), `"`), "lenient")
			}
		}
	}
	return false
}

// searchPairs returns the parameters of a search request: the query
// string, and for POST the form body besides.
func searchPairs(r *http.Request) ([][2]string, error) {
	pairs, err := queryPairs(r.URL.RawQuery)
	if err != nil || r.Method != http.MethodPost {
		return pairs, err
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" {
		return nil, fail(errMediaType, "POST _search takes a form body (Content-Type: application/x-www-form-urlencoded), not %q", truncate(ct, 60))
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxFormBytes+1))
	if err != nil {
		return nil, fail(errInvalid, "reading the form body: %v", err)
	}
	if len(body) > maxFormBytes {
		return nil, fail(errInvalid, "form body is larger than %d bytes", maxFormBytes)
	}
	form, err := queryPairs(string(body))
	if err != nil {
		return nil, err
	}
	if len(pairs)+len(form) > maxParams {
		return nil, fail(errInvalid, "more than %d search parameters", maxParams)
	}
	return append(pairs, form...), nil
}

// parseSearch parses and validates the parameters of a search of typ.
// Unknown parameters and modifiers are refused, or with lenient left out
// (and so out of the links).
func parseSearch(typ string, pairs [][2]string, lenient bool) (*searchRequest, error) {
	sr := &searchRequest{typ: typ, path: typ, count: DefaultCount}
	for _, kv := range pairs {
		name, value := kv[0], kv[1]
		if err := sr.control(name, value); err != errNotControl {
			if err != nil {
				return nil, err
			}
			continue
		}
		base, modifier, hasMod := strings.Cut(name, ":")
		def := findDef(typ, base)
		if def == nil || hasMod {
			if lenient {
				continue
			}
			if def != nil {
				return nil, fail(errNotSupported, "search parameter %q: modifier %q is not supported", base, truncate(modifier, 20))
			}
			return nil, fail(errNotSupported, "search parameter %q is not supported for %s (Prefer: handling=lenient ignores it)", truncate(name, 40), typ)
		}
		p, err := parseParam(def, value)
		if err != nil {
			return nil, err
		}
		sr.params = append(sr.params, p)
	}
	return sr, nil
}

var errNotControl = errors.New("not a control parameter")

// control takes the result parameters (_count, _format, _cursor).
func (sr *searchRequest) control(name, value string) error {
	switch name {
	case "_count":
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 {
			return fail(errInvalid, "_count: %q is not a page size (1 to %d)", truncate(value, 20), MaxCount)
		}
		sr.count, sr.countGiven = min(n, MaxCount), true
	case "_format":
		if _, _, err := formatOverride(value); err != nil {
			return err
		}
		sr.format = value
	case "_cursor":
		if len(value) < 2 || (value[0] != 'a' && value[0] != 'b') {
			return fail(errInvalid, "_cursor: not a cursor of this server (follow the Bundle's links)")
		}
		n, err := strconv.ParseUint(value[1:], 10, 64)
		if err != nil || n == 0 {
			return fail(errInvalid, "_cursor: not a cursor of this server (follow the Bundle's links)")
		}
		if value[0] == 'a' {
			sr.after, sr.before = n, 0
		} else {
			sr.before, sr.after = n, 0
		}
	default:
		return errNotControl
	}
	return nil
}

// parseParam parses the comma-separated values of one parameter.
func parseParam(def *paramDef, value string) (searchParam, error) {
	p := searchParam{name: def.name, def: def}
	raws := splitValues(value)
	if len(raws) > maxValues {
		return p, fail(errInvalid, "search parameter %s: more than %d values", def.name, maxValues)
	}
	for _, raw := range raws {
		v := searchValue{raw: raw}
		var err error
		switch def.typ {
		case "token":
			if def.name == "_id" {
				if checkID(raw) != nil {
					return p, fail(errInvalid, "search parameter _id: %q is not a FHIR id", truncate(raw, 70))
				}
				v.id = raw
				break
			}
			v.tok, err = parseToken(raw)
		case "reference":
			v.id, err = parseReference(def.name, raw)
		case "date":
			v.date, err = parseDateParam(raw)
		}
		if err != nil {
			return p, fmt.Errorf("search parameter %s: %w", def.name, err)
		}
		p.values = append(p.values, v)
	}
	if len(p.values) == 0 {
		return p, fail(errInvalid, "search parameter %s has no value", def.name)
	}
	if def.typ == "reference" && def.name != "encounter" && len(p.values) > 1 {
		return p, fail(errNotSupported, "search parameter %s: one patient per search", def.name)
	}
	return p, nil
}

// splitValues splits a parameter value on commas not escaped with \.
func splitValues(s string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case s[i] == ',':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	return append(out, cur.String())
}

func parseToken(raw string) (tokenValue, error) {
	if raw == "" {
		return tokenValue{}, fail(errInvalid, "empty token")
	}
	sys, code, ok := strings.Cut(raw, "|")
	if !ok {
		return tokenValue{code: raw, anySystem: true}, nil
	}
	if code == "" && sys == "" {
		return tokenValue{}, fail(errInvalid, "token %q names neither system nor code", truncate(raw, 60))
	}
	return tokenValue{system: sys, code: code}, nil
}

// parseReference takes {id} or {Type}/{id} of the parameter's type.
func parseReference(name, raw string) (string, error) {
	want := "Patient/"
	if name == "encounter" {
		want = "Encounter/"
	}
	id := strings.TrimPrefix(raw, want)
	if checkID(id) != nil {
		// The value is not echoed: it names a patient, and errors reach the log.
		return "", fail(errInvalid, "not a FHIR id ([A-Za-z0-9-.]{1,64}; optionally %s{id})", want)
	}
	return id, nil
}

var datePrefixes = []string{"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"}

// parseDateParam parses [prefix]date: 2025, 2025-03, 2025-03-04,
// 2025-03-04T10:00[:00[.000]](Z|+hh:mm). A date without a time zone is UTC.
func parseDateParam(raw string) (dateValue, error) {
	v := dateValue{prefix: "eq"}
	if len(raw) >= 2 && slices.Contains(datePrefixes, raw[:2]) {
		v.prefix, raw = raw[:2], raw[2:]
	}
	lo, hi, err := dateRange(raw)
	if err != nil {
		return v, err
	}
	v.lo, v.hi = lo, hi
	return v, nil
}

// dateRange returns the range [lo, hi) a FHIR date or dateTime covers.
func dateRange(s string) (time.Time, time.Time, error) {
	bad := fail(errInvalid, "%q is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss][Z|+hh:mm], with an optional prefix eq ne gt lt ge le sa eb ap)", truncate(s, 40))
	switch len(s) {
	case 4:
		t, err := time.Parse("2006", s)
		if err != nil {
			return t, t, bad
		}
		return t, t.AddDate(1, 0, 0), nil
	case 7:
		t, err := time.Parse("2006-01", s)
		if err != nil {
			return t, t, bad
		}
		return t, t.AddDate(0, 1, 0), nil
	case 10:
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			return t, t, bad
		}
		return t, t.AddDate(0, 0, 1), nil
	}
	for _, l := range []struct {
		layout string
		step   time.Duration
	}{
		{"2006-01-02T15:04Z07:00", time.Minute},
		{"2006-01-02T15:04", time.Minute},
		{"2006-01-02T15:04:05Z07:00", time.Second},
		{"2006-01-02T15:04:05", time.Second},
		{"2006-01-02T15:04:05.999999999Z07:00", time.Millisecond},
		{"2006-01-02T15:04:05.999999999", time.Millisecond},
	} {
		if t, err := time.Parse(l.layout, s); err == nil {
			if l.step == time.Millisecond {
				return t, t.Add(time.Millisecond), nil
			}
			return t, t.Add(l.step), nil
		}
	}
	return time.Time{}, time.Time{}, bad
}

// matches reports whether a target time range [tlo, thi] (an instant when
// equal) meets the date value, as FHIR R4 defines each prefix.
func (d dateValue) matches(tlo, thi time.Time, now time.Time) bool {
	eq := !tlo.Before(d.lo) && thi.Before(d.hi)
	switch d.prefix {
	case "eq":
		return eq
	case "ne":
		return !eq
	case "gt":
		return !thi.Before(d.hi)
	case "lt":
		return tlo.Before(d.lo)
	case "ge":
		return eq || !thi.Before(d.hi)
	case "le":
		return eq || tlo.Before(d.lo)
	case "sa":
		return !tlo.Before(d.hi)
	case "eb":
		return thi.Before(d.lo)
	case "ap":
		// Approximately: within 10% of the distance from now, and at
		// least a day, either side.
		gap := time.Duration(math.Abs(float64(now.Sub(d.lo))) * 0.1)
		gap = max(gap, 24*time.Hour)
		return !thi.Before(d.lo.Add(-gap)) && tlo.Before(d.hi.Add(gap))
	case "ov": // $docref: the ranges overlap
		return !thi.Before(d.lo) && tlo.Before(d.hi)
	}
	return false
}

// entryCodings returns the codings a token parameter compares an index
// entry with.
func entryCodings(typ, param string, e *folio.IndexEntry) []coding {
	codes := kindCodes[e.Kind]
	switch param {
	case "category":
		var out []coding
		if typ == "DocumentReference" {
			out = append(out, coding{System: usCoreDocCategory, Code: "clinical-note"})
		}
		if codes.category.Code != "" {
			out = append(out, codes.category)
		}
		return out
	case "type", "code":
		if codes.typ.Code != "" {
			return []coding{codes.typ}
		}
	}
	return nil
}

func anyToken(vs []searchValue, cs []coding) bool {
	for _, v := range vs {
		for _, c := range cs {
			if v.tok.matches(c.System, c.Code) {
				return true
			}
		}
	}
	return false
}

func anyDate(vs []searchValue, lo, hi, now time.Time) bool {
	for _, v := range vs {
		if v.date.matches(lo, hi, now) {
			return true
		}
	}
	return false
}

// reportStatus is a record's DiagnosticReport.status.
func reportStatus(s string) string {
	if !reportStatuses[s] {
		return "unknown"
	}
	return s
}

// filters compiles the request's parameters into the store query's
// entry (unchanging facts) and record (changing state) predicates.
func (sr *searchRequest) filters(now time.Time) (match func(*folio.IndexEntry) bool, keep func(*folio.Record) bool) {
	var ms []func(*folio.IndexEntry) bool
	var ks []func(*folio.Record) bool
	for _, p := range sr.params {
		vs := p.values
		switch p.name {
		case "_id":
			ms = append(ms, func(e *folio.IndexEntry) bool {
				return slices.ContainsFunc(vs, func(v searchValue) bool { return v.id == e.ID })
			})
		case "patient", "subject":
			// The store's query names the patient (SearchQuery.Patient).
		case "encounter":
			ms = append(ms, func(e *folio.IndexEntry) bool {
				return slices.ContainsFunc(vs, func(v searchValue) bool { return v.id == e.EncounterID })
			})
		case "category", "type", "code":
			typ, name := sr.typ, p.name
			ms = append(ms, func(e *folio.IndexEntry) bool { return anyToken(vs, entryCodings(typ, name, e)) })
		case "date":
			if sr.typ == "DocumentReference" {
				ms = append(ms, func(e *folio.IndexEntry) bool { return anyDate(vs, e.Issued, e.Issued, now) })
			} else {
				ms = append(ms, func(e *folio.IndexEntry) bool { return anyDate(vs, e.Start, e.End, now) })
			}
		case "period":
			ms = append(ms, func(e *folio.IndexEntry) bool { return anyDate(vs, e.Start, e.End, now) })
		case "status":
			if sr.typ == "DiagnosticReport" {
				ms = append(ms, func(e *folio.IndexEntry) bool {
					return anyToken(vs, []coding{{System: reportStatusSystem, Code: reportStatus(e.Status)}})
				})
			} else {
				ks = append(ks, func(r *folio.Record) bool {
					st := "current"
					if r.SupersededBy != "" {
						st = "superseded"
					}
					return anyToken(vs, []coding{{System: docStatusSystem, Code: st}})
				})
			}
		case "_lastUpdated":
			ks = append(ks, func(r *folio.Record) bool {
				t, _ := time.Parse(instantFormat, recordMeta(r).LastUpdated)
				return anyDate(vs, t, t, now)
			})
		}
	}
	return allOf(ms), allOf(ks)
}

// values returns the values of every occurrence of a parameter.
func (sr *searchRequest) values(names ...string) [][]searchValue {
	var out [][]searchValue
	for _, p := range sr.params {
		if slices.Contains(names, p.name) {
			out = append(out, p.values)
		}
	}
	return out
}

// link prints the request as a URL: the parameters as parsed (so what was
// ignored is not in it), then _count and _cursor when given.
func (sr *searchRequest) link(base, cursor string, withCount bool) string {
	var b strings.Builder
	b.WriteString(base + "/" + sr.path)
	sep := "?"
	add := func(k, v string) {
		b.WriteString(sep + url.QueryEscape(k) + "=" + url.QueryEscape(v))
		sep = "&"
	}
	for _, p := range sr.params {
		if p.def == &docrefPeriod {
			for kv := range strings.SplitSeq(p.values[0].raw, "&") {
				k, v, _ := strings.Cut(kv, "=")
				add(k, v)
			}
			continue
		}
		raws := make([]string, len(p.values))
		for i, v := range p.values {
			raws[i] = strings.ReplaceAll(strings.ReplaceAll(v.raw, `\`, `\\`), ",", `\,`)
		}
		add(p.name, strings.Join(raws, ","))
	}
	if sr.format != "" {
		add("_format", sr.format)
	}
	if withCount || sr.countGiven {
		add("_count", strconv.Itoa(sr.count))
	}
	if cursor != "" {
		add("_cursor", cursor)
	}
	return b.String()
}

// searchset is a searchset Bundle whose total may be left out.
type searchset struct {
	ResourceType string        `json:"resourceType"`
	Meta         meta          `json:"meta"`
	Type         string        `json:"type"`
	Total        *int          `json:"total,omitempty"`
	Link         []bundleLink  `json:"link"`
	Entry        []bundleEntry `json:"entry,omitempty"`
}

// search answers GET [type]?..., POST [type]/_search and
// DocumentReference/$docref.
func (h *Handler) search(w http.ResponseWriter, r *http.Request, p *principal, typ string, docref bool) error {
	pairs, err := searchPairs(r)
	if err != nil {
		return err
	}
	var sr *searchRequest
	if docref {
		sr, err = parseDocref(pairs, lenient(r))
	} else {
		sr, err = parseSearch(typ, pairs, lenient(r))
	}
	if err != nil {
		return err
	}
	page, err := h.run(r.Context(), sr, p)
	if err != nil {
		return err
	}
	base := h.baseURL(r)
	self := ""
	switch {
	case sr.after > 0:
		self = "a" + strconv.FormatUint(sr.after, 10)
	case sr.before > 0:
		self = "b" + strconv.FormatUint(sr.before, 10)
	}
	b := searchset{
		ResourceType: "Bundle",
		Meta:         meta{LastUpdated: instant(time.Now())},
		Type:         "searchset",
		Link:         []bundleLink{{Relation: "self", URL: sr.link(base, self, false)}},
	}
	if page.Total >= 0 {
		b.Total = &page.Total
	}
	if page.Earlier && page.First > 0 {
		b.Link = append(b.Link, bundleLink{Relation: "previous", URL: sr.link(base, "b"+strconv.FormatUint(page.First, 10), true)})
	}
	switch {
	case page.More && page.Last > 0:
		b.Link = append(b.Link, bundleLink{Relation: "next", URL: sr.link(base, "a"+strconv.FormatUint(page.Last, 10), true)})
	case page.More && sr.before > 1:
		// An empty page before a position: go on from just before it.
		b.Link = append(b.Link, bundleLink{Relation: "next", URL: sr.link(base, "a"+strconv.FormatUint(sr.before-1, 10), true)})
	}
	for _, rec := range page.Records {
		b.Entry = append(b.Entry, bundleEntry{
			FullURL:  base + "/" + sr.typ + "/" + rec.ID,
			Resource: resourceOf(sr.typ, rec),
			Search:   &entrySearch{Mode: "match"},
		})
	}
	return writeJSON(w, r, http.StatusOK, b)
}

// run runs a parsed search for a principal: a patient-scoped token finds
// only its patient's records.
func (h *Handler) run(ctx context.Context, sr *searchRequest, p *principal) (*folio.SearchPage, error) {
	empty := &folio.SearchPage{Total: 0}
	q := folio.SearchQuery{Count: sr.count, After: sr.after, Before: sr.before}
	for _, vs := range sr.values("patient", "subject") {
		if q.Patient != "" && q.Patient != vs[0].id {
			return empty, nil // two patients: nothing is of both
		}
		q.Patient = vs[0].id
	}
	if p.patient != "" {
		if q.Patient != "" && q.Patient != p.patient {
			return empty, nil
		}
		q.Patient = p.patient
	}
	ids := sr.values("_id")
	encs := sr.values("encounter")
	if q.Patient == "" && len(encs) == 1 && len(encs[0]) == 1 {
		q.Encounter = encs[0][0].id
	}
	q.Match, q.Keep = sr.filters(h.now())
	if sr.docref {
		keep := q.Keep
		q.Keep = func(r *folio.Record) bool { return r.SupersededBy == "" && (keep == nil || keep(r)) }
	}
	switch {
	case len(ids) > 0:
		return h.byIDs(ctx, ids, &q)
	case q.Patient == "" && q.Encounter == "" && len(sr.values("_lastUpdated")) == 0:
		return nil, fail(errInvalid, "%s search needs patient={id} (or _id, encounter or _lastUpdated)", sr.typ)
	}
	if s, ok := h.store.(folio.Searcher); ok {
		return s.Search(ctx, q)
	}
	if q.Patient == "" {
		return nil, fail(errNotSupported, "%s search needs patient={id} on this store (it has no search index)", sr.typ)
	}
	recs, err := h.store.RecordsByPatient(ctx, q.Patient)
	if err != nil && !isNotFound(err) {
		return nil, err
	}
	return folio.SearchRecords(recs, q), nil
}

// byIDs answers a search with _id: the records named, read by id, that
// every other parameter matches (one page).
func (h *Handler) byIDs(ctx context.Context, ids [][]searchValue, q *folio.SearchQuery) (*folio.SearchPage, error) {
	var recs []*folio.Record
	seen := map[string]bool{}
	for _, v := range ids[0] {
		if seen[v.id] {
			continue
		}
		seen[v.id] = true
		rec, err := h.store.Record(ctx, v.id)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	// Records read by id are searched like a patient's: the same filters.
	page := folio.SearchRecords(recs, folio.SearchQuery{Patient: q.Patient, Encounter: q.Encounter, Match: q.Match, Keep: q.Keep, Count: MaxCount})
	page.More, page.Earlier = false, false
	page.Total = len(page.Records)
	return page, nil
}

// parseDocref parses the parameters of DocumentReference/$docref (US Core):
// patient (required), start, end, type. It returns the search it stands
// for: the patient's current documents whose period overlaps start..end.
func parseDocref(pairs [][2]string, lenient bool) (*searchRequest, error) {
	sr := &searchRequest{typ: "DocumentReference", path: "DocumentReference/$docref", count: DefaultCount, docref: true}
	var start, end *searchValue
	for _, kv := range pairs {
		name, value := kv[0], kv[1]
		if err := sr.control(name, value); err != errNotControl {
			if err != nil {
				return nil, err
			}
			continue
		}
		switch name {
		case "patient":
			p, err := parseParam(findDef("DocumentReference", "patient"), value)
			if err != nil {
				return nil, fmt.Errorf("$docref: %w", err)
			}
			sr.params = append(sr.params, p)
		case "type":
			p, err := parseParam(findDef("DocumentReference", "type"), value)
			if err != nil {
				return nil, fmt.Errorf("$docref: %w", err)
			}
			sr.params = append(sr.params, p)
		case "start", "end":
			lo, hi, err := dateRange(value)
			if err != nil {
				return nil, fmt.Errorf("$docref: %s: %w", name, err)
			}
			v := &searchValue{raw: value, date: dateValue{prefix: "ov", lo: lo, hi: hi}}
			if name == "start" {
				start = v
			} else {
				end = v
			}
		case "on-demand":
			if value == "true" {
				return nil, fail(errNotSupported, "$docref: on-demand generation is not supported: only stored documents are returned")
			}
		default:
			if !lenient {
				return nil, fail(errNotSupported, "$docref parameter %q is not supported (patient, start, end, type; Prefer: handling=lenient ignores it)", truncate(name, 40))
			}
		}
	}
	if len(sr.values("patient")) == 0 {
		return nil, fail(errInvalid, "$docref needs patient={id}")
	}
	if start != nil || end != nil {
		// One range, start..end, open where not given; it is printed in the
		// links as the start and end the client sent.
		d := dateValue{prefix: "ov", lo: time.Time{}, hi: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}
		var raws []string
		if start != nil {
			d.lo = start.date.lo
			raws = append(raws, "start="+start.raw)
		}
		if end != nil {
			d.hi = end.date.hi
			raws = append(raws, "end="+end.raw)
		}
		if !d.lo.Before(d.hi) {
			return nil, fail(errInvalid, "$docref: start is after end")
		}
		sr.params = append(sr.params, searchParam{name: "period", def: &docrefPeriod, values: []searchValue{{raw: strings.Join(raws, "&"), date: d}}})
	}
	return sr, nil
}

// docrefPeriod is the $docref date range, printed in links as start and end.
var docrefPeriod = paramDef{name: "period", typ: "date"}

// allOf is the conjunction of the predicates: nil when there are none (no
// filter), else true when every one is.
func allOf[T any](preds []func(T) bool) func(T) bool {
	if len(preds) == 0 {
		return nil
	}
	return func(v T) bool {
		for _, p := range preds {
			if !p(v) {
				return false
			}
		}
		return true
	}
}
