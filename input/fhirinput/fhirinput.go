// Package fhirinput maps FHIR R4 JSON (a DiagnosticReport, alone or in a
// Bundle, or a Composition-led document Bundle) to folio's report v1 model:
// a pure function, no I/O, nothing fetched (docs/fhir-input.md has the
// mapping table).
package fhirinput

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/foliohealth/folio/report"
)

// Options configure a mapping. The zero value is the default.
type Options struct {
	Limits Limits
	// Categories is the site table: local DiagnosticReport.category (or
	// Composition.type) codes mapped to a report kind (report.KindAP or
	// report.KindRadiology), keyed "system|code" or "code". It is consulted
	// before the built-in table.
	Categories map[string]string
	// ReportLimits are passed to report.Decode, which checks every mapped
	// report against the contract.
	ReportLimits report.Limits
}

// Mapped is one report an input maps to.
type Mapped struct {
	// Report is the mapped report, valid under the v1 contract. For a
	// withdrawn report it carries the identity (id, patient, kind, title)
	// only and is not to be rendered.
	Report *report.Report
	// VersionGiven is true when Report.Version came from meta.versionId;
	// false means the sender gave none (Report.Version is 1 and a store
	// assigns the durable content-based version).
	VersionGiven bool
	// Withdrawn is true for status cancelled or entered-in-error: the
	// report's current document is to be withdrawn, nothing rendered.
	Withdrawn bool
	// PDF is the sender's own PDF (presentedForm application/pdf), to be
	// stored as the report's PDF as sent; nil when there is none.
	PDF []byte
	// Warnings name what the report leaves out (unresolved references,
	// attachments not shown); never patient data beyond FHIR paths and
	// reference strings.
	Warnings []string
	// Missing is the number of referenced results not in the input; the
	// report's first section says so when it is not zero.
	Missing int
	// Source is the FHIR path of the resource the report was mapped from.
	Source string
}

