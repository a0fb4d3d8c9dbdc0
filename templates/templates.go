// Package templates decides what each kind of report shows and in what order:
// it builds folio's device-independent document (running header, banners,
// patient and report details, specimens or exam, sections, addenda,
// signatures) from a validated report.
//
// It does not validate (report.Decode has), measure or paginate (layout
// does), and it never fetches anything: url sections become a notice and a
// warning, and their targets appear nowhere in the document. Build is safe
// for concurrent use.
package templates

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/doc"
	"github.com/foliohealth/folio/markdown"
	"github.com/foliohealth/folio/report"
)

// statusInfo is what a report status adds to the document.
type statusInfo struct {
	word   string // banner word in every page header; "" for final
	banner string // bold start of the page-1 notice
	notice string // rest of the page-1 notice
	label  string // the status as the details grid prints it
}

// knownStatuses are the statuses the catalog words.
var knownStatuses = map[string]bool{
	report.StatusFinal: true, report.StatusPreliminary: true, report.StatusAmended: true,
	report.StatusCorrected: true, report.StatusAppended: true,
}

// status returns the words of a report status in the locale's language.
func (lc *locale) status(st string) (statusInfo, bool) {
	if !knownStatuses[st] {
		return statusInfo{}, false
	}
	if st == report.StatusFinal {
		return statusInfo{label: lc.t("status.final.label")}, true
	}
	k := "status." + st + "."
	return statusInfo{word: lc.t(k + "word"), banner: lc.t(k + "banner"), label: lc.t(k + "label"), notice: lc.t(k + "notice")}, true
}

// modalityCodes are the DICOM modality codes the contract allows and the
// catalog names.
var modalityCodes = map[string]bool{"CT": true, "MR": true, "US": true, "CR": true, "DX": true, "MG": true, "NM": true, "PT": true, "XA": true, "RF": true}

var sexCodes = map[string]bool{"female": true, "male": true, "other": true, "unknown": true}

// sectionFunc turns one section's content (not its heading or sub-sections)
// into blocks. path is the section's field path, e.g. "sections[3]".
type sectionFunc func(b *builder, s *report.Section, path string) ([]doc.Block, error)

// sectionKinds is the one table from section kind to its blocks.
var sectionKinds = map[string]sectionFunc{
	report.SectionText:   textSection,
	report.SectionPlain:  plainSection,
	report.SectionFields: fieldsSection,
	report.SectionTable:  tableSection,
	report.SectionImage:  imageSection,
	report.SectionURL:    urlSection,
}

// builder accumulates one document's body and warnings.
type builder struct {
	lc       *locale
	body     []doc.Block
	warnings []string
}

func (b *builder) add(blocks ...doc.Block) { b.body = append(b.body, blocks...) }

func (b *builder) warn(format string, args ...any) {
	b.warnings = append(b.warnings, fmt.Sprintf(format, args...))
}

// Build returns the document for a validated report and the warnings about
// content it leaves out (url sections). An error means the report breaks an
// assumption that report.Decode guarantees (unknown kind or status, an image
// that does not decode); it names the field path.
func Build(r *report.Report) (*doc.Document, []string, error) {
	return buildLocale(r, defaultLocale)
}

