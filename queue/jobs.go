package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// JobQuery selects job statuses for ListJobs.
type JobQuery struct {
	// Failed keeps failed jobs only.
	Failed bool
	// Since keeps statuses last written at or after it (zero: every status
	// still kept, Config.StatusTTL).
	Since time.Time
	// Before continues a listing below this position (a JobPage.Next); 0
	// starts at the most recent status.
	Before uint64
	// Limit is the most jobs returned (50).
	Limit int
	// MaxScan bounds how many stored entries one call examines (5,000),
	// so that a filter that matches little (failed jobs among many done
	// ones) costs a bounded time per call; a page cut short by it has a
	// Next to continue from.
	MaxScan int
}

// JobPage is one page of job statuses, most recently written first.
type JobPage struct {
	Jobs []*JobStatus
	// Next is the Before of the following (older) page, 0 when no older
	// status is left.
	Next uint64
	// Scanned is how many entries were examined; ScannedTo the write time
	// of the oldest of them.
	Scanned   int
	ScannedTo time.Time
}

// ListJobs returns job statuses, the most recently written first. It walks
// the status bucket's stream backwards from its last sequence: each key
// keeps only its latest value, so every entry found is a job's current
// status, and a page costs one lookup per entry examined (superseded
// entries are gaps skipped at the cost of a lookup each). It needs no
// consumer, only message gets on the status bucket's stream.
func (q *Queue) ListJobs(ctx context.Context, jq JobQuery) (*JobPage, error) {
	if jq.Limit <= 0 {
		jq.Limit = 50
	}
	if jq.MaxScan <= 0 {
		jq.MaxScan = 5000
	}
	cctx, cancel := q.cfg.call(ctx)
	stream, err := q.js.Stream(cctx, "KV_"+BucketJobs)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("queue: job statuses: %w", err)
	}
	state := stream.CachedInfo().State
	seq := state.LastSeq
	if jq.Before != 0 && jq.Before-1 < seq {
		seq = jq.Before - 1
	}
	page := &JobPage{}
	prefix := "$KV." + BucketJobs + "."
	for ; seq >= state.FirstSeq && seq > 0; seq-- {
		if len(page.Jobs) >= jq.Limit || page.Scanned >= jq.MaxScan {
			page.Next = seq + 1
			return page, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cctx, cancel := q.cfg.call(ctx)
		msg, err := stream.GetMsg(cctx, seq)
		cancel()
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // superseded by a later write, or expired
		}
		if err != nil {
			return nil, fmt.Errorf("queue: job statuses: %w", err)
		}
		page.Scanned++
		page.ScannedTo = msg.Time
		if !jq.Since.IsZero() && msg.Time.Before(jq.Since) {
			return page, nil // the stream is in time order: the rest is older
		}
		if op := msg.Header.Get("KV-Operation"); op != "" || !strings.HasPrefix(msg.Subject, prefix) {
			continue // a deletion marker
		}
		var st JobStatus
		if json.Unmarshal(msg.Data, &st) != nil {
			continue
		}
		if jq.Failed && st.Status != StatusFailed {
			continue
		}
		page.Jobs = append(page.Jobs, &st)
	}
	return page, nil
}

// Workload is the render consumer's state.
type Workload struct {
	Pending uint64 // jobs waiting in the stream (the queue depth)
	InHand  int    // jobs delivered to a worker and not yet acknowledged
	// Waiting is the number of pull requests waiting for a job: each is an
	// idle worker slot (a slot pulls one job at a time).
	Waiting int
}

// Workload returns the render consumer's state.
func (q *Queue) Workload(ctx context.Context) (Workload, error) {
	if q.consumer == nil {
		return Workload{}, q.errRole("read the render consumer")
	}
	ctx, cancel := q.cfg.call(ctx)
	defer cancel()
	info, err := q.consumer.Info(ctx)
	if err != nil {
		return Workload{}, fmt.Errorf("queue: consumer info: %w", err)
	}
	return Workload{Pending: info.NumPending, InHand: info.NumAckPending, Waiting: info.NumWaiting}, nil
}

// ReportVersion names the report version of a job: its record id once
// done, else the "<report id>-<version>" that a default job id starts with
// ("<report id>-<version>.<outputs>", or with the content digest between
// them), else "" (a job id chosen by its submitter, or an input without a
// usable report id and version).
func (s *JobStatus) ReportVersion() string {
	if s.RecordID != "" {
		return s.RecordID
	}
	id := s.JobID
	if strings.HasPrefix(id, "x-") || strings.HasPrefix(id, "fhir-") {
		return ""
	}
	i := strings.LastIndexByte(id, '.')
	if i <= 0 {
		return ""
	}
	id = id[:i] // drop the outputs
	if j := strings.LastIndexByte(id, '.'); j > 0 && len(id)-j-1 == 16 && isHex(id[j+1:]) {
		id = id[:j] // drop the content digest
	}
	return id
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return s != ""
}