// Map maps one FHIR R4 JSON input to the reports it holds (a Bundle may
// hold several DiagnosticReports). Input that cannot be a report is
// refused whole with a report.Errors whose paths are FHIR paths
// (Bundle.entry[3].resource.subject); references that do not resolve are
// not errors but warnings and a visible notice in the report.
func Map(data []byte, o Options) ([]Mapped, error) {
	lim := o.Limits.withDefaults()
	root, err := decode(data, lim)
	if err != nil {
		return nil, err
	}
	ix, count := newIndex(root)
	if count > lim.MaxResources {
		return nil, refuse(root.ResourceType, "holds %d resources, more than the limit of %d", count, lim.MaxResources)
	}
	var leads []*node
	switch root.ResourceType {
	case "DiagnosticReport":
		leads = ix.entries
	case "Bundle":
		var bt string
		if len(root.Type) > 0 && json.Unmarshal(root.Type, &bt) != nil {
			return nil, refuse("Bundle.type", "must be a code (a string)")
		}
		switch bt {
		case "collection", "document", "transaction", "batch", "message", "searchset":
		case "":
			return nil, refuse("Bundle.type", "required: collection, document, transaction, batch, message or searchset")
		default:
			return nil, refuse("Bundle.type", "%s: folio reads Bundles of type collection, document, transaction, batch, message or searchset", quote(bt))
		}
		if bt == "document" {
			if len(ix.entries) == 0 || ix.entries[0].r.ResourceType != "Composition" || ix.entries[0].path != "Bundle.entry[0].resource" {
				return nil, refuse("Bundle.entry[0].resource", "a document Bundle starts with its Composition")
			}
			leads = ix.entries[:1]
			break
		}
		for _, n := range ix.entries {
			if n.r.ResourceType == "DiagnosticReport" {
				leads = append(leads, n)
			}
		}
		if len(leads) == 0 {
			return nil, refuse("Bundle.entry", "holds no DiagnosticReport: folio renders diagnostic reports")
		}
	default:
		return nil, refuse("resourceType", "%s is not a report: folio reads a DiagnosticReport, or a Bundle holding one (or a Composition-led document Bundle)", quote(root.ResourceType))
	}
	var out []Mapped
	var errs report.Errors
	ids := map[string]string{}
	for _, n := range leads {
		m := &mapper{o: o, lim: lim, ix: ix, visiting: map[*resource]bool{}}
		res := m.lead(n)
		if len(m.errs) > 0 {
			errs = append(errs, m.errs...)
			continue
		}
		if prev, dup := ids[res.Report.ID]; dup {
			errs = append(errs, report.FieldError{Path: n.path + ".id", Rule: fmt.Sprintf("maps to report id %s, as %s does: one input cannot hold one report twice", quote(res.Report.ID), prev)})
			continue
		}
		ids[res.Report.ID] = n.path
		out = append(out, res)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// mapper maps one lead resource (a DiagnosticReport or a Composition).
type mapper struct {
	o        Options
	lim      Limits
	ix       *index
	errs     report.Errors
	warns    []string
	missing  []string
	visiting map[*resource]bool // hasMember panels being walked (cycles)
	pdf      []byte
	images   int
	// followed counts result references followed; shared panels (a DAG of
	// hasMember) could otherwise multiply the work exponentially.
	followed int
	tooMany  bool
}

// follow counts one followed result reference and reports whether the
// bound (10 per resource of the input's limit) still allows it.
func (m *mapper) follow(path string) bool {
	m.followed++
	if m.followed > 10*m.lim.MaxResources {
		if !m.tooMany {
			m.tooMany = true
			m.fail(path, "more than %d result references followed (panels shared by many others): refused", 10*m.lim.MaxResources)
		}
		return false
	}
	return true
}

func (m *mapper) fail(path, format string, args ...any) {
	if len(m.errs) < 50 {
		m.errs = append(m.errs, report.FieldError{Path: path, Rule: fmt.Sprintf(format, args...)})
	}
}

func (m *mapper) warn(format string, args ...any) {
	if len(m.warns) < 200 {
		m.warns = append(m.warns, fmt.Sprintf(format, args...))
	}
}

// lost records a referenced result that is not in the input.
func (m *mapper) lost(path string, ref reference) {
	what := ref.Reference
	if what == "" && ref.Identifier != nil {
		what = "identifier " + ref.Identifier.Value
	}
	if what == "" {
		what = "(no reference)"
	}
	m.missing = append(m.missing, what)
	m.warn("%s: reference %s not in the input (never fetched): not included", path, quote(what))
}

// lead maps a DiagnosticReport or a document Composition.
func (m *mapper) lead(n *node) Mapped {
	var r *report.Report
	var res Mapped
	if n.r.ResourceType == "Composition" {
		r, res = m.composition(n)
	} else {
		r, res = m.diagnosticReport(n, nil)
	}
	if len(m.errs) > 0 {
		return res
	}
	res.Source = n.path
	res.PDF = m.pdf
	res.Missing = len(m.missing)
	if res.Withdrawn {
		r.Sections = []report.Section{{Kind: report.SectionText, Title: "Withdrawn", Body: "This report was withdrawn by its sender."}}
	}
	if len(m.missing) > 0 {
		r.Sections = append([]report.Section{missingNotice(m.missing)}, r.Sections...)
	}
	if len(r.Sections) == 0 {
		r.Sections = []report.Section{{Kind: report.SectionText, Title: "Report", Body: "The FHIR input held no results, conclusion or report text."}}
	}
	r.Sections = fitDepth(r.Sections, 1, 3)
	// The mapped report must satisfy the contract like any other: encode it
	// and decode it with report.Decode.
	js, err := json.Marshal(r)
	if err != nil {
		m.fail(n.path, "cannot encode the mapped report: %v", err)
		return res
	}
	checked, err := report.Decode(js, m.o.ReportLimits)
	if err != nil {
		if fe, ok := err.(report.Errors); ok {
			for _, e := range fe {
				m.fail(n.path, "the mapped report breaks the folio contract at %s: %s", e.Path, e.Rule)
			}
		} else {
			m.fail(n.path, "%v", err)
		}
		return res
	}
	res.Report = checked
	res.Warnings = m.warns
	return res
}

// missingNotice is the first section of a report with unresolved
// references: one visible line a clinician cannot mistake.
func missingNotice(missing []string) report.Section {
	var b strings.Builder
	n := len(missing)
	if n == 1 {
		b.WriteString("**1 referenced result was not included:** it was not in the FHIR input and folio never fetches references. This report is incomplete.")
	} else {
		fmt.Fprintf(&b, "**%d referenced results were not included:** they were not in the FHIR input and folio never fetches references. This report is incomplete.", n)
	}
	b.WriteString("\n\nNot included: ")
	sorted := append([]string(nil), missing...)
	sort.Strings(sorted)
	for i, s := range sorted {
		if i == 20 {
			fmt.Fprintf(&b, " and %d more", n-20)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(escapeMD(s))
	}
	b.WriteString(".")
	return report.Section{Kind: report.SectionText, Title: "Incomplete report", Body: b.String()}
}

// statusOf maps DiagnosticReport.status (and Composition.status).
func (m *mapper) statusOf(path, s string) (status string, withdrawn bool) {
	switch s {
	case "registered", "partial", "preliminary":
		return report.StatusPreliminary, false
	case "final", "amended", "corrected", "appended":
		return s, false
	case "cancelled", "entered-in-error":
		return report.StatusFinal, true
	case "":
		m.fail(path, "required: the report's status (preliminary, final, amended, corrected, appended...)")
	default:
		m.fail(path, "%s: not a DiagnosticReport status folio can print (registered, partial, preliminary, final, amended, corrected, appended, cancelled, entered-in-error)", quote(s))
	}
	return "", false
}

// reportID picks the report id: the resource id when it fits the contract
// (1-48 of A-Z a-z 0-9 - .), else the accession verbatim (any identifier
// report.CheckIdentifier takes; report.Key derives its key), else a digest of what
// identifies the resource.
func reportID(r *resource, fullURL, accession string) string {
	if validID(r.ID) {
		return r.ID
	}
	if accession != "" && report.CheckIdentifier(accession) == nil {
		return accession
	}
	if u := strings.TrimPrefix(fullURL, "urn:uuid:"); u != fullURL && validID(u) {
		return u
	}
	key := r.ResourceType + "|" + r.ID + "|" + fullURL + "|" + accession
	for _, id := range r.Identifier {
		key += "|" + id.System + "|" + id.Value
	}
	return "fhir-" + shortDigest(key)
}

func validID(s string) bool {
	if s == "" || len(s) > 48 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// validFHIRID is the FHIR id rule [A-Za-z0-9\-\.]{1,64}.
func validFHIRID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	return validID(s[:min(len(s), 48)]) && (len(s) <= 48 || validID(s[48:]))
}

// version reads meta.versionId: a whole number 1..report.MaxVersion.
func (m *mapper) version(path string, r *resource) (int, bool) {
	if r.Meta == nil || r.Meta.VersionID == "" {
		return 1, false
	}
	v, err := strconv.Atoi(r.Meta.VersionID)
	if err != nil || v < 1 || v > report.MaxVersion {
		m.warn("%s.meta.versionId: %s is not a whole number 1-%d: ignored, the content-based version is used", path, quote(r.Meta.VersionID), report.MaxVersion)
		return 1, false
	}
	return v, true
}

func quote(s string) string {
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return strconv.Quote(s)
}