func buildLocale(r *report.Report, lc *locale) (*doc.Document, []string, error) {
	if r == nil {
		return nil, nil, errors.New("templates: nil report")
	}
	st, ok := lc.status(r.Status)
	if !ok {
		return nil, nil, fmt.Errorf("templates: status: unknown status %q", r.Status)
	}
	if r.Kind != report.KindAP && r.Kind != report.KindRadiology {
		return nil, nil, fmt.Errorf("templates: kind: unknown report kind %q", r.Kind)
	}
	if r.Kind == report.KindRadiology && r.Exam == nil {
		return nil, nil, errors.New("templates: exam: required for a radiology report")
	}
	b := &builder{lc: lc}
	if st.word != "" {
		b.add(doc.Notice{Text: doc.Text{
			{Text: st.banner, Style: doc.Bold},
			{Text: lc.f("banner.version", version(r)) + st.notice},
		}})
	}
	if a := r.Amendment; a != nil && (r.Status == report.StatusAmended || r.Status == report.StatusCorrected) {
		what := lc.t("amended.what")
		if r.Status == report.StatusCorrected {
			what = lc.t("corrected.what")
		}
		t := append(doc.Text{{Text: what, Style: doc.Bold}}, lc.when(a.Issued, doc.Bold)...)
		b.add(doc.Paragraph{Text: append(t, doc.Span{Text: lc.t("amendment.reason"), Style: doc.Bold}, doc.Span{Text: a.Reason})})
	}
	b.add(details(lc, r, st))
	if r.Kind == report.KindAP {
		if len(r.Specimens) > 0 {
			b.add(doc.Heading{Level: 1, Text: doc.T(lc.t("heading.specimens"))}, specimens(lc, r.Specimens))
		}
	} else {
		b.add(doc.Heading{Level: 1, Text: doc.T(lc.t("heading.exam"))}, exam(lc, r.Exam))
	}
	for i := range r.Sections {
		if err := b.section(&r.Sections[i], "sections["+strconv.Itoa(i)+"]", 1); err != nil {
			return nil, nil, err
		}
	}
	b.addenda(r.Addenda)
	b.signatures(r.Performers)
	d := &doc.Document{
		Info:   info(lc, r),
		Header: header(lc, r, st),
		Body:   b.body,
	}
	return d, b.warnings, nil
}

func version(r *report.Report) int {
	if r.Version < 1 {
		return 1
	}
	return r.Version
}

func header(lc *locale, r *report.Report, st statusInfo) doc.Header {
	h := doc.Header{Title: r.Title, Status: st.word}
	if r.Facility != nil {
		h.Facility = r.Facility.Name
	}
	h.Identity = append(h.Identity, doc.Field{Label: lc.t("label.patient"), Value: doc.T(r.Patient.Name)})
	if r.Patient.MRN != "" {
		h.Identity = append(h.Identity, doc.Field{Label: lc.t("label.mrn"), Value: doc.T(r.Patient.MRN)})
	}
	if r.Patient.BirthDate != "" {
		h.Identity = append(h.Identity, doc.Field{Label: lc.t("label.dob"), Value: doc.T(lc.date(r.Patient.BirthDate))})
	}
	if r.Kind == report.KindRadiology {
		h.Identity = append(h.Identity, doc.Field{Label: lc.t("label.exam"), Value: doc.T(lc.examLine(r.Exam))})
	} else if r.Accession != "" {
		h.Identity = append(h.Identity, doc.Field{Label: lc.t("label.accession"), Value: doc.T(r.Accession)})
	}
	h.Footer = doc.Text{{Text: lc.t("footer.report")}, {Text: r.ID, PHI: true}, {Text: lc.f("footer.version", version(r))}}
	h.Footer = append(h.Footer, lc.when(r.Issued, 0)...)
	return h
}

// examLine is the exam as the page header and the document subject show it:
// modality, description and performed date.
func (lc *locale) examLine(e *report.Exam) string {
	return e.Modality + " · " + e.Description + " · " + lc.day(e.Performed)
}

// info is the PDF document information. The title, which viewers show in
// their title bar, is the report title and the patient's name; it is the
// only field that identifies the patient. The subject says what kind of
// report it is (for radiology the modality and exam, without its date),
// the author is the signing clinicians.
func info(lc *locale, r *report.Report) doc.Info {
	var authors []string
	for _, p := range r.Performers {
		if p.SignedAt != nil {
			authors = append(authors, p.Name)
		}
	}
	subject := lc.t("subject.ap")
	if r.Kind == report.KindRadiology {
		subject = lc.t("subject.radiology")
		if r.Exam != nil {
			subject += ": " + r.Exam.Modality + " · " + r.Exam.Description
		}
	}
	return doc.Info{
		Title:   r.Title + " — " + r.Patient.Name,
		Author:  strings.Join(authors, "; "),
		Subject: subject,
		Creator: "folio " + folio.Version,
		Created: r.Issued,
	}
}

