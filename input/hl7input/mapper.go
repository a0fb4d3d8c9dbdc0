package hl7input

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/foliohealth/folio/hl7"
	"github.com/foliohealth/folio/report"
)

type mapper struct {
	m    *hl7.Message
	site Site
	zone *time.Location
	errs Errors
	pid  *hl7.Segment
	pv1  *hl7.Segment

	// Buffers reused from one value to the next.
	scratch, text2, body, val []byte
}

func (mp *mapper) fail(loc hl7.Location, code int, format string, args ...any) {
	if len(mp.errs) >= maxErrors {
		return
	}
	mp.errs = append(mp.errs, &hl7.Error{Loc: loc, Code: code, Text: fmt.Sprintf(format, args...)})
}

// group is one ORDER_OBSERVATION: [ORC] OBR {NTE} {OBX {NTE}} {SPM {OBX}}.
type group struct {
	orc     *hl7.Segment
	obr     *hl7.Segment
	body    []*hl7.Segment // NTE, OBX, SPM in order
	spm     []*hl7.Segment
	origins []origin // where report fields came from, for errors of the contract's decoder
}

// groups splits the message into its order groups and finds PID and PV1.
func (mp *mapper) groups() []*group {
	var out []*group
	var orc *hl7.Segment
	var cur *group
	for _, s := range mp.m.Segments[1:] {
		switch s.Name {
		case "PID":
			if mp.pid != nil {
				mp.fail(s.Loc(0), hl7.CodeSegmentSequence, "a second PID segment: one patient per message")
				return nil
			}
			mp.pid = s
		case "PV1":
			if mp.pv1 == nil {
				mp.pv1 = s
			}
		case "ORC":
			orc = s
		case "OBR":
			cur = &group{orc: orc, obr: s, origins: make([]origin, 0, 64)}
			orc = nil
			out = append(out, cur)
		case "OBX", "NTE", "SPM":
			if cur == nil {
				if s.Name == "NTE" {
					continue // patient notes: not part of a report
				}
				mp.fail(s.Loc(0), hl7.CodeSegmentSequence, "%s before any OBR: results must follow the OBR they belong to", s.Name)
				return nil
			}
			cur.body = append(cur.body, s)
			if s.Name == "SPM" {
				cur.spm = append(cur.spm, s)
			}
		}
	}
	if mp.pid == nil {
		mp.fail(hl7.Location{Segment: "PID", Seq: 1}, hl7.CodeRequiredMissing, "the message has no PID segment: a report must name its patient")
	}
	return out
}

// text decodes a value, recording a decoding problem at loc.
func (mp *mapper) text(v hl7.Value, loc hl7.Location) string {
	s, err := mp.m.Text(v.Raw())
	if err != nil {
		mp.fail(loc, hl7.CodeDataType, "%v", err)
		return ""
	}
	return s
}

// line decodes a one-line value: line breaks become spaces, surrounding
// space is trimmed.
func (mp *mapper) line(v hl7.Value, loc hl7.Location) string {
	raw := v.Raw()
	if len(raw) == 0 {
		return ""
	}
	b, err := mp.m.AppendText(mp.scratch[:0], raw)
	mp.scratch = b[:0]
	if err != nil {
		mp.fail(loc, hl7.CodeDataType, "%v", err)
		return ""
	}
	for i, c := range b {
		if c == '\n' || c == '\t' {
			b[i] = ' '
		}
	}
	return string(bytes.TrimSpace(b))
}

func comp(loc hl7.Location, rep, c int) hl7.Location {
	loc.Rep, loc.Comp = rep, c
	return loc
}

var (
	fhirRE = regexp.MustCompile(`^[A-Za-z0-9.-]{1,64}$`)
)

