package fhirinput

import (
	"bytes"
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/foliohealth/folio/report"
	"golang.org/x/text/encoding/charmap"
)

// results maps a list of result references (DiagnosticReport.result,
// Composition.section.entry): runs of simple results become one fields
// section ("Results"), a panel (hasMember) or an Observation with
// components becomes its own section, long text its own text section.
func (m *mapper) results(from *node, refs []reference, path string) []report.Section {
	var secs []report.Section
	var run []report.Item
	flush := func() {
		if len(run) > 0 {
			secs = append(secs, report.Section{Kind: report.SectionFields, Title: "Results", Items: run})
			run = nil
		}
	}
	for i, ref := range refs {
		rp := path + "[" + strconv.Itoa(i) + "]"
		if !m.follow(rp) {
			break
		}
		on := m.ix.resolve(from, ref.Reference)
		if on == nil {
			m.lost(rp, ref)
			continue
		}
		switch on.r.ResourceType {
		case "Observation":
		case "DiagnosticReport":
			if on.r == from.r || m.visiting[on.r] {
				continue
			}
			m.visiting[on.r] = true
			flush()
			secs = append(secs, m.body(on)...)
			m.visiting[on.r] = false
			continue
		case "Specimen":
			flush()
			sp := m.specimen(on, 0)
			secs = append(secs, report.Section{Kind: report.SectionFields, Title: "Specimen", Items: []report.Item{{Label: sp.Label, Value: sp.Description}}})
			continue
		default:
			m.warn("%s: refers to a %s: folio prints Observations and DiagnosticReports here; not printed", rp, on.r.ResourceType)
			continue
		}
		o := on.r
		if o.Status == "entered-in-error" || o.Status == "cancelled" {
			m.warn("%s: the Observation is %s: not printed", rp, o.Status)
			continue
		}
		label := m.label(on)
		switch {
		case len(o.HasMember) > 0 || len(o.Component) > 0:
			flush()
			if s, ok := m.panel(on, 1); ok {
				secs = append(secs, s)
			}
		case o.ValueString != nil && isLong(*o.ValueString):
			flush()
			body := markdownText(m.clean(on.path+".valueString", *o.ValueString))
			if extra := m.obsExtras(on); extra != "" {
				body += "\n\n" + markdownText(extra)
			}
			secs = append(secs, report.Section{Kind: report.SectionText, Title: label, Body: body})
		case !hasValue(&o.value) && o.Text != nil && o.Text.Div != "":
			flush()
			if s, ok := m.narrativeSection(on.path+".text.div", label, o.Text.Div); ok {
				secs = append(secs, s)
			}
		default:
			run = append(run, report.Item{Label: label, Value: m.obsValue(on)})
		}
	}
	flush()
	return secs
}

