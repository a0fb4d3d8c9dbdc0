// Package queue is folio's render pipeline on NATS JetStream: it publishes
// render jobs and runs the workers that render them and write the results
// through the store package.
//
// # Layout on the server
//
//	FOLIO_JOBS       stream, work-queue retention, subject folio.jobs.render
//	  render         its one durable pull consumer, shared by every worker
//	FOLIO_EVENTS     stream of folio.events.> (job done / failed), limits retention
//	folio-jobs       KV: job id -> JobStatus
//	folio-profiles   KV: site profile id -> profile.Bundle (JSON), written by the admin role
//	folio-records, folio-index, folio-binaries: the store package's buckets
//
// Every stream and bucket uses file storage and Config.Replicas replicas
// (1 by default; 3 for a cluster, which tolerates the loss of one server).
//
// # Delivery
//
// A job is published with Nats-Msg-Id set to its job id, so a job re-sent
// within the duplicate window (Config.DuplicateWindow, 2 minutes) is stored
// once and rendered once; outside it, the stable Binary ids make a re-render
// find identical bytes already stored and leave them as they are.
//
// Each worker slot pulls one job at a time (no client-side buffering), so a
// job waits in the stream, not in a worker's buffer. A rendered job is
// stored by a separate goroutine while its slot pulls and renders the next
// one. While a job is in hand the worker sends InProgress every AckWait/3,
// so AckWait (30 s) bounds only how long a job held by a dead worker waits
// before it is redelivered. A job is acknowledged only after its Binaries
// and its record are stored (publish acknowledgements received) and its
// final status and event are stored after them. Its status goes from queued
// to done or failed; a render that takes longer than
// WorkerOptions.RunningAfter (1 s) shows as running meanwhile.
//
// Every call to the server (publish, KV and Object Store operations,
// stream and consumer requests, pulls) is bounded by Config.CallTimeout
// (10 s): a request or acknowledgement lost while a server restarts or a
// cluster fails over fails as a transient error instead of holding a
// worker slot. An invalid job or report is terminated at once (status
// failed with the reason, never retried). Any other failure is a transient
// one: the job is handed back with a delay from Config.Backoff (1 s, 5 s,
// 15 s, 30 s) and tried again, at most Config.MaxDeliver (5) times in all;
// the worker that sees the last attempt fail records the job failed and
// terminates it (if it cannot even record that, it leaves the message to
// the server, which gives up on it after the ack wait, as below).
//
// If the last delivery goes to a worker that dies, the server gives up on
// the job at the next pull and publishes a MAX_DELIVERIES advisory; a
// running worker picks it up, records the job failed (unless it was
// recorded done) and removes it from the stream. The advisory is core NATS,
// so a worker also sweeps the stream at start-up and every
// WorkerOptions.SweepEvery: when no job is in hand, any delivered job still
// in the stream is one the server gave up on, and it is ended the same way.
// No job stays silently stuck.
//
// A Binary id's bytes never change: a job that renders different bytes for
// an id already stored (a thumbnail of another size, say) keeps the stored
// Binary and says so in a warning of its result.
//
// # Durability
//
// The embedded server keeps nats-server's default file-store sync policy
// unless broker.ServerConfig.SyncAlways is set (folio serve --sync-always):
// writes reach the operating system before they are acknowledged (they
// survive a folio or nats-server crash) and are fsynced every 2 minutes. A
// machine crash or power loss can lose the last writes; set
// broker.ServerConfig.SyncAlways (fsync before every acknowledgement, at a cost in
// throughput) or run a 3-node cluster with Replicas 3 where that matters.
package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/input"
	"github.com/foliohealth/folio/input/hl7input"
	"github.com/foliohealth/folio/report"
	"github.com/foliohealth/folio/store"
)