// report maps one group.
func (mp *mapper) report(g *group) *Mapped {
	obr := g.obr
	nerr := len(mp.errs)
	out := &Mapped{OBR: obr.Loc(0)}
	if mp.m.CharsetDetected {
		out.Warnings = append(out.Warnings, mp.m.MSH().Loc(18).String()+": no character set is named; the message is valid UTF-8 and was read as UTF-8 (name it: UNICODE UTF-8)")
	}
	r := &report.Report{Schema: report.Schema, Version: 1}

	// Identity: OBR-3 filler order number, else OBR-20 (filler field 1), else ORC-3.
	idLoc := obr.Loc(3)
	id := mp.line(obr.Field(3).Rep(1).Comp(1), comp(idLoc, 1, 1))
	if id == "" {
		if id = mp.line(obr.Field(20).Rep(1).Comp(1), comp(obr.Loc(20), 1, 1)); id != "" {
			idLoc = obr.Loc(20)
		} else if g.orc != nil {
			if id = mp.line(g.orc.Field(3).Rep(1).Comp(1), comp(g.orc.Loc(3), 1, 1)); id != "" {
				idLoc = g.orc.Loc(3)
			}
		}
	}
	switch {
	case id == "":
		mp.fail(obr.Loc(3), hl7.CodeRequiredMissing, "no filler order number (accession): OBR-3, OBR-20 and ORC-3 are all empty")
	default:
		if err := report.CheckIdentifier(id); err != nil {
			mp.fail(comp(idLoc, 1, 1), hl7.CodeDataType, "filler order number (the report identifier): %v", err)
		}
	}
	r.ID, r.Accession = id, id
	g.at(idLoc, "id")
	g.at(idLoc, "accession")

	// Status: OBR-25, else the first OBX-11.
	stLoc := obr.Loc(25)
	st := mp.line(obr.Field(25).Rep(1), stLoc)
	if st == "" {
		for _, s := range g.body {
			if s.Name == "OBX" {
				if st = mp.line(s.Field(11).Rep(1), s.Loc(11)); st != "" {
					stLoc = s.Loc(11)
					break
				}
			}
		}
	}
	out.ResultStatus = st
	switch st {
	case "P":
		r.Status = report.StatusPreliminary
	case "F":
		r.Status = report.StatusFinal
	case "C":
		r.Status = report.StatusCorrected
	case "A":
		r.Status = report.StatusAppended
	case "X", "W":
		out.Withdraw = true
	case "":
		mp.fail(obr.Loc(25), hl7.CodeRequiredMissing, "no result status: OBR-25 and OBX-11 are empty (P, F, C, A, X or W is needed)")
	default:
		mp.fail(stLoc, hl7.CodeTableValue, "result status %q is not one folio reports: P (preliminary), F (final), C (corrected), A (appended), X (cancelled) or W (wrong patient) are taken", st)
	}
	g.at(stLoc, "status")

	mp.patient(r, g, out)
	if out.Withdraw {
		if len(mp.errs) > nerr {
			return nil
		}
		out.Report = r
		return out
	}

	// Issued: OBR-22, else MSH-7.
	issued, ok := mp.ts(obr.Field(22).Rep(1), obr.Loc(22))
	g.at(obr.Loc(22), "issued")
	if !ok {
		if issued, ok = mp.ts(mp.m.MSH().Field(7).Rep(1), mp.m.MSH().Loc(7)); !ok {
			mp.fail(obr.Loc(22), hl7.CodeRequiredMissing, "no release time: OBR-22 and MSH-7 are empty")
		}
	}
	r.Issued = issued

	// Title: OBR-4 text, else its code.
	title := mp.line(obr.Field(4).Rep(1).Comp(2), comp(obr.Loc(4), 1, 2))
	if title == "" {
		title = mp.line(obr.Field(4).Rep(1).Comp(1), comp(obr.Loc(4), 1, 1))
	}
	g.at(obr.Loc(4), "title")

	r.Kind = mp.kind(g, title)
	g.at(obr.Loc(24), "kind")
	if title == "" {
		title = map[string]string{report.KindAP: "Pathology Report", report.KindRadiology: "Imaging Report"}[r.Kind]
	}
	r.Title = title

	// Facility: MSH-4, named by the site table when it knows the code.
	if fac := mp.line(mp.m.MSH().Field(4).Rep(1).Comp(1), comp(mp.m.MSH().Loc(4), 1, 1)); fac != "" {
		f, known := mp.site.Facilities[fac]
		if !known {
			f = report.Facility{Name: fac}
		}
		r.Facility = &f
	}
	g.at(mp.m.MSH().Loc(4), "facility")

	// Ordering provider: OBR-16 (else ORC-12).
	r.OrderingProvider = mp.xcn(obr.Field(16).Rep(1), obr.Loc(16))
	g.at(obr.Loc(16), "orderingProvider")
	if r.OrderingProvider == "" && g.orc != nil {
		r.OrderingProvider = mp.xcn(g.orc.Field(12).Rep(1), g.orc.Loc(12))
		g.at(g.orc.Loc(12), "orderingProvider")
	}

	// Encounter: PV1-19 visit number.
	if mp.pv1 != nil {
		if enc := mp.line(mp.pv1.Field(19).Rep(1).Comp(1), comp(mp.pv1.Loc(19), 1, 1)); enc != "" {
			if fhirRE.MatchString(enc) {
				r.EncounterID = enc
			} else {
				out.Warnings = append(out.Warnings, mp.pv1.Loc(19).String()+": the visit number is not a FHIR id (1-64 of A-Z a-z 0-9 - .) and is left out")
			}
		}
	}

	mp.performers(r, g, out)

	// Performed / collected: OBR-7.
	performed, hasPerformed := mp.ts(obr.Field(7).Rep(1), obr.Loc(7))
	if r.Kind == report.KindRadiology {
		ex := &report.Exam{Description: title, Performed: performed}
		ex.Modality = mp.modality(g, title)
		// Without OBR-7 the exam time prints as not stated, with a
		// warning (templates; issue 18).
		r.Exam = ex
		g.at(obr.Loc(7), "exam")
		g.at(obr.Loc(24), "exam.modality")
		g.at(obr.Loc(4), "exam.description")
	} else {
		mp.specimens(r, g, performed, hasPerformed)
	}

	if r.Status == report.StatusCorrected {
		r.Amendment = &report.Amendment{Reason: "Corrected report: the sending system marked this result corrected (HL7 result status C); it gave no reason.", Issued: issued}
		g.at(stLoc, "amendment")
	}

	mp.sections(r, g, out)
	if len(r.Sections) == 0 {
		if out.PDF != nil {
			r.Sections = []report.Section{{Kind: report.SectionText, Title: "Report", Body: "The sending system's own PDF of this report is stored as its document; folio did not render it."}}
		} else {
			mp.fail(obr.Loc(0), hl7.CodeRequiredMissing, "no OBX results or NTE comments under this OBR: nothing to report")
		}
	}
	if out.PDF != nil {
		out.Warnings = append(out.Warnings, "the report's PDF is the one the sending system sent in an OBX of type ED, stored as sent; folio did not render it")
	}
	if len(mp.errs) > nerr {
		return nil
	}
	if out.Report = mp.validate(g, r); out.Report == nil {
		return nil
	}
	return out
}

