package queue

import (
	"fmt"
	"strings"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/input"
	"github.com/foliohealth/folio/report"
)

// DecodeReport decodes and validates a job's report; see DecodeInput.
func DecodeReport(job *Job, lim report.Limits) (*report.Report, error) {
	d, err := DecodeInput(job, lim)
	if err != nil {
		return nil, err
	}
	return d.Report, nil
}

// DecodeInput maps a job's input to its report through input.Map (report
// v1 with report.Decode, FHIR with fhirinput). A refusal is returned
// marked Permanent, since the same input is refused again, with the field
// paths prefixed by the job field ("report.sections[2].title",
// "fhir.Bundle.entry[3].resource.subject"). An input holding several
// reports needs job.Source to say which one the job renders.
func DecodeInput(job *Job, lim report.Limits) (*input.Doc, error) {
	kind, data, err := job.Input()
	if err != nil {
		return nil, Permanent(err)
	}
	opt := input.Options{Limits: lim}
	if job.HL7Site != nil {
		if err := job.HL7Site.Check(); err != nil {
			return nil, Permanent(fmt.Errorf("hl7Site: %v", err))
		}
		opt.HL7 = *job.HL7Site
	}
	docs, err := input.Map(kind, data, opt)
	if err != nil {
		return nil, Permanent(prefixErrors(string(kind), err))
	}
	pick := func(d *input.Doc) (*input.Doc, error) {
		if !d.VersionGiven && job.Version > 0 && d.Report != nil {
			d.Report.Version = job.Version
		}
		return d, nil
	}
	if job.Source == "" {
		if len(docs) != 1 {
			var srcs []string
			for _, d := range docs {
				srcs = append(srcs, d.Source)
			}
			return nil, Permanent(fmt.Errorf("source: the %s input holds %d reports (%s): say which one in source, one job per report", kind, len(docs), strings.Join(srcs, ", ")))
		}
		return pick(&docs[0])
	}
	for i := range docs {
		if docs[i].Source == job.Source {
			return pick(&docs[i])
		}
	}
	return nil, Permanent(fmt.Errorf("source: %q names no report of the %s input", job.Source, kind))
}

// prefixErrors puts the job's "report." prefix on the field paths of a
// report.Errors, so that a job's reason names the field as it is in the job
// message ("report.sections[2].title: ...").
func prefixErrors(field string, err error) error {
	errs, ok := err.(report.Errors)
	if !ok {
		return err
	}
	out := make(report.Errors, len(errs))
	for i, fe := range errs {
		if fe.Path == "$" {
			fe.Path = field
		} else {
			fe.Path = field + "." + fe.Path
		}
		out[i] = fe
	}
	return out
}

// RecordFacts returns the record facts of a report: everything of a
// folio.Record except Binaries, the supersede links and Updated.
func RecordFacts(r *report.Report) folio.Record {
	rec := folio.Record{
		ID:          folio.RecordID(report.Key(r.ID), r.Version),
		ReportID:    report.Key(r.ID),
		Version:     r.Version,
		Kind:        r.Kind,
		Title:       r.Title,
		Status:      r.Status,
		Issued:      r.Issued,
		PatientID:   r.Patient.ID,
		PatientName: r.Patient.Name,
		MRN:         r.Patient.MRN,
		Accession:   r.Accession,
		EncounterID: r.EncounterID,
	}
	if rec.ReportID != r.ID {
		rec.Identifier = r.ID
	}
	if r.Exam != nil {
		rec.Modality = r.Exam.Modality
		rec.EffectiveStart, rec.EffectiveEnd = r.Exam.Performed, r.Exam.Performed
	}
	for _, sp := range r.Specimens {
		if sp.Collected == nil {
			continue
		}
		if c := *sp.Collected; rec.EffectiveStart.IsZero() || c.Before(rec.EffectiveStart) {
			rec.EffectiveStart = c
		}
		if c := *sp.Collected; c.After(rec.EffectiveEnd) {
			rec.EffectiveEnd = c
		}
	}
	for _, p := range r.Performers {
		rec.Performers = append(rec.Performers, p.Name)
	}
	return rec
}
