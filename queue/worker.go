package queue

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/report"
	"github.com/foliohealth/folio/store"
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
	// ReportJSON is, for an input that was converted (FHIR, HL7 v2), the
	// report v1 JSON it became; the worker
	// stores it as the folio.OutputReportJSON Binary.
	ReportJSON []byte
	// Digest is the content digest of the decoded report (report.Digest).
	// Empty: the worker computes it with ContentDigest.
	Digest string
	// Profile and ProfileDigest name the site profile the renditions were
	// shaped by; empty for folio's built-in look.
	Profile, ProfileDigest string
	// Withdraw, when set, says that the sender withdrew the report (FHIR
	// cancelled or entered-in-error) and why: nothing was rendered, and
	// the worker marks the report's current version entered-in-error
	// (store Withdraw).
	Withdraw string
}

// Rendition is one rendered output.
type Rendition struct {
	Output        string // folio.OutputPDF or folio.OutputThumbnail
	ContentType   string
	Data          []byte
	Pages         int // PDFs
	Width, Height int // thumbnails, pixels
}

// jobError ends a job failed with a reason, without retrying.
type jobError struct {
	reason string
	err    error
}

func (e *jobError) Error() string { return e.err.Error() }
func (e *jobError) Unwrap() error { return e.err }

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
	// Slots is the number of jobs rendered at once (1). Storing a rendered
	// job's results does not hold its slot: up to 2*Slots jobs may be
	// storing while the slots render the next ones.
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
	// RunningAfter is how long a render runs before the job's status is set
	// to running (1 s); quicker jobs go from queued straight to done,
	// which saves a write per job.
	RunningAfter time.Duration
	// SweepEvery is how often the stream is checked for jobs the server
	// gave up on (MaxDeliver reached) while no worker heard its advisory
	// (Config.AckWait); the first check runs at start-up. The check acts
	// only when no job is in hand anywhere (see sweep).
	SweepEvery time.Duration
}

// Work runs worker slots that pull jobs, render them with r and store the
// results, until ctx is done. Then it stops pulling, lets the jobs in hand
// finish (handing back those still running after ShutdownGrace) and
// returns nil.
func (q *Queue) Work(ctx context.Context, r Renderer, opt WorkerOptions) error {
	if q.consumer == nil {
		return q.errRole("consume jobs")
	}
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
	if opt.RunningAfter <= 0 {
		opt.RunningAfter = time.Second
	}
	if opt.SweepEvery <= 0 {
		opt.SweepEvery = q.cfg.AckWait
	}
	w := &worker{q: q, r: r, opt: opt, log: opt.Logger, storing: make(chan struct{}, 2*opt.Slots)}
	sub, err := q.nc.QueueSubscribe(subjectMaxDeliver, "folio-workers", w.exhausted)
	if err != nil {
		return fmt.Errorf("queue: subscribing to max-deliveries advisories: %w", err)
	}
	defer sub.Unsubscribe()
	if err := q.nc.Flush(); err != nil { // subscribed before the first pull
		return fmt.Errorf("queue: subscribing to max-deliveries advisories: %w", err)
	}

	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(opt.ShutdownGrace, cancelHard)
		context.AfterFunc(hard, func() { t.Stop() })
	})
	defer stop()

	var wg sync.WaitGroup
	wg.Go(func() { w.sweeper(ctx) })
	for range opt.Slots {
		wg.Go(func() { w.slot(ctx, hard) })
	}
	wg.Wait()
	w.stores.Wait()
	return nil
}

type worker struct {
	q       *Queue
	r       Renderer
	opt     WorkerOptions
	log     *slog.Logger
	storing chan struct{}  // semaphore of the jobs being stored
	stores  sync.WaitGroup // the goroutines storing jobs
}