// Subjects, stream, consumer and bucket names.
const (
	SubjectJobs       = "folio.jobs.render"
	SubjectJobDone    = "folio.events.job.done"
	SubjectJobFailed  = "folio.events.job.failed"
	SubjectJobEvents  = "folio.events.job.>"
	StreamJobs        = "FOLIO_JOBS"
	StreamEvents      = "FOLIO_EVENTS"
	ConsumerRender    = "render"
	BucketJobs        = "folio-jobs"
	BucketRecords     = store.BucketRecords
	BucketIndex       = store.BucketIndex
	BucketBinaries    = store.BucketBinaries
	subjectMaxDeliver = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + StreamJobs + "." + ConsumerRender
)

// Job statuses.
const (
	StatusQueued  = "queued"
	StatusRunning = "running"
	StatusDone    = "done"
	StatusFailed  = "failed"
)

// Config sets the pipeline's JetStream resources. Zero fields take the
// defaults named on each field. Every process of one deployment should use
// the same Config: Open creates or updates the resources to match it.
type Config struct {
	// Replicas of every stream and bucket: 1 (default) on a single server,
	// 3 in a cluster (R3 tolerates the loss of one server; R2 is not
	// recommended).
	Replicas int
	// AckWait is how long a delivered job may go without an ack or an
	// InProgress heartbeat before the server redelivers it (30 s).
	AckWait time.Duration
	// MaxDeliver bounds the deliveries of one job (5).
	MaxDeliver int
	// Backoff is the delay before retry n (1-based) after a transient
	// failure; the last entry repeats (1 s, 5 s, 15 s, 30 s).
	Backoff []time.Duration
	// DuplicateWindow is how long a job id is remembered for deduplication
	// (2 minutes).
	DuplicateWindow time.Duration
	// StatusTTL is how long job statuses and events are kept (7 days).
	StatusTTL time.Duration
	// JobTimeout bounds one attempt at a job, render and storage together
	// (2 minutes); an attempt that runs out is retried.
	JobTimeout time.Duration
	// CallTimeout bounds every single JetStream, KV and Object Store call
	// (10 s): a request or publish acknowledgement lost across a server
	// restart or failover fails as a transient error (the job is handed back
	// and retried) instead of holding a worker slot until JobTimeout.
	CallTimeout time.Duration
	// MaxBinaryBytes bounds the Object Store bucket (-1, unlimited).
	MaxBinaryBytes int64
	// Binaries keeps the Binaries' bytes in another backend (store/s3)
	// instead of the folio-binaries Object Store (nil); see store.Config.
	Binaries store.Binaries
	// MemoryStorage keeps everything in memory instead of files (tests and
	// benchmarks only: nothing survives a restart).
	MemoryStorage bool
	// Role is the NATS role the connection has (RolePermissions). Empty,
	// broker.RoleAdmin and RoleWorker create or update every resource; RoleAPI
	// binds to the records, index and Binaries only, RoleSubmitter to the
	// job statuses only, and both wait (until Open's context ends) for a
	// worker to have created them. A submitter cannot write statuses: its
	// jobs have none until a worker takes them (Status: folio.ErrNotFound).
	Role broker.Role
}

func (c Config) withDefaults() Config {
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 5
	}
	if len(c.Backoff) == 0 {
		c.Backoff = []time.Duration{time.Second, 5 * time.Second, 15 * time.Second, 30 * time.Second}
	}
	if c.DuplicateWindow <= 0 {
		c.DuplicateWindow = 2 * time.Minute
	}
	if c.StatusTTL <= 0 {
		c.StatusTTL = 7 * 24 * time.Hour
	}
	if c.JobTimeout <= 0 {
		c.JobTimeout = 2 * time.Minute
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 10 * time.Second
	}
	if c.MaxBinaryBytes == 0 {
		c.MaxBinaryBytes = -1
	}
	return c
}

// call returns ctx bounded by CallTimeout, for one JetStream call.
func (c Config) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.CallTimeout)
}

// backoff returns the delay before the retry that follows delivery n.
func (c Config) backoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	if n > len(c.Backoff) {
		n = len(c.Backoff)
	}
	return c.Backoff[n-1]
}

