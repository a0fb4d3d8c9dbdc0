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
	"time"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/document"
	"github.com/foliohealth/folio/markdown"
	"github.com/foliohealth/folio/report"
)

// TimeLayout is how every time prints: minutes and the offset the time was
// given in, e.g. "2026-11-20 14:03 -05:00".
const TimeLayout = "2006-01-02 15:04 -07:00"

// when prints t in TimeLayout with every element but the year marked PHI:
// HIPAA Safe Harbor (and DICOM PS3.15's Basic Application Level
// Confidentiality Profile) keep the year of a date and remove the rest, so
// a de-identified thumbnail shows "2026" where the PDF shows the full time.
func when(t time.Time, style document.Style) document.Text {
	s := t.Format(TimeLayout)
	return document.Text{{Text: s[:4], Style: style}, {Text: s[4:], Style: style, PHI: true}}
}

// statusInfo is what a report status adds to the document.
type statusInfo struct {
	word   string // banner word in every page header; "" for final
	banner string // bold start of the page-1 notice
	notice string // rest of the page-1 notice
	label  string // the status as the details grid prints it
}

var statuses = map[string]statusInfo{
	report.StatusFinal:       {label: "Final"},
	report.StatusPreliminary: {word: "PRELIMINARY", banner: "PRELIMINARY REPORT", label: "Preliminary", notice: "not finalized; findings may change and a final report will follow."},
	report.StatusAmended:     {word: "AMENDED", banner: "AMENDED REPORT", label: "Amended", notice: "this version replaces all earlier versions of the report."},
	report.StatusCorrected:   {word: "CORRECTED", banner: "CORRECTED REPORT", label: "Corrected", notice: "this version corrects an error in an earlier version and replaces it."},
	report.StatusAppended:    {word: "ADDENDUM ADDED", banner: "ADDENDUM ADDED", label: "Final, addendum added", notice: "information was added after the report was signed; see the addenda at the end of the report."},
}

// modalities names the DICOM modality codes the contract allows.
var modalities = map[string]string{
	"CT": "Computed tomography",
	"MR": "Magnetic resonance imaging",
	"US": "Ultrasound",
	"CR": "Computed radiography",
	"DX": "Digital radiography",
	"MG": "Mammography",
	"NM": "Nuclear medicine",
	"PT": "Positron emission tomography",
	"XA": "X-ray angiography",
	"RF": "Radiofluoroscopy",
}

var sexes = map[string]string{"female": "Female", "male": "Male", "other": "Other", "unknown": "Unknown"}

// sectionFunc turns one section's content (not its heading or sub-sections)
// into blocks. path is the section's field path, e.g. "sections[3]".
type sectionFunc func(b *builder, s *report.Section, path string) ([]document.Block, error)

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
	body     []document.Block
	warnings []string
}

func (b *builder) add(blocks ...document.Block) { b.body = append(b.body, blocks...) }

func (b *builder) warn(format string, args ...any) {
	b.warnings = append(b.warnings, fmt.Sprintf(format, args...))
}

