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
// S3-compatible bucket), with the same promises (binaries.go).
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
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

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
	// there are still read from the Object Store (see binaries.go).
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
// role, queue.RoleAPI) uses. Of cfg only CallTimeout counts.
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

func patientKey(patientID, recordID string) string {
	return "patient." + enc(patientID) + "." + enc(recordID)
}

// versionsKey holds the sorted versions of a report that have records.
func versionsKey(reportID string) string { return "versions." + enc(reportID) }

// addVersion adds a version to a report's versions key (compare-and-set)
// and returns the versions.
func (s *Store) addVersion(ctx context.Context, reportID string, version int) ([]int, error) {
	key := versionsKey(reportID)
	// The first version of a report (the common case) needs one call.
	data, _ := json.Marshal([]int{version})
	cctx, cancel := s.call(ctx)
	_, err := s.index.Create(cctx, key, data)
	cancel()
	if err == nil {
		return []int{version}, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
		return nil, fmt.Errorf("store: versions of report %s: %w", reportID, err)
	}
	for {
		var versions []int
		var rev uint64
		cctx, cancel := s.call(ctx)
		e, err := s.index.Get(cctx, key)
		cancel()
		if err == nil {
			if err := json.Unmarshal(e.Value(), &versions); err != nil {
				return nil, fmt.Errorf("store: versions of report %s: %w", reportID, err)
			}
			rev = e.Revision()
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, fmt.Errorf("store: versions of report %s: %w", reportID, err)
		}
		if slices.Contains(versions, version) {
			return versions, nil
		}
		versions = append(versions, version)
		slices.Sort(versions)
		data, _ := json.Marshal(versions)
		cctx, cancel = s.call(ctx)
		if rev == 0 {
			_, err = s.index.Create(cctx, key, data)
		} else {
			_, err = s.index.Update(cctx, key, data, rev)
		}
		cancel()
		if err == nil {
			return versions, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			return nil, fmt.Errorf("store: versions of report %s: %w", reportID, err)
		}
	}
}

// Record returns the record with the given id, or folio.ErrNotFound.
func (s *Store) Record(ctx context.Context, id string) (*folio.Record, error) {
	rec, _, err := s.record(ctx, id)
	return rec, err
}

func (s *Store) record(ctx context.Context, id string) (*folio.Record, uint64, error) {
	if !validID(id) {
		return nil, 0, folio.ErrNotFound
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	e, err := s.records.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return nil, 0, folio.ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("store: record %s: %w", id, err)
	}
	var rec folio.Record
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return nil, 0, fmt.Errorf("store: record %s: %w", id, err)
	}
	return &rec, e.Revision(), nil
}