// Job is a render job, the JSON message on folio.jobs.render
// (report-v1.md "The render job").
//
// A job carries its input in exactly one field named after the input's
// kind (input.Kind): "report" (report v1 JSON), "fhir" (FHIR R4 JSON, a
// DiagnosticReport or a Bundle) or "hl7" (one HL7 v2 ORU^R01 message:
// its bytes exactly as received, base64 in the JSON, so that no encoding
// step can change a letter whatever MSH-18 declares). An input that holds
// several reports (a Bundle with several DiagnosticReports) needs "source", the FHIR path of
// the one this job renders (as folio convert and folio submit name it).
//
// Job messages are strict: a field the contract does not name is refused
// (failed, invalid, naming the field), as in reports.
type Job struct {
	ID        string          `json:"jobId,omitempty"`
	Outputs   []string        `json:"outputs,omitempty"`   // default ["pdf"]
	Thumbnail *ThumbSpec      `json:"thumbnail,omitempty"` // for the thumbnail output
	Report    json.RawMessage `json:"report,omitempty"`
	FHIR      json.RawMessage `json:"fhir,omitempty"`
	HL7       []byte          `json:"hl7,omitempty"` // the message's bytes as received (base64 in JSON)
	// HL7Site is the site table an HL7 v2 job was read with (local OBR-24
	// codes, sender defaults, facility names, time zone), so the worker maps
	// the message as the listener did. Absent: the default site.
	HL7Site *hl7input.Site `json:"hl7Site,omitempty"`
	Source  string         `json:"source,omitempty"` // which report of the input
	// Version is the version an intake derived for a report whose input
	// carries none (HL7 v2; see store NextVersion): the worker gives it to
	// the mapped report. Ignored for input that states its version.
	Version int `json:"version,omitempty"`
	// Digest is the content digest of the report (report.Digest of the
	// decoded report), filled in by Submit for report v1 input. A worker
	// recomputes it and refuses a job whose report does not match it.
	Digest string `json:"digest,omitempty"`
	// Profile names the site profile to render with (docs/site-profile-v1.md);
	// empty: the worker chooses by facility, MSH-4, FHIR Organization or the
	// default. An id the worker's profile set lacks fails the job invalid.
	Profile string `json:"profile,omitempty"`
}

// Input returns the job's input kind and payload, or an error when the job
// carries none or more than one.
func (j *Job) Input() (input.Kind, []byte, error) {
	var kinds []input.Kind
	var data []byte
	for _, c := range []struct {
		k input.Kind
		v json.RawMessage
	}{{input.Report, j.Report}, {input.FHIR, j.FHIR}} {
		if len(c.v) > 0 && string(c.v) != "null" {
			kinds, data = append(kinds, c.k), c.v
		}
	}
	if len(j.HL7) > 0 {
		kinds, data = append(kinds, input.HL7), j.HL7
	}
	switch len(kinds) {
	case 0:
		return "", nil, errors.New("report: required (or fhir or hl7: a job carries its input in one of them)")
	case 1:
		return kinds[0], data, nil
	}
	return "", nil, fmt.Errorf("%s: a job carries one input, this one has %d (%v)", kinds[1], len(kinds), kinds)
}

// ThumbSpec selects the thumbnail rendition of a job.
type ThumbSpec struct {
	Size   int    `json:"size,omitempty"`   // longest side in pixels, 32..2048 (256)
	Format string `json:"format,omitempty"` // png (default) or jpeg
}

// BinaryRef names one Binary a job produced.
type BinaryRef struct {
	ID          string `json:"id"`
	ContentType string `json:"contentType"`
}