// Build returns the document for a validated report and the warnings about
// content it leaves out (url sections). An error means the report breaks an
// assumption that report.Decode guarantees (unknown kind or status, an image
// that does not decode); it names the field path.
func Build(r *report.Report) (*document.Document, []string, error) {
	if r == nil {
		return nil, nil, errors.New("templates: nil report")
	}
	st, ok := statuses[r.Status]
	if !ok {
		return nil, nil, fmt.Errorf("templates: status: unknown status %q", r.Status)
	}
	if r.Kind != report.KindAP && r.Kind != report.KindRadiology {
		return nil, nil, fmt.Errorf("templates: kind: unknown report kind %q", r.Kind)
	}
	b := &builder{}
	r = b.notStated(r)
	if st.word != "" {
		b.add(document.Notice{Text: document.Text{
			{Text: st.banner, Style: document.Bold},
			{Text: " (version " + strconv.Itoa(version(r)) + "): " + st.notice},
		}})
	}
	if a := r.Amendment; a != nil && (r.Status == report.StatusAmended || r.Status == report.StatusCorrected) {
		what := "Amended"
		if r.Status == report.StatusCorrected {
			what = "Corrected"
		}
		t := append(document.Text{{Text: what + " ", Style: document.Bold}}, when(a.Issued, document.Bold)...)
		b.add(document.Paragraph{Text: append(t, document.Span{Text: ". Reason: ", Style: document.Bold}, document.Span{Text: orNotStated(a.Reason)})})
	} else if r.Status == report.StatusAmended || r.Status == report.StatusCorrected {
		what := "Amended"
		if r.Status == report.StatusCorrected {
			what = "Corrected"
		}
		b.add(document.Paragraph{Text: document.Text{{Text: what + ": ", Style: document.Bold}, {Text: "when and why " + NotStated}}})
	}
	b.add(details(r, st))
	if r.Kind == report.KindAP {
		if len(r.Specimens) > 0 {
			b.add(document.Heading{Level: 1, Text: document.T("Specimens")}, specimens(r.Specimens))
		}
	} else {
		b.add(document.Heading{Level: 1, Text: document.T("Exam")}, exam(r.Exam))
	}
	for i := range r.Sections {
		if err := b.section(&r.Sections[i], "sections["+strconv.Itoa(i)+"]", 1); err != nil {
			return nil, nil, err
		}
	}
	b.addenda(r.Addenda)
	b.signatures(r.Performers)
	d := &document.Document{
		Info:   info(r),
		Header: header(r, st),
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

func header(r *report.Report, st statusInfo) document.Header {
	h := document.Header{Title: r.Title, Status: st.word}
	if r.Facility != nil {
		h.Facility = r.Facility.Name
	}
	h.Identity = append(h.Identity, document.Field{Label: "Patient", Value: document.T(r.Patient.Name)})
	if r.Patient.MRN != "" {
		h.Identity = append(h.Identity, document.Field{Label: "MRN", Value: document.T(r.Patient.MRN)})
	}
	if r.Patient.BirthDate != "" {
		h.Identity = append(h.Identity, document.Field{Label: "DOB", Value: document.T(r.Patient.BirthDate)})
	}
	if r.Kind == report.KindRadiology {
		h.Identity = append(h.Identity, document.Field{Label: "Exam", Value: document.T(examLine(r.Exam))})
	} else if r.Accession != "" {
		h.Identity = append(h.Identity, document.Field{Label: "Accession", Value: document.T(r.Accession)})
	}
	h.Footer = document.Text{{Text: "Report "}, {Text: r.ID, PHI: true}, {Text: fmt.Sprintf(" · version %d · issued ", version(r))}}
	h.Footer = append(h.Footer, when(r.Issued, 0)...)
	return h
}

// examLine is the exam as the page header and the document subject show it:
// modality, description and performed date.
func examLine(e *report.Exam) string {
	performed := NotStated
	if !e.Performed.IsZero() {
		performed = e.Performed.Format("2006-01-02")
	}
	return orNotStated(e.Modality) + " · " + orNotStated(e.Description) + " · " + performed
}

// kindTitles title a report that states no title of its own.
var kindTitles = map[string]string{report.KindAP: "Pathology Report", report.KindRadiology: "Radiology Report"}

// NotStated is what the PDF prints in place of a value the report leaves
// out (a radiology report's modality, an exam's description or time).
const NotStated = "not stated"

// orNotStated returns s, or NotStated when s is empty.
func orNotStated(s string) string {
	if s == "" {
		return NotStated
	}
	return s
}

// notStated warns about every field a reader would expect that the report
// leaves out, naming its path (issue 18: folio refuses only what a reader
// cannot do without; the rest is printed as not stated). It returns r with
// an empty exam for a radiology report without one, so that the exam's
// lines print as not stated; r itself is not changed.
func (b *builder) notStated(r *report.Report) *report.Report {
	if r.Title == "" {
		c := *r
		c.Title = kindTitles[r.Kind]
		b.warn("title: not stated (the PDF is titled %q)", c.Title)
		r = &c
	}
	switch r.Kind {
	case report.KindAP:
		if r.Accession == "" {
			b.warn("accession: not stated (the PDF has no accession line)")
		}
	case report.KindRadiology:
		if r.Exam == nil {
			b.warn("exam: not stated (modality, description and time printed as not stated)")
			c := *r
			c.Exam = &report.Exam{}
			r = &c
		} else {
			if r.Exam.Modality == "" {
				b.warn("exam.modality: not stated")
			}
			if r.Exam.Description == "" {
				b.warn("exam.description: not stated")
			}
			if r.Exam.Performed.IsZero() {
				b.warn("exam.performed: not stated")
			}
		}
	}
	if r.Amendment == nil && (r.Status == report.StatusAmended || r.Status == report.StatusCorrected) {
		b.warn("amendment: not stated (status %s without the reason and time of the change)", r.Status)
	}
	if a := r.Amendment; a != nil && a.Reason == "" && (r.Status == report.StatusAmended || r.Status == report.StatusCorrected) {
		b.warn("amendment.reason: not stated")
	}
	for i, p := range r.Performers {
		if p.Role == "" {
			b.warn("performers[%d].role: not stated (the line names the performer without a role)", i)
		}
	}
	if r.Kind == report.KindAP {
		for i, s := range r.Specimens {
			if s.Description == "" {
				b.warn("specimens[%d].description: not stated", i)
			}
		}
	}
	for i, a := range r.Addenda {
		if a.Author == "" {
			b.warn("addenda[%d].author: not stated (the addendum's heading names no author)", i)
		}
	}
	return r
}

// info is the PDF document information. The title, which viewers show in
// their title bar, is the report title and the patient's name; it is the
// only field that identifies the patient. The subject says what kind of
// report it is (for radiology the modality and exam, without its date),
// the author is the signing clinicians.
func info(r *report.Report) document.Info {
	var authors []string
	for _, p := range r.Performers {
		if p.SignedAt != nil {
			authors = append(authors, p.Name)
		}
	}
	subject := "Anatomic pathology report"
	if r.Kind == report.KindRadiology {
		subject = "Radiology report"
		if r.Exam != nil {
			subject += ": " + orNotStated(r.Exam.Modality) + " · " + orNotStated(r.Exam.Description)
		}
	}
	return document.Info{
		Title:   r.Title + " — " + r.Patient.Name,
		Author:  strings.Join(authors, "; "),
		Subject: subject,
		Creator: "folio " + folio.Version,
		Created: r.Issued,
	}
}

// details is the patient and report grid at the top of page 1.
func details(r *report.Report, st statusInfo) document.Fields {
	var fs []document.Field
	// phi marks values that identify the patient; a de-identified
	// thumbnail leaves them out.
	add := func(label, value string, phi bool) {
		if value != "" {
			fs = append(fs, document.Field{Label: label, Value: document.T(value), PHI: phi})
		}
	}
	p := r.Patient
	add("Patient", p.Name, true)
	add("MRN", p.MRN, true)
	add("Birth date", p.BirthDate, true)
	add("Sex", sexes[p.Sex], false)
	add("Patient ID", p.ID, true)
	add("Ordering provider", r.OrderingProvider, false)
	add("Encounter", r.EncounterID, true)
	add("Accession", r.Accession, true)
	// The page footer holds the report id on one line and cuts a long
	// one: an id that is not a plain one (report.Key derives its key) is
	// printed here in full, unless it is the accession above. Plain ids
	// are in the footer whole, as before.
	if r.ID != r.Accession && report.Key(r.ID) != r.ID {
		add("Report ID", r.ID, true)
	}
	fs = append(fs, document.Field{Label: "Issued", Value: when(r.Issued, 0)})
	add("Status", fmt.Sprintf("%s (version %d)", st.label, version(r)), false)
	if f := r.Facility; f != nil {
		var lines []string
		for _, s := range []string{f.Name, f.Address, f.Phone} {
			if s != "" {
				lines = append(lines, s)
			}
		}
		add("Facility", strings.Join(lines, "\n"), false)
	}
	return document.Fields{Items: fs}
}

func specimens(ss []report.Specimen) document.Fields {
	fs := make([]document.Field, 0, len(ss))
	for _, s := range ss {
		v := document.T(orNotStated(s.Description))
		sep := "\n"
		if s.Collected != nil {
			v = append(append(v, document.Span{Text: sep + "collected "}), when(*s.Collected, 0)...)
			sep = "; "
		}
		if s.Received != nil {
			v = append(append(v, document.Span{Text: sep + "received "}), when(*s.Received, 0)...)
		}
		fs = append(fs, document.Field{Label: s.Label, Value: v})
	}
	return document.Fields{Items: fs}
}

func exam(e *report.Exam) document.Fields {
	mod := orNotStated(e.Modality)
	if name := modalities[mod]; name != "" {
		mod += " (" + name + ")"
	}
	performed := document.T(NotStated)
	if !e.Performed.IsZero() {
		performed = when(e.Performed, 0)
	}
	fs := []document.Field{
		{Label: "Modality", Value: document.T(mod)},
		{Label: "Description", Value: document.T(orNotStated(e.Description))},
		{Label: "Performed", Value: performed},
	}
	if e.BodySite != "" {
		fs = append(fs, document.Field{Label: "Body site", Value: document.T(e.BodySite)})
	}
	if e.StudyUID != "" {
		fs = append(fs, document.Field{Label: "Study UID", Value: document.T(e.StudyUID), PHI: true})
	}
	return document.Fields{Items: fs}
}

// section adds a section's heading (level = depth), its content and its
// sub-sections.
func (b *builder) section(s *report.Section, path string, depth int) error {
	fn, ok := sectionKinds[s.Kind]
	if !ok {
		return fmt.Errorf("templates: %s.kind: unknown section kind %q", path, s.Kind)
	}
	if s.Title != "" {
		b.add(document.Heading{Level: min(depth, 3), Text: document.T(s.Title)})
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

func textSection(_ *builder, s *report.Section, _ string) ([]document.Block, error) {
	if strings.TrimSpace(s.Body) == "" {
		return nil, nil
	}
	return markdown.Convert(s.Body), nil
}

func plainSection(_ *builder, s *report.Section, _ string) ([]document.Block, error) {
	if s.Body == "" {
		return nil, nil
	}
	return []document.Block{document.Preformatted{Text: s.Body}}, nil
}

func fieldsSection(_ *builder, s *report.Section, _ string) ([]document.Block, error) {
	fs := make([]document.Field, len(s.Items))
	for i, it := range s.Items {
		fs[i] = document.Field{Label: it.Label, Value: document.T(it.Value)}
	}
	return []document.Block{document.Fields{Items: fs}}, nil
}

func tableSection(_ *builder, s *report.Section, _ string) ([]document.Block, error) {
	t := document.Table{Header: make([]document.Text, len(s.Columns)), Rows: make([][]document.Text, len(s.Rows))}
	for i, c := range s.Columns {
		t.Header[i] = document.Text{{Text: c, Style: document.Bold}}
	}
	for i, row := range s.Rows {
		cells := make([]document.Text, len(row))
		for j, c := range row {
			cells[j] = document.T(c)
		}
		t.Rows[i] = cells
	}
	return []document.Block{t}, nil
}

// imageSection decodes a PNG or JPEG with its EXIF orientation applied,
// brought down to what it can print at (decodeImage). report.Decode has
// already checked the size and pixel count limits.
func imageSection(_ *builder, s *report.Section, path string) ([]document.Block, error) {
	img, err := decodeImage(s.Data)
	if err != nil {
		// The header passed report.Decode but the pixels do not decode: bad
		// input, reported like every other contract violation.
		return nil, report.Errors{{Path: path + ".data", Rule: fmt.Sprintf("cannot decode %s image: %v", s.ContentType, err)}}
	}
	return []document.Block{document.Image{Img: img, ContentType: s.ContentType, Caption: s.Caption, Src: s.Data}}, nil
}

// urlSection never fetches and never prints the URL: one notice line in its
// place and a warning naming the section.
func urlSection(b *builder, s *report.Section, path string) ([]document.Block, error) {
	name := strconv.Quote(s.Title)
	line := "Linked section " + name
	if s.LinkText != "" {
		line += " — " + s.LinkText + " —"
	}
	line += " is not included in this PDF; view it in the source system."
	b.warn("%s: url section %s not included in PDF", path, name)
	return []document.Block{document.Notice{Text: document.T(line)}}, nil
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
	b.add(document.Rule{})
	for i, a := range sorted {
		title := append(document.T(fmt.Sprintf("Addendum %d — issued ", i+1)), when(a.Issued, 0)...)
		if a.Author != "" {
			title = append(title, document.Span{Text: " by " + a.Author})
		}
		b.add(document.Heading{Level: 1, Text: title})
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
	b.add(document.Rule{})
	for _, p := range ps {
		who := p.Name
		if p.Role != "" {
			who += ", " + p.Role
		}
		if p.SignedAt != nil {
			b.add(document.Signature{Text: append(document.T("Electronically signed by "+who+" on "), when(*p.SignedAt, 0)...)})
		} else {
			b.add(document.Paragraph{Text: document.T(who + " (not signed)")})
		}
	}
}
