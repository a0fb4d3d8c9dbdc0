package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/report"
)

// Renderer renders the outputs of one job. Implementations are safe for
// concurrent use: every worker slot calls the same Renderer. Engine is the
// one over folio's render engine.
type Renderer interface {
	// Render returns the job's renditions, in the order of job.Outputs
	// (already validated and defaulted), or an error. An error marked with
	// Permanent (an invalid report) ends the job failed at once; any other
	// error is retried. Render should give up when ctx is done.
	Render(ctx context.Context, job *Job) (*Rendered, error)
}

// Rendered is what a Renderer made of one job.
type Rendered struct {
	// Record holds the report's facts (ID, ReportID, Version, Kind, Title,
	// Status, Issued, patient, accession, ...). The worker fills in
	// Binaries, Supersedes, SupersededBy and Updated.
	Record     folio.Record
	Renditions []Rendition
	Warnings   []string
}

// Rendition is one rendered output.
type Rendition struct {
	Output        string // folio.OutputPDF or folio.OutputThumbnail
	ContentType   string
	Data          []byte
	Pages         int // PDFs
	Width, Height int // thumbnails, pixels
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as a failure that retrying cannot cure (an invalid
// report). It returns nil for a nil err.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// WorkerOptions configures Work.
type WorkerOptions struct {
	// Slots is the number of jobs rendered at once (1).
	Slots int
	// Logger receives one line per job outcome (slog.Default()).
	Logger *slog.Logger
	// Metrics, if set, counts jobs, redeliveries and render time.
	Metrics *Metrics
	// ShutdownGrace is how long jobs in hand may run on after ctx is done
	// before they are handed back to the stream (20 s).
	ShutdownGrace time.Duration
	// PollWait bounds one pull request (2 s); on shutdown a slot returns
	// within it.
	PollWait time.Duration
}

// Work runs worker slots that pull jobs, render them with r and store the
// results, until ctx is done. Then it stops pulling, lets the jobs in hand
// finish (handing back those still running after ShutdownGrace) and
// returns nil.
func (q *Queue) Work(ctx context.Context, r Renderer, opt WorkerOptions) error {
	if opt.Slots <= 0 {
		opt.Slots = 1
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.ShutdownGrace <= 0 {
		opt.ShutdownGrace = 20 * time.Second
	}
	if opt.PollWait <= 0 {
		opt.PollWait = 2 * time.Second
	}
	w := &worker{q: q, r: r, opt: opt, log: opt.Logger}
	sub, err := q.nc.QueueSubscribe(subjectMaxDeliver, "folio-workers", w.exhausted)
	if err != nil {
		return fmt.Errorf("queue: subscribing to max-deliveries advisories: %w", err)
	}
	defer sub.Unsubscribe()

	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(opt.ShutdownGrace, cancelHard)
		context.AfterFunc(hard, func() { t.Stop() })
	})
	defer stop()

	var wg sync.WaitGroup
	for range opt.Slots {
		wg.Go(func() { w.slot(ctx, hard) })
	}
	wg.Wait()
	return nil
}

type worker struct {
	q   *Queue
	r   Renderer
	opt WorkerOptions
	log *slog.Logger
}

// slot pulls and processes one job at a time until ctx is done.
func (w *worker) slot(ctx, hard context.Context) {
	var lastErr time.Time
	for ctx.Err() == nil {
		msg, err := w.q.consumer.Next(jetstream.FetchMaxWait(w.opt.PollWait))
		if err != nil {
			if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
				continue
			}
			if time.Since(lastErr) > 10*time.Second {
				w.log.Warn("pulling jobs", "err", err)
				lastErr = time.Now()
			}
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		if ctx.Err() != nil {
			msg.Nak() // arrived after shutdown began: hand it back
			return
		}
		w.process(hard, msg)
	}
}

// process handles one delivery of a job.
func (w *worker) process(hard context.Context, msg jetstream.Msg) {
	cfg := w.q.cfg
	meta, err := msg.Metadata()
	if err != nil {
		w.log.Error("job message without metadata", "err", err)
		msg.Term()
		return
	}
	deliveries := int(meta.NumDelivered)
	if deliveries > 1 && w.opt.Metrics != nil {
		w.opt.Metrics.Redeliveries.Inc()
	}
	ctx, cancel := context.WithTimeout(hard, cfg.JobTimeout)
	defer cancel()

	// Keep the job ours while it runs.
	hbDone := make(chan struct{})
	defer close(hbDone)
	go func() {
		t := time.NewTicker(cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-hbDone:
				return
			case <-t.C:
				msg.InProgress()
			}
		}
	}()

	job, jobErr := decodeJob(msg)
	st := &JobStatus{JobID: job.ID, Seq: meta.Sequence.Stream, Deliveries: deliveries}
	log := w.log.With("job", job.ID, "delivery", deliveries)
	if jobErr != nil {
		w.fail(ctx, msg, st, ReasonInvalid, jobErr, log)
		return
	}
	if deliveries > 1 {
		// A worker that stored everything but died before its ack.
		if old, err := w.q.Status(ctx, job.ID); err == nil && old.Status == StatusDone && old.Seq == st.Seq {
			if err := msg.DoubleAck(ctx); err != nil {
				log.Warn("ack", "err", err)
			}
			return
		}
	}
	st.Status = StatusRunning
	if err := w.q.putStatus(ctx, st); err != nil {
		w.retry(msg, st, err, log)
		return
	}

	start := time.Now()
	res, err := w.r.Render(ctx, job)
	if w.opt.Metrics != nil {
		w.opt.Metrics.RenderSeconds.Observe(time.Since(start).Seconds())
	}
	if err != nil && hard.Err() != nil {
		// Shutdown grace ran out: hand the job back for another worker.
		st.Status, st.Error = StatusQueued, "handed back at worker shutdown"
		bg, cancelBG := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancelBG()
		w.q.putStatus(bg, st)
		msg.Nak()
		log.Info("job handed back at shutdown")
		return
	}
	if err != nil {
		if IsPermanent(err) {
			reason := ReasonRender
			if errors.As(err, new(report.Errors)) {
				reason = ReasonInvalid
			}
			w.fail(ctx, msg, st, reason, err, log)
		} else {
			w.retry(msg, st, fmt.Errorf("render: %w", err), log)
		}
		return
	}
	if err := w.store(ctx, job, st, res); err != nil {
		w.retry(msg, st, err, log)
		return
	}
	if err := msg.DoubleAck(ctx); err != nil {
		// Stored and recorded done: a redelivery is acknowledged unrendered.
		log.Warn("ack", "err", err)
	}
	if w.opt.Metrics != nil {
		w.opt.Metrics.Jobs.WithLabelValues(StatusDone, "").Inc()
		w.opt.Metrics.JobLatency.Observe(time.Since(meta.Timestamp).Seconds())
	}
	log.Info("job done", "binaries", len(st.Binaries), "warnings", len(st.Warnings), "render", time.Since(start).Round(time.Millisecond))
}

