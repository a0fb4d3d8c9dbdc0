package fhir

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/report"
)

// Code systems used in the resources.
const (
	loincSystem       = "http://loinc.org"
	usCoreDocCategory = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
)

// kindCodes are the LOINC codes of each report kind: the document type and
// the US Core clinical-notes category.
var kindCodes = map[string]struct{ typ, category coding }{
	report.KindAP: {
		typ:      coding{System: loincSystem, Code: "11526-1", Display: "Pathology study"},
		category: coding{System: loincSystem, Code: "LP7839-6", Display: "Pathology"},
	},
	report.KindRadiology: {
		typ:      coding{System: loincSystem, Code: "18748-4", Display: "Diagnostic imaging study"},
		category: coding{System: loincSystem, Code: "LP29684-5", Display: "Radiology"},
	},
}

type coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

type codeableConcept struct {
	Coding []coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

type identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value"`
}

// Attachment is a FHIR R4 Attachment pointing at a stored Binary.
type Attachment struct {
	ContentType string `json:"contentType"`
	URL         string `json:"url"`
	Size        int64  `json:"size"`
	Hash        string `json:"hash,omitempty"` // base64 SHA-1 of the bytes
	Title       string `json:"title,omitempty"`
	Creation    string `json:"creation,omitempty"`
}

type docContent struct {
	Attachment Attachment `json:"attachment"`
}

type relatesTo struct {
	Code   string    `json:"code"`
	Target reference `json:"target"`
}

// period is a FHIR Period.
type period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

type docContext struct {
	Encounter []reference `json:"encounter,omitempty"`
	Period    *period     `json:"period,omitempty"`
	Related   []reference `json:"related,omitempty"`
}

// DocumentReference is the FHIR R4 DocumentReference folio serves.
type DocumentReference struct {
	ResourceType string            `json:"resourceType"`
	ID           string            `json:"id"`
	Meta         meta              `json:"meta"`
	Identifier   []identifier      `json:"identifier,omitempty"`
	Status       string            `json:"status"`
	DocStatus    string            `json:"docStatus,omitempty"`
	Type         codeableConcept   `json:"type"`
	Category     []codeableConcept `json:"category"`
	Subject      reference         `json:"subject"`
	Date         string            `json:"date,omitempty"`
	Author       []reference       `json:"author,omitempty"`
	Description  string            `json:"description,omitempty"`
	RelatesTo    []relatesTo       `json:"relatesTo,omitempty"`
	Content      []docContent      `json:"content"`
	Context      *docContext       `json:"context,omitempty"`
}

// DiagnosticReport is the FHIR R4 DiagnosticReport folio serves.
type DiagnosticReport struct {
	ResourceType      string            `json:"resourceType"`
	ID                string            `json:"id"`
	Meta              meta              `json:"meta"`
	Identifier        []identifier      `json:"identifier,omitempty"`
	Status            string            `json:"status"`
	Category          []codeableConcept `json:"category"`
	Code              codeableConcept   `json:"code"`
	Subject           reference         `json:"subject"`
	Encounter         *reference        `json:"encounter,omitempty"`
	EffectiveDateTime string            `json:"effectiveDateTime,omitempty"`
	EffectivePeriod   *period           `json:"effectivePeriod,omitempty"`
	Issued            string            `json:"issued,omitempty"`
	Performer         []reference       `json:"performer,omitempty"`
	PresentedForm     []Attachment      `json:"presentedForm"`
}

// recordMeta returns a record's meta: its versionId is the record's Rev,
// which the store raises with every change (a Binary added, superseded,
// entered in error), so a conditional read never answers 304 for a changed
// resource. Records stored before revisions: 2 once superseded, else 1.
func recordMeta(rec *folio.Record) meta {
	v := "1"
	if rec.SupersededBy != "" {
		v = "2"
	}
	if rec.Rev > 0 {
		v = strconv.Itoa(rec.Rev)
	}
	upd := rec.Updated
	if upd.IsZero() {
		upd = rec.Issued
	}
	return meta{VersionID: v, LastUpdated: instant(upd)}
}

