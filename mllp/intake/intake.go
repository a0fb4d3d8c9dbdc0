// Package intake turns HL7 v2 result messages into durable render jobs: it
// maps a message (hl7input), derives each report's version from its content
// (the same content keeps its version, changed content gets the next one),
// publishes one job per report (a withdrawal, result status X or W,
// included: the worker carries it out) and says which acknowledgement the
// sender gets. It is the handler behind the MLLP listener and what folio submit
// does with .hl7 files.
package intake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/foliohealth/folio"

	"github.com/foliohealth/folio/hl7"
	"github.com/foliohealth/folio/input"
	"github.com/foliohealth/folio/input/hl7input"
	"github.com/foliohealth/folio/mllp"
	"github.com/foliohealth/folio/queue"
	"github.com/foliohealth/folio/report"
)

// Publisher publishes render jobs and reads their statuses; *queue.Queue
// is one.
type Publisher interface {
	Submit(ctx context.Context, job *queue.Job) (*queue.Submitted, error)
	Status(ctx context.Context, jobID string) (*queue.JobStatus, error)
}

// Store is what the intake needs of the store; *store.Store is one.
type Store interface {
	// NextVersion derives a report's version from its content digest,
	// durably: the first digest of a report id is version 1, a digest seen
	// before keeps its version, a new one gets the next.
	NextVersion(ctx context.Context, reportID, digest string) (int, error)
	// Known returns the newest version NextVersion has handed out for a
	// report id, 0 when it has never seen the report.
	Known(ctx context.Context, reportID string) (int, error)
}

// Config says what the intake takes.
type Config struct {
	Site hl7input.Site
	// ProcessingIDs are the MSH-11 processing ids taken (["P"]: production
	// only; a test system's T messages are rejected, not rendered as
	// patient documents).
	ProcessingIDs []string
	// Outputs of every job (["pdf"]).
	Outputs []string
}

// Intake maps messages and publishes their jobs.
type Intake struct {
	pub Publisher
	ver Store
	cfg Config
}

// New returns an intake publishing to pub, with versions from st. It needs
// no access to records: a withdrawal is a job like any other.
func New(pub Publisher, st Store, cfg Config) *Intake {
	if len(cfg.ProcessingIDs) == 0 {
		cfg.ProcessingIDs = []string{"P"}
	}
	return &Intake{pub: pub, ver: st, cfg: cfg}
}

// Job is one report of a message: its job (the mapped report with its
// derived version, or, for result status X or W, the withdrawal of the
// newest version folio has seen) and, once published, the queue's answer.
type Job struct {
	Job       *queue.Job
	Withdraw  string // the withdrawal's reason (result status X or W); "" for a render job
	ReportID  string // the report identifier as sent (report.Key gives its key)
	Version   int
	Submitted *queue.Submitted // nil until published
	Warnings  []string
	OBR       hl7.Location // where in the message the report came from
}

// TransientError is a failure to publish (the server unreachable, a call
// timed out): the message was not taken and may be sent again.
type TransientError struct{ Err error }

