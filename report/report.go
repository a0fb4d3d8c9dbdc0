// Package report is folio's input contract, version 1 (docs/report-v1.md):
// the report model and the decoder that validates a JSON document against the
// contract and its limits, refusing it whole with one error per problem.
package report

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Schema is the required value of the top-level "schema" field.
const Schema = "folio.report/v1"

// Report kinds.
const (
	KindAP        = "anatomic-pathology"
	KindRadiology = "radiology"
)

// Report statuses (FHIR DiagnosticReport.status codes).
const (
	StatusPreliminary = "preliminary"
	StatusFinal       = "final"
	StatusAmended     = "amended"
	StatusCorrected   = "corrected"
	StatusAppended    = "appended"
)

// Section kinds.
const (
	SectionText   = "text"
	SectionPlain  = "plain"
	SectionFields = "fields"
	SectionTable  = "table"
	SectionImage  = "image"
	SectionURL    = "url"
)

// Report is one validated clinical report. Values returned by Decode satisfy
// every rule of the contract; Version is 1 when the input omitted it.
type Report struct {
	Schema           string      `json:"schema"`
	ID               string      `json:"id"`
	Version          int         `json:"version"`
	Kind             string      `json:"kind"`
	Title            string      `json:"title"`
	Status           string      `json:"status"`
	Issued           time.Time   `json:"issued"`
	Patient          Patient     `json:"patient"`
	Facility         *Facility   `json:"facility,omitempty"`
	Accession        string      `json:"accession,omitempty"`
	OrderingProvider string      `json:"orderingProvider,omitempty"`
	EncounterID      string      `json:"encounterId,omitempty"`
	Performers       []Performer `json:"performers,omitempty"`
	Specimens        []Specimen  `json:"specimens,omitempty"`
	Exam             *Exam       `json:"exam,omitempty"`
	Sections         []Section   `json:"sections"`
	Addenda          []Addendum  `json:"addenda,omitempty"`
	Amendment        *Amendment  `json:"amendment,omitempty"`
}

// Patient identifies the subject of the report.
type Patient struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	MRN       string `json:"mrn,omitempty"`
	BirthDate string `json:"birthDate,omitempty"` // YYYY-MM-DD
	Sex       string `json:"sex,omitempty"`       // female, male, other, unknown
}

// Facility is the issuing organisation.
type Facility struct {
	Name    string `json:"name,omitempty"`
	Address string `json:"address,omitempty"`
	Phone   string `json:"phone,omitempty"`
}

// Performer is a person who performed or signed the report.
type Performer struct {
	Name     string     `json:"name"`
	Role     string     `json:"role"`
	SignedAt *time.Time `json:"signedAt,omitempty"` // electronic signature time
}

// Specimen is an anatomic pathology specimen.
type Specimen struct {
	Label       string     `json:"label"`
	Description string     `json:"description"`
	Collected   *time.Time `json:"collected,omitempty"`
	Received    *time.Time `json:"received,omitempty"`
}

// Exam is the imaging study a radiology report reads.
type Exam struct {
	Modality    string    `json:"modality,omitempty"` // DICOM modality code; "": not stated
	Description string    `json:"description,omitempty"`
	Performed   time.Time `json:"performed,omitzero"`
	BodySite    string    `json:"bodySite,omitempty"`
	StudyUID    string    `json:"studyUid,omitempty"`
}

// Section is one part of the body. Which fields are set depends on Kind.
type Section struct {
	Kind        string     `json:"kind"`
	Title       string     `json:"title"`
	Body        string     `json:"body,omitempty"`        // text (markdown), plain
	Items       []Item     `json:"items,omitempty"`       // fields
	Columns     []string   `json:"columns,omitempty"`     // table
	Rows        [][]string `json:"rows,omitempty"`        // table
	ContentType string     `json:"contentType,omitempty"` // image
	Data        []byte     `json:"data,omitempty"`        // image (base64 in JSON)
	Caption     string     `json:"caption,omitempty"`     // image
	URL         string     `json:"url,omitempty"`         // url
	LinkText    string     `json:"text,omitempty"`        // url
	Sections    []Section  `json:"sections,omitempty"`    // sub-sections, <= 3 levels in all
}

// Item is one label/value pair of a fields section.
type Item struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// Addendum is text added after the report was signed.
type Addendum struct {
	Issued time.Time `json:"issued"`
	Author string    `json:"author"`
	Body   string    `json:"body"` // markdown
}

// Amendment says why and when an amended or corrected report changed.
type Amendment struct {
	Reason string    `json:"reason"`
	Issued time.Time `json:"issued"`
}

// Digest returns the content digest of a decoded report: "sha256:" and the
// hex SHA-256 of the report model's encoding/json encoding. Two documents
// that decode to the same report (whatever their key order, whitespace,
// escapes or nulls on optional fields, and with or without a default
// "version": 1) have the same digest; any change a reader of the PDF or
// FHIR resources could see changes it. It is what the store binds to a
// report id and version (a different digest for a stored version is a
// conflict), and what input adapters (HL7 v2, FHIR) that build a Report
// themselves use as its content identity.
func Digest(r *Report) string {
	h := sha256.New()
	// Plain data: encoding cannot fail.
	_ = json.NewEncoder(h).Encode(r)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