// details is the patient and report grid at the top of page 1.
func details(lc *locale, r *report.Report, st statusInfo) doc.Fields {
	var fs []doc.Field
	// phi marks values that identify the patient; a de-identified
	// thumbnail leaves them out.
	add := func(label, value string, phi bool) {
		if value != "" {
			fs = append(fs, doc.Field{Label: label, Value: doc.T(value), PHI: phi})
		}
	}
	p := r.Patient
	add(lc.t("label.patient"), p.Name, true)
	add(lc.t("label.mrn"), p.MRN, true)
	add(lc.t("label.birthDate"), lc.date(p.BirthDate), true)
	if sexCodes[p.Sex] {
		add(lc.t("label.sex"), lc.t("sex."+p.Sex), false)
	}
	add(lc.t("label.patientId"), p.ID, true)
	add(lc.t("label.orderingProvider"), r.OrderingProvider, false)
	add(lc.t("label.encounter"), r.EncounterID, true)
	add(lc.t("label.accession"), r.Accession, true)
	// The page footer holds the report id on one line and cuts a long
	// one: an id that is not a plain one (report.Key derives its key) is
	// printed here in full, unless it is the accession above. Plain ids
	// are in the footer whole, as before.
	if r.ID != r.Accession && report.Key(r.ID) != r.ID {
		add(lc.t("label.reportId"), r.ID, true)
	}
	fs = append(fs, doc.Field{Label: lc.t("label.issued"), Value: lc.when(r.Issued, 0)})
	add(lc.t("label.status"), lc.f("status.version", st.label, version(r)), false)
	if f := r.Facility; f != nil {
		var lines []string
		for _, s := range []string{f.Name, f.Address, f.Phone} {
			if s != "" {
				lines = append(lines, s)
			}
		}
		add(lc.t("label.facility"), strings.Join(lines, "\n"), false)
	}
	return doc.Fields{Items: fs}
}

func specimens(lc *locale, ss []report.Specimen) doc.Fields {
	fs := make([]doc.Field, 0, len(ss))
	for _, s := range ss {
		v := doc.T(s.Description)
		sep := "\n"
		if s.Collected != nil {
			v = append(append(v, doc.Span{Text: sep + lc.t("specimen.collected")}), lc.when(*s.Collected, 0)...)
			sep = "; "
		}
		if s.Received != nil {
			v = append(append(v, doc.Span{Text: sep + lc.t("specimen.received")}), lc.when(*s.Received, 0)...)
		}
		fs = append(fs, doc.Field{Label: s.Label, Value: v})
	}
	return doc.Fields{Items: fs}
}

func exam(lc *locale, e *report.Exam) doc.Fields {
	mod := e.Modality
	if modalityCodes[mod] {
		mod += " (" + lc.t("modality."+mod) + ")"
	}
	fs := []doc.Field{
		{Label: lc.t("label.modality"), Value: doc.T(mod)},
		{Label: lc.t("label.description"), Value: doc.T(e.Description)},
		{Label: lc.t("label.performed"), Value: lc.when(e.Performed, 0)},
	}
	if e.BodySite != "" {
		fs = append(fs, doc.Field{Label: lc.t("label.bodySite"), Value: doc.T(e.BodySite)})
	}
	if e.StudyUID != "" {
		fs = append(fs, doc.Field{Label: lc.t("label.studyUid"), Value: doc.T(e.StudyUID), PHI: true})
	}
	return doc.Fields{Items: fs}
}

// section adds a section's heading (level = depth), its content and its
// sub-sections.
func (b *builder) section(s *report.Section, path string, depth int) error {
	fn, ok := sectionKinds[s.Kind]
	if !ok {
		return fmt.Errorf("templates: %s.kind: unknown section kind %q", path, s.Kind)
	}
	if s.Title != "" {
		b.add(doc.Heading{Level: min(depth, 3), Text: doc.T(s.Title)})
	}
	blocks, err := fn(b, s, path)
	if err != nil {
		return err
	}
	b.add(blocks...)
	for i := range s.Sections {
		if err := b.section(&s.Sections[i], path+".sections["+strconv.Itoa(i)+"]", depth+1); err != nil {
			return err
		}
	}
	return nil
}