// patient maps PID-3 (the MR identifier), PID-5, PID-7 and PID-8.
func (mp *mapper) patient(r *report.Report, g *group, out *Mapped) {
	pid := mp.pid
	if pid == nil {
		return
	}
	f := pid.Field(3)
	if f.Empty() {
		mp.fail(pid.Loc(3), hl7.CodeRequiredMissing, "PID-3 (patient identifier list) is empty: the report needs the patient's medical record number")
		return
	}
	// The repetition typed MR (PID-3.5), else the first.
	rep := 1
	for i := 1; i <= f.Reps(); i++ {
		if mp.line(f.Rep(i).Comp(5), comp(pid.Loc(3), i, 5)) == "MR" {
			rep = i
			break
		}
	}
	mrn := mp.line(f.Rep(rep).Comp(1), comp(pid.Loc(3), rep, 1))
	switch {
	case mrn == "":
		mp.fail(comp(pid.Loc(3), rep, 1), hl7.CodeRequiredMissing, "the patient's medical record number (PID-3 ID) is empty")
	}
	r.Patient.ID, r.Patient.MRN = mrn, mrn
	if mrn != "" && !fhirRE.MatchString(mrn) {
		// Senders' MRNs hold spaces, slashes, colons ("MODEL:A3DR01 ...");
		// the MRN is printed as sent and the FHIR Patient id is derived
		// from it by the one identifier-to-key function (deterministic, no
		// two MRNs share an id).
		r.Patient.ID = report.Key(mrn)
		out.Warnings = append(out.Warnings, comp(pid.Loc(3), rep, 1).String()+": the medical record number is not a FHIR id (1-64 of A-Z a-z 0-9 - .): it is printed as sent and the patient id is derived from it (report.Key)")
	}
	g.at(pid.Loc(3), "patient.id")
	g.at(pid.Loc(3), "patient.mrn")

	n := pid.Field(5).Rep(1)
	nl := pid.Loc(5)
	family := mp.line(n.Comp(1).Sub(1), comp(nl, 1, 1))
	given := strings.TrimSpace(mp.line(n.Comp(2), comp(nl, 1, 2)) + " " + mp.line(n.Comp(3), comp(nl, 1, 3)))
	suffix := mp.line(n.Comp(4), comp(nl, 1, 4))
	name := family
	if given != "" {
		if name != "" {
			name += ", "
		}
		name += given
	}
	if suffix != "" && name != "" {
		name += " " + suffix
	}
	if name == "" {
		mp.fail(pid.Loc(5), hl7.CodeRequiredMissing, "PID-5 (patient name) is empty")
	}
	r.Patient.Name = name
	g.at(pid.Loc(5), "patient.name")

	if b := mp.line(pid.Field(7).Rep(1).Comp(1), pid.Loc(7)); b != "" {
		if len(b) >= 8 && allDigits(b[:8]) {
			if t, err := time.Parse("20060102", b[:8]); err == nil {
				r.Patient.BirthDate = t.Format("2006-01-02")
			}
		}
		if r.Patient.BirthDate == "" {
			// Not something a reader cannot do without (the name and
			// MRN identify the patient): printed as not stated.
			out.Warnings = append(out.Warnings, pid.Loc(7).String()+": the birth date is not a date YYYYMMDD and is left out (the value is not repeated here: it identifies a patient)")
		}
		g.at(pid.Loc(7), "patient.birthDate")
	}
	// Table 0001 codes; senders also write the words ("Female").
	switch s := mp.line(pid.Field(8).Rep(1).Comp(1), pid.Loc(8)); strings.ToLower(s) {
	case "f", "female":
		r.Patient.Sex = "female"
	case "m", "male":
		r.Patient.Sex = "male"
	case "o", "a", "other", "ambiguous":
		r.Patient.Sex = "other"
	case "u", "n", "unknown":
		r.Patient.Sex = "unknown"
	case "":
	default:
		out.Warnings = append(out.Warnings, fmt.Sprintf("%s: administrative sex %q is not in table 0001 (F, M, O, U, A, N) and is left out", pid.Loc(8), s))
	}
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// kind decides the report kind: OBR-24 through the site table and table
// 0074, else the LOINC section codes of the OBX, else words of the title,
// else the sender's default.
func (mp *mapper) kind(g *group, title string) string {
	obr := g.obr
	code := mp.line(obr.Field(24).Rep(1).Comp(1), obr.Loc(24))
	if code != "" {
		if k, ok := mp.site.ServiceKinds[code]; ok {
			return k
		}
		if k, ok := serviceKinds[code]; ok {
			return k
		}
		// Senders write the section as words ("Magnetic Resonance
		// Imaging" in a public HAPI test message).
		if k := kindFromWords(code); k != "" {
			return k
		}
	}
	for _, s := range g.body {
		if s.Name != "OBX" {
			continue
		}
		if sec, ok := loincSections[mp.line(s.Field(3).Rep(1).Comp(1), s.Loc(3))]; ok && sec.kind != "" {
			return sec.kind
		}
	}
	if k := kindFromWords(title); k != "" {
		return k
	}
	msh := mp.m.MSH()
	app := mp.line(msh.Field(3).Rep(1).Comp(1), msh.Loc(3))
	fac := mp.line(msh.Field(4).Rep(1).Comp(1), msh.Loc(4))
	if k, ok := mp.site.SenderKinds[app+"|"+fac]; ok {
		return k
	}
	if k, ok := mp.site.SenderKinds[fac]; ok {
		return k
	}
	if code != "" {
		mp.fail(obr.Loc(24), hl7.CodeTableValue, "diagnostic service section %q is neither pathology nor imaging (table 0074 or the site table), and neither the OBX codes, the title nor the sender decide the kind", code)
	} else {
		mp.fail(obr.Loc(24), hl7.CodeRequiredMissing, "the report kind is unknown: OBR-24 (diagnostic service section) is empty, and neither the OBX codes, the title nor the sender decide it")
	}
	return report.KindAP
}

var (
	apWords  = []string{"patholog", "cytolog", "biopsy", "histolog", "autopsy", "frozen section", "bone marrow", "surgical"}
	radWords = []string{"radiolog", "imaging", "magnetic resonance", "ultrasound", "sonograph", "mammogra", "tomograph", "radiograph", "x-ray", "xray", "mri", "ct", "pet", "us", "xr", "nm", "mra", "cta", "fluoro"}
)

func kindFromWords(title string) string {
	low := strings.ToLower(title)
	words := strings.FieldsFunc(low, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r == '-') })
	for _, w := range apWords {
		if strings.Contains(low, w) {
			return report.KindAP
		}
	}
	for _, w := range radWords {
		if len(w) <= 3 {
			for _, x := range words {
				if x == w {
					return report.KindRadiology
				}
			}
		} else if strings.Contains(low, w) {
			return report.KindRadiology
		}
	}
	return ""
}

