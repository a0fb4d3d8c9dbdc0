// Package store keeps what folio's pipeline produced on NATS JetStream:
// rendered Binaries in an Object Store and per-version report records (what
// DocumentReference and DiagnosticReport are built from) in KV buckets, with
// the indexes the FHIR read side searches. The queue's workers write through
// it and the FHIR endpoint reads through it (as a folio.Store); it renders
// nothing and knows nothing of jobs.
//
// # Layout on the server
//
//	folio-records    KV: record id -> folio.Record
//	folio-index      KV: patient, MRN and accession indexes, versions of each report, content claims
//	folio-binaries   Object Store: Binary id -> bytes + folio.Binary metadata
//
// or the Binaries' bytes in another backend (Config.Binaries: store/s3, an
// S3-compatible bucket), with the same promises (backend.go).
//
// # Contract
//
// A report version is identified by its report id and version number, and
// its content by a digest (report.Digest: SHA-256 of the canonical decoded
// report). The store keeps these promises:
//
//   - One content per version. Claim binds (report id, version) to a digest
//     with a compare-and-set create. The same digest again is idempotent; a
//     different digest is refused with a *ConflictError naming both, and
//     nothing stored changes. Writers claim before they store anything.
//   - A Binary id's bytes never change (PutBinary is create-only, also
//     when writers race), and reading them is verified against their
//     SHA-256: a mismatch is an error before the last byte is handed over.
//   - Every change of a record (superseded, Binary added, entered-in-error)
//     raises its Rev, which the FHIR side serves as meta.versionId and ETag.
//   - A newer version supersedes the older one; a newer version that names
//     another patient than the version before it marks that earlier version
//     entered-in-error instead, and Withdraw marks a report's current version
//     entered-in-error (HL7 v2 result status W/X, FHIR cancelled or
//     entered-in-error). An entered-in-error record leaves its patient's
//     index and is never current; it stays readable by id for audit.
//   - NextVersion gives input adapters whose messages carry no version
//     number a durable content-based one: the first content of a report id
//     is version 1, the same content keeps its version, different content
//     gets the next.
//
// Every call to the server is bounded by Config.CallTimeout, except reading a
// Binary's bytes (OpenBinary), which streams for as long as the caller's
// context allows. A Store is safe for concurrent use.
package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio"
)

// Bucket names.
const (
	BucketRecords  = "folio-records"
	BucketIndex    = "folio-index"
	BucketBinaries = "folio-binaries"
)

// Config sets the store's buckets. Zero fields take the defaults named on
// each field.
type Config struct {
	// Replicas of every bucket (1).
	Replicas int
	// CallTimeout bounds every single KV and Object Store call (10 s).
	CallTimeout time.Duration
	// MaxBinaryBytes bounds the Object Store bucket (-1, unlimited).
	MaxBinaryBytes int64
	// MemoryStorage keeps everything in memory (tests and benchmarks only).
	MemoryStorage bool
	// Binaries keeps the Binaries' bytes in another backend (store/s3)
	// instead of the folio-binaries Object Store (nil). Binaries not found
	// there are still read from the Object Store (see backend.go).
	Binaries Binaries
}

// Store keeps finished Binaries in the folio-binaries Object Store and
// records in the folio-records KV bucket, with a per-patient and per-report
// index in folio-index. It implements folio.Store for the FHIR read side and
// is safe for concurrent use.
//
// Object metadata: "binary" holds the folio.Binary as JSON; "content-type",
// "sha256" (hex), "sha1" (base64, FHIR Attachment.hash), "job-id",
// "report-version" and "patient" repeat its fields for people using the
// nats CLI.
type Store struct {
	records jetstream.KeyValue
	index   jetstream.KeyValue
	objects jetstream.ObjectStore
	js      jetstream.JetStream
	timeout time.Duration // per call
	bin     Binaries      // Config.Binaries: nil for the Object Store
}

// Open creates or updates the store's buckets on js's server and returns a
// Store over them.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	if cfg.MaxBinaryBytes == 0 {
		cfg.MaxBinaryBytes = -1
	}
	storage := jetstream.FileStorage
	if cfg.MemoryStorage {
		storage = jetstream.MemoryStorage
	}
	records, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketRecords,
		Description: "folio report records (DocumentReference/DiagnosticReport) by record id",
		Storage:     storage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", BucketRecords, err)
	}
	index, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketIndex,
		Description: "folio record indexes by patient and by report, content claims",
		Storage:     storage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", BucketIndex, err)
	}
	objects, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      BucketBinaries,
		Description: "folio rendered Binaries",
		Storage:     storage,
		Replicas:    cfg.Replicas,
		MaxBytes:    cfg.MaxBinaryBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", BucketBinaries, err)
	}
	return &Store{records: records, index: index, objects: objects, js: js, timeout: cfg.CallTimeout, bin: cfg.Binaries}, nil
}

// Bind returns a Store over buckets that already exist, creating or
// changing nothing: what a process that may only read them (the NATS api
// role, broker.RoleAPI) uses. Of cfg only CallTimeout counts.
func Bind(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	records, err := js.KeyValue(ctx, BucketRecords)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", BucketRecords, err)
	}
	index, err := js.KeyValue(ctx, BucketIndex)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", BucketIndex, err)
	}
	objects, err := js.ObjectStore(ctx, BucketBinaries)
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", BucketBinaries, err)
	}
	return &Store{records: records, index: index, objects: objects, js: js, timeout: cfg.CallTimeout, bin: cfg.Binaries}, nil
}

// Ready checks that the server answers for the Binaries bucket (and the
// other Binaries backend, if there is one).
func (s *Store) Ready(ctx context.Context) error {
	if s.bin != nil {
		if err := s.bin.Ready(ctx); err != nil {
			return err
		}
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	_, err := s.objects.Status(ctx)
	return err
}

// call bounds ctx for one call to the server.
func (s *Store) call(ctx context.Context) (context.Context, context.CancelFunc) {
	d := s.timeout
	if d <= 0 {
		d = 10 * time.Second
	}
	return context.WithTimeout(ctx, d)
}

var idRe = regexp.MustCompile(`^[A-Za-z0-9_=-][A-Za-z0-9_=.-]{0,127}$`)

// validID reports whether id can be a record or Binary id here (it is a KV
// key or an object name): 1-128 characters of A-Z a-z 0-9 _ = - and single
// inner dots.
func validID(id string) bool {
	return idRe.MatchString(id) && !strings.HasSuffix(id, ".") && !strings.Contains(id, "..")
}

// isWrongSequence reports a lost compare-and-set on a KV key or subject.
func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// PublishAll publishes msgs asynchronously on js and waits, at most
// timeout, until every one is acknowledged as stored.
func PublishAll(ctx context.Context, js jetstream.JetStream, timeout time.Duration, msgs []*nats.Msg) error {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	acks := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			return err
		}
		acks = append(acks, f)
	}
	var first error
	for _, f := range acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			if first == nil {
				first = err
			}
		case <-ctx.Done():
			return fmt.Errorf("waiting for publish acknowledgement: %w", ctx.Err())
		}
	}
	return first
}

var _ folio.Store = (*Store)(nil)

// indexKey helpers: ids are encoded so that any FHIR id is one KV token.
func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