func textSection(_ *builder, s *report.Section, _ string) ([]doc.Block, error) {
	if strings.TrimSpace(s.Body) == "" {
		return nil, nil
	}
	return markdown.Convert(s.Body), nil
}

func plainSection(_ *builder, s *report.Section, _ string) ([]doc.Block, error) {
	if s.Body == "" {
		return nil, nil
	}
	return []doc.Block{doc.Preformatted{Text: s.Body}}, nil
}

func fieldsSection(_ *builder, s *report.Section, _ string) ([]doc.Block, error) {
	fs := make([]doc.Field, len(s.Items))
	for i, it := range s.Items {
		fs[i] = doc.Field{Label: it.Label, Value: doc.T(it.Value)}
	}
	return []doc.Block{doc.Fields{Items: fs}}, nil
}

func tableSection(_ *builder, s *report.Section, _ string) ([]doc.Block, error) {
	t := doc.Table{Header: make([]doc.Text, len(s.Columns)), Rows: make([][]doc.Text, len(s.Rows))}
	for i, c := range s.Columns {
		t.Header[i] = doc.Text{{Text: c, Style: doc.Bold}}
	}
	for i, row := range s.Rows {
		cells := make([]doc.Text, len(row))
		for j, c := range row {
			cells[j] = doc.T(c)
		}
		t.Rows[i] = cells
	}
	return []doc.Block{t}, nil
}

// imageSection decodes a PNG or JPEG with its EXIF orientation applied,
// brought down to what it can print at (decodeImage). report.Decode has
// already checked the size and pixel count limits.
func imageSection(_ *builder, s *report.Section, path string) ([]doc.Block, error) {
	img, err := decodeImage(s.Data)
	if err != nil {
		// The header passed report.Decode but the pixels do not decode: bad
		// input, reported like every other contract violation.
		return nil, report.Errors{{Path: path + ".data", Rule: fmt.Sprintf("cannot decode %s image: %v", s.ContentType, err)}}
	}
	return []doc.Block{doc.Image{Img: img, ContentType: s.ContentType, Caption: s.Caption, Src: s.Data}}, nil
}

// urlSection never fetches and never prints the URL: one notice line in its
// place and a warning naming the section.
func urlSection(b *builder, s *report.Section, path string) ([]doc.Block, error) {
	name := strconv.Quote(s.Title)
	line := b.lc.t("url.linked") + name
	if s.LinkText != "" {
		line += " — " + s.LinkText + " —"
	}
	line += b.lc.t("url.notIncluded")
	b.warn("%s: url section %s not included in PDF", path, name)
	return []doc.Block{doc.Notice{Text: doc.T(line)}}, nil
}

// addenda prints the addenda oldest first (newest last), numbered in that
// order.
func (b *builder) addenda(as []report.Addendum) {
	if len(as) == 0 {
		return
	}
	sorted := make([]report.Addendum, len(as))
	copy(sorted, as)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Issued.Before(sorted[j].Issued) })
	b.add(doc.Rule{})
	for i, a := range sorted {
		title := append(doc.T(b.lc.f("addendum.title", i+1)), b.lc.when(a.Issued, 0)...)
		if a.Author != "" {
			title = append(title, doc.Span{Text: b.lc.t("addendum.by") + a.Author})
		}
		b.add(doc.Heading{Level: 1, Text: title})
		if strings.TrimSpace(a.Body) != "" {
			b.add(markdown.Convert(a.Body)...)
		}
	}
}

// signatures prints an electronic signature line for every performer who
// signed, and lists the others as not signed, in the sender's order.
func (b *builder) signatures(ps []report.Performer) {
	if len(ps) == 0 {
		return
	}
	b.add(doc.Rule{})
	for _, p := range ps {
		who := p.Name
		if p.Role != "" {
			who += ", " + p.Role
		}
		if p.SignedAt != nil {
			b.add(doc.Signature{Text: append(doc.T(b.lc.f("signed.by", who)), b.lc.when(*p.SignedAt, 0)...)})
		} else {
			b.add(doc.Paragraph{Text: doc.T(b.lc.f("signed.not", who))})
		}
	}
}
