// Package folio holds the domain types that the render pipeline stores and
// the FHIR read side serves: rendered Binaries and the per-version records
// from which DocumentReference and DiagnosticReport resources are built.
// It performs no I/O; store.Store implements Store on NATS JetStream.
package folio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Version is folio's release version, printed as the PDF Creator.
const Version = "0.1.0"

// Output names a rendition a job may ask for.
const (
	OutputPDF       = "pdf"
	OutputThumbnail = "thumbnail"
	// OutputReportJSON is not asked for: it is the report v1 JSON that folio
	// made of an input it converted (FHIR, HL7 v2), kept beside the
	// renditions for audit and the operator console, and not listed among
	// a record's Binaries.
	OutputReportJSON = "report-json"
)

// ErrNotFound is returned by Store methods for an unknown id.
var ErrNotFound = errors.New("folio: not found")

// Binary is the metadata of one stored rendition. Its bytes are immutable:
// a given id always has the same content.
type Binary struct {
	ID          string    `json:"id"`
	ContentType string    `json:"contentType"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"` // hex
	SHA1        string    `json:"sha1"`   // base64, as FHIR Attachment.hash
	Created     time.Time `json:"created"`
	Output      string    `json:"output"` // OutputPDF or OutputThumbnail
	Pages       int       `json:"pages,omitempty"`
	Width       int       `json:"width,omitempty"` // thumbnails: pixels
	Height      int       `json:"height,omitempty"`
	JobID       string    `json:"jobId"`
	ReportID    string    `json:"reportId"`
	Version     int       `json:"version"`
	PatientID   string    `json:"patientId"`
	RecordID    string    `json:"recordId"`               // the DocumentReference it belongs to
	Digest      string    `json:"reportDigest,omitempty"` // content digest of the report version it was rendered from
}

// Record is one rendered version of one report: what a DocumentReference and
// a DiagnosticReport (same id) are built from.
type Record struct {
	ID       string `json:"id"`       // RecordID(reportID, version)
	ReportID string `json:"reportId"` // report.Key of the identifier
	// Identifier is the report's identifier exactly as its sender wrote it,
	// when it differs from ReportID (report.Key derived ReportID from it);
	// empty when the identifier is its own key. Use SenderID.
	Identifier   string    `json:"identifier,omitempty"`
	Version      int       `json:"version"`
	Kind         string    `json:"kind"` // report.KindAP or report.KindRadiology
	Title        string    `json:"title"`
	Status       string    `json:"status"` // report status (FHIR DiagnosticReport.status)
	Issued       time.Time `json:"issued"`
	PatientID    string    `json:"patientId"`
	PatientName  string    `json:"patientName"`
	MRN          string    `json:"mrn,omitempty"` // the patient's medical record number
	Accession    string    `json:"accession,omitempty"`
	EncounterID  string    `json:"encounterId,omitempty"`
	Modality     string    `json:"modality,omitempty"`
	Performers   []string  `json:"performers,omitempty"`
	Binaries     []Binary  `json:"binaries"`
	Supersedes   string    `json:"supersedes,omitempty"`   // record id of the previous version
	SupersededBy string    `json:"supersededBy,omitempty"` // record id of a newer version
	Updated      time.Time `json:"updated"`

	// EffectiveStart and EffectiveEnd are the clinically relevant time:
	// the exam performed, or the specimens collected (earliest, latest).
	// Zero when the report names none (Effective falls back to Issued).
	EffectiveStart time.Time `json:"effectiveStart,omitzero"`
	EffectiveEnd   time.Time `json:"effectiveEnd,omitzero"`

	// Digest is the content digest of the report version (report.Digest).
	Digest string `json:"digest,omitempty"`
	// Rev rises with every change of the record (a Binary added,
	// superseded, entered in error): the FHIR resources' meta.versionId.
	Rev int `json:"rev,omitempty"`
	// EnteredInError, when set, says why this version must not be used
	// (filed under the wrong patient, withdrawn by its sender). Such a
	// record is never current and is in no patient's index; it stays
	// readable by id for audit.
	EnteredInError string `json:"enteredInError,omitempty"`
}

// SenderID returns the report's identifier as its sender wrote it.
func (r *Record) SenderID() string {
	if r.Identifier != "" {
		return r.Identifier
	}
	return r.ReportID
}

// RecordID returns the DocumentReference/DiagnosticReport id for a report
// version: "<reportId>-<version>". reportID is a report key (report.Key: at
// most 48 characters of [A-Za-z0-9.-]) and versions at most 9 digits, so the
// result is a valid FHIR id.
func RecordID(reportID string, version int) string {
	return fmt.Sprintf("%s-%d", reportID, version)
}

// BinaryID returns the stable Binary id of one output of a report version:
// "pdf-<reportId>-<version>" or "thumb-<reportId>-<version>", reportID a
// report key (report.Key), so at most 64 characters, a valid FHIR id.
func BinaryID(reportID string, version int, output string) string {
	prefix := "pdf"
	switch output {
	case OutputThumbnail:
		prefix = "thumb"
	case OutputReportJSON:
		prefix = "json"
	}
	return fmt.Sprintf("%s-%s-%d", prefix, reportID, version)
}

// Store reads what the pipeline has stored. Implementations are safe for
// concurrent use.
type Store interface {
	// Record returns the record with the given id, or ErrNotFound.
	Record(ctx context.Context, id string) (*Record, error)
	// RecordsByPatient returns every record of a patient, oldest first.
	RecordsByPatient(ctx context.Context, patientID string) ([]*Record, error)
	// BinaryInfo returns a Binary's metadata, or ErrNotFound.
	BinaryInfo(ctx context.Context, id string) (*Binary, error)
	// OpenBinary returns a Binary's metadata and a reader of its bytes, or
	// ErrNotFound. The caller closes the reader.
	OpenBinary(ctx context.Context, id string) (*Binary, io.ReadCloser, error)
}
