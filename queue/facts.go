package queue

import (
	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/report"
)

// DecodeReport decodes and validates a job's report with report.Decode;
// a refusal is returned marked Permanent, since the same input is refused
// again.
func DecodeReport(job *Job, lim report.Limits) (*report.Report, error) {
	r, err := report.Decode(job.Report, lim)
	if err != nil {
		return nil, Permanent(prefixErrors(err))
	}
	return r, nil
}

// prefixErrors puts the job's "report." prefix on the field paths of a
// report.Errors, so that a job's reason names the field as it is in the job
// message ("report.sections[2].title: ...").
func prefixErrors(err error) error {
	errs, ok := err.(report.Errors)
	if !ok {
		return err
	}
	out := make(report.Errors, len(errs))
	for i, fe := range errs {
		if fe.Path == "$" {
			fe.Path = "report"
		} else {
			fe.Path = "report." + fe.Path
		}
		out[i] = fe
	}
	return out
}

// RecordFacts returns the record facts of a report: everything of a
// folio.Record except Binaries, the supersede links and Updated.
func RecordFacts(r *report.Report) folio.Record {
	rec := folio.Record{
		ID:          folio.RecordID(r.ID, r.Version),
		ReportID:    r.ID,
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
	if r.Exam != nil {
		rec.Modality = r.Exam.Modality
	}
	for _, p := range r.Performers {
		rec.Performers = append(rec.Performers, p.Name)
	}
	return rec
}