// slot pulls and processes one job at a time until ctx is done.
func (w *worker) slot(ctx, hard context.Context) {
	var lastErr time.Time
	for ctx.Err() == nil {
		// The fetch context bounds the pull on the client side too: a pull
		// request lost across a server restart gets no expiry answer.
		fctx, cancel := context.WithTimeout(context.Background(), w.opt.PollWait)
		msg, err := w.q.consumer.Next(jetstream.FetchContext(fctx))
		cancel()
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

// attempt is one delivery of a job being handled.
type attempt struct {
	msg    jetstream.Msg
	meta   *jetstream.MsgMetadata
	ctx    context.Context // bounded by JobTimeout
	cancel context.CancelFunc
	hbDone chan struct{}
	st     *JobStatus
	log    *slog.Logger
	start  time.Time
}

// end stops the attempt's heartbeat and releases its context.
func (a *attempt) end() {
	close(a.hbDone)
	a.cancel()
}

// last reports whether this is the job's last allowed delivery.
func (w *worker) last(a *attempt) bool { return a.st.Deliveries >= w.q.cfg.MaxDeliver }

// process renders one delivery of a job and hands the result to a storing
// goroutine, so that the slot can pull the next job while it is stored.
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
	a := &attempt{msg: msg, meta: meta, hbDone: make(chan struct{}), start: time.Now()}
	a.ctx, a.cancel = context.WithTimeout(hard, cfg.JobTimeout)
	// Keep the job ours while it renders and is stored.
	go func(done <-chan struct{}) {
		t := time.NewTicker(cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				msg.InProgress()
			}
		}
	}(a.hbDone)

	job, jobErr := decodeJob(msg)
	a.st = &JobStatus{JobID: job.ID, Seq: meta.Sequence.Stream, Deliveries: deliveries, Submitted: meta.Timestamp.UTC()}
	if kind, _, err := job.Input(); err == nil {
		a.st.Input = string(kind)
	}
	a.log = w.log.With("job", job.ID, "delivery", deliveries)
	if jobErr != nil {
		w.fail(a, ReasonInvalid, jobErr)
		a.end()
		return
	}
	if deliveries > 1 {
		// A worker that stored everything but died before its ack.
		if old, err := w.q.Status(a.ctx, job.ID); err == nil && old.Status == StatusDone && old.Seq == a.st.Seq {
			msg.Ack()
			a.end()
			return
		}
	}

	// A long render shows as running; a quick one goes straight to done.
	var runMu sync.Mutex
	rendered := false
	runTimer := time.AfterFunc(w.opt.RunningAfter, func() {
		runMu.Lock()
		defer runMu.Unlock()
		if !rendered {
			st := *a.st
			st.Status = StatusRunning
			if err := w.q.putInterimStatus(a.ctx, &st); err != nil {
				a.log.Warn("recording running", "err", err)
			}
		}
	})
	res, err := w.r.Render(a.ctx, job)
	runTimer.Stop()
	runMu.Lock() // a running write in progress lands before what follows
	rendered = true
	runMu.Unlock()
	if w.opt.Metrics != nil {
		w.opt.Metrics.RenderSeconds.Observe(time.Since(a.start).Seconds())
	}
	if err != nil && hard.Err() != nil {
		// Shutdown grace ran out: hand the job back for another worker.
		a.st.Status, a.st.Error = StatusQueued, "handed back at worker shutdown"
		w.q.putInterimStatus(context.Background(), a.st)
		msg.Nak()
		a.log.Info("job handed back at shutdown")
		a.end()
		return
	}
	if err != nil {
		if IsPermanent(err) {
			reason := ReasonRender
			if errors.As(err, new(report.Errors)) {
				reason = ReasonInvalid
			}
			w.fail(a, reason, err)
		} else {
			w.retry(a, fmt.Errorf("render: %w", err))
		}
		a.end()
		return
	}
	w.storing <- struct{}{}
	w.stores.Go(func() {
		defer func() { <-w.storing }()
		defer a.end()
		w.finish(a, job, res)
	})
}

