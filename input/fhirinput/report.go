package fhirinput

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/foliohealth/folio/report"
)

// Code systems folio recognises.
const (
	sysLOINC  = "http://loinc.org"
	sysV20074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
	sysV20203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
	sysSCT    = "http://snomed.info/sct"
)

// builtinKinds is the built-in category table (docs/fhir-input.md).
var builtinKinds = map[string]string{
	sysLOINC + "|LP7839-6":  report.KindAP, // Pathology
	sysLOINC + "|LP29684-5": report.KindRadiology,
	sysV20074 + "|SP":       report.KindAP, // Surgical pathology
	sysV20074 + "|CP":       report.KindAP, // Cytopathology
	sysV20074 + "|PAT":      report.KindAP, // Pathology (gross and histology)
	sysV20074 + "|RAD":      report.KindRadiology,
	sysV20074 + "|RX":       report.KindRadiology, // Radiograph
	sysV20074 + "|CT":       report.KindRadiology,
	sysV20074 + "|NMR":      report.KindRadiology,
	sysV20074 + "|NMS":      report.KindRadiology,
	sysV20074 + "|RUS":      report.KindRadiology,
	sysV20074 + "|OUS":      report.KindRadiology,
	sysSCT + "|394595002":   report.KindAP,        // Pathology (specialty)
	sysSCT + "|394914008":   report.KindRadiology, // Radiology (specialty)
	sysLOINC + "|11526-1":   report.KindAP,        // Pathology study (document type)
	sysLOINC + "|60567-5":   report.KindAP,        // Comprehensive pathology report panel
	sysLOINC + "|60568-3":   report.KindAP,        // Pathology synoptic report
	sysLOINC + "|11529-5":   report.KindAP,        // Surgical pathology study
	sysLOINC + "|18748-4":   report.KindRadiology, // Diagnostic imaging study
	sysLOINC + "|LP7819-8":  report.KindAP,        // Microscopic (pathology) — LOINC part used by some LIS
}

// kindOf maps codings to a report kind: the site table first, then the
// built-in one; "" when nothing maps.
func (m *mapper) kindOf(ccs []codeable) string {
	for _, cc := range ccs {
		for _, c := range cc.Coding {
			if k := m.o.Categories[c.System+"|"+c.Code]; k != "" {
				return k
			}
			if k := m.o.Categories[c.Code]; k != "" {
				return k
			}
		}
	}
	for _, cc := range ccs {
		for _, c := range cc.Coding {
			if k := builtinKinds[c.System+"|"+c.Code]; k != "" {
				return k
			}
			if c.System == "" && (c.Code == "SP" || c.Code == "CP" || c.Code == "PAT" || c.Code == "RAD") {
				return builtinKinds[sysV20074+"|"+c.Code]
			}
		}
	}
	return ""
}