// RecordsByPatient returns every record of a patient, oldest first (by
// issued time, then id), except those entered in error.
func (s *Store) RecordsByPatient(ctx context.Context, patientID string) ([]*folio.Record, error) {
	keys, err := s.listKeys(ctx, "patient."+enc(patientID)+".>")
	if err != nil {
		return nil, fmt.Errorf("store: records of patient %s: %w", patientID, err)
	}
	var recs []*folio.Record
	for _, k := range keys {
		raw, err := base64.RawURLEncoding.DecodeString(k[strings.LastIndexByte(k, '.')+1:])
		if err != nil {
			continue
		}
		rec, err := s.Record(ctx, string(raw))
		if errors.Is(err, folio.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if rec.PatientID != patientID || rec.EnteredInError != "" {
			continue // being unindexed
		}
		recs = append(recs, rec)
	}
	slices.SortFunc(recs, func(a, b *folio.Record) int {
		if c := a.Issued.Compare(b.Issued); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return recs, nil
}

func (s *Store) listKeys(ctx context.Context, filter string) ([]string, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	l, err := s.index.ListKeysFiltered(ctx, filter)
	if err != nil {
		return nil, err
	}
	var keys []string
	for k := range l.Keys() {
		keys = append(keys, k)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err() // the listing may have been cut short
	}
	return keys, nil
}

// BinaryInfo returns a Binary's metadata, or folio.ErrNotFound.
func (s *Store) BinaryInfo(ctx context.Context, id string) (*folio.Binary, error) {
	if s.bin != nil {
		return s.infoFallback(ctx, id)
	}
	if !validID(id) {
		return nil, folio.ErrNotFound
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	info, err := s.objects.GetInfo(ctx, id)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, folio.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: binary %s: %w", id, err)
	}
	return binaryFromInfo(info)
}

// objectInfo returns the Object Store's info of a Binary.
func (s *Store) objectInfo(ctx context.Context, id string) (*jetstream.ObjectInfo, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	return s.objects.GetInfo(ctx, id)
}

func binaryFromInfo(info *jetstream.ObjectInfo) (*folio.Binary, error) {
	var b folio.Binary
	if err := json.Unmarshal([]byte(info.Metadata["binary"]), &b); err != nil {
		return nil, fmt.Errorf("store: binary %s: metadata: %w", info.Name, err)
	}
	if b.Size != int64(info.Size) {
		return nil, fmt.Errorf("store: binary %s: metadata says %d bytes, object has %d", info.Name, b.Size, info.Size)
	}
	return &b, nil
}

// ErrIntegrity is returned (wrapped) by a Binary reader whose bytes do not
// match the Binary's size and SHA-256.
var ErrIntegrity = errors.New("stored bytes do not match their digest")

// OpenBinary returns a Binary's metadata and a reader of its bytes, or
// folio.ErrNotFound. The reader checks the bytes against the Binary's size
// and SHA-256 as they pass: the read that would hand over the last bytes
// returns an error wrapping ErrIntegrity instead when they do not match, so a
// caller that forwards what it reads never forwards a complete wrong body.
// The caller closes it.
func (s *Store) OpenBinary(ctx context.Context, id string) (*folio.Binary, io.ReadCloser, error) {
	if s.bin != nil {
		return s.openFallback(ctx, id)
	}
	if !validID(id) {
		return nil, nil, folio.ErrNotFound
	}
	res, err := s.objects.Get(ctx, id)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, nil, folio.ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: binary %s: %w", id, err)
	}
	info, err := res.Info()
	if err != nil {
		res.Close()
		return nil, nil, fmt.Errorf("store: binary %s: %w", id, err)
	}
	b, err := binaryFromInfo(info)
	if err != nil {
		res.Close()
		return nil, nil, err
	}
	return b, &verifiedReader{rc: res, h: sha256.New(), size: b.Size, want: b.SHA256, id: id}, nil
}

// verifiedReader hashes what passes and withholds the last bytes of a
// Binary whose digest does not match.
type verifiedReader struct {
	rc      io.ReadCloser
	h       hash.Hash
	n, size int64
	want    string // hex SHA-256
	id      string
	err     error
}

func (v *verifiedReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.n == v.size {
		return 0, io.EOF
	}
	n, err := v.rc.Read(p)
	if int64(n) > v.size-v.n {
		v.err = fmt.Errorf("store: binary %s: more than its %d bytes: %w", v.id, v.size, ErrIntegrity)
		return 0, v.err
	}
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.n == v.size {
		if hex.EncodeToString(v.h.Sum(nil)) != v.want {
			v.err = fmt.Errorf("store: binary %s: SHA-256 differs from its metadata: %w", v.id, ErrIntegrity)
			return 0, v.err // the last bytes are withheld
		}
		return n, nil
	}
	if err == io.EOF {
		v.err = fmt.Errorf("store: binary %s: %d of its %d bytes: %w", v.id, v.n, v.size, ErrIntegrity)
		return n, v.err
	}
	return n, err
}

func (v *verifiedReader) Close() error { return v.rc.Close() }

// PutBinary stores the bytes of a rendition under b.ID, filling in b's size,
// digests and creation time. A Binary id's bytes never change: if the id
// already holds bytes, nothing is written and the stored Binary (with its
// original digests, creation time and job) is returned, so re-rendering a
// report is idempotent. A caller that needs to know whether the stored bytes
// differ from data compares the returned SHA256 with data's.
func (s *Store) PutBinary(ctx context.Context, b folio.Binary, data []byte) (*folio.Binary, error) {
	if s.bin != nil {
		return s.bin.PutBinary(ctx, b, data)
	}
	sum256 := sha256.Sum256(data)
	sum1 := sha1.Sum(data)
	b.Size = int64(len(data))
	b.SHA256 = hex.EncodeToString(sum256[:])
	b.SHA1 = base64.StdEncoding.EncodeToString(sum1[:])
	if b.Created.IsZero() {
		b.Created = time.Now().UTC().Truncate(time.Millisecond)
	}
	meta, err := json.Marshal(&b)
	if err != nil {
		return nil, err
	}
	md := map[string]string{
		"binary":         string(meta),
		"content-type":   b.ContentType,
		"sha256":         b.SHA256,
		"sha1":           b.SHA1,
		"job-id":         b.JobID,
		"report-version": strconv.Itoa(b.Version),
		"patient":        b.PatientID,
	}
	created, err := s.createObject(ctx, b.ID, b.Output+" of "+b.RecordID, md, data, sum256[:], 0)
	if err != nil {
		return nil, fmt.Errorf("store: storing binary %s: %w", b.ID, err)
	}
	if !created {
		// Another job stored this id first (or a deleted object keeps
		// its name): what is there stays, if it is whole. An object left
		// without all its chunks by a server crash is replaced: a Binary
		// id's bytes are deterministic, so this does not change what the
		// id means.
		//
		// The replacement is compare-and-set on the broken object's info
		// message: of two workers repairing the same object one wins, and
		// the other removes only its own chunks and keeps the winner's
		// object (it never purges what another worker stored).
		if oi, err := s.objectInfo(ctx, b.ID); err == nil {
			if ok, err := s.whole(ctx, oi); err != nil {
				return nil, fmt.Errorf("store: checking binary %s: %w", b.ID, err)
			} else if !ok {
				seq, nuid, err := s.lastInfo(ctx, b.ID)
				if err != nil {
					return nil, fmt.Errorf("store: checking binary %s: %w", b.ID, err)
				}
				if nuid == oi.NUID { // still the broken one
					if created, err = s.createObject(ctx, b.ID, b.Output+" of "+b.RecordID, md, data, sum256[:], seq); err != nil {
						return nil, fmt.Errorf("store: storing binary %s: %w", b.ID, err)
					}
					if created {
						s.purge(ctx, "$O."+BucketBinaries+".C."+oi.NUID)
					}
				}
			}
		}
	}
	if !created {
		old, err := s.BinaryInfo(ctx, b.ID)
		if err == nil {
			return old, nil
		}
		if !errors.Is(err, folio.ErrNotFound) {
			return nil, err
		}
		// Only the deletion marker of an object removed by hand is there.
		pctx, cancel := s.call(ctx)
		defer cancel()
		if _, err := s.objects.Put(pctx, jetstream.ObjectMeta{Name: b.ID, Description: b.Output + " of " + b.RecordID, Metadata: md}, bytes.NewReader(data)); err != nil {
			return nil, fmt.Errorf("store: storing binary %s: %w", b.ID, err)
		}
	}
	return &b, nil
}

// objectChunkSize is the Object Store's chunk size (nats.go's default).
const objectChunkSize = 128 * 1024

// createObject stores data as a new object of the Binaries bucket, in the
// Object Store's own format (chunks on $O.<bucket>.C.<nuid>, then the
// object's info on $O.<bucket>.M.<name>), published only if the name has
// no info yet (expected last subject sequence 0). It returns false, having
// removed its chunks, if the name is taken. Unlike ObjectStore.Put this
// never replaces an object, even when two workers race, and it costs two
// round trips instead of three to four.
//
// With replaceSeq > 0 the info is published only if the name's last info
// message is still at that stream sequence: it replaces that object and
// nothing stored since.
func (s *Store) createObject(ctx context.Context, name, desc string, md map[string]string, data, sum256 []byte, replaceSeq uint64) (bool, error) {
	id := nuid.Next()
	chunkSubj := "$O." + BucketBinaries + ".C." + id
	reconnects := s.js.Conn().Stats().Reconnects
	var msgs []*nats.Msg
	for off := 0; off < len(data) || off == 0; off += objectChunkSize {
		end := min(off+objectChunkSize, len(data))
		msgs = append(msgs, &nats.Msg{Subject: chunkSubj, Data: data[off:end]})
		if end == len(data) {
			break
		}
	}
	chunks := len(msgs)
	if len(data) == 0 {
		msgs, chunks = nil, 0
	}
	if err := PublishAll(ctx, s.js, s.timeout, msgs); err != nil {
		s.purge(ctx, chunkSubj)
		return false, err
	}
	info := jetstream.ObjectInfo{
		ObjectMeta: jetstream.ObjectMeta{
			Name: name, Description: desc, Metadata: md,
			Opts: &jetstream.ObjectMetaOptions{ChunkSize: objectChunkSize},
		},
		Bucket: BucketBinaries,
		NUID:   id,
		Size:   uint64(len(data)),
		Chunks: uint32(chunks),
		Digest: "SHA-256=" + base64.URLEncoding.EncodeToString(sum256),
	}
	infoData, err := json.Marshal(&info)
	if err != nil {
		return false, err
	}
	m := &nats.Msg{
		Subject: "$O." + BucketBinaries + ".M." + base64.URLEncoding.EncodeToString([]byte(name)),
		Data:    infoData,
		Header:  nats.Header{},
	}
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(replaceSeq, 10))
	m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject) // a replaced info goes
	err = PublishAll(ctx, s.js, s.timeout, []*nats.Msg{m})
	if isWrongSequence(err) {
		s.purge(ctx, chunkSubj)
		return false, nil
	}
	if err != nil {
		s.purge(ctx, chunkSubj)
		return false, err
	}
	if s.js.Conn().Stats().Reconnects != reconnects {
		// The connection broke while the object was being stored: a
		// server killed after acknowledging chunks it had not yet written
		// can lose them while the info, sent after the reconnect, is
		// stored. Never keep such an object.
		ok, err := s.whole(ctx, &info)
		if err != nil || !ok {
			s.purge(ctx, m.Subject)
			s.purge(ctx, chunkSubj)
			if err == nil {
				err = fmt.Errorf("object %s stored without all its chunks across a reconnect", name)
			}
			return false, err
		}
	}
	return true, nil
}