// finish stores a rendered job and acknowledges it.
func (w *worker) finish(a *attempt, job *Job, res *Rendered) {
	if err := w.store(a.ctx, job, a.st, res); err != nil {
		var je *jobError
		if errors.As(err, &je) {
			w.fail(a, je.reason, je.err)
		} else {
			w.retry(a, err)
		}
		return
	}
	// Everything is stored: a lost ack only means a redelivery, which finds
	// the done status of this message and is acknowledged unrendered.
	if err := a.msg.Ack(); err != nil {
		a.log.Warn("ack", "err", err)
	}
	if w.opt.Metrics != nil {
		w.opt.Metrics.Jobs.WithLabelValues(StatusDone, "").Inc()
		w.opt.Metrics.JobLatency.Observe(time.Since(a.meta.Timestamp).Seconds())
	}
	a.log.Info("job done", "binaries", len(a.st.Binaries), "warnings", len(a.st.Warnings), "took", time.Since(a.start).Round(time.Millisecond))
}

// store writes the renditions and the record, then the done status and
// event. Each write is bounded by Config.CallTimeout.
func (w *worker) store(ctx context.Context, job *Job, st *JobStatus, res *Rendered) error {
	if res.Withdraw != "" {
		return w.withdraw(ctx, job, st, res)
	}
	rec := res.Record
	if rec.ReportID == "" || rec.Version < 1 || rec.PatientID == "" {
		return Permanent(errors.New("renderer returned a record without report id, version or patient"))
	}
	rec.ID = folio.RecordID(rec.ReportID, rec.Version)
	rec.Binaries = nil
	rec.Digest = res.Digest
	if rec.Digest == "" {
		_, data, _ := job.Input()
		rec.Digest, _ = ContentDigest(data)
	}
	st.Digest = rec.Digest
	st.Profile, st.ProfileDigest = res.Profile, res.ProfileDigest
	if job.Digest != "" && job.Digest != rec.Digest {
		return &jobError{ReasonInvalid, fmt.Errorf("digest: the job says %s, but its report's content digest is %s", job.Digest, rec.Digest)}
	}
	// One content per report version: claimed before anything is stored,
	// so a conflicting job changes nothing.
	if err := w.q.store.Claim(ctx, rec.ReportID, rec.Version, rec.Digest); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &jobError{ReasonConflict, err}
		}
		return err
	}
	// The renditions are stored concurrently.
	stored := make([]*folio.Binary, len(res.Renditions))
	errs := make([]error, len(res.Renditions))
	var wg sync.WaitGroup
	for i, rd := range res.Renditions {
		put := func() {
			stored[i], errs[i] = w.q.store.PutBinary(ctx, folio.Binary{
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
				Digest:      rec.Digest,
			}, rd.Data)
		}
		if i == len(res.Renditions)-1 {
			put()
		} else {
			wg.Go(put)
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if res.ReportJSON != nil {
		// What a converted input became, kept beside the renditions but
		// not among the record's Binaries (not a rendition of the report).
		if _, err := w.q.store.PutBinary(ctx, folio.Binary{
			ID: folio.BinaryID(rec.ReportID, rec.Version, folio.OutputReportJSON), ContentType: "application/json",
			Output: folio.OutputReportJSON, JobID: job.ID, ReportID: rec.ReportID, Version: rec.Version,
			PatientID: rec.PatientID, RecordID: rec.ID,
		}, res.ReportJSON); err != nil {
			return err
		}
	}
	warnings := slices.Clone(res.Warnings)
	st.Binaries = st.Binaries[:0]
	for i, b := range stored {
		rd := res.Renditions[i]
		if sum := sha256.Sum256(rd.Data); hex.EncodeToString(sum[:]) != b.SHA256 {
			// A Binary id's bytes never change (PutBinary keeps them).
			what := "different bytes"
			if rd.Output == folio.OutputThumbnail {
				what = "other options"
			}
			warnings = append(warnings, fmt.Sprintf("%s already stored with %s; kept the stored one (Binary %s)", rd.Output, what, b.ID))
		}
		rec.Binaries = append(rec.Binaries, *b)
		st.Binaries = append(st.Binaries, BinaryRef{ID: b.ID, ContentType: b.ContentType})
	}
	if err := w.q.store.PutRecord(ctx, &rec); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &jobError{ReasonConflict, err}
		}
		return err
	}
	st.Status = StatusDone
	st.RecordID = rec.ID
	st.Identifier = rec.Identifier
	st.Warnings = warnings
	st.Error = ""
	return w.q.finalize(ctx, st)
}