// diagnosticReport maps one DiagnosticReport. comp is the document
// Composition it belongs to, when there is one (its sections then replace
// the report's body).
func (m *mapper) diagnosticReport(n *node, comp *node) (*report.Report, Mapped) {
	dr, p := n.r, n.path
	var res Mapped
	r := &report.Report{Schema: report.Schema}
	r.Status, res.Withdrawn = m.statusOf(p+".status", dr.Status)
	r.Version, res.VersionGiven = m.version(p, dr)

	// Kind: category through the tables; the code only when there is no
	// category at all (a microbiology category is refused, whatever the code).
	r.Kind = m.kindOf(dr.Category)
	if r.Kind == "" && len(dr.Category) == 0 {
		r.Kind = m.kindOf(dr.Code)
	}
	if r.Kind == "" {
		what := "none given"
		if len(dr.Category) > 0 {
			what = ccText(dr.Category[0], true)
		}
		m.fail(p+".category", "%s: folio renders pathology (LOINC LP7839-6, v2 SP/CP/PAT) and radiology (LOINC LP29684-5, v2 RAD) reports; map a local code in the site category table", quote(what))
	}
	r.Title = m.clean(p+".code", ccText(first(dr.Code), false))
	if r.Title == "" {
		r.Title = map[string]string{report.KindAP: "Pathology Report", report.KindRadiology: "Radiology Report"}[r.Kind]
		if len(dr.Code) == 0 {
			// R4 requires code, but a reader needs the report, not its
			// code: the kind's title, with a warning (issue 18).
			m.warn("%s.code: not stated (the PDF is titled %q)", p, r.Title)
		}
	}

	// Patient: the subject must resolve to a Patient with a name.
	r.Patient = m.patient(n, dr.Subject, p+".subject")

	// Times.
	r.Issued = m.issued(p, dr)

	// Identifiers.
	r.Accession = m.accession(n, dr)
	r.ID = reportID(dr, fullURLOf(n), r.Accession)
	if r.Kind == report.KindAP && r.Accession == "" {
		r.Accession = r.ID
		m.warn("%s.identifier: no accession number given: the report id %s is printed in its place", p, quote(r.ID))
	}
	r.EncounterID = m.encounterID(n, dr.Encounter, p+".encounter")
	r.OrderingProvider = m.orderer(n, dr.BasedOn, p+".basedOn")

	// People and places.
	r.Performers, r.Facility = m.performers(n, dr, p)
	r.Specimens = m.specimens(n, dr.Specimen, p+".specimen")
	if r.Kind == report.KindRadiology {
		r.Exam = m.exam(n, dr, r.Title)
	}
	if r.Status == report.StatusAmended || r.Status == report.StatusCorrected {
		r.Amendment = &report.Amendment{
			Reason: "The sender marked this report " + r.Status + " (FHIR DiagnosticReport.status) and gave no reason.",
			Issued: r.Issued,
		}
	}
	if res.Withdrawn || comp != nil {
		return r, res
	}
	r.Sections = m.body(n)
	return r, res
}

// body is a DiagnosticReport's content in reading order: presented forms
// (the report as its sender wrote it), media, results, conclusion; the
// narrative only when there is nothing else.
func (m *mapper) body(n *node) []report.Section {
	dr, p := n.r, n.path
	var secs []report.Section
	secs = append(secs, m.presentedForms(n, dr.PresentedForm, p+".presentedForm")...)
	secs = append(secs, m.mediaSections(n, dr.Media, p+".media")...)
	secs = append(secs, m.results(n, dr.Result, p+".result")...)
	if dr.Conclusion != "" || len(dr.ConclusionCode) > 0 {
		body := markdownText(m.clean(p+".conclusion", dr.Conclusion))
		var codes []string
		for _, cc := range dr.ConclusionCode {
			if t := ccText(cc, true); t != "" {
				codes = append(codes, escapeMD(m.clean(p+".conclusionCode", t)))
			}
		}
		if len(codes) > 0 {
			if body != "" {
				body += "\n\n"
			}
			body += "Coded conclusion: " + strings.Join(codes, "; ")
		}
		secs = append(secs, report.Section{Kind: report.SectionText, Title: "Conclusion", Body: body})
	}
	if len(secs) == 0 && dr.Text != nil && dr.Text.Div != "" {
		if s, ok := m.narrativeSection(p+".text.div", "Report", dr.Text.Div); ok {
			secs = append(secs, s)
		}
	}
	return secs
}