// store writes the renditions, the record, the done status and the event.
func (w *worker) store(ctx context.Context, job *Job, st *JobStatus, res *Rendered) error {
	rec := res.Record
	if rec.ReportID == "" || rec.Version < 1 || rec.PatientID == "" {
		return Permanent(errors.New("renderer returned a record without report id, version or patient"))
	}
	rec.ID = folio.RecordID(rec.ReportID, rec.Version)
	rec.Binaries = nil
	st.Binaries = st.Binaries[:0]
	for _, rd := range res.Renditions {
		b, err := w.q.store.PutBinary(ctx, folio.Binary{
			ID:          folio.BinaryID(rec.ReportID, rec.Version, rd.Output),
			ContentType: rd.ContentType,
			Output:      rd.Output,
			Pages:       rd.Pages,
			Width:       rd.Width,
			Height:      rd.Height,
			JobID:       job.ID,
			ReportID:    rec.ReportID,
			Version:     rec.Version,
			PatientID:   rec.PatientID,
			RecordID:    rec.ID,
		}, rd.Data)
		if err != nil {
			return err
		}
		rec.Binaries = append(rec.Binaries, *b)
		st.Binaries = append(st.Binaries, BinaryRef{ID: b.ID, ContentType: b.ContentType})
	}
	if err := w.q.store.PutRecord(ctx, &rec); err != nil {
		return err
	}
	st.Status = StatusDone
	st.RecordID = rec.ID
	st.Warnings = res.Warnings
	st.Error = ""
	if err := w.q.putStatus(ctx, st); err != nil {
		return err
	}
	return w.q.publishEvent(ctx, st)
}

// fail ends a job as failed and terminates its message.
func (w *worker) fail(ctx context.Context, msg jetstream.Msg, st *JobStatus, reason string, cause error, log *slog.Logger) {
	st.Status, st.Reason, st.Error = StatusFailed, reason, cause.Error()
	st.Binaries, st.Warnings = nil, nil
	if err := w.q.putStatus(ctx, st); err != nil {
		log.Warn("recording failure", "err", err)
		msg.NakWithDelay(w.q.cfg.backoff(st.Deliveries))
		return
	}
	if err := w.q.publishEvent(ctx, st); err != nil {
		log.Warn("publishing failure", "err", err)
	}
	why := st.Error
	if len(why) > 512 {
		why = why[:512] + "..."
	}
	if err := msg.TermWithReason(why); err != nil {
		log.Warn("terminating", "err", err)
	}
	if w.opt.Metrics != nil {
		w.opt.Metrics.Jobs.WithLabelValues(StatusFailed, reason).Inc()
	}
	log.Warn("job failed", "reason", reason, "err", cause)
}