// modality decides a radiology report's DICOM modality: OBR-24 through the
// site table and table 0074, else the words of the title.
func (mp *mapper) modality(g *group, title string) string {
	code := mp.line(g.obr.Field(24).Rep(1).Comp(1), g.obr.Loc(24))
	if m, ok := mp.site.ServiceModalities[code]; ok {
		return m
	}
	if m, ok := serviceModalities[code]; ok {
		return m
	}
	low := " " + strings.ToLower(title) + " "
	words := strings.FieldsFunc(low, func(r rune) bool { return !(r >= 'a' && r <= 'z') })
	has := func(ws ...string) bool {
		for _, w := range ws {
			for _, x := range words {
				if x == w {
					return true
				}
			}
		}
		return false
	}
	switch {
	case has("ct", "cta") || strings.Contains(low, "tomograph"):
		return "CT"
	case has("mr", "mri", "mra") || strings.Contains(low, "magnetic"):
		return "MR"
	case has("us") || strings.Contains(low, "ultrasound") || strings.Contains(low, "sonogra"):
		return "US"
	case strings.Contains(low, "mammo"):
		return "MG"
	case has("pet"):
		return "PT"
	case has("nm") || strings.Contains(low, "nuclear"):
		return "NM"
	case has("xr", "cr", "dx") || strings.Contains(low, "radiograph") || strings.Contains(low, "x-ray"):
		return "CR"
	case strings.Contains(low, "fluoro"):
		return "RF"
	case strings.Contains(low, "angiog"):
		return "XA"
	}
	// Unknown: printed as not stated, with a warning (templates; issue 18).
	return ""
}

// xcn formats a person (XCN: id^family^given^middle^suffix^prefix^degree)
// as "Prefix Given Middle Family Suffix, Degree".
func (mp *mapper) xcn(v hl7.Value, loc hl7.Location) string {
	part := func(i int) string { return mp.line(v.Comp(i), comp(loc, 1, i)) }
	return personName(part(2), part(3), part(4), part(5), part(6), part(7), part(1))
}

// cnn formats a person given as subcomponents (CNN: id&family&given&middle&suffix&prefix&degree).
func (mp *mapper) cnn(v hl7.Value, loc hl7.Location) string {
	part := func(i int) string { return mp.line(v.Sub(i), loc) }
	return personName(part(2), part(3), part(4), part(5), part(6), part(7), part(1))
}

func personName(family, given, middle, suffix, prefix, degree, id string) string {
	var parts []string
	if degree != "" {
		prefix = "" // "Dr Jane Roe, MD" says it twice
	}
	for _, p := range []string{prefix, given, middle, family, suffix} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	name := strings.Join(parts, " ")
	if name == "" {
		return id
	}
	if degree != "" {
		name += ", " + degree
	}
	return name
}

// performers maps OBR-32 (principal result interpreter), OBR-33 (assistant
// result interpreters) and OBR-34 (technicians). The principal interpreter
// of a final, corrected or appended report is shown as having signed it,
// at OBR-32's start time or else the release time (OBR-22).
func (mp *mapper) performers(r *report.Report, g *group, out *Mapped) {
	obr := g.obr
	role := "Pathologist"
	if r.Kind == report.KindRadiology {
		role = "Radiologist"
	}
	add := func(n int, role string, sign bool) {
		f := obr.Field(n)
		for i := 1; i <= f.Reps(); i++ {
			loc := comp(obr.Loc(n), i, 1)
			name := mp.cnn(f.Rep(i).Comp(1), loc)
			if name == "" {
				continue
			}
			p := report.Performer{Name: name, Role: role}
			if sign && r.Status != report.StatusPreliminary {
				at, ok := mp.ts(f.Rep(i).Comp(2), comp(obr.Loc(n), i, 2))
				if !ok {
					at = r.Issued
				}
				p.SignedAt = &at
			}
			g.at(obr.Loc(n), "performers[%d]", len(r.Performers))
			r.Performers = append(r.Performers, p)
		}
	}
	add(32, role, true)
	add(33, "Assistant result interpreter", false)
	add(34, "Technician", false)
}