// patient maps the subject reference.
func (m *mapper) patient(from *node, ref *reference, path string) report.Patient {
	if ref == nil {
		m.fail(path, "required: folio prints the patient's identity on every page")
		return report.Patient{}
	}
	pn := m.ix.resolve(from, ref.Reference)
	if pn == nil {
		// The reference names a patient: not repeated in the error.
		m.fail(path, "does not resolve to a Patient in the input (folio prints the patient's identity on every page and never fetches references; the reference is not repeated here: it identifies a patient)")
		return report.Patient{}
	}
	if pn.r.ResourceType != "Patient" {
		m.fail(path, "refers to a %s, not a Patient", pn.r.ResourceType)
		return report.Patient{}
	}
	pr, pp := pn.r, pn.path
	var pt report.Patient
	names := m.humanNames(pp+".name", pr.Name)
	pt.Name = m.clean(pp+".name", formatPatientName(pickName(names)))
	if pt.Name == "" {
		m.fail(pp+".name", "the Patient has no name: folio prints the patient's identity on every page")
	}
	switch {
	case pn.parent != nil:
		// A contained resource's id is local to its container: never a
		// Patient id another report could share by accident.
		key := pt.Name + "|" + pr.BirthDate
		for _, id := range pr.Identifier {
			if id.Type != nil && hasCode(*id.Type, sysV20203, "MR") && id.Value != "" {
				key = "MR|" + id.System + "|" + id.Value
				break
			}
		}
		pt.ID = "fhir-" + shortDigest(key)
		m.warn("%s: the Patient is contained (its id is local to the report): patient id %s is derived from its %s", pp, pt.ID, map[bool]string{true: "medical record number", false: "name and birth date"}[strings.HasPrefix(key, "MR|")])
	case validFHIRID(pr.ID):
		pt.ID = pr.ID
	case strings.HasPrefix(pn.fullURL, "urn:uuid:") && validFHIRID(strings.TrimPrefix(pn.fullURL, "urn:uuid:")):
		pt.ID = strings.TrimPrefix(pn.fullURL, "urn:uuid:")
	default:
		pt.ID = "fhir-" + shortDigest(pn.fullURL+"|"+pr.ID+"|"+pt.Name)
		m.warn("%s.id: the Patient has no FHIR id: %s is used", pp, pt.ID)
	}
	for _, id := range pr.Identifier {
		if id.Type != nil && hasCode(*id.Type, sysV20203, "MR") && id.Value != "" {
			pt.MRN = m.clean(pp+".identifier", id.Value)
			break
		}
	}
	if pr.BirthDate != "" {
		if _, err := time.Parse("2006-01-02", pr.BirthDate); err == nil {
			pt.BirthDate = pr.BirthDate
		} else {
			m.warn("%s.birthDate: not a full date YYYY-MM-DD: not printed (the value is not repeated here: it identifies a patient)", pp)
		}
	}
	switch pr.Gender {
	case "female", "male", "other", "unknown":
		pt.Sex = pr.Gender
	}
	return pt
}

func (m *mapper) humanNames(path string, raw json.RawMessage) []humanName {
	if len(raw) == 0 {
		return nil
	}
	var names []humanName
	if err := json.Unmarshal(raw, &names); err != nil {
		m.fail(path, "must be a list of HumanName")
	}
	return names
}

// pickName: official first, then usual, then any current name.
func pickName(names []humanName) *humanName {
	for _, use := range []string{"official", "usual", ""} {
		for i := range names {
			n := &names[i]
			if n.Use == "old" || (n.Period != nil && n.Period.End != "") {
				continue
			}
			if use == "" || n.Use == use {
				return n
			}
		}
	}
	if len(names) > 0 {
		return &names[0]
	}
	return nil
}

// formatPatientName: "Family, Given Middle", as folio prints patients.
func formatPatientName(n *humanName) string {
	if n == nil {
		return ""
	}
	given := strings.TrimSpace(strings.Join(n.Given, " "))
	switch {
	case n.Family != "" && given != "":
		return strings.TrimSpace(n.Family) + ", " + given
	case n.Family != "":
		return strings.TrimSpace(n.Family)
	case given != "":
		return given
	}
	return strings.TrimSpace(n.Text)
}