// JobStatus is the state of one job, kept in the folio-jobs bucket and
// published as the payload of job events.
type JobStatus struct {
	JobID    string      `json:"jobId"`
	Status   string      `json:"status"` // StatusQueued, StatusRunning (renders slower than WorkerOptions.RunningAfter), StatusDone or StatusFailed
	Binaries []BinaryRef `json:"binaries"`
	Warnings []string    `json:"warnings"`
	Error    string      `json:"error,omitempty"`
	Reason   string      `json:"reason,omitempty"` // failures: invalid, conflict, render, exhausted
	Digest   string      `json:"digest,omitempty"` // content digest of the job's report (done and conflict)
	RecordID string      `json:"recordId,omitempty"`
	// Identifier is the report's identifier as sent, when report.Key
	// derived the record's key from it (folio.Record.Identifier).
	Identifier string    `json:"identifier,omitempty"`
	Deliveries int       `json:"deliveries,omitempty"`
	Seq        uint64    `json:"seq,omitempty"`      // stream sequence of the job message
	Submitted  time.Time `json:"submitted,omitzero"` // when the job message was published
	Input      string    `json:"input,omitempty"`    // the job's input kind (input.Kind: report, fhir), once a worker has it
	// Profile and ProfileDigest name the site profile the job was rendered
	// with (none: folio's built-in look).
	Profile       string    `json:"profile,omitempty"`
	ProfileDigest string    `json:"profileDigest,omitempty"`
	Updated       time.Time `json:"updated"`
}

// Final reports whether the job has ended (done or failed).
func (s *JobStatus) Final() bool { return s.Status == StatusDone || s.Status == StatusFailed }

// Failure reasons, the "reason" label of the jobs metric and JobStatus.Reason.
const (
	ReasonInvalid   = "invalid"   // the job or its report breaks the contract
	ReasonConflict  = "conflict"  // the report's id and version are stored with other content
	ReasonRender    = "render"    // the render engine refused a valid report (permanent)
	ReasonExhausted = "exhausted" // transient failures used up MaxDeliver
)

var jobIDRe = regexp.MustCompile(`^[A-Za-z0-9_=-][A-Za-z0-9_=.-]{0,127}$`)

// validJobID reports whether id can be a job id: 1-128 characters of
// A-Z a-z 0-9 _ = - and dots, not starting or ending with a dot, no two
// dots in a row (it is a KV key and a message id).
func validJobID(id string) bool {
	return jobIDRe.MatchString(id) && !strings.HasSuffix(id, ".") && !strings.Contains(id, "..")
}

// DefaultID is the job's default id: DefaultJobID for report v1 input. A
// job whose input is not report v1 (FHIR) gets
// "<kind>-<sha256 prefix of its input and source>.<outputs>": the same
// input is recognised, a changed one is a new job.
func (j *Job) DefaultID() string {
	kind, data, err := j.Input()
	if err != nil || kind == input.Report {
		return DefaultJobID(j.Report, j.Outputs)
	}
	h := sha256.New()
	h.Write([]byte(j.Source))
	h.Write([]byte{0})
	h.Write(data)
	return string(kind) + "-" + hex.EncodeToString(h.Sum(nil)[:8]) + "." + strings.Join(normOutputs(j.Outputs), "-")
}

// DefaultJobID derives a job's id from its report's id, version and content
// digest and its outputs: "<reportId>-<version>.<digest>.<outputs>" with the
// first 16 hex digits of the content digest (ContentDigest), e.g.
// "S26-004512-2.3f1c9a0b7d2e4f60.pdf-thumbnail", so that a re-sent identical
// job is recognised and a different report with the same id and version is
// never taken for it (it gets its own outcome: a conflict, or its own
// error). A report without a usable id or version (which the worker will
// refuse) gets "x-<16 hex digits of its digest>.<outputs>", so different bad
// reports never share a status.
func DefaultJobID(reportJSON []byte, outputs []string) string {
	digest, r := ContentDigest(reportJSON)
	return defaultJobID(reportJSON, digest, r, outputs)
}

// jobKey reports whether a report key can begin a job id: no leading,
// trailing or double dot (a kept key may have one; a derived key never does).
func jobKey(k string) bool {
	return !strings.HasPrefix(k, ".") && !strings.HasSuffix(k, ".") && !strings.Contains(k, "..")
}