// attachments returns a record's renditions, PDF first.
func attachments(rec *folio.Record) []Attachment {
	var out []Attachment
	for pass := 0; pass < 2; pass++ {
		for _, b := range rec.Binaries {
			if (b.Output == folio.OutputThumbnail) != (pass == 1) {
				continue
			}
			title := rec.Title
			if b.Output == folio.OutputThumbnail {
				title += " (page 1 thumbnail)"
			}
			out = append(out, Attachment{
				ContentType: b.ContentType,
				URL:         "Binary/" + b.ID,
				Size:        b.Size,
				Hash:        b.SHA1,
				Title:       title,
				Creation:    instant(b.Created),
			})
		}
	}
	return out
}

// docStatus maps a report status to DocumentReference.docStatus.
func docStatus(s string) string {
	switch s {
	case report.StatusPreliminary:
		return "preliminary"
	case report.StatusFinal:
		return "final"
	case report.StatusAmended, report.StatusCorrected, report.StatusAppended:
		return "amended"
	}
	return ""
}

var reportStatuses = map[string]bool{
	"registered": true, "partial": true, "preliminary": true, "final": true, "amended": true,
	"corrected": true, "appended": true, "cancelled": true, "entered-in-error": true, "unknown": true,
}

func subjectOf(rec *folio.Record) reference {
	return reference{Reference: "Patient/" + rec.PatientID, Display: rec.PatientName}
}

func identifiersOf(rec *folio.Record) []identifier {
	ids := []identifier{{System: "urn:folio:report", Value: rec.SenderID() + "|" + strconv.Itoa(rec.Version)}}
	if rec.Accession != "" {
		ids = append(ids, identifier{System: "urn:folio:accession", Value: rec.Accession})
	}
	return ids
}

// NewDocumentReference builds the DocumentReference of a record.
func NewDocumentReference(rec *folio.Record) *DocumentReference {
	codes := kindCodes[rec.Kind]
	d := &DocumentReference{
		ResourceType: "DocumentReference",
		ID:           rec.ID,
		Meta:         recordMeta(rec),
		Identifier:   identifiersOf(rec),
		Status:       "current",
		DocStatus:    docStatus(rec.Status),
		Type:         codeableConcept{Text: rec.Title},
		Category: []codeableConcept{
			{Coding: []coding{{System: usCoreDocCategory, Code: "clinical-note", Display: "Clinical Note"}}},
		},
		Subject:     subjectOf(rec),
		Date:        instant(rec.Issued),
		Description: rec.Title,
	}
	if codes.typ.Code != "" {
		d.Type.Coding = []coding{codes.typ}
		d.Category = append(d.Category, codeableConcept{Coding: []coding{codes.category}})
	}
	if rec.SupersededBy != "" {
		d.Status = "superseded"
	}
	if rec.EnteredInError != "" {
		d.Status = "entered-in-error"
	}
	if rec.Supersedes != "" {
		d.RelatesTo = []relatesTo{{Code: "replaces", Target: reference{Reference: "DocumentReference/" + rec.Supersedes}}}
	}
	for _, p := range rec.Performers {
		d.Author = append(d.Author, reference{Display: p})
	}
	for _, a := range attachments(rec) {
		d.Content = append(d.Content, docContent{Attachment: a})
	}
	if d.Content == nil {
		d.Content = []docContent{}
	}
	start, end := rec.Effective()
	ctx := &docContext{Related: []reference{{Reference: "DiagnosticReport/" + rec.ID}},
		Period: &period{Start: instant(start), End: instant(end)}}
	if rec.EncounterID != "" {
		ctx.Encounter = []reference{{Reference: "Encounter/" + rec.EncounterID}}
	}
	d.Context = ctx
	return d
}