func (e *TransientError) Error() string { return "not queued, send again: " + e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// Take maps msg and publishes one job per report; it returns once every job
// is durably published (JetStream acknowledged). A refused message returns
// hl7input.Errors (content or message type); a publishing failure a
// *TransientError. A message whose jobs were published before (a resend)
// publishes nothing new: its versions and job ids are the same.
func (in *Intake) Take(ctx context.Context, msg []byte) ([]Job, error) {
	jobs, err := in.Jobs(ctx, msg)
	if err != nil {
		return nil, err
	}
	for i := range jobs {
		// A job already queued, running or done (a resend, also one after
		// a crash or after JetStream's duplicate window, whose
		// deduplication does not survive the job's removal from the work
		// queue) is not published again; a failed one is.
		st, err := in.pub.Status(ctx, jobs[i].Job.ID)
		switch {
		case err == nil && st.Status != queue.StatusFailed:
			jobs[i].Submitted = &queue.Submitted{JobID: st.JobID, Seq: st.Seq, Duplicate: true}
			continue
		case err != nil && !errors.Is(err, folio.ErrNotFound):
			return jobs[:i], &TransientError{err}
		}
		sub, err := in.pub.Submit(ctx, jobs[i].Job)
		if err != nil {
			return jobs[:i], &TransientError{err}
		}
		jobs[i].Submitted = sub
	}
	return jobs, nil
}

// Jobs maps msg and derives each report's version, and returns the jobs
// without publishing them (folio submit publishes them itself). Errors are
// as for Take.
func (in *Intake) Jobs(ctx context.Context, msg []byte) ([]Job, error) {
	m, err := hl7.Parse(msg)
	if err != nil {
		var he *hl7.Error
		if errors.As(err, &he) {
			return nil, hl7input.Errors{he}
		}
		return nil, hl7input.Errors{{Loc: hl7.Location{Segment: "MSH", Seq: 1}, Code: hl7.CodeApplicationInternal, Text: err.Error()}}
	}
	if p := m.MSH().Text(11, 1); !slices.Contains(in.cfg.ProcessingIDs, p) {
		return nil, hl7input.Errors{{Loc: m.MSH().Loc(11), Code: hl7.CodeUnsupportedProcessing, Text: fmt.Sprintf("processing id %q is not taken here (taken: %v)", p, in.cfg.ProcessingIDs)}}
	}
	mapped, err := hl7input.Map(m, in.cfg.Site)
	if err != nil {
		return nil, err
	}
	// Every job carries the message's bytes exactly as they came (a byte
	// order mark aside), whatever character set MSH-18 declares: the
	// worker parses the same bytes folio render parses, so no letter can
	// change on the way (docs/hl7v2.md "Character sets").
	raw := bytes.Clone(folio.TrimBOM(msg))
	var jobs []Job
	var unknown hl7input.Errors
	for _, mp := range mapped {
		if mp.Withdraw {
			// The withdrawal withdraws the newest version folio has seen
			// of the report; one it has never seen is refused (AE), as the
			// sender must know the withdrawal did nothing. The worker
			// carries it out.
			v, err := in.ver.Known(ctx, report.Key(mp.Report.ID))
			if err != nil {
				return nil, &TransientError{fmt.Errorf("versions of report %s: %w", mp.Report.ID, err)}
			}
			if v == 0 {
				unknown = append(unknown, &hl7.Error{Loc: locField(mp.OBR, 3), Code: hl7.CodeUnknownKey,
					Text: fmt.Sprintf("folio has never received report %s: there is no document to withdraw", mp.Report.ID)})
				continue
			}
			job := &queue.Job{
				ID:      fmt.Sprintf("%s.withdrawn-%s", folio.RecordID(report.Key(mp.Report.ID), v), strings.ToLower(mp.ResultStatus)),
				Outputs: in.cfg.Outputs, HL7: raw, Source: hl7input.Source(m, mp), Version: v,
			}
			if !in.cfg.Site.IsZero() {
				site := in.cfg.Site
				job.HL7Site = &site
			}
			jobs = append(jobs, Job{Job: job, Withdraw: hl7input.WithdrawReason(mp.ResultStatus), ReportID: mp.Report.ID, Version: v, Warnings: mp.Warnings, OBR: mp.OBR})
			continue
		}
		r := mp.Report
		digest := input.ContentDigest(r, mp.PDF)
		v, err := in.ver.NextVersion(ctx, report.Key(r.ID), digest)
		if err != nil {
			return nil, &TransientError{fmt.Errorf("version of report %s: %w", r.ID, err)}
		}
		// The job carries the message itself; the worker maps it again
		// (a pure function: the same report) and gives it this version.
		// Its id is the report's id, version and content, so a resend,
		// even under a new MSH-10, is the same job.
		job := &queue.Job{
			ID:      fmt.Sprintf("%s.h%s.%s", folio.RecordID(report.Key(r.ID), v), strings.TrimPrefix(digest, "sha256:")[:12], strings.Join(outputs(in.cfg.Outputs), "-")),
			Outputs: in.cfg.Outputs, HL7: raw, Source: hl7input.Source(m, mp), Version: v,
		}
		if !in.cfg.Site.IsZero() {
			site := in.cfg.Site
			job.HL7Site = &site
		}
		jobs = append(jobs, Job{Job: job, ReportID: r.ID, Version: v, Warnings: mp.Warnings, OBR: mp.OBR})
	}
	if len(unknown) > 0 {
		return nil, unknown
	}
	return jobs, nil
}

// outputs returns the outputs sorted, ["pdf"] when empty.
func outputs(o []string) []string {
	if len(o) == 0 {
		return []string{folio.OutputPDF}
	}
	o = slices.Clone(o)
	slices.Sort(o)
	return slices.Compact(o)
}

func locField(l hl7.Location, f int) hl7.Location {
	l.Field = f
	return l
}

// Handle is Take as an MLLP handler: AA once every job is durably published
// (warnings as ERR segments of severity W), AE for refused content, AR for a
// message type, version or processing id not taken, a message that is not
// HL7, or a publishing failure (the sender should send it again).
func (in *Intake) Handle(ctx context.Context, msg []byte) mllp.Outcome {
	jobs, err := in.Take(ctx, msg)
	if err == nil {
		out := mllp.Outcome{Code: mllp.AA}
		for _, j := range jobs {
			for _, w := range j.Warnings {
				out.Errors = append(out.Errors, &hl7.Error{Loc: j.OBR, Code: 0, Text: j.ReportID + ": " + w})
			}
		}
		return out
	}
	var es hl7input.Errors
	if errors.As(err, &es) {
		code := mllp.AE
		if hl7input.IsRejection(err) {
			code = mllp.AR
		}
		return mllp.Outcome{Code: code, Errors: es}
	}
	return mllp.Outcome{Code: mllp.AR, Errors: []*hl7.Error{{Loc: hl7.Location{Segment: "MSH", Seq: 1}, Code: hl7.CodeApplicationInternal, Text: "folio could not queue the message; send it again (" + err.Error() + ")"}}}
}