// lastInfo returns the stream sequence and NUID of an object's info message.
func (s *Store) lastInfo(ctx context.Context, name string) (uint64, string, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	st, err := s.js.Stream(ctx, "OBJ_"+BucketBinaries)
	if err != nil {
		return 0, "", err
	}
	m, err := st.GetLastMsgForSubject(ctx, "$O."+BucketBinaries+".M."+base64.URLEncoding.EncodeToString([]byte(name)))
	if err != nil {
		return 0, "", err
	}
	var info jetstream.ObjectInfo
	if err := json.Unmarshal(m.Data, &info); err != nil {
		return 0, "", err
	}
	return m.Sequence, info.NUID, nil
}

// whole reports whether every chunk of an object is in the stream.
func (s *Store) whole(ctx context.Context, info *jetstream.ObjectInfo) (bool, error) {
	if info.Chunks == 0 {
		return true, nil
	}
	subj := "$O." + BucketBinaries + ".C." + info.NUID
	ctx, cancel := s.call(ctx)
	defer cancel()
	st, err := s.js.Stream(ctx, "OBJ_"+BucketBinaries)
	if err != nil {
		return false, err
	}
	si, err := st.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return false, err
	}
	return si.State.Subjects[subj] >= uint64(info.Chunks), nil
}

// purge removes the chunks of an object that was not created.
func (s *Store) purge(ctx context.Context, subject string) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	if st, err := s.js.Stream(ctx, "OBJ_"+BucketBinaries); err == nil {
		st.Purge(ctx, jetstream.WithPurgeSubject(subject))
	}
}

