package hl7input

import (
	"time"

	"github.com/foliohealth/folio/report"
)

// Site is what a deployment knows about its senders that the messages do
// not say. The zero Site works: table 0074 codes, LOINC section codes and
// title words decide the kind, times without an offset are UTC, and the
// facility name is MSH-4.
type Site struct {
	// ServiceKinds maps local OBR-24 diagnostic service section codes to a
	// report kind (report.KindAP or report.KindRadiology); it is consulted
	// before table 0074, so a site may also override a standard code.
	ServiceKinds map[string]string
	// ServiceModalities maps local OBR-24 codes to a DICOM modality.
	ServiceModalities map[string]string
	// SenderKinds is the kind of a sender's reports when nothing in a
	// message decides it, keyed by "MSH-3|MSH-4" (namespace ids) or by
	// MSH-4 alone.
	SenderKinds map[string]string
	// Facilities names the facility of MSH-4's namespace id (the name,
	// address and phone printed on every page); absent ones print MSH-4.
	Facilities map[string]report.Facility
	// Zone is the time zone of timestamps sent without an offset (UTC when nil).
	Zone *time.Location
}

// serviceKinds is HL7 table 0074 (diagnostic service section id), the codes
// that decide a report kind.
var serviceKinds = map[string]string{
	"SP": report.KindAP, "CP": report.KindAP, "PAT": report.KindAP, "SURG": report.KindAP, "AP": report.KindAP,
	"RAD": report.KindRadiology, "CT": report.KindRadiology, "NMR": report.KindRadiology, "NMS": report.KindRadiology,
	"RUS": report.KindRadiology, "RX": report.KindRadiology, "VUS": report.KindRadiology, "OUS": report.KindRadiology,
	"CUS": report.KindRadiology, "XRC": report.KindRadiology, "MR": report.KindRadiology, "US": report.KindRadiology,
	"MG": report.KindRadiology, "NM": report.KindRadiology, "PT": report.KindRadiology,
}

// serviceModalities maps table 0074 imaging codes to DICOM modalities.
var serviceModalities = map[string]string{
	"CT": "CT", "NMR": "MR", "MR": "MR", "NMS": "NM", "NM": "NM", "RUS": "US", "VUS": "US", "OUS": "US",
	"CUS": "US", "US": "US", "RX": "CR", "XRC": "CR", "MG": "MG", "PT": "PT",
}

// loincSections are LOINC report-section codes: their titles and the kind
// of report they belong to.
var loincSections = map[string]struct{ title, kind string }{
	"22636-5": {"Clinical History", report.KindAP},
	"22633-2": {"Nature of Specimen", report.KindAP},
	"22634-0": {"Gross Description", report.KindAP},
	"22635-7": {"Microscopic Description", report.KindAP},
	"22637-3": {"Final Diagnosis", report.KindAP},
	"22638-1": {"Comments", report.KindAP},
	"22639-9": {"Supplemental Report", report.KindAP},
	"33746-9": {"Pathology Report Diagnosis", report.KindAP},
	"60570-9": {"Pathology Report Synopsis", report.KindAP},
	"18782-3": {"Findings", report.KindRadiology},
	"19005-8": {"Impression", report.KindRadiology},
	"18834-2": {"Comparison", report.KindRadiology},
	"18785-6": {"Reason for Study", report.KindRadiology},
	"55111-9": {"Procedure", report.KindRadiology},
	"55752-0": {"Clinical Information", ""},
	"59776-5": {"Procedure Findings", ""},
	"29545-1": {"Physical Findings", ""},
}