// panel maps an Observation with members or components to a fields
// section (members that are panels become sub-sections): a CAP checklist
// reads as question: answer.
func (m *mapper) panel(on *node, depth int) (report.Section, bool) {
	o := on.r
	if m.visiting[o] {
		m.warn("%s: hasMember loops back to a panel being printed: not printed twice", on.path)
		return report.Section{}, false
	}
	m.visiting[o] = true
	defer func() { m.visiting[o] = false }()
	s := report.Section{Kind: report.SectionFields, Title: m.label(on)}
	if hasValue(&o.value) || o.ValueString != nil {
		s.Items = append(s.Items, report.Item{Label: s.Title, Value: m.obsValue(on)})
	}
	for i, c := range o.Component {
		cp := on.path + ".component[" + strconv.Itoa(i) + "]"
		s.Items = append(s.Items, report.Item{Label: m.clean(cp+".code", firstNonEmpty(ccText(c.Code, true), "Component")), Value: m.valueText(cp, &c.value, nil)})
	}
	for i, ref := range o.HasMember {
		rp := on.path + ".hasMember[" + strconv.Itoa(i) + "]"
		if !m.follow(rp) {
			break
		}
		mn := m.ix.resolve(on, ref.Reference)
		if mn == nil {
			m.lost(rp, ref)
			continue
		}
		if mn.r.ResourceType != "Observation" {
			m.warn("%s: refers to a %s, not an Observation: not printed", rp, mn.r.ResourceType)
			continue
		}
		if mn.r.Status == "entered-in-error" || mn.r.Status == "cancelled" {
			m.warn("%s: the Observation is %s: not printed", rp, mn.r.Status)
			continue
		}
		if len(mn.r.HasMember) > 0 || len(mn.r.Component) > 0 {
			if depth >= m.lim.MaxMemberDepth {
				m.warn("%s: panels nest more than %d levels deep: the deeper ones are not printed", rp, m.lim.MaxMemberDepth)
				continue
			}
			if sub, ok := m.panel(mn, depth+1); ok {
				s.Sections = append(s.Sections, sub)
			}
			continue
		}
		s.Items = append(s.Items, report.Item{Label: m.label(mn), Value: m.obsValue(mn)})
	}
	if len(s.Items) == 0 {
		if len(s.Sections) == 0 {
			s.Items = []report.Item{{Label: s.Title, Value: "(no members included)"}}
		} else {
			s.Kind = report.SectionText
		}
	}
	return s, true
}

// label is an Observation's code as printed.
func (m *mapper) label(on *node) string {
	l := m.clean(on.path+".code", ccText(first(on.r.Code), true))
	if l == "" {
		l = "Result"
	}
	return l
}

// obsValue is the printed value of an Observation with its interpretation,
// reference range, body site and notes, one per line.
func (m *mapper) obsValue(on *node) string {
	v := m.valueText(on.path, &on.r.value, on.r)
	if extra := m.obsExtras(on); extra != "" {
		v += "\n" + extra
	}
	return v
}

func (m *mapper) obsExtras(on *node) string {
	var lines []string
	if len(on.r.BodySite) > 0 {
		if t := ccText(on.r.BodySite[0], false); t != "" {
			lines = append(lines, "Body site: "+m.clean(on.path+".bodySite", t))
		}
	}
	for i, n := range on.r.Note {
		if n.Text != "" {
			lines = append(lines, "Note: "+m.clean(on.path+".note["+strconv.Itoa(i)+"].text", n.Text))
		}
	}
	return strings.Join(lines, "\n")
}

func hasValue(v *value) bool {
	return v.ValueString != nil || v.ValueQuantity != nil || v.ValueCodeableConcept != nil || v.ValueBoolean != nil ||
		v.ValueInteger != nil || v.ValueDateTime != nil || v.ValueTime != nil || v.ValuePeriod != nil ||
		v.ValueRange != nil || v.ValueRatio != nil || v.ValueSampledData != nil || v.DataAbsentReason != nil
}