// formatPersonName: "Prefix Given Family, Suffix" for clinicians.
func formatPersonName(n *humanName) string {
	if n == nil {
		return ""
	}
	if n.Family == "" && len(n.Given) == 0 {
		return strings.TrimSpace(n.Text)
	}
	parts := append(append(append([]string{}, n.Prefix...), n.Given...), n.Family)
	s := strings.Join(strings.Fields(strings.Join(parts, " ")), " ")
	if len(n.Suffix) > 0 {
		s += ", " + strings.Join(n.Suffix, ", ")
	}
	return s
}

// issued: DiagnosticReport.issued, else meta.lastUpdated, else effective.
func (m *mapper) issued(p string, dr *resource) time.Time {
	for _, c := range []struct{ path, v string }{
		{p + ".issued", dr.Issued},
		{p + ".meta.lastUpdated", metaLastUpdated(dr)},
		{p + ".effectiveDateTime", dr.EffectiveDateTime},
		{p + ".effectiveInstant", dr.EffectiveInstant},
		{p + ".effectivePeriod.start", periodStart(dr.EffectivePeriod)},
	} {
		if c.v == "" {
			continue
		}
		t, full, ok := parseTime(c.v)
		if !ok {
			m.fail(c.path, "%s is not a FHIR dateTime", quote(c.v))
			return time.Time{}
		}
		if !full {
			continue
		}
		if c.path != p+".issued" {
			m.warn("%s.issued: not given: the time printed as issued is %s", p, c.path)
		}
		return t
	}
	m.fail(p+".issued", "required: when the report was released (issued, or a full effective time)")
	return time.Time{}
}

func metaLastUpdated(r *resource) string {
	if r.Meta == nil {
		return ""
	}
	return r.Meta.LastUpdated
}

func periodStart(p *period) string {
	if p == nil {
		return ""
	}
	return p.Start
}

// parseTime parses a FHIR dateTime or instant; full is false for a date
// without a time (taken as midnight UTC).
func parseTime(s string) (t time.Time, full, ok bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true, true
	}
	for _, l := range []string{"2006-01-02", "2006-01", "2006"} {
		if t, err := time.Parse(l, s); err == nil {
			return t, false, true
		}
	}
	return time.Time{}, false, false
}

// accession: the identifier typed ACSN, else a specimen's
// accessionIdentifier, else the first identifier's value.
func (m *mapper) accession(n *node, dr *resource) string {
	p := n.path + ".identifier"
	for _, id := range dr.Identifier {
		if id.Type != nil && hasCode(*id.Type, sysV20203, "ACSN") && id.Value != "" {
			return m.clean(p, id.Value)
		}
	}
	for _, ref := range dr.Specimen {
		if sn := m.ix.resolve(n, ref.Reference); sn != nil && sn.r.AccessionIdentifier != nil && sn.r.AccessionIdentifier.Value != "" {
			return m.clean(sn.path+".accessionIdentifier", sn.r.AccessionIdentifier.Value)
		}
	}
	for _, id := range dr.Identifier {
		if id.Value != "" {
			return m.clean(p, id.Value)
		}
	}
	return ""
}

func (m *mapper) encounterID(from *node, ref *reference, path string) string {
	if ref == nil || ref.Reference == "" {
		return ""
	}
	if en := m.ix.resolve(from, ref.Reference); en != nil {
		if validFHIRID(en.r.ID) {
			return en.r.ID
		}
		return ""
	}
	s := strings.TrimPrefix(ref.Reference, "Encounter/")
	if s != ref.Reference && validFHIRID(s) {
		return s
	}
	m.warn("%s: reference not in the input (never fetched): encounter id not printed (the reference is not repeated here: it identifies a patient)", path)
	return ""
}

// orderer: basedOn ServiceRequest.requester's name.
func (m *mapper) orderer(from *node, refs []reference, path string) string {
	for i, ref := range refs {
		sr := m.ix.resolve(from, ref.Reference)
		if sr == nil {
			m.warn("%s[%d]: reference %s not in the input (never fetched): ordering provider not printed", path, i, quote(refText(ref)))
			continue
		}
		if sr.r.Requester != nil {
			if name, _ := m.person(sr, *sr.r.Requester, sr.path+".requester", false); name != "" {
				return name
			}
		}
	}
	return ""
}

