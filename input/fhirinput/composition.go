package fhirinput

import (
	"encoding/json"
	"strconv"

	"github.com/foliohealth/folio/report"
)

// composition maps a document Bundle led by a Composition: the
// Composition gives title, status, date, subject, authors, attesters and
// the sections; a DiagnosticReport in the document (a section entry, else
// any entry) gives the kind, accession, specimens and exam.
func (m *mapper) composition(n *node) (*report.Report, Mapped) {
	c, p := n.r, n.path
	var dr *node
	var findDR func([]section)
	findDR = func(ss []section) {
		for _, s := range ss {
			for _, e := range s.Entry {
				if dn := m.ix.resolve(n, e.Reference); dn != nil && dn.r.ResourceType == "DiagnosticReport" && dr == nil {
					dr = dn
				}
			}
			findDR(s.Section)
		}
	}
	findDR(c.Section)
	if dr == nil {
		for _, e := range m.ix.entries {
			if e.r.ResourceType == "DiagnosticReport" {
				dr = e
				break
			}
		}
	}
	var r *report.Report
	var res Mapped
	if dr != nil {
		// Identity from the DiagnosticReport; what the Composition states
		// takes precedence below.
		sub := &mapper{o: m.o, lim: m.lim, ix: m.ix, visiting: m.visiting}
		r, res = sub.diagnosticReport(dr, n)
		if len(sub.errs) > 0 && c.Subject == nil {
			m.errs = append(m.errs, sub.errs...)
			return r, res
		}
		m.warns = append(m.warns, sub.warns...)
		m.missing = append(m.missing, sub.missing...)
		if len(sub.errs) > 0 {
			// The Composition may still carry what the report lacks;
			// refuse only what it cannot make up for.
			r = m.compositionOnly(n, &res)
		}
	} else {
		r = m.compositionOnly(n, &res)
	}
	if len(m.errs) > 0 {
		return r, res
	}
	if c.Title != "" {
		r.Title = m.clean(p+".title", c.Title)
	}
	st, withdrawn := m.statusOf(p+".status", c.Status)
	if st != "" {
		r.Status, res.Withdrawn = st, withdrawn || res.Withdrawn
	}
	if v, given := m.version(p, c); given {
		r.Version, res.VersionGiven = v, true
	}
	if t, full, ok := parseTime(c.Date); ok && full {
		r.Issued = t
	}
	if c.Subject != nil {
		r.Patient = m.patient(n, c.Subject, p+".subject")
	}
	if c.Custodian != nil {
		if on := m.ix.resolve(n, c.Custodian.Reference); on != nil && on.r.ResourceType == "Organization" {
			r.Facility = m.facility(on)
		}
	}
	r.Performers = m.compositionPeople(n, r.Performers)
	if r.Status == report.StatusAmended || r.Status == report.StatusCorrected {
		r.Amendment = &report.Amendment{Reason: "The sender marked this document " + r.Status + " (FHIR Composition.status) and gave no reason.", Issued: r.Issued}
	} else {
		r.Amendment = nil
	}
	if !res.Withdrawn {
		r.Sections = m.compSections(n, c.Section, p+".section")
	}
	return r, res
}

// compositionOnly maps a document without a usable DiagnosticReport: kind
// from Composition.category or type, issued from date.
func (m *mapper) compositionOnly(n *node, res *Mapped) *report.Report {
	c, p := n.r, n.path
	m.errs = nil
	r := &report.Report{Schema: report.Schema, Version: 1}
	var typ codeable
	if len(c.Type) > 0 && json.Unmarshal(c.Type, &typ) != nil {
		m.fail(p+".type", "must be a CodeableConcept")
	}
	r.Kind = m.kindOf(append(append([]codeable{}, c.Category...), typ))
	if r.Kind == "" {
		m.fail(p+".type", "%s: folio renders pathology and radiology documents; map a local code in the site category table", quote(ccText(typ, true)))
	}
	r.Title = m.clean(p+".type", ccText(typ, false))
	if r.Title == "" {
		r.Title = "Report"
	}
	t, full, ok := parseTime(c.Date)
	if !ok || !full {
		m.fail(p+".date", "required: when the document was released, with a time")
	}
	r.Issued = t
	if c.Subject == nil {
		m.fail(p+".subject", "required: folio prints the patient's identity on every page")
	}
	for _, id := range c.Identifier {
		if id.Value != "" {
			r.Accession = m.clean(p+".identifier", id.Value)
			break
		}
	}
	r.ID = reportID(c, n.fullURL, r.Accession)
	if r.Kind == report.KindAP && r.Accession == "" {
		r.Accession = r.ID
		m.warn("%s.identifier: no accession number given: the report id %s is printed in its place", p, quote(r.ID))
	}
	if r.Kind == report.KindRadiology {
		m.fail(p, "a radiology document needs a DiagnosticReport (its exam: modality and time)")
	}
	return r
}

// compositionPeople adds authors and attesters (an attester with a time
// is an electronic signature).
func (m *mapper) compositionPeople(n *node, have []report.Performer) []report.Performer {
	c, p := n.r, n.path
	out := have
	seen := map[string]int{}
	for i, pf := range out {
		seen[pf.Name] = i
	}
	for i, a := range c.Attester {
		if a.Party == nil {
			continue
		}
		name, role := m.person(n, *a.Party, p+".attester["+strconv.Itoa(i)+"].party", false)
		if name == "" {
			continue
		}
		if role == "" {
			role = map[string]string{"legal": "Legal authenticator", "professional": "Professional authenticator", "personal": "Attester", "official": "Official attester"}[a.Mode]
			if role == "" {
				role = "Attester"
			}
		}
		pf := report.Performer{Name: name, Role: role}
		if t, full, ok := parseTime(a.Time); ok && full {
			pf.SignedAt = &t
		}
		if j, ok := seen[name]; ok {
			if out[j].SignedAt == nil {
				out[j].SignedAt = pf.SignedAt
			}
			continue
		}
		seen[name] = len(out)
		out = append(out, pf)
	}
	for i, a := range c.Author {
		name, role := m.person(n, a, p+".author["+strconv.Itoa(i)+"]", false)
		if name == "" {
			continue
		}
		if _, ok := seen[name]; ok || len(out) >= 50 {
			continue
		}
		seen[name] = len(out)
		out = append(out, report.Performer{Name: name, Role: firstNonEmpty(role, "Author")})
	}
	return out
}

// compSections maps Composition.section: title, narrative, entries, and
// nested sections (folded at report v1's depth limit).
func (m *mapper) compSections(n *node, ss []section, path string) []report.Section {
	var out []report.Section
	for i, s := range ss {
		sp := path + "[" + strconv.Itoa(i) + "]"
		title := m.clean(sp+".title", s.Title)
		if title == "" && s.Code != nil {
			title = m.clean(sp+".code", ccText(*s.Code, true))
		}
		if title == "" {
			title = "Section"
		}
		sec := report.Section{Kind: report.SectionText, Title: title}
		if s.Text != nil && s.Text.Div != "" {
			md, _ := m.xhtml(sp+".text.div", s.Text.Div)
			sec.Body = md
		}
		sec.Sections = append(sec.Sections, m.results(n, s.Entry, sp+".entry")...)
		sec.Sections = append(sec.Sections, m.compSections(n, s.Section, sp+".section")...)
		if sec.Body == "" && len(sec.Sections) == 0 {
			sec.Body = "(This section is empty.)"
		}
		out = append(out, sec)
	}
	return out
}
