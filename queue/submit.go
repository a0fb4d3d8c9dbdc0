package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/input"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Submitted is the outcome of publishing one job.
type Submitted struct {
	JobID     string
	Seq       uint64 // stream sequence of the job message
	Duplicate bool   // the server already had this job id within the duplicate window
}

// Submit publishes a job. It fills in the job's Digest (report v1 input
// that decodes) and, for a job without an id, its DefaultID. The job is
// published with Nats-Msg-Id set to its id and is recorded as queued unless
// a worker has already moved it on.
func (q *Queue) Submit(ctx context.Context, job *Job) (*Submitted, error) {
	if _, _, err := job.Input(); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	if kind, data, _ := job.Input(); kind == input.Report {
		digest, r := ContentDigest(data)
		if r != nil && job.Digest == "" {
			job.Digest = digest
		}
		if job.ID == "" {
			job.ID = defaultJobID(data, digest, r, job.Outputs)
		}
	}
	if job.ID == "" {
		job.ID = job.DefaultID()
	}
	if !validJobID(job.ID) {
		return nil, fmt.Errorf("queue: jobId %q: want 1-128 characters of A-Z a-z 0-9 _ = - and single inner dots", job.ID)
	}
	data, err := json.Marshal(job)
	if err != nil {
		return nil, fmt.Errorf("queue: job %s: %w", job.ID, err)
	}
	pctx, cancel := q.cfg.call(ctx)
	ack, err := q.js.Publish(pctx, SubjectJobs, data, jetstream.WithMsgID(job.ID))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("queue: publishing job %s: %w", job.ID, err)
	}
	sub := &Submitted{JobID: job.ID, Seq: ack.Sequence, Duplicate: ack.Duplicate}
	if ack.Duplicate || q.cfg.Role == broker.RoleSubmitter {
		// A submitter may not write statuses: the job has none until a
		// worker takes it.
		return sub, nil
	}
	// Record "queued" unless a worker already wrote this delivery's status
	// (compare-and-set against whatever is there). A new job id (the common
	// case) takes one call.
	st := JobStatus{JobID: job.ID, Status: StatusQueued, Seq: ack.Sequence, Submitted: time.Now().UTC()}
	val := statusData(&st)
	for first := true; ; first = false {
		var rev uint64
		if !first {
			cctx, cancel := q.cfg.call(ctx)
			e, err := q.status.Get(cctx, job.ID)
			cancel()
			if err == nil {
				var old JobStatus
				if json.Unmarshal(e.Value(), &old) == nil && old.Seq >= ack.Sequence {
					return sub, nil
				}
				rev = e.Revision()
			} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
				return sub, fmt.Errorf("queue: job %s status: %w", job.ID, err)
			}
		}
		cctx, cancel := q.cfg.call(ctx)
		if rev == 0 {
			_, err = q.status.Create(cctx, job.ID, val)
		} else {
			_, err = q.status.Update(cctx, job.ID, val, rev)
		}
		cancel()
		if err == nil {
			return sub, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			return sub, fmt.Errorf("queue: job %s status: %w", job.ID, err)
		}
	}
}

// isWrongSequence reports a lost compare-and-set on a KV key.
func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// Waiter collects the outcomes of submitted jobs. Create it with NewWaiter
// before submitting, so that no event is missed.
type Waiter struct {
	q      *Queue
	sub    *nats.Subscription
	events chan *nats.Msg
}

// NewWaiter subscribes to job events. Close it when done.
func (q *Queue) NewWaiter() (*Waiter, error) {
	w := &Waiter{q: q, events: make(chan *nats.Msg, 4096)}
	sub, err := q.nc.ChanSubscribe(SubjectJobEvents, w.events)
	if err != nil {
		return nil, fmt.Errorf("queue: subscribing to job events: %w", err)
	}
	w.sub = sub
	if err := q.nc.Flush(); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("queue: subscribing to job events: %w", err)
	}
	return w, nil
}

// Close ends the event subscription.
func (w *Waiter) Close() error { return w.sub.Unsubscribe() }

// Wait waits until every submitted job has ended or ctx is done, and calls
// done once per job that ended, in the order they end. It returns the jobs
// that had not ended when ctx was done. Events drive it; the status bucket is
// also read at the start and every poll interval, which covers duplicate
// jobs that ended before the wait began and events lost to a reconnect.
func (w *Waiter) Wait(ctx context.Context, jobs []*Submitted, done func(*JobStatus)) []*Submitted {
	const poll = 2 * time.Second
	pending := make(map[string]*Submitted, len(jobs))
	for _, j := range jobs {
		pending[j.JobID] = j
	}
	accept := func(st *JobStatus) {
		j, ok := pending[st.JobID]
		if !ok || !st.Final() {
			return
		}
		if !j.Duplicate && st.Seq != 0 && st.Seq < j.Seq {
			return // the outcome of an earlier submission
		}
		delete(pending, st.JobID)
		done(st)
	}
	check := func() {
		for id := range pending {
			st, err := w.q.Status(ctx, id)
			if err == nil {
				accept(st)
			}
		}
	}
	check()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			var left []*Submitted
			for _, j := range jobs {
				if _, ok := pending[j.JobID]; ok {
					left = append(left, j)
				}
			}
			return left
		case m := <-w.events:
			var st JobStatus
			if json.Unmarshal(m.Data, &st) == nil {
				accept(&st)
			}
		case <-tick.C:
			check()
		}
	}
	return nil
}