// PutRecord stores a record, merging its Binaries with those already stored
// for the same id (a later job may add a thumbnail), indexes it by patient
// and report, and links it with the other versions of the same report: each
// version supersedes the nearest older one, and a version that names another
// patient than the next newer one is marked entered-in-error and leaves its
// patient's index. Older records and their Binaries stay.
//
// A record whose id is stored with another content digest (or, for records
// stored before digests, another patient) is refused with a *ConflictError
// and nothing changes: writers Claim first, this is the last line of that
// defence. Storing what is already stored changes nothing (no new Rev).
func (s *Store) PutRecord(ctx context.Context, rec *folio.Record) error {
	errored := false // the stored record is entered-in-error: not indexed again
	for first := true; ; first = false {
		// A new record (the common case) is created blind in one call; an
		// existing one is read and merged (compare-and-set).
		var old *folio.Record
		var rev uint64
		if !first {
			var err error
			old, rev, err = s.record(ctx, rec.ID)
			if err != nil && !errors.Is(err, folio.ErrNotFound) {
				return err
			}
		}
		next := *rec
		next.Binaries = slices.Clone(rec.Binaries)
		next.Rev = 1
		if old != nil {
			if (old.Digest != "" && rec.Digest != "" && old.Digest != rec.Digest) || old.PatientID != rec.PatientID {
				stored := old.Digest
				if stored == "" {
					stored = "(stored before content digests, patient " + old.PatientID + ")"
				}
				return &ConflictError{ReportID: rec.ReportID, Version: rec.Version, Stored: stored, Sent: rec.Digest}
			}
			errored = old.EnteredInError != ""
			changed := false
			for _, ob := range old.Binaries {
				if !slices.ContainsFunc(next.Binaries, func(b folio.Binary) bool { return b.ID == ob.ID }) {
					next.Binaries = append(next.Binaries, ob)
				}
			}
			for _, b := range next.Binaries {
				if !slices.ContainsFunc(old.Binaries, func(ob folio.Binary) bool { return b.ID == ob.ID }) {
					changed = true
				}
			}
			if old.Digest == "" && next.Digest != "" {
				changed = true
			}
			if !changed {
				break // stored already, as it is
			}
			if next.Digest == "" {
				next.Digest = old.Digest
			}
			next.Supersedes, next.SupersededBy = old.Supersedes, old.SupersededBy
			next.EnteredInError = old.EnteredInError
			next.Rev = old.Rev + 1
		}
		slices.SortFunc(next.Binaries, func(a, b folio.Binary) int { return strings.Compare(a.ID, b.ID) })
		next.Updated = time.Now().UTC()
		err := s.casRecord(ctx, &next, rev)
		if err == nil {
			break
		}
		if !errors.Is(err, errConcurrent) {
			return err
		}
	}
	if errored {
		versions, err := s.addVersion(ctx, rec.ReportID, rec.Version)
		if err != nil {
			return err
		}
		return s.relink(ctx, rec.ReportID, versions)
	}
	// The patient index entry is published without waiting, and its
	// acknowledgement collected after the versions key is updated.
	ictx, cancel := s.call(ctx)
	defer cancel()
	idx, err := s.js.PublishAsync("$KV."+BucketIndex+"."+patientKey(rec.PatientID, rec.ID), []byte(rec.ID))
	if err != nil {
		return fmt.Errorf("store: indexing record %s: %w", rec.ID, err)
	}
	if err := s.indexSearch(ctx, rec); err != nil {
		return err
	}
	versions, err := s.addVersion(ctx, rec.ReportID, rec.Version)
	if err != nil {
		return err
	}
	select {
	case <-idx.Ok():
	case err := <-idx.Err():
		return fmt.Errorf("store: indexing record %s: %w", rec.ID, err)
	case <-ictx.Done():
		return fmt.Errorf("store: indexing record %s: %w", rec.ID, ictx.Err())
	}
	return s.relink(ctx, rec.ReportID, versions)
}

