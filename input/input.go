// Package input is the one place where folio tells its input kinds apart
// (folio report v1 JSON, FHIR R4 JSON, and further adapters as they come)
// and hands each to its adapter, a pure function to the report v1 model.
// The command line and the queue worker both map inputs through Map, so
// every way in reads an input the same way.
package input

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/foliohealth/folio/hl7"
	"github.com/foliohealth/folio/input/fhirinput"
	"github.com/foliohealth/folio/input/hl7input"
	"github.com/foliohealth/folio/report"
)

// Kind names an input kind; it is also the field of the job message that
// carries such an input ("report", "fhir").
type Kind string

const (
	// Report is folio's own contract, report v1 JSON.
	Report Kind = "report"
	// FHIR is FHIR R4 JSON: a DiagnosticReport, or a Bundle holding one or
	// more, or a Composition-led document Bundle.
	FHIR Kind = "fhir"
	// HL7 is HL7 v2: one or more ORU^R01 messages (a file starting with MSH,
	// batch segments and MLLP framing bytes allowed between messages).
	HL7 Kind = "hl7"
)

// Detect tells an input's kind from its content: JSON with a top-level
// "resourceType" is FHIR; text starting with MSH (or an HL7 batch header
// or MLLP start byte) is HL7 v2; anything else is read as report v1 (which
// refuses what is not a report, with the reason).
func Detect(data []byte) Kind {
	if hl7input.Sniff(data) {
		return HL7
	}
	if fhirinput.Sniff(data) != "" {
		return FHIR
	}
	return Report
}

// Doc is one report an input maps to.
type Doc struct {
	// Report is valid under the v1 contract. For a withdrawn report it
	// carries only the identity (id, patient, kind, title).
	Report *report.Report
	// VersionGiven: Report.Version is the sender's (report v1's version
	// field, FHIR meta.versionId); false means the sender gave none and
	// the durable content-based version is to be assigned.
	VersionGiven bool
	// Withdrawn: the sender withdrew the report (FHIR cancelled or
	// entered-in-error): its current document is to be withdrawn, nothing
	// rendered.
	Withdrawn bool
	// WithdrawReason says why, when the input says more than "withdrawn"
	// (HL7 v2: result status X or W); "" otherwise.
	WithdrawReason string
	// PDF is the sender's own PDF, to be stored as the report's PDF as
	// sent (FHIR presentedForm application/pdf); nil when folio renders it.
	PDF []byte
	// Warnings say what the mapping left out (unresolved references,
	// attachments not shown).
	Warnings []string
	// Missing is the number of referenced results that were not in the
	// input (FHIR): the report says so in its first section.
	Missing int
	// Source is where in the input the report came from: "" for report
	// v1, the FHIR path of the DiagnosticReport or Composition for FHIR.
	Source string
}

// Options configure the adapters; the zero value is the default.
type Options struct {
	// Limits bound report v1 input and every mapped report.
	Limits report.Limits
	// FHIR configures the FHIR adapter (site category table, bounds).
	FHIR fhirinput.Options
	// HL7 is the HL7 v2 adapter's site table (kinds of local codes,
	// facility names, time zone).
	HL7 hl7input.Site
}

// Map maps one input of the given kind to the reports it holds. An input
// that cannot be read is refused whole with a report.Errors naming the
// field (report v1 path, FHIR path).
func Map(kind Kind, data []byte, o Options) ([]Doc, error) {
	switch kind {
	case FHIR:
		fo := o.FHIR
		if fo.ReportLimits == (report.Limits{}) {
			fo.ReportLimits = o.Limits
		}
		ms, err := fhirinput.Map(data, fo)
		if err != nil {
			return nil, err
		}
		docs := make([]Doc, len(ms))
		for i, m := range ms {
			docs[i] = Doc{Report: m.Report, VersionGiven: m.VersionGiven, Withdrawn: m.Withdrawn, PDF: m.PDF, Warnings: m.Warnings, Missing: m.Missing, Source: m.Source}
		}
		return docs, nil
	case HL7:
		return mapHL7(data, o)
	default:
		r, err := report.Decode(data, o.Limits)
		if err != nil {
			return nil, err
		}
		return []Doc{{Report: r, VersionGiven: true}}, nil
	}
}

// mapHL7 maps every message of an HL7 v2 file. A refused message refuses
// the file, each problem named by its HL7 location ("PID^1^3", prefixed
// with "message N" when the file holds several messages).
func mapHL7(data []byte, o Options) ([]Doc, error) {
	msgs := hl7.Split(data)
	if len(msgs) == 0 {
		return nil, report.Errors{{Path: "MSH^1", Rule: "no HL7 v2 message in the input"}}
	}
	var docs []Doc
	var errs report.Errors
	for i, b := range msgs {
		m, mapped, err := hl7input.Parse(b, o.HL7)
		prefix := ""
		if len(msgs) > 1 {
			prefix = "message " + strconv.Itoa(i+1) + ": "
		}
		if err != nil {
			es, ok := err.(hl7input.Errors)
			if !ok {
				return nil, err
			}
			for _, e := range es {
				errs = append(errs, report.FieldError{Path: prefix + e.Loc.String(), Rule: e.Text})
			}
			continue
		}
		for _, mp := range mapped {
			docs = append(docs, Doc{Report: mp.Report, Withdrawn: mp.Withdraw, WithdrawReason: hl7input.WithdrawReason(mp.ResultStatus), PDF: mp.PDF, Warnings: mp.Warnings, Source: prefix + hl7input.Source(m, mp)})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return docs, nil
}

// ContentDigest is the digest from which a report whose input carries no
// version (HL7 v2, FHIR without meta.versionId) gets its durable
// content-based version through store NextVersion (the same digest keeps
// its version, a new one gets the next): "sha256:" and the hex SHA-256 of
// the report's JSON with its version zeroed, the sender's PDF, when there
// is one, counted as a last image section. It is the digest the HL7 intake
// derives versions from, so the same rule holds whichever way a report
// came in.
func ContentDigest(r *report.Report, pdf []byte) string {
	c := *r
	c.Version = 0
	if pdf != nil { // the sender's PDF is part of the content
		c.Sections = append(slices.Clone(c.Sections), report.Section{Kind: report.SectionImage, Title: "sender PDF", Data: pdf})
	}
	js, err := json.Marshal(&c)
	if err != nil { // a report.Report always encodes; be safe anyway
		js = []byte(err.Error())
	}
	sum := sha256.Sum256(js)
	return "sha256:" + hex.EncodeToString(sum[:])
}
