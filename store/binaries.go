package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/foliohealth/folio"
)

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
	sum256 := Describe(&b, data)
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

// ListBinaries calls fn with the id of every Binary in the Object Store, in
// no particular order, until fn returns an error.
func (s *Store) ListBinaries(ctx context.Context, fn func(id string) error) error {
	l, err := s.objects.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: listing %s: %w", BucketBinaries, err)
	}
	for _, oi := range l {
		if oi.Deleted {
			continue
		}
		if err := fn(oi.Name); err != nil {
			return err
		}
	}
	return nil
}

// RemoveBinary removes the Binary with the given id from the Object Store:
// only what `folio binaries orphans --remove` calls, for a Binary that no
// record names.
func (s *Store) RemoveBinary(ctx context.Context, id string) error {
	if !validID(id) {
		return folio.ErrNotFound
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	err := s.objects.Delete(ctx, id)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return folio.ErrNotFound
	}
	return err
}