// valueText prints value[x], interpretation and referenceRange.
func (m *mapper) valueText(path string, v *value, o *resource) string {
	var s string
	switch {
	case v.ValueString != nil:
		s = m.clean(path+".valueString", *v.ValueString)
	case v.ValueQuantity != nil:
		s = m.clean(path+".valueQuantity", qty(v.ValueQuantity))
	case v.ValueCodeableConcept != nil:
		s = m.clean(path+".valueCodeableConcept", ccText(*v.ValueCodeableConcept, true))
	case v.ValueBoolean != nil:
		s = map[bool]string{true: "Yes", false: "No"}[*v.ValueBoolean]
	case v.ValueInteger != nil:
		s = strconv.FormatInt(*v.ValueInteger, 10)
	case v.ValueDateTime != nil:
		s = m.clean(path+".valueDateTime", *v.ValueDateTime)
	case v.ValueTime != nil:
		s = m.clean(path+".valueTime", *v.ValueTime)
	case v.ValuePeriod != nil:
		s = m.clean(path+".valuePeriod", v.ValuePeriod.Start+" to "+v.ValuePeriod.End)
	case v.ValueRange != nil:
		s = m.clean(path+".valueRange", qty(v.ValueRange.Low)+" to "+qty(v.ValueRange.High))
	case v.ValueRatio != nil:
		s = m.clean(path+".valueRatio", qty(v.ValueRatio.Numerator)+" / "+qty(v.ValueRatio.Denominator))
	case v.ValueSampledData != nil:
		s = "(sampled data: not printed)"
	case v.DataAbsentReason != nil:
		s = "(no value: " + m.clean(path+".dataAbsentReason", ccText(*v.DataAbsentReason, true)) + ")"
	case o != nil && o.Text != nil && o.Text.Div != "":
		md, _ := m.xhtml(path+".text.div", o.Text.Div)
		s = m.clean(path+".text.div", unescapeMDPlain(md))
	default:
		s = "(no value given)"
	}
	if s == "" {
		s = "(empty)"
	}
	var extra []string
	for _, in := range v.Interpretation {
		if t := ccText(in, true); t != "" {
			extra = append(extra, "Interpretation: "+m.clean(path+".interpretation", t))
		}
	}
	for _, rr := range v.ReferenceRange {
		t := rr.Text
		if t == "" && (rr.Low != nil || rr.High != nil) {
			switch {
			case rr.Low != nil && rr.High != nil:
				t = qty(rr.Low) + " to " + qty(rr.High)
			case rr.Low != nil:
				t = ">= " + qty(rr.Low)
			default:
				t = "<= " + qty(rr.High)
			}
		}
		if t != "" {
			extra = append(extra, "Reference range: "+m.clean(path+".referenceRange", t))
		}
	}
	if len(extra) > 0 {
		s += "\n" + strings.Join(extra, "\n")
	}
	return s
}

func qty(q *quantity) string {
	if q == nil {
		return ""
	}
	s := q.Comparator + q.Value.String()
	if u := firstNonEmpty(q.Unit, q.Code); u != "" {
		s += " " + u
	}
	return strings.TrimSpace(s)
}

// isLong: text that reads better as its own section than in a grid.
func isLong(s string) bool { return len(s) > 300 || strings.Count(s, "\n") >= 3 }

// presentedForms maps DiagnosticReport.presentedForm.
func (m *mapper) presentedForms(from *node, atts []attachment, path string) []report.Section {
	var secs []report.Section
	for i, a := range atts {
		ap := path + "[" + strconv.Itoa(i) + "]"
		data, ct := a.Data, a.ContentType
		if len(data) == 0 && a.URL != "" {
			// A Binary in the same input is read; anything else is named,
			// never fetched.
			if bn := m.ix.resolve(from, a.URL); bn != nil && bn.r.ResourceType == "Binary" {
				data, ct = bn.r.Data, firstNonEmpty(ct, bn.r.ContentType)
			} else {
				title := firstNonEmpty(a.Title, "Presented form ("+firstNonEmpty(a.ContentType, "no content type")+")")
				secs = append(secs, report.Section{Kind: report.SectionURL, Title: m.clean(ap+".title", title), URL: m.clean(ap+".url", a.URL), LinkText: "attachment at a URL, never fetched"})
				m.warn("%s.url: attachment not in the input (never fetched): not included", ap)
				continue
			}
		}
		if len(data) == 0 {
			m.warn("%s: attachment without data: not printed", ap)
			continue
		}
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil {
			mt = strings.ToLower(strings.TrimSpace(ct))
		}
		title := m.clean(ap+".title", a.Title)
		switch mt {
		case "text/plain":
			txt, ok := m.decodeText(ap+".data", data, params["charset"])
			if !ok {
				continue
			}
			txt = strings.TrimRight(txt, "\n ")
			if strings.TrimSpace(txt) == "" {
				continue
			}
			secs = append(secs, report.Section{Kind: report.SectionPlain, Title: firstNonEmpty(title, "Report text"), Body: txt})
		case "text/html", "application/xhtml+xml", "application/xhtml":
			txt, ok := m.decodeText(ap+".data", data, params["charset"])
			if !ok {
				continue
			}
			if s, ok := m.narrativeSection(ap+".data", firstNonEmpty(title, "Report"), txt); ok {
				secs = append(secs, s)
			}
		case "application/pdf":
			if !bytes.HasPrefix(data, []byte("%PDF-")) {
				m.fail(ap+".data", "declared application/pdf but is not a PDF (no %%PDF- header)")
				continue
			}
			if m.pdf != nil {
				m.warn("%s: a second PDF presentedForm: only the first is kept", ap)
				continue
			}
			m.pdf = data
			m.warn("%s: the sender's PDF is stored as this report's PDF, as sent (folio did not lay it out)", ap)
		default:
			name := firstNonEmpty(title, "Attachment")
			secs = append(secs, report.Section{Kind: report.SectionText, Title: name,
				Body: "**Not shown:** an attachment of type " + escapeMD(m.clean(ap+".contentType", firstNonEmpty(mt, "(none given)"))) + " (" + strconv.Itoa(len(data)) + " bytes). folio prints text, HTML and PDF presented forms; view this one in the source system."})
			m.warn("%s: attachment of type %s not printed", ap, quote(mt))
		}
	}
	return secs
}