var errConcurrent = errors.New("store: concurrent update")

// casRecord writes rec if the stored revision is still rev (0: absent).
func (s *Store) casRecord(ctx context.Context, rec *folio.Record, rev uint64) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	if rev == 0 {
		_, err = s.records.Create(ctx, rec.ID, data)
	} else {
		_, err = s.records.Update(ctx, rec.ID, data, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || isWrongSequence(err) {
		return errConcurrent
	}
	if err != nil {
		return fmt.Errorf("store: storing record %s: %w", rec.ID, err)
	}
	return nil
}

// unindex removes an entered-in-error record from its patient's index.
func (s *Store) unindex(ctx context.Context, rec *folio.Record) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	err := s.index.Delete(ctx, patientKey(rec.PatientID, rec.ID))
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("store: unindexing record %s: %w", rec.ID, err)
	}
	return nil
}

// relink sets Supersedes/SupersededBy on every version of a report and marks
// entered-in-error every version whose next newer version names another
// patient (a sender correcting a report filed under the wrong patient).
// Concurrent writers of different versions each add their version to the
// versions key (compare-and-set) before relinking, so the last of them sees
// every version; a lost compare-and-set on a record starts over from a
// fresh versions list. Entered-in-error is never undone.
func (s *Store) relink(ctx context.Context, reportID string, versions []int) error {
	extended := false
retry:
	for attempt := 0; ; attempt++ {
		if attempt > 50 {
			return fmt.Errorf("store: linking versions of report %s: too many concurrent updates", reportID)
		}
		if attempt > 0 && !extended {
			cctx, cancel := s.call(ctx)
			e, err := s.index.Get(cctx, versionsKey(reportID))
			cancel()
			if err != nil {
				return fmt.Errorf("store: versions of report %s: %w", reportID, err)
			}
			if err := json.Unmarshal(e.Value(), &versions); err != nil {
				return fmt.Errorf("store: versions of report %s: %w", reportID, err)
			}
		}
		if len(versions) < 2 {
			return nil
		}
		recs := make([]*folio.Record, len(versions))
		revs := make([]uint64, len(versions))
		for i, v := range versions {
			rec, rev, err := s.record(ctx, folio.RecordID(reportID, v))
			if err != nil && !errors.Is(err, folio.ErrNotFound) {
				return err
			}
			recs[i], revs[i] = rec, rev
		}
		// A version that another writer has already linked (it read a
		// newer versions list than this one) belongs to the report even
		// when this list predates it: links only ever gain versions, so a
		// writer with a stale list never unlinks a newer version.
		extended = false
		if more := withLinked(reportID, versions, recs); len(more) > len(versions) {
			versions, extended = more, true
			continue retry
		}
		for i, rec := range recs {
			if rec == nil {
				continue
			}
			prev, next := "", ""
			if i > 0 {
				prev = folio.RecordID(reportID, versions[i-1])
			}
			if i+1 < len(versions) {
				next = folio.RecordID(reportID, versions[i+1])
			}
			eie := rec.EnteredInError
			if eie == "" && i+1 < len(recs) && recs[i+1] != nil && recs[i+1].PatientID != rec.PatientID {
				eie = "filed under the wrong patient: corrected by version " + strconv.Itoa(versions[i+1]) + " (" + next + "), which names another patient"
			}
			if rec.Supersedes != prev || rec.SupersededBy != next || rec.EnteredInError != eie {
				upd := *rec
				upd.Supersedes, upd.SupersededBy, upd.EnteredInError = prev, next, eie
				upd.Rev = rec.Rev + 1
				upd.Updated = time.Now().UTC()
				if err := s.casRecord(ctx, &upd, revs[i]); errors.Is(err, errConcurrent) {
					continue retry
				} else if err != nil {
					return err
				}
				rec = &upd
			}
			if rec.EnteredInError != "" {
				if err := s.unindex(ctx, rec); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// withLinked returns versions with every version that recs link to
// (Supersedes, SupersededBy) added, sorted.
func withLinked(reportID string, versions []int, recs []*folio.Record) []int {
	out := slices.Clone(versions)
	for _, rec := range recs {
		if rec == nil {
			continue
		}
		for _, id := range []string{rec.Supersedes, rec.SupersededBy} {
			v, err := strconv.Atoi(strings.TrimPrefix(id, reportID+"-"))
			if id == "" || !strings.HasPrefix(id, reportID+"-") || err != nil || slices.Contains(out, v) {
				continue
			}
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// Withdraw marks the current (newest) version of a report entered-in-error
// with the given reason: an HL7 v2 result status W (wrong patient) or X
// (cannot be done), or a FHIR DiagnosticReport cancelled or
// entered-in-error. The record leaves its patient's index and its
// DocumentReference and DiagnosticReport read as entered-in-error (readable
// by id for audit, never by a patient-scoped token). Older versions keep
// their state. Withdrawing a withdrawn version changes nothing. It returns
// the record as stored, or folio.ErrNotFound if the report has no record.
func (s *Store) Withdraw(ctx context.Context, reportID, reason string) (*folio.Record, error) {
	return s.WithdrawVersion(ctx, reportID, 0, reason)
}

// WithdrawVersion is Withdraw of one version of a report (the newest when
// version is 0): the version a withdrawal refers to when its sender's
// messages carry no version (HL7 v2, whose intake names the newest version
// it had seen when the withdrawal arrived, so that a later version is not
// withdrawn by an earlier message). It returns folio.ErrNotFound when that
// version has no record (yet).
func (s *Store) WithdrawVersion(ctx context.Context, reportID string, version int, reason string) (*folio.Record, error) {
	if reason == "" {
		reason = "withdrawn by its sender"
	}
	for attempt := 0; attempt < 50; attempt++ {
		v := version
		if v == 0 {
			cctx, cancel := s.call(ctx)
			e, err := s.index.Get(cctx, versionsKey(reportID))
			cancel()
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				return nil, folio.ErrNotFound
			}
			if err != nil {
				return nil, fmt.Errorf("store: versions of report %s: %w", reportID, err)
			}
			var versions []int
			if err := json.Unmarshal(e.Value(), &versions); err != nil || len(versions) == 0 {
				return nil, fmt.Errorf("store: versions of report %s: %v", reportID, err)
			}
			v = versions[len(versions)-1]
		}
		rec, rev, err := s.record(ctx, folio.RecordID(reportID, v))
		if err != nil {
			return nil, err
		}
		if rec.EnteredInError == "" {
			upd := *rec
			upd.EnteredInError = "withdrawn: " + reason
			upd.Rev = rec.Rev + 1
			upd.Updated = time.Now().UTC()
			if err := s.casRecord(ctx, &upd, rev); errors.Is(err, errConcurrent) {
				continue
			} else if err != nil {
				return nil, err
			}
			rec = &upd
		}
		if err := s.unindex(ctx, rec); err != nil {
			return nil, err
		}
		return rec, nil
	}
	return nil, fmt.Errorf("store: withdrawing report %s: too many concurrent updates", reportID)
}