// person resolves a Practitioner, PractitionerRole or Organization
// reference to a name and a role ("" when none); an unresolved reference
// with a display gives the display.
func (m *mapper) person(from *node, ref reference, path string, count bool) (name, role string) {
	pn := m.ix.resolve(from, ref.Reference)
	if pn == nil {
		if ref.Display != "" {
			return m.clean(path+".display", ref.Display), ""
		}
		if count {
			m.lost(path, ref)
		} else if ref.Reference != "" {
			m.warn("%s: reference %s not in the input (never fetched)", path, quote(ref.Reference))
		}
		return "", ""
	}
	switch pn.r.ResourceType {
	case "Practitioner", "Patient", "RelatedPerson":
		return m.clean(pn.path+".name", formatPersonName(pickName(m.humanNames(pn.path+".name", pn.r.Name)))), ""
	case "PractitionerRole":
		for _, cc := range pn.r.Code {
			if t := ccText(cc, false); t != "" {
				role = m.clean(pn.path+".code", t)
				break
			}
		}
		if pn.r.Practitioner != nil {
			name, _ = m.person(pn, *pn.r.Practitioner, pn.path+".practitioner", count)
		}
		if name == "" && pn.r.Organization != nil {
			name, _ = m.person(pn, *pn.r.Organization, pn.path+".organization", false)
		}
		return name, role
	case "Organization", "CareTeam", "Device":
		var s string
		if json.Unmarshal(pn.r.Name, &s) == nil && s != "" {
			return m.clean(pn.path+".name", s), ""
		}
		return m.clean(path+".display", ref.Display), ""
	}
	return m.clean(path+".display", ref.Display), ""
}

// performers maps resultsInterpreter and performer; an Organization
// performer becomes the facility.
func (m *mapper) performers(n *node, dr *resource, p string) ([]report.Performer, *report.Facility) {
	var out []report.Performer
	var fac *report.Facility
	seen := map[string]bool{}
	add := func(refs []reference, path, defRole string) {
		for i, ref := range refs {
			rp := path + "[" + strconv.Itoa(i) + "]"
			if on := m.ix.resolve(n, ref.Reference); on != nil && on.r.ResourceType == "Organization" {
				if fac == nil {
					fac = m.facility(on)
				}
				continue
			}
			name, role := m.person(n, ref, rp, false)
			if name == "" {
				continue
			}
			if role == "" {
				role = defRole
			}
			if seen[name+"|"+role] || len(out) >= 50 {
				continue
			}
			seen[name+"|"+role] = true
			out = append(out, report.Performer{Name: name, Role: role})
		}
	}
	add(dr.ResultsInterpreter, p+".resultsInterpreter", "Results interpreter")
	add(dr.Performer, p+".performer", "Performer")
	return out, fac
}

func (m *mapper) facility(on *node) *report.Facility {
	var f report.Facility
	var s string
	if json.Unmarshal(on.r.Name, &s) == nil {
		f.Name = m.clean(on.path+".name", s)
	}
	if len(on.r.Address) > 0 {
		a := on.r.Address[0]
		txt := a.Text
		if txt == "" {
			parts := append(append([]string{}, a.Line...), strings.TrimSpace(a.City+" "+a.State+" "+a.PostalCode), a.Country)
			var keep []string
			for _, x := range parts {
				if strings.TrimSpace(x) != "" {
					keep = append(keep, strings.TrimSpace(x))
				}
			}
			txt = strings.Join(keep, ", ")
		}
		f.Address = m.clean(on.path+".address", txt)
	}
	for _, t := range on.r.Telecom {
		if t.System == "phone" && t.Value != "" {
			f.Phone = m.clean(on.path+".telecom", t.Value)
			break
		}
	}
	if f == (report.Facility{}) {
		return nil
	}
	return &f
}