// specimens maps the SPM segments of the group (v2.5+), else OBR-15
// (specimen source, v2.3-2.6).
func (mp *mapper) specimens(r *report.Report, g *group, collected time.Time, hasCollected bool) {
	obr := g.obr
	for i, s := range g.spm {
		sp := report.Specimen{}
		sp.Label = mp.line(s.Field(2).Rep(1).Comp(1).Sub(1), s.Loc(2))
		if sp.Label == "" {
			sp.Label = mp.line(s.Field(1).Rep(1), s.Loc(1))
		}
		if sp.Label == "" {
			sp.Label = strconv.Itoa(i + 1)
		}
		var desc []string
		if d := mp.line(s.Field(14).Rep(1), s.Loc(14)); d != "" {
			desc = append(desc, d)
		} else {
			for _, n := range []int{4, 8} { // specimen type, source site
				v := s.Field(n).Rep(1)
				t := mp.line(v.Comp(2), comp(s.Loc(n), 1, 2))
				if t == "" {
					t = mp.line(v.Comp(1), comp(s.Loc(n), 1, 1))
				}
				if t != "" {
					desc = append(desc, t)
				}
			}
		}
		// No description (SPM-14, SPM-4 and SPM-8 empty): printed as not
		// stated, with a warning (templates; issue 18).
		sp.Description = strings.Join(desc, ", ")
		if t, ok := mp.ts(s.Field(17).Rep(1).Comp(1), comp(s.Loc(17), 1, 1)); ok {
			sp.Collected = &t
		} else if hasCollected {
			c := collected
			sp.Collected = &c
		}
		if t, ok := mp.ts(s.Field(18).Rep(1), s.Loc(18)); ok {
			sp.Received = &t
		}
		g.at(s.Loc(0), "specimens[%d]", i)
		r.Specimens = append(r.Specimens, sp)
	}
	if len(g.spm) > 0 {
		return
	}
	src := obr.Field(15).Rep(1)
	if src.Empty() {
		return
	}
	var desc []string
	for _, v := range []hl7.Value{src.Comp(1), src.Comp(4)} { // source name, body site
		t := mp.line(v.Sub(2), obr.Loc(15))
		if t == "" {
			t = mp.line(v.Sub(1), obr.Loc(15))
		}
		if t != "" {
			desc = append(desc, t)
		}
	}
	if t := mp.line(src.Comp(3), comp(obr.Loc(15), 1, 3)); t != "" { // free text
		desc = append(desc, t)
	}
	if len(desc) == 0 {
		return
	}
	sp := report.Specimen{Label: "1", Description: strings.Join(desc, ", ")}
	if hasCollected {
		c := collected
		sp.Collected = &c
	}
	if t, ok := mp.ts(obr.Field(14).Rep(1), obr.Loc(14)); ok {
		sp.Received = &t
	}
	g.at(obr.Loc(15), "specimens[0]")
	r.Specimens = append(r.Specimens, sp)
}

// ts reads an HL7 timestamp YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]: the
// first component of v. A time without an offset is in the site's zone. A
// missing value gives ok false; a malformed one is recorded as an error.
func (mp *mapper) ts(v hl7.Value, loc hl7.Location) (time.Time, bool) {
	s := mp.line(v.Comp(1), loc)
	if s == "" {
		return time.Time{}, false
	}
	t, err := parseTS(s, mp.zone)
	if err != nil {
		mp.fail(loc, hl7.CodeDataType, "%q is not an HL7 time (YYYYMMDD[HHMM[SS[.S]]][+/-ZZZZ]): %v", s, err)
		return time.Time{}, false
	}
	return t, true
}

func parseTS(s string, zone *time.Location) (time.Time, error) {
	if zone == nil {
		zone = time.UTC
	}
	body, off := s, ""
	if i := strings.IndexAny(s, "+-"); i >= 0 {
		body, off = s[:i], s[i:]
	}
	frac := ""
	if i := strings.IndexByte(body, '.'); i >= 0 {
		body, frac = body[:i], body[i+1:]
		if !allDigits(frac) || len(frac) > 4 {
			return time.Time{}, fmt.Errorf("bad fraction of a second")
		}
	}
	if !allDigits(body) || len(body)%2 != 0 || len(body) < 4 || len(body) > 14 {
		return time.Time{}, fmt.Errorf("want 4 to 14 digits")
	}
	layout := "20060102150405"[:len(body)]
	if len(body) < 8 {
		return time.Time{}, fmt.Errorf("the time is less precise than a day")
	}
	loc := zone
	if off != "" {
		if len(off) != 5 || !allDigits(off[1:]) {
			return time.Time{}, fmt.Errorf("bad offset %q", off)
		}
		h, _ := strconv.Atoi(off[1:3])
		m, _ := strconv.Atoi(off[3:5])
		if h > 14 || m > 59 {
			return time.Time{}, fmt.Errorf("bad offset %q", off)
		}
		sec := h*3600 + m*60
		if off[0] == '-' {
			sec = -sec
		}
		loc = time.FixedZone("", sec)
	}
	t, err := time.ParseInLocation(layout, body, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("not a valid date and time")
	}
	if frac != "" {
		n, _ := strconv.Atoi((frac + "000000000")[:9])
		t = t.Add(time.Duration(n))
	}
	if off == "" {
		// Fix the offset the zone had then, so the time prints with it.
		_, sec := t.Zone()
		t = t.In(time.FixedZone("", sec))
	}
	return t, nil
}