// withdraw marks the current version of a report its sender withdrew
// entered-in-error (store Withdraw) and ends the job done without
// Binaries, saying what it did. A report with no stored version has
// nothing to withdraw: the job ends done and says so.
//
// An HL7 v2 withdrawal names the version it withdraws (the newest the
// intake had seen when it arrived; HL7 messages carry no version): that
// version is withdrawn, not a later one, and while its record is not
// stored yet (its job still queued or rendering) the withdrawal is
// retried, so that a withdrawal sent right after the report is not lost.
func (w *worker) withdraw(ctx context.Context, job *Job, st *JobStatus, res *Rendered) error {
	warnings := slices.Clone(res.Warnings)
	version := 0
	if len(job.HL7) > 0 {
		version = job.Version
	}
	rec, err := w.q.store.WithdrawVersion(ctx, res.Record.ReportID, version, res.Withdraw)
	switch {
	case errors.Is(err, folio.ErrNotFound) && version > 0:
		return fmt.Errorf("withdrawing version %d of report %s: that version is not stored yet (its job is still queued or rendering); tried again later", version, res.Record.ReportID)
	case errors.Is(err, folio.ErrNotFound):
		warnings = append(warnings, fmt.Sprintf("report %s %s, but no version of it is stored: nothing to withdraw", res.Record.ReportID, res.Withdraw))
		st.RecordID = ""
	case err != nil:
		return err
	default:
		warnings = append(warnings, fmt.Sprintf("report %s %s: its current version %s is marked entered-in-error", res.Record.ReportID, res.Withdraw, rec.ID))
		st.RecordID = rec.ID
		st.Identifier = rec.Identifier
	}
	st.Status = StatusDone
	st.Binaries = st.Binaries[:0]
	st.Warnings = warnings
	st.Error = ""
	return w.q.finalize(ctx, st)
}

// fail ends a job as failed: it records the failure and its event and
// terminates the message. If the failure cannot be recorded the job is
// handed back; on its last delivery it is left to run out its ack wait,
// after which the server gives up on it and the max-deliveries advisory
// (or the sweep) records the failure.
func (w *worker) fail(a *attempt, reason string, cause error) {
	st := a.st
	st.Status, st.Reason, st.Error = StatusFailed, reason, cause.Error()
	st.Binaries, st.Warnings = nil, nil
	// The attempt's own context may be what ran out: record with a fresh one.
	if err := w.q.finalize(context.Background(), st); err != nil {
		if w.last(a) {
			a.log.Warn("recording failure; left to the max-deliveries sweep", "err", err)
		} else {
			a.log.Warn("recording failure; handed back", "err", err)
			a.msg.NakWithDelay(w.q.cfg.backoff(st.Deliveries))
		}
		return
	}
	why := st.Error
	if len(why) > 512 {
		why = why[:512] + "..."
	}
	if err := a.msg.TermWithReason(why); err != nil {
		a.log.Warn("terminating", "err", err)
	}
	if w.opt.Metrics != nil {
		w.opt.Metrics.Jobs.WithLabelValues(StatusFailed, reason).Inc()
	}
	a.log.Warn("job failed", "reason", reason, "err", cause)
}

// retry hands a job back after a transient failure, or ends it failed if
// this was its last delivery.
func (w *worker) retry(a *attempt, cause error) {
	cfg := w.q.cfg
	st := a.st
	if w.last(a) {
		w.fail(a, ReasonExhausted, fmt.Errorf("gave up after %d deliveries: %w", st.Deliveries, cause))
		return
	}
	delay := cfg.backoff(st.Deliveries)
	st.Status = StatusQueued
	st.Error = fmt.Sprintf("attempt %d of %d: %v; retrying in %v", st.Deliveries, cfg.MaxDeliver, cause, delay)
	st.Binaries, st.Warnings = nil, nil
	if err := w.q.putInterimStatus(context.Background(), st); err != nil {
		a.log.Warn("recording retry", "err", err)
	}
	if err := a.msg.NakWithDelay(delay); err != nil {
		a.log.Warn("handing back", "err", err)
	}
	if w.opt.Metrics != nil {
		w.opt.Metrics.Retries.Inc()
	}
	a.log.Warn("job will be retried", "err", cause, "in", delay)
}