// retry hands a job back after a transient failure, or ends it failed if
// this was its last delivery.
func (w *worker) retry(msg jetstream.Msg, st *JobStatus, cause error, log *slog.Logger) {
	cfg := w.q.cfg
	// The job's own context may be what ran out: record with a fresh one.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if st.Deliveries >= cfg.MaxDeliver {
		w.fail(ctx, msg, st, ReasonExhausted, fmt.Errorf("gave up after %d deliveries: %w", st.Deliveries, cause), log)
		return
	}
	delay := cfg.backoff(st.Deliveries)
	st.Status = StatusQueued
	st.Error = fmt.Sprintf("attempt %d of %d: %v; retrying in %v", st.Deliveries, cfg.MaxDeliver, cause, delay)
	st.Binaries, st.Warnings = nil, nil
	if err := w.q.putStatus(ctx, st); err != nil {
		log.Warn("recording retry", "err", err)
	}
	if err := msg.NakWithDelay(delay); err != nil {
		log.Warn("handing back", "err", err)
	}
	if w.opt.Metrics != nil {
		w.opt.Metrics.Retries.Inc()
	}
	log.Warn("job will be retried", "err", cause, "in", delay)
}

// exhausted handles the server's advisory that a job used up MaxDeliver
// without being acknowledged or terminated (its last worker died): it
// records the job failed and removes it from the stream.
func (w *worker) exhausted(m *nats.Msg) {
	var adv struct {
		StreamSeq  uint64 `json:"stream_seq"`
		Deliveries int    `json:"deliveries"`
	}
	if json.Unmarshal(m.Data, &adv) != nil || adv.StreamSeq == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := w.q.jobs.GetMsg(ctx, adv.StreamSeq)
	if err != nil {
		return // gone already
	}
	job, _ := decodeJob(&rawMsg{raw})
	st := &JobStatus{
		JobID: job.ID, Status: StatusFailed, Reason: ReasonExhausted, Seq: adv.StreamSeq, Deliveries: adv.Deliveries,
		Error: fmt.Sprintf("gave up after %d deliveries: the last one was not finished within the ack wait (%v)", adv.Deliveries, w.q.cfg.AckWait),
	}
	if err := w.q.putStatus(ctx, st); err != nil {
		w.log.Warn("recording exhausted job", "job", job.ID, "err", err)
		return
	}
	if err := w.q.publishEvent(ctx, st); err != nil {
		w.log.Warn("publishing exhausted job", "job", job.ID, "err", err)
	}
	if err := w.q.jobs.DeleteMsg(ctx, adv.StreamSeq); err != nil {
		w.log.Warn("removing exhausted job", "job", job.ID, "err", err)
	}
	if w.opt.Metrics != nil {
		w.opt.Metrics.Jobs.WithLabelValues(StatusFailed, ReasonExhausted).Inc()
	}
	w.log.Warn("job failed", "job", job.ID, "reason", ReasonExhausted, "deliveries", adv.Deliveries)
}

// jobMsg is what decodeJob needs of a message.
type jobMsg interface {
	Data() []byte
	Headers() nats.Header
}

type rawMsg struct{ m *jetstream.RawStreamMsg }

func (r *rawMsg) Data() []byte         { return r.m.Data }
func (r *rawMsg) Headers() nats.Header { return r.m.Header }

// decodeJob parses and checks a job message. The returned job always has an
// id (from the body, the Nats-Msg-Id header, or derived), even with an error.
func decodeJob(m jobMsg) (*Job, error) {
	job := &Job{}
	err := json.Unmarshal(m.Data(), job)
	if job.ID == "" {
		job.ID = m.Headers().Get(jetstream.MsgIDHeader)
	}
	if err != nil {
		if !validJobID(job.ID) {
			job.ID = DefaultJobID(m.Data(), nil)
		}
		return job, Permanent(fmt.Errorf("$: job is not valid JSON: %v", err))
	}
	if job.ID == "" {
		job.ID = DefaultJobID(job.Report, job.Outputs)
	}
	if !validJobID(job.ID) {
		bad := job.ID
		job.ID = DefaultJobID(job.Report, job.Outputs)
		return job, Permanent(fmt.Errorf("jobId: %q is not a valid job id (1-128 characters of A-Z a-z 0-9 _ = - and single inner dots)", bad))
	}
	if len(job.Report) == 0 || string(job.Report) == "null" {
		return job, Permanent(errors.New("report: required"))
	}
	if len(job.Outputs) == 0 {
		job.Outputs = []string{folio.OutputPDF}
	}
	seen := map[string]bool{}
	for i, o := range job.Outputs {
		if o != folio.OutputPDF && o != folio.OutputThumbnail {
			return job, Permanent(fmt.Errorf("outputs[%d]: unknown output %q (want pdf or thumbnail)", i, o))
		}
		if seen[o] {
			return job, Permanent(fmt.Errorf("outputs[%d]: %q listed twice", i, o))
		}
		seen[o] = true
	}
	if t := job.Thumbnail; t != nil {
		if t.Size != 0 && (t.Size < 32 || t.Size > 2048) {
			return job, Permanent(fmt.Errorf("thumbnail.size: %s is outside 32..2048", strconv.Itoa(t.Size)))
		}
		if t.Format != "" && t.Format != "png" && t.Format != "jpeg" {
			return job, Permanent(fmt.Errorf("thumbnail.format: %q is not png or jpeg", t.Format))
		}
	}
	return job, nil
}