func defaultJobID(reportJSON []byte, digest string, r *report.Report, outputs []string) string {
	hexDigest := strings.TrimPrefix(digest, "sha256:")
	if len(hexDigest) > 16 {
		hexDigest = hexDigest[:16]
	}
	base := "x-" + hexDigest
	if r != nil {
		base = folio.RecordID(report.Key(r.ID), r.Version) + "." + hexDigest
	} else {
		// Refused by the decoder: the id and version as written, when usable.
		var head struct {
			ID      string          `json:"id"`
			Version json.RawMessage `json:"version"`
		}
		if json.Unmarshal(reportJSON, &head) == nil && report.CheckIdentifier(head.ID) == nil &&
			jobKey(report.Key(head.ID)) {
			v := 1
			if len(head.Version) > 0 && string(head.Version) != "null" {
				if json.Unmarshal(head.Version, &v) != nil || v < 1 || v > 999999999 {
					v = 0
				}
			}
			if v > 0 {
				base = folio.RecordID(report.Key(head.ID), v) + "." + hexDigest
			}
		}
	}
	return base + "." + strings.Join(normOutputs(outputs), "-")
}

// ContentDigest returns the content digest of a report document and the
// decoded report: report.Digest when it decodes under report.DefaultLimits,
// else "sha256:" and the SHA-256 of its bytes and a nil report.
func ContentDigest(reportJSON []byte) (string, *report.Report) {
	if r, err := report.Decode(reportJSON, report.Limits{}); err == nil {
		return report.Digest(r), r
	}
	sum := sha256.Sum256(reportJSON)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// normOutputs returns outputs sorted and deduplicated, ["pdf"] when empty.
func normOutputs(outputs []string) []string {
	if len(outputs) == 0 {
		return []string{folio.OutputPDF}
	}
	outs := slices.Clone(outputs)
	slices.Sort(outs)
	return slices.Compact(outs)
}

// Queue is a connection to the pipeline's JetStream resources. It is safe
// for concurrent use.
type Queue struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	profiles jetstream.KeyValue // site profiles (worker and admin roles)
	cfg      Config
	jobs     jetstream.Stream
	consumer jetstream.Consumer
	status   jetstream.KeyValue
	store    *store.Store
	versions *store.VersionStore
}