// ---- sections ----

// sectionClass groups OBX value types by the section they make.
func sectionClass(vt string) string {
	switch vt {
	case "TX":
		return report.SectionPlain
	case "FT":
		return report.SectionText
	case "ED":
		return report.SectionImage
	case "ST", "NM", "SN", "CE", "CWE", "CNE", "CF", "DT", "TS", "DTM", "TM", "ID", "IS", "XCN", "CX", "NR", "":
		return report.SectionFields
	}
	return ""
}

// sections turns the group's OBX and NTE segments into sections, in order.
func (mp *mapper) sections(r *report.Report, g *group, out *Mapped) {
	var cur *report.Section // the section consecutive OBX may join
	var curKey obxKey
	// The body of cur: its plain lines joined with line feeds, or its
	// formatted-text bodies joined with markdown hard line breaks, leading
	// empty ones left out.
	body := mp.body[:0]
	nlines := 0
	addLine := func(line []byte) {
		if cur.Kind == report.SectionText {
			if nlines == 0 && len(line) == 0 {
				return
			}
			if nlines > 0 {
				body = append(body, "\\\n"...) // markdown hard line break
			}
		} else if nlines > 0 {
			body = append(body, '\n')
		}
		body = append(body, line...)
		nlines++
	}
	closeCur := func() {
		if cur != nil && (cur.Kind == report.SectionPlain || cur.Kind == report.SectionText) {
			cur.Body = string(body)
		}
		cur, curKey, body, nlines = nil, obxKey{}, body[:0], 0
	}
	defer func() { mp.body = body[:0] }()
	last := func() *report.Section {
		if len(r.Sections) == 0 {
			return nil
		}
		return &r.Sections[len(r.Sections)-1]
	}
	inSPM := false
	var prev obxHeader
	for _, s := range g.body {
		switch s.Name {
		case "SPM":
			closeCur()
			inSPM = true
		case "NTE":
			closeCur()
			body := mp.ft(s.Field(3), s.Loc(3))
			if strings.TrimSpace(body) == "" {
				continue
			}
			note := report.Section{Kind: report.SectionText, Title: "Comment", Body: body}
			if l := last(); l != nil {
				g.at(s.Loc(3), "sections[%d].sections[%d]", len(r.Sections)-1, len(l.Sections))
				l.Sections = append(l.Sections, note)
			} else {
				g.at(s.Loc(3), "sections[%d]", len(r.Sections))
				r.Sections = append(r.Sections, note)
			}
		case "OBX":
			// Consecutive OBX usually repeat OBX-2, OBX-3 and OBX-4: when
			// the raw values are those of the previous OBX, and decoding
			// them found no problem there, their decoded values are too.
			raw := [3][]byte{s.Field(2).Rep(1).Comp(1).Raw(), s.Field(3).Rep(1).Raw(), s.Field(4).Rep(1).Raw()}
			if !prev.ok || !bytes.Equal(raw[0], prev.raw[0]) || !bytes.Equal(raw[1], prev.raw[1]) || !bytes.Equal(raw[2], prev.raw[2]) {
				nerr := len(mp.errs)
				prev = mp.obxHeader(s)
				prev.raw, prev.ok = raw, len(mp.errs) == nerr
			}
			vt, class, code, text, title := prev.vt, prev.key.class, prev.key.code, prev.key.text, prev.title
			key := prev.key
			if class == "" {
				prev.ok = false
				mp.fail(s.Loc(2), hl7.CodeTableValue, "value type %q is not one folio reports (TX, FT, ST, NM, SN, CE, CWE, CNE, DT, TS, DTM, TM, ED)", vt)
				continue
			}
			switch class {
			case report.SectionPlain:
				if cur == nil || curKey != key {
					closeCur()
					r.Sections = append(r.Sections, report.Section{Kind: report.SectionPlain, Title: title})
					cur, curKey = last(), key
					g.at(s.Loc(5), "sections[%d]", len(r.Sections)-1)
				}
				f := s.Field(5)
				if f.Reps() == 0 {
					addLine(nil)
				}
				for i := 1; i <= f.Reps(); i++ {
					t, err := mp.m.AppendText(mp.scratch[:0], f.Rep(i).Raw())
					mp.scratch = t[:0]
					if err != nil {
						mp.fail(comp(s.Loc(5), i, 0), hl7.CodeDataType, "%v", err)
						t = nil
					}
					addLine(bytes.TrimRight(t, " "))
				}
			case report.SectionText:
				ft, ok := mp.appendFT(mp.scratch[:0], s.Field(5), s.Loc(5))
				mp.scratch = ft[:0]
				if !ok {
					ft = nil
				}
				if cur == nil || curKey != key {
					closeCur()
					r.Sections = append(r.Sections, report.Section{Kind: report.SectionText, Title: title})
					cur, curKey = last(), key
					g.at(s.Loc(5), "sections[%d]", len(r.Sections)-1)
				}
				addLine(trimFT(ft))
			case report.SectionFields:
				// Consecutive coded and numeric results form one grid,
				// whatever their OBX-3.
				if cur == nil || cur.Kind != report.SectionFields {
					closeCur()
					t := "Results"
					if inSPM {
						t = "Specimen Observations"
					}
					r.Sections = append(r.Sections, report.Section{Kind: report.SectionFields, Title: t})
					cur, curKey = last(), obxKey{class: "fields"}
				}
				label := text
				if label == "" {
					label = code
				}
				if label == "" {
					label = "Result"
				}
				val := mp.value(s, vt)
				g.at(s.Loc(5), "sections[%d].items[%d]", len(r.Sections)-1, len(cur.Items))
				cur.Items = append(cur.Items, report.Item{Label: label, Value: val})
			case report.SectionImage:
				closeCur()
				mp.ed(r, g, s, title, out)
			}
		}
	}
	closeCur()
}