// decodeText decodes attachment text: UTF-8 unless the charset says
// ISO-8859-1 or windows-1252.
func (m *mapper) decodeText(path string, data []byte, charset string) (string, bool) {
	switch strings.ToLower(charset) {
	case "", "utf-8", "utf8", "us-ascii":
		if !utf8.Valid(data) {
			m.fail(path, "text is not valid UTF-8 (give the charset in contentType if it is not UTF-8)")
			return "", false
		}
		return m.clean(path, string(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))), true
	case "iso-8859-1", "latin1", "latin-1":
		s, _ := charmap.ISO8859_1.NewDecoder().Bytes(data)
		return m.clean(path, string(s)), true
	case "windows-1252", "cp1252":
		s, _ := charmap.Windows1252.NewDecoder().Bytes(data)
		return m.clean(path, string(s)), true
	}
	m.fail(path, "charset %s: folio reads UTF-8, ISO-8859-1 and windows-1252 text", quote(charset))
	return "", false
}

// mediaSections maps DiagnosticReport.media: PNG and JPEG images in the
// input become image sections; anything else is named.
func (m *mapper) mediaSections(from *node, ms []media, path string) []report.Section {
	var secs []report.Section
	for i, md := range ms {
		mp := path + "[" + strconv.Itoa(i) + "].link"
		mn := m.ix.resolve(from, md.Link.Reference)
		if mn == nil {
			m.lost(mp, md.Link)
			continue
		}
		c := mn.r.Content
		if mn.r.ResourceType != "Media" || c == nil || len(c.Data) == 0 || (c.ContentType != "image/png" && c.ContentType != "image/jpeg") || m.images >= 20 {
			m.warn("%s: media not printed (folio prints PNG and JPEG Media with inline data, at most 20)", mp)
			continue
		}
		m.images++
		caption := m.clean(path+"["+strconv.Itoa(i)+"].comment", firstNonEmpty(md.Comment, c.Title))
		secs = append(secs, report.Section{Kind: report.SectionImage, Title: firstNonEmpty(caption, "Image"), ContentType: c.ContentType, Data: c.Data, Caption: caption})
	}
	return secs
}

// narrativeSection maps XHTML (a narrative div or an HTML presentedForm)
// to a text section.
func (m *mapper) narrativeSection(path, title, x string) (report.Section, bool) {
	md, ok := m.xhtml(path, x)
	if !ok || strings.TrimSpace(md) == "" {
		return report.Section{}, false
	}
	return report.Section{Kind: report.SectionText, Title: title, Body: md}, true
}
