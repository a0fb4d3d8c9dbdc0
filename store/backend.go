package store

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"time"

	"github.com/foliohealth/folio"
)

// Binaries keeps the bytes of rendered Binaries, each under its id, with
// the folio.Binary it describes. The Store keeps them in its folio-binaries
// Object Store unless Config.Binaries names another backend (store/s3
// keeps them in an S3-compatible bucket). Every backend keeps the promises
// the package comment makes of Binaries, and passes the same contract
// tests (binaries_contract_test.go):
//
//   - PutBinary fills in b's size, SHA-256, SHA-1 and creation time (if
//     zero) from data and returns only once the bytes are durably stored
//     and checked against their SHA-256. A Binary id's bytes never change:
//     if the id already holds bytes, nothing is written and the stored
//     Binary is returned (its SHA256 tells a caller whether they differ
//     from data), also when writers race.
//   - BinaryInfo and OpenBinary return folio.ErrNotFound for an unknown id.
//     OpenBinary's reader checks the bytes against the Binary's size and
//     SHA-256 as they pass (see VerifyReader).
//   - Ready checks that the backend answers.
//
// A Binaries is safe for concurrent use.
type Binaries interface {
	PutBinary(ctx context.Context, b folio.Binary, data []byte) (*folio.Binary, error)
	BinaryInfo(ctx context.Context, id string) (*folio.Binary, error)
	OpenBinary(ctx context.Context, id string) (*folio.Binary, io.ReadCloser, error)
	Ready(ctx context.Context) error
}

var _ Binaries = (*Store)(nil)

// Describe fills in what PutBinary promises of b from data: its size,
// SHA-256 (hex), SHA-1 (base64, as FHIR's Attachment.hash) and, when zero,
// its creation time (now, in milliseconds). It returns the SHA-256, for a
// backend to check the stored bytes against.
func Describe(b *folio.Binary, data []byte) [sha256.Size]byte {
	sum256 := sha256.Sum256(data)
	sum1 := sha1.Sum(data)
	b.Size = int64(len(data))
	b.SHA256 = hex.EncodeToString(sum256[:])
	b.SHA1 = base64.StdEncoding.EncodeToString(sum1[:])
	if b.Created.IsZero() {
		b.Created = time.Now().UTC().Truncate(time.Millisecond)
	}
	return sum256
}

// VerifyReader returns a reader of rc that checks what passes against b's
// size and SHA-256: the read that would hand over the last bytes returns an
// error wrapping ErrIntegrity instead when they do not match, as does a
// read past b.Size or an end before it. Backends other than the Object
// Store wrap their object readers in it. Closing it closes rc.
func VerifyReader(rc io.ReadCloser, b *folio.Binary) io.ReadCloser {
	return &verifiedReader{rc: rc, h: sha256.New(), size: b.Size, want: b.SHA256, id: b.ID}
}

// ValidID reports whether id can be a Binary (or record) id: 1-128
// characters of A-Z a-z 0-9 _ = - and single inner dots. Backends answer
// folio.ErrNotFound for any other id without asking their server.
func ValidID(id string) bool { return validID(id) }

// ObjectStore returns a Store whose Binaries are those of the folio-binaries
// Object Store whatever Config.Binaries says: what `folio binaries copy`
// reads from.
func (s *Store) ObjectStore() *Store {
	c := *s
	c.bin = nil
	return &c
}

// openFallback opens a Binary in the external backend and, when it is not
// there, in the Object Store: during a move of the Binaries to another
// backend (folio binaries copy) the ones not copied yet stay readable.
func (s *Store) openFallback(ctx context.Context, id string) (*folio.Binary, io.ReadCloser, error) {
	b, rc, err := s.bin.OpenBinary(ctx, id)
	if !errors.Is(err, folio.ErrNotFound) || s.objects == nil {
		return b, rc, err
	}
	return s.ObjectStore().OpenBinary(ctx, id)
}

// infoFallback is BinaryInfo of the external backend, then the Object Store.
func (s *Store) infoFallback(ctx context.Context, id string) (*folio.Binary, error) {
	b, err := s.bin.BinaryInfo(ctx, id)
	if !errors.Is(err, folio.ErrNotFound) || s.objects == nil {
		return b, err
	}
	return s.ObjectStore().BinaryInfo(ctx, id)
}