// obxHeader is what OBX-2, OBX-3 and OBX-4 of one OBX say: its value type,
// section key and section title; raw holds them as sent, ok that decoding
// them recorded no problem.
type obxHeader struct {
	vt, title string
	key       obxKey
	raw       [3][]byte
	ok        bool
}

// obxHeader decodes OBX-2, OBX-3 and OBX-4 of s. A value type folio does
// not report gives an empty class, for the caller to refuse.
func (mp *mapper) obxHeader(s *hl7.Segment) obxHeader {
	vt := mp.line(s.Field(2).Rep(1).Comp(1), s.Loc(2))
	class := sectionClass(vt)
	if class == "" {
		return obxHeader{vt: vt}
	}
	id := s.Field(3).Rep(1)
	code := mp.line(id.Comp(1), comp(s.Loc(3), 1, 1))
	text := mp.line(id.Comp(2), comp(s.Loc(3), 1, 2))
	subID := mp.line(s.Field(4).Rep(1), s.Loc(4))
	title := text
	if sec, ok := loincSections[code]; ok && (text == "" || strings.EqualFold(text, sec.title) || len(text) < 3) {
		title = sec.title
	} else if sec, ok := loincSections[code]; ok && title == "" {
		title = sec.title
	}
	if title == "" {
		title = code
	}
	return obxHeader{vt: vt, title: title, key: obxKey{class, code, text, subID}}
}

// obxKey is what consecutive OBX share to form one section: the section
// class of the value type, OBX-3's code and text, and OBX-4.
type obxKey struct{ class, code, text, subID string }

// value formats one coded, numeric, string or date OBX: every repetition of
// OBX-5, then units (OBX-6), reference range (OBX-7) and abnormal flags (OBX-8).
func (mp *mapper) value(s *hl7.Segment, vt string) string {
	// The value is written into a reused buffer, piece by piece; a piece
	// that comes out empty is taken back.
	out := mp.val[:0]
	defer func() { mp.val = out[:0] }()
	f := s.Field(5)
	for i := 1; i <= f.Reps(); i++ {
		rep := f.Rep(i)
		loc := comp(s.Loc(5), i, 0)
		before := len(out)
		if before > 0 {
			out = append(out, '\n')
		}
		start := len(out)
		switch vt {
		case "CE", "CWE", "CNE", "CF":
			out = mp.appendLine(out, rep.Comp(2), comp(loc, i, 2))
			if len(out) == start {
				out = mp.appendLine(out, rep.Comp(1), comp(loc, i, 1))
			}
			if len(out) == start { // CWE original text
				out = mp.appendLine(out, rep.Comp(9), comp(loc, i, 9))
			} else {
				mp.line(rep.Comp(9), comp(loc, i, 9)) // read for its problems only
			}
		case "SN": // comparator^num1^separator^num2
			for c := 1; c <= 4; c++ {
				out = mp.appendLine(out, rep.Comp(c), comp(loc, i, c))
			}
		case "DT", "TS", "DTM":
			raw := mp.line(rep.Comp(1), comp(loc, i, 1))
			if t, err := parseTS(raw, mp.zone); err == nil {
				if len(raw) == 8 {
					out = t.AppendFormat(out, "2006-01-02")
				} else {
					out = t.AppendFormat(out, "2006-01-02 15:04 -07:00")
				}
			} else {
				out = append(out, raw...)
			}
		case "XCN":
			out = append(out, mp.xcn(rep, loc)...)
		default:
			t, err := mp.m.AppendText(out, rep.Raw())
			if err != nil {
				mp.fail(loc, hl7.CodeDataType, "%v", err)
				t = out
			}
			out = append(out[:start], bytes.TrimRight(t[start:], " \n")...)
		}
		if len(out) == start {
			out = out[:before] // an empty value: no line for it
		}
	}
	// Units: the code (UCUM "cm", "mm", "%"), else the text.
	hasVal := len(out) > 0
	pos := len(out)
	out = append(out, ' ')
	out = mp.appendLine(out, s.Field(6).Rep(1).Comp(1), comp(s.Loc(6), 1, 1))
	if len(out) == pos+1 {
		out = mp.appendLine(out, s.Field(6).Rep(1).Comp(2), comp(s.Loc(6), 1, 2))
	}
	if len(out) == pos+1 || !hasVal {
		out = out[:pos]
	}
	pos = len(out)
	out = append(out, " (reference "...)
	rr := len(out)
	if out = mp.appendLine(out, s.Field(7).Rep(1), s.Loc(7)); len(out) == rr {
		out = out[:pos]
	} else {
		out = append(out, ')')
	}
	nflags := 0
	for i := 1; i <= s.Field(8).Reps(); i++ {
		if fl := mp.line(s.Field(8).Rep(i).Comp(1), comp(s.Loc(8), i, 1)); fl != "" {
			if nflags == 0 {
				out = append(out, " ["...)
			} else {
				out = append(out, ", "...)
			}
			out = appendAbnormal(out, fl)
			nflags++
		}
	}
	if nflags > 0 {
		out = append(out, ']')
	}
	if len(out) == 0 {
		return "(no value sent)"
	}
	return string(bytes.TrimSpace(out))
}