// specimens maps DiagnosticReport.specimen.
func (m *mapper) specimens(n *node, refs []reference, path string) []report.Specimen {
	var out []report.Specimen
	for i, ref := range refs {
		rp := path + "[" + strconv.Itoa(i) + "]"
		sn := m.ix.resolve(n, ref.Reference)
		if sn == nil || sn.r.ResourceType != "Specimen" {
			if sn != nil {
				m.warn("%s: refers to a %s, not a Specimen: not printed", rp, sn.r.ResourceType)
				continue
			}
			if ref.Display != "" {
				out = append(out, report.Specimen{Label: specimenLabel(len(out)), Description: m.clean(rp+".display", ref.Display)})
				continue
			}
			m.lost(rp, ref)
			continue
		}
		if len(out) >= 200 {
			m.warn("%s: more than 200 specimens: the rest are not printed", path)
			break
		}
		out = append(out, m.specimen(sn, len(out)))
	}
	return out
}

func specimenLabel(i int) string {
	if i < 26 {
		return string(rune('A' + i))
	}
	return strconv.Itoa(i + 1)
}

func (m *mapper) specimen(sn *node, i int) report.Specimen {
	s, p := sn.r, sn.path
	sp := report.Specimen{Label: specimenLabel(i)}
	for _, id := range s.Identifier {
		if v := strings.TrimSpace(id.Value); v != "" && len(v) <= 12 {
			sp.Label = m.clean(p+".identifier", v)
			break
		}
	}
	var parts []string
	if c := s.Collection; c != nil && c.BodySite != nil {
		if t := ccText(*c.BodySite, false); t != "" {
			parts = append(parts, t)
		}
	}
	var typ codeable
	if len(s.Type) > 0 && json.Unmarshal(s.Type, &typ) == nil {
		if t := ccText(typ, false); t != "" {
			parts = append(parts, t)
		}
	}
	if c := s.Collection; c != nil && c.Method != nil {
		if t := ccText(*c.Method, false); t != "" {
			parts = append(parts, t)
		}
	}
	for _, nt := range s.Note {
		if nt.Text != "" {
			parts = append(parts, nt.Text)
		}
	}
	sp.Description = m.clean(p, strings.Join(parts, ", "))
	if sp.Description == "" {
		sp.Description = "Specimen"
	}
	if c := s.Collection; c != nil {
		v := c.CollectedDateTime
		if v == "" {
			v = periodStart(c.CollectedPeriod)
		}
		if t, full, ok := parseTime(v); ok && full {
			sp.Collected = &t
		}
	}
	if t, full, ok := parseTime(s.ReceivedTime); ok && full {
		sp.Received = &t
	}
	return sp
}

// exam maps the ImagingStudy (or, without one, the report's codes and
// effective time) to the radiology exam.
func (m *mapper) exam(n *node, dr *resource, title string) *report.Exam {
	p := n.path
	e := &report.Exam{Description: title}
	for i, ref := range dr.ImagingStudy {
		in := m.ix.resolve(n, ref.Reference)
		if in == nil || in.r.ResourceType != "ImagingStudy" {
			if in == nil {
				m.lost(p+".imagingStudy["+strconv.Itoa(i)+"]", ref)
			}
			continue
		}
		is := in.r
		for _, c := range is.Modality {
			if dicomModality(c.Code) != "" && e.Modality == "" {
				e.Modality = dicomModality(c.Code)
			}
		}
		for _, s := range is.Series {
			if s.Modality != nil && e.Modality == "" {
				e.Modality = dicomModality(s.Modality.Code)
			}
			if s.BodySite != nil && e.BodySite == "" {
				e.BodySite = m.clean(in.path+".series.bodySite", firstNonEmpty(s.BodySite.Display, s.BodySite.Code))
			}
		}
		if is.Description != "" {
			e.Description = m.clean(in.path+".description", is.Description)
		}
		for _, id := range is.Identifier {
			if id.System == "urn:dicom:uid" {
				e.StudyUID = strings.TrimPrefix(id.Value, "urn:oid:")
			}
		}
		if t, full, ok := parseTime(is.Started); ok && full {
			e.Performed = t
		}
		break
	}
	if e.Modality == "" {
		e.Modality = guessModality(append(append([]codeable{}, dr.Category...), dr.Code...))
	}
	// No modality, no exam time: printed as not stated, with a warning
	// (templates; issue 18).
	if e.Performed.IsZero() {
		for _, v := range []string{dr.EffectiveDateTime, dr.EffectiveInstant, periodStart(dr.EffectivePeriod)} {
			if t, _, ok := parseTime(v); ok && v != "" {
				e.Performed = t
				break
			}
		}
	}
	if !validStudyUID(e.StudyUID) {
		e.StudyUID = ""
	}
	return e
}