// exhausted handles the server's advisory that a job used up MaxDeliver
// without being acknowledged or terminated (its last worker died, or could
// not record its failure).
func (w *worker) exhausted(m *nats.Msg) {
	var adv struct {
		StreamSeq  uint64 `json:"stream_seq"`
		Deliveries int    `json:"deliveries"`
	}
	if json.Unmarshal(m.Data, &adv) != nil || adv.StreamSeq == 0 {
		return
	}
	w.giveUp(context.Background(), adv.StreamSeq, adv.Deliveries)
}

// sweeper runs sweep at start-up and every SweepEvery until ctx is done.
func (w *worker) sweeper(ctx context.Context) {
	t := time.NewTicker(w.opt.SweepEvery)
	defer t.Stop()
	for {
		if err := w.sweep(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("sweeping exhausted jobs", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweep ends the jobs the server gave up on while no worker heard the
// max-deliveries advisory (the server sends it when it would deliver the job
// again, that is at some worker's pull, and a worker that pulled may die
// before it hears it). On the work-queue stream, a job that has been
// delivered (at or below the consumer's delivered sequence) and is still
// there is either in hand (ack pending) or exhausted; the server does not
// say which job is which, so sweep acts only when nothing is in hand: at
// start-up and whenever the queue is quiet.
func (w *worker) sweep(ctx context.Context) error {
	cctx, cancel := w.q.cfg.call(ctx)
	defer cancel()
	ci, err := w.q.consumer.Info(cctx)
	if err != nil {
		return err
	}
	if ci.NumAckPending > 0 {
		return nil
	}
	si, err := w.q.jobs.Info(cctx)
	if err != nil {
		return err
	}
	last := ci.Delivered.Stream
	for seq := si.State.FirstSeq; si.State.Msgs > 0 && seq > 0 && seq <= last; {
		raw, err := w.q.jobs.GetMsg(cctx, seq, jetstream.WithGetMsgSubject(SubjectJobs))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if raw.Sequence > last {
			return nil
		}
		w.giveUp(ctx, raw.Sequence, w.q.cfg.MaxDeliver)
		seq = raw.Sequence + 1
	}
	return nil
}

// giveUp records the job at stream sequence seq failed (unless it was
// already recorded done) and removes it from the stream.
func (w *worker) giveUp(ctx context.Context, seq uint64, deliveries int) {
	cctx, cancel := w.q.cfg.call(ctx)
	raw, err := w.q.jobs.GetMsg(cctx, seq)
	cancel()
	if err != nil {
		return // gone already
	}
	job, _ := decodeJob(&rawMsg{raw})
	log := w.log.With("job", job.ID, "seq", seq)
	old, err := w.q.Status(ctx, job.ID)
	switch {
	case err == nil && old.Seq > seq:
		// A later submission of the same job id owns the status.
	case err == nil && old.Seq == seq && old.Final():
		// Recorded already (done, but its ack was lost).
	default:
		st := &JobStatus{
			JobID: job.ID, Status: StatusFailed, Reason: ReasonExhausted, Seq: seq, Deliveries: deliveries,
			Error: fmt.Sprintf("gave up after %d deliveries: the last one was not finished within the ack wait (%v)", deliveries, w.q.cfg.AckWait),
		}
		if err == nil && old.Seq == seq && old.Error != "" {
			st.Error += "; before that: " + old.Error
		}
		if err := w.q.finalize(ctx, st); err != nil {
			log.Warn("recording exhausted job", "err", err)
			return // the next sweep tries again
		}
		if w.opt.Metrics != nil {
			w.opt.Metrics.Jobs.WithLabelValues(StatusFailed, ReasonExhausted).Inc()
		}
		log.Warn("job failed", "reason", ReasonExhausted, "deliveries", deliveries)
	}
	cctx, cancel = w.q.cfg.call(ctx)
	defer cancel()
	if err := w.q.jobs.DeleteMsg(cctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		log.Warn("removing exhausted job", "err", err)
	}
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
// id, even with an error: the one the sender gave (jobId, else the
// Nats-Msg-Id header) when it is valid; else, for a job refused here, one
// derived from the digest of the whole message (refusedJobID), so that
// different bad jobs never share a status (they may carry the same
// report); else the job's DefaultID.
func decodeJob(m jobMsg) (*Job, error) {
	job, err := checkJob(m)
	switch {
	case err != nil && !validJobID(job.ID):
		job.ID = refusedJobID(m.Data())
	case err == nil && job.ID == "":
		job.ID = job.DefaultID()
	}
	return job, err
}

// refusedJobID is the status key of a job message refused before its
// report is looked at, when it names no valid job id of its own.
func refusedJobID(msg []byte) string {
	sum := sha256.Sum256(msg)
	return "x-" + hex.EncodeToString(sum[:8])
}

// checkJob is decodeJob's checks; job.ID is left as the sender gave it
// (possibly empty or invalid).
func checkJob(m jobMsg) (*Job, error) {
	job := &Job{}
	err := json.Unmarshal(m.Data(), job)
	if job.ID == "" {
		job.ID = m.Headers().Get(jetstream.MsgIDHeader)
	}
	if err != nil {
		if hl7Text(m.Data()) {
			return job, Permanent(errors.New(`hl7: not base64: a job carries the HL7 v2 message as its bytes, base64, not as text (report-v1.md, "Jobs carrying HL7 v2")`))
		}
		return job, Permanent(fmt.Errorf("$: job is not valid JSON: %v", err))
	}
	if field := unknownJobField(m.Data()); field != "" {
		return job, Permanent(fmt.Errorf("%s: unknown field", field))
	}
	if job.ID != "" && !validJobID(job.ID) {
		return job, Permanent(fmt.Errorf("jobId: %q is not a valid job id (1-128 characters of A-Z a-z 0-9 _ = - and single inner dots)", job.ID))
	}
	if _, _, err := job.Input(); err != nil {
		return job, Permanent(err)
	}
	if job.Version < 0 || job.Version > 999999999 {
		return job, Permanent(fmt.Errorf("version: %d is not an integer from 1 to 999999999", job.Version))
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

// hl7Text reports whether a job message's "hl7" is a JSON string that is
// not base64: the message as text, as jobs carried it before issue 18 (a
// JSON string holds only UTF-8, so a message in another character set lost
// its letters on the way).
func hl7Text(data []byte) bool {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return false
	}
	var s string
	if raw, ok := top["hl7"]; !ok || json.Unmarshal(raw, &s) != nil {
		return false
	}
	_, err := base64.StdEncoding.DecodeString(s)
	return err != nil
}

// jobFields are the fields of a job message (report-v1.md, "The render job").
var jobFields = map[string]bool{"jobId": true, "outputs": true, "thumbnail": true, "report": true, "fhir": true, "hl7": true,
	"source": true, "version": true, "digest": true, "profile": true}

// unknownJobField returns the path of the first field of a job message (a
// JSON object) that the contract does not name, or "". Like report fields,
// an unknown job field is an integration mistake ("outputs" misspelt,
// "jobID") that must not be ignored silently.
func unknownJobField(data []byte) string {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return ""
	}
	var unknown []string
	for k := range top {
		if !jobFields[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return jsonName(unknown[0])
	}
	if raw, ok := top["thumbnail"]; ok {
		var th map[string]json.RawMessage
		if json.Unmarshal(raw, &th) == nil {
			var keys []string
			for k := range th {
				if k != "size" && k != "format" {
					keys = append(keys, k)
				}
			}
			if len(keys) > 0 {
				slices.Sort(keys)
				return "thumbnail." + jsonName(keys[0])
			}
		}
	}
	return ""
}

var plainName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// jsonName writes a field name for a path: as it is when plain, quoted
// (and shortened) otherwise, so a hostile name never makes an error unreadable.
func jsonName(k string) string {
	if plainName.MatchString(k) {
		return k
	}
	if len(k) > 40 {
		k = k[:40] + "..."
	}
	return "[" + strconv.Quote(k) + "]"
}