// appendLine appends what line returns for v to dst.
func (mp *mapper) appendLine(dst []byte, v hl7.Value, loc hl7.Location) []byte {
	raw := v.Raw()
	if len(raw) == 0 {
		return dst
	}
	start := len(dst)
	b, err := mp.m.AppendText(dst, raw)
	if err != nil {
		mp.fail(loc, hl7.CodeDataType, "%v", err)
		return dst
	}
	for i := start; i < len(b); i++ {
		if b[i] == '\n' || b[i] == '\t' {
			b[i] = ' '
		}
	}
	return append(b[:start], bytes.TrimSpace(b[start:])...)
}

// abnormalFlags spells out the common table 0078 abnormal flags.
var abnormalFlags = map[string]string{"L": "low", "H": "high", "LL": "critically low", "HH": "critically high", "N": "normal", "A": "abnormal", "AA": "critically abnormal"}

// appendAbnormal appends flag f, spelled out when it is a common one
// ("high (H)").
func appendAbnormal(b []byte, f string) []byte {
	if s, ok := abnormalFlags[f]; ok {
		b = append(b, s...)
		b = append(b, " ("...)
		b = append(b, f...)
		return append(b, ')')
	}
	return append(b, f...)
}

// ed maps an OBX of type ED: source^type^subtype^encoding^data.
func (mp *mapper) ed(r *report.Report, g *group, s *hl7.Segment, title string, out *Mapped) {
	v := s.Field(5).Rep(1)
	loc := s.Loc(5)
	typ := strings.ToLower(mp.line(v.Comp(2), comp(loc, 1, 2)))
	sub := strings.ToLower(mp.line(v.Comp(3), comp(loc, 1, 3)))
	enc := strings.ToLower(mp.line(v.Comp(4), comp(loc, 1, 4)))
	raw := v.Comp(5).Raw()
	var data []byte
	switch enc {
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, raw)
		d, err := base64.StdEncoding.DecodeString(string(clean))
		if err != nil {
			mp.fail(comp(loc, 1, 5), hl7.CodeDataType, "the encapsulated data is not valid base64: %v", err)
			return
		}
		data = d
	case "hex":
		d, err := hex.DecodeString(string(raw))
		if err != nil {
			mp.fail(comp(loc, 1, 5), hl7.CodeDataType, "the encapsulated data is not valid hex")
			return
		}
		data = d
	default:
		mp.fail(comp(loc, 1, 4), hl7.CodeTableValue, "encoding %q of encapsulated data is not taken (Base64 or Hex)", enc)
		return
	}
	switch {
	case (typ == "image" || typ == "im") && (sub == "png" || sub == "jpeg" || sub == "jpg"):
		ct := "image/png"
		if sub != "png" {
			ct = "image/jpeg"
		}
		g.at(loc, "sections[%d]", len(r.Sections))
		r.Sections = append(r.Sections, report.Section{Kind: report.SectionImage, Title: title, ContentType: ct, Data: data, Caption: title})
	case sub == "pdf":
		// The subtype and the bytes decide: senders label a PDF's type of
		// data AP, Application, TEXT (HL7 Australia's AUSPDI display PDF),
		// TX or SD (scanned document); the bytes must still be a PDF.
		if !bytes.HasPrefix(data, []byte("%PDF-")) || !bytes.Contains(data[max(0, len(data)-1024):], []byte("%%EOF")) {
			mp.fail(comp(loc, 1, 5), hl7.CodeDataType, "the encapsulated data is declared application/pdf but is not a PDF (no %%PDF- header or %%%%EOF trailer)")
			return
		}
		if out.PDF != nil {
			mp.fail(loc, hl7.CodeDataType, "a second PDF under one OBR: a report has one document")
			return
		}
		out.PDF = data
	default:
		mp.fail(comp(loc, 1, 2), hl7.CodeTableValue, "encapsulated data of type %s/%s is not taken (image/png, image/jpeg, or subtype PDF with any type of data)", typ, sub)
	}
}

// origin is where a report field came from: a path format (with %d for
// indices) and its indices, formatted only when an error needs it.
type origin struct {
	format string
	idx    [2]int
	loc    hl7.Location
}

func (g *group) at(loc hl7.Location, format string, idx ...int) {
	o := origin{format: format, loc: loc}
	copy(o.idx[:], idx)
	g.origins = append(g.origins, o)
}

func (o origin) path() string {
	switch strings.Count(o.format, "%d") {
	case 0:
		return o.format
	case 1:
		return fmt.Sprintf(o.format, o.idx[0])
	}
	return fmt.Sprintf(o.format, o.idx[0], o.idx[1])
}