// Open creates or updates the pipeline's streams, consumer and buckets on the
// server behind nc and returns a Queue over them. In a cluster JetStream may
// answer "temporarily unavailable" until it has a leader: Open retries until
// ctx is done.
func Open(ctx context.Context, nc *nats.Conn, cfg Config) (*Queue, error) {
	cfg = cfg.withDefaults()
	// Asynchronous publishes whose acknowledgement is lost (a server
	// restarting) fail after CallTimeout instead of staying pending.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(cfg.CallTimeout))
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	q := &Queue{nc: nc, js: js, cfg: cfg}
	for {
		err = q.setup(ctx)
		if err == nil {
			return q, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("queue: setting up JetStream: %w", err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (q *Queue) setup(ctx context.Context) error {
	switch q.cfg.Role {
	case broker.RoleAPI, broker.RoleSubmitter:
		return q.bind(ctx)
	case "", broker.RoleAdmin, broker.RoleWorker:
	default:
		return fmt.Errorf("unknown role %q", q.cfg.Role)
	}
	cfg := q.cfg
	storage := jetstream.FileStorage
	if cfg.MemoryStorage {
		storage = jetstream.MemoryStorage
	}
	opCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var err error
	q.jobs, err = q.js.CreateOrUpdateStream(opCtx, jetstream.StreamConfig{
		Name:        StreamJobs,
		Description: "folio render jobs",
		Subjects:    []string{SubjectJobs},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     storage,
		Replicas:    cfg.Replicas,
		Duplicates:  cfg.DuplicateWindow,
		Discard:     jetstream.DiscardOld,
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", StreamJobs, err)
	}
	q.consumer, err = q.js.CreateOrUpdateConsumer(opCtx, StreamJobs, jetstream.ConsumerConfig{
		Durable:       ConsumerRender,
		Description:   "folio render workers",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    cfg.MaxDeliver,
		MaxAckPending: 10000,
		Replicas:      cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("consumer %s: %w", ConsumerRender, err)
	}
	_, err = q.js.CreateOrUpdateStream(opCtx, jetstream.StreamConfig{
		Name:        StreamEvents,
		Description: "folio job events",
		Subjects:    []string{"folio.events.>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     storage,
		Replicas:    cfg.Replicas,
		MaxAge:      cfg.StatusTTL,
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", StreamEvents, err)
	}
	q.status, err = q.js.CreateOrUpdateKeyValue(opCtx, jetstream.KeyValueConfig{
		Bucket:      BucketJobs,
		Description: "folio job status by job id",
		TTL:         cfg.StatusTTL,
		Storage:     storage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("bucket %s: %w", BucketJobs, err)
	}
	q.profiles, err = q.js.CreateOrUpdateKeyValue(opCtx, jetstream.KeyValueConfig{
		Bucket:      BucketProfiles,
		Description: "folio site profiles by id (written by the admin role)",
		Storage:     storage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("bucket %s: %w", BucketProfiles, err)
	}
	q.store, err = store.Open(opCtx, q.js, store.Config{
		Replicas: cfg.Replicas, CallTimeout: cfg.CallTimeout,
		MaxBinaryBytes: cfg.MaxBinaryBytes, MemoryStorage: cfg.MemoryStorage,
		Binaries: cfg.Binaries,
	})
	if err != nil {
		return err
	}
	q.versions = q.store.Versions()
	return nil
}

// bind looks up the existing resources that a submitter or the API uses,
// creating nothing.
func (q *Queue) bind(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var err error
	if q.cfg.Role == broker.RoleSubmitter {
		if q.status, err = q.js.KeyValue(ctx, BucketJobs); err != nil {
			return fmt.Errorf("bucket %s: %w", BucketJobs, err)
		}
		q.versions, err = store.BindVersions(ctx, q.js, store.Config{CallTimeout: q.cfg.CallTimeout})
		return err
	}
	q.store, err = store.Bind(ctx, q.js, store.Config{CallTimeout: q.cfg.CallTimeout, Binaries: q.cfg.Binaries})
	return err
}

// errRole is returned by what the queue's role may not do.
func (q *Queue) errRole(what string) error {
	return fmt.Errorf("queue: the %s role cannot %s", q.cfg.Role, what)
}

// Ready checks that the server answers for the queue's resources: the
// render consumer for a worker, the Binaries for the API, the status
// bucket for a submitter.
func (q *Queue) Ready(ctx context.Context) error {
	ctx, cancel := q.cfg.call(ctx)
	defer cancel()
	switch {
	case q.consumer != nil:
		_, err := q.consumer.Info(ctx)
		return err
	case q.store != nil:
		return q.store.Ready(ctx)
	default:
		_, err := q.status.Status(ctx)
		return err
	}
}

// Config returns the configuration in use, defaults filled in.
func (q *Queue) Config() Config { return q.cfg }

// Versions returns what derives report versions from content (for the
// intake of unversioned input), or nil for the API role.
func (q *Queue) Versions() *store.VersionStore { return q.versions }

// Store returns the store of finished Binaries and records (nil for the
// submitter role).
func (q *Queue) Store() *store.Store { return q.store }

// Status returns the status of a job, or folio.ErrNotFound.
func (q *Queue) Status(ctx context.Context, jobID string) (*JobStatus, error) {
	if q.status == nil {
		return nil, q.errRole("read job statuses")
	}
	if !validJobID(jobID) {
		return nil, folio.ErrNotFound
	}
	ctx, cancel := q.cfg.call(ctx)
	defer cancel()
	e, err := q.status.Get(ctx, jobID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, folio.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("queue: job %s status: %w", jobID, err)
	}
	var st JobStatus
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return nil, fmt.Errorf("queue: job %s status: %w", jobID, err)
	}
	return &st, nil
}

// Depth returns the number of jobs waiting and the number delivered but not
// yet acknowledged.
func (q *Queue) Depth(ctx context.Context) (pending, inFlight uint64, err error) {
	if q.consumer == nil {
		return 0, 0, q.errRole("read the render consumer")
	}
	ctx, cancel := q.cfg.call(ctx)
	defer cancel()
	info, err := q.consumer.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("queue: consumer info: %w", err)
	}
	return info.NumPending, uint64(info.NumAckPending), nil
}

// statusData stamps and encodes a job status.
func statusData(st *JobStatus) []byte {
	st.Updated = time.Now().UTC()
	if st.Binaries == nil {
		st.Binaries = []BinaryRef{}
	}
	if st.Warnings == nil {
		st.Warnings = []string{}
	}
	data, _ := json.Marshal(st) // plain data: cannot fail
	return data
}

// putInterimStatus writes a non-final status (queued for a retry, running,
// handed back) unless the job already has a final one: a worker whose call
// outlived a server restart may retry a job that another worker has since
// finished (the restarted server can redeliver a message whose delivery it
// forgot), and its stale "queued" must not replace that "done" or "failed".
// The write is compare-and-set on the entry's revision, so a final status
// written in between is never overwritten either.
func (q *Queue) putInterimStatus(ctx context.Context, st *JobStatus) error {
	ctx, cancel := q.cfg.call(ctx)
	defer cancel()
	for try := 0; try < 3; try++ {
		e, err := q.status.Get(ctx, st.JobID)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			if _, err = q.status.Create(ctx, st.JobID, statusData(st)); err == nil {
				return nil
			}
		case err != nil:
			return fmt.Errorf("queue: job %s status: %w", st.JobID, err)
		default:
			var cur JobStatus
			if json.Unmarshal(e.Value(), &cur) == nil && (cur.Status == StatusDone || cur.Status == StatusFailed) {
				return nil // final: keep it
			}
			if _, err = q.status.Update(ctx, st.JobID, statusData(st), e.Revision()); err == nil {
				return nil
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("queue: job %s status: changed concurrently", st.JobID)
}

// publishEvent publishes a final job status as a done or failed event and
// waits for the events stream to store it.
func (q *Queue) publishEvent(ctx context.Context, st *JobStatus) error {
	ctx, cancel := q.cfg.call(ctx)
	defer cancel()
	data, _ := json.Marshal(st)
	if _, err := q.js.Publish(ctx, eventSubject(st), data); err != nil {
		return fmt.Errorf("queue: job %s event: %w", st.JobID, err)
	}
	return nil
}

func eventSubject(st *JobStatus) string {
	if st.Status == StatusFailed {
		return SubjectJobFailed
	}
	return SubjectJobDone
}

// finalize writes a final job status and publishes its event together (two
// asynchronous publishes, one wait) and returns when both are stored.
func (q *Queue) finalize(ctx context.Context, st *JobStatus, extra ...*nats.Msg) error {
	data := statusData(st)
	msgs := append([]*nats.Msg{
		{Subject: "$KV." + BucketJobs + "." + st.JobID, Data: data},
		{Subject: eventSubject(st), Data: data},
	}, extra...)
	if err := q.publishAll(ctx, msgs); err != nil {
		return fmt.Errorf("queue: job %s status: %w", st.JobID, err)
	}
	return nil
}

// publishAll publishes msgs asynchronously and waits, at most CallTimeout,
// until every one is acknowledged as stored.
func (q *Queue) publishAll(ctx context.Context, msgs []*nats.Msg) error {
	return store.PublishAll(ctx, q.js, q.cfg.CallTimeout, msgs)
}