// NewDiagnosticReport builds the DiagnosticReport of a record.
func NewDiagnosticReport(rec *folio.Record) *DiagnosticReport {
	codes := kindCodes[rec.Kind]
	d := &DiagnosticReport{
		ResourceType:      "DiagnosticReport",
		ID:                rec.ID,
		Meta:              recordMeta(rec),
		Identifier:        identifiersOf(rec),
		Status:            rec.Status,
		Category:          []codeableConcept{},
		Code:              codeableConcept{Text: rec.Title},
		Subject:           subjectOf(rec),
		EffectiveDateTime: instant(rec.Issued),
		Issued:            instant(rec.Issued),
		PresentedForm:     attachments(rec),
	}
	// effective[x] is the clinically relevant time (exam performed,
	// specimens collected); issued stays the release time.
	if start, end := rec.Effective(); start.Equal(end) {
		d.EffectiveDateTime = instant(start)
	} else {
		d.EffectiveDateTime, d.EffectivePeriod = "", &period{Start: instant(start), End: instant(end)}
	}
	if !reportStatuses[d.Status] {
		d.Status = "unknown"
	}
	if rec.EnteredInError != "" {
		d.Status = "entered-in-error"
	}
	if codes.typ.Code != "" {
		d.Code.Coding = []coding{codes.typ}
		d.Category = append(d.Category, codeableConcept{Coding: []coding{codes.category}})
	}
	if rec.EncounterID != "" {
		d.Encounter = &reference{Reference: "Encounter/" + rec.EncounterID}
	}
	for _, p := range rec.Performers {
		d.Performer = append(d.Performer, reference{Display: p})
	}
	if d.PresentedForm == nil {
		d.PresentedForm = []Attachment{}
	}
	return d
}

// resourceOf builds the resource of type typ for a record.
func resourceOf(typ string, rec *folio.Record) any {
	if typ == "DocumentReference" {
		return NewDocumentReference(rec)
	}
	return NewDiagnosticReport(rec)
}

func (h *Handler) readRecordResource(w http.ResponseWriter, r *http.Request, p *principal, typ, id string) error {
	q := r.URL.Query()
	if err := onlyJSONFormat(q, nil); err != nil {
		return err
	}
	rec, err := h.store.Record(r.Context(), id)
	if err != nil {
		return notFoundAs(err, typ, id)
	}
	if p.patient != "" && (rec.PatientID != p.patient || rec.EnteredInError != "") {
		// A patient-scoped token sees only that patient's documents, and
		// never one entered in error (it may have been filed under them
		// by mistake).
		return fail(folio.ErrNotFound, "%s/%s is not known", typ, id)
	}
	m := recordMeta(rec)
	etag := `W/"` + m.VersionID + `"`
	w.Header().Set("ETag", etag)
	upd, _ := time.Parse(instantFormat, m.LastUpdated)
	if !upd.IsZero() {
		w.Header().Set("Last-Modified", upd.UTC().Format(http.TimeFormat))
	}
	if notModified(r, etag, upd.Truncate(time.Second)) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	return writeJSON(w, r, http.StatusOK, resourceOf(typ, rec))
}

// onlyJSONFormat checks _format and refuses parameters not in allowed.
func onlyJSONFormat(q url.Values, allowed map[string]bool) error {
	if _, _, err := formatOverride(q.Get("_format")); err != nil {
		return err
	}
	for k := range q {
		if k != "_format" && !allowed[k] {
			return fail(errNotSupported, "search parameter %q is not supported", truncate(k, 40))
		}
	}
	return nil
}

// Bundle is a FHIR searchset Bundle.
type Bundle struct {
	ResourceType string        `json:"resourceType"`
	Meta         meta          `json:"meta"`
	Type         string        `json:"type"`
	Total        int           `json:"total"`
	Link         []bundleLink  `json:"link"`
	Entry        []bundleEntry `json:"entry,omitempty"`
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type bundleEntry struct {
	FullURL  string       `json:"fullUrl"`
	Resource any          `json:"resource"`
	Search   *entrySearch `json:"search,omitempty"`
}

type entrySearch struct {
	Mode string `json:"mode"`
}

func (h *Handler) baseURL(r *http.Request) string {
	if h.cfg.BaseURL != "" {
		return h.cfg.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	// The address the connection was accepted on, never the Host header.
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return scheme + "://" + a.String()
	}
	return scheme + "://localhost"
}

// writeJSON sends v as FHIR JSON.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) error {
	body, err := marshal(v)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", fhirJSON+"; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "private, no-cache")
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
	return nil
}

func isNotFound(err error) bool { return errors.Is(err, folio.ErrNotFound) }

// writeJSONType sends v as plain JSON of the given content type.
func writeJSONType(w http.ResponseWriter, r *http.Request, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