func validStudyUID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

var modalities = map[string]string{"CT": "CT", "MR": "MR", "US": "US", "CR": "CR", "DX": "DX", "MG": "MG", "NM": "NM", "PT": "PT", "XA": "XA", "RF": "RF"}

func dicomModality(code string) string { return modalities[strings.ToUpper(code)] }

// guessModality reads a modality from v2-0074 codes or the words of the
// report's codes: "CT", "MRI", "ultrasound", "mammogram", "X-ray"...
func guessModality(ccs []codeable) string {
	words := map[string]string{"ct": "CT", "computed": "CT", "mr": "MR", "mri": "MR", "magnetic": "MR",
		"us": "US", "ultrasound": "US", "sonography": "US", "mammogram": "MG", "mammography": "MG", "mg": "MG",
		"nm": "NM", "nuclear": "NM", "pet": "PT", "x-ray": "CR", "xr": "CR", "radiograph": "CR", "dx": "DX",
		"fluoroscopy": "RF", "angiography": "XA", "cr": "CR"}
	v2 := map[string]string{"CT": "CT", "NMR": "MR", "RUS": "US", "OUS": "US", "NMS": "NM", "RX": "CR"}
	for _, cc := range ccs {
		for _, c := range cc.Coding {
			if c.System == sysV20074 && v2[c.Code] != "" {
				return v2[c.Code]
			}
		}
	}
	for _, cc := range ccs {
		texts := []string{cc.Text}
		for _, c := range cc.Coding {
			texts = append(texts, c.Display)
		}
		for _, t := range texts {
			for _, w := range strings.FieldsFunc(strings.ToLower(t), func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r == '-')
			}) {
				if mod := words[w]; mod != "" {
					return mod
				}
			}
		}
	}
	return ""
}

// Helpers on codes and references.

func first(c codeables) codeable {
	if len(c) == 0 {
		return codeable{}
	}
	return c[0]
}

// ccText: text, else the first coding's display; withCode falls back to
// the code itself.
func ccText(cc codeable, withCode bool) string {
	if cc.Text != "" {
		return cc.Text
	}
	for _, c := range cc.Coding {
		if c.Display != "" {
			return c.Display
		}
	}
	if withCode {
		for _, c := range cc.Coding {
			if c.Code != "" {
				return c.Code
			}
		}
	}
	return ""
}

func hasCode(cc codeable, system, code string) bool {
	for _, c := range cc.Coding {
		if c.Code == code && (c.System == system || c.System == "") {
			return true
		}
	}
	return false
}

func refText(r reference) string {
	if r.Reference != "" {
		return r.Reference
	}
	if r.Identifier != nil {
		return "identifier " + r.Identifier.Value
	}
	return r.Display
}

func fullURLOf(n *node) string {
	for n.parent != nil {
		n = n.parent
	}
	return n.fullURL
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func shortDigest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}
