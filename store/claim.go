package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrConflict is what every *ConflictError matches with errors.Is.
var ErrConflict = errors.New("store: conflict")

// ConflictError refuses content for a report version that is already bound
// to other content.
type ConflictError struct {
	ReportID string
	Version  int
	Stored   string // digest the version is bound to
	Sent     string // digest that was refused
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("conflict: report %s version %d is already stored with content %s; this report's content is %s. "+
		"A stored version never changes: send the corrected report as a new version (a higher version number)",
		e.ReportID, e.Version, e.Stored, e.Sent)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

func claimKey(reportID string, version int) string {
	return "claim." + enc(reportID) + "." + strconv.Itoa(version)
}

// Claim binds a report version to a content digest before anything of it is
// stored. The first claim of a version wins (a compare-and-set create); a
// claim with the same digest is idempotent and returns nil; a claim with
// another digest returns a *ConflictError and changes nothing.
func (s *Store) Claim(ctx context.Context, reportID string, version int, digest string) error {
	if digest == "" {
		return errors.New("store: claim without a digest")
	}
	key := claimKey(reportID, version)
	for try := 0; try < 3; try++ {
		cctx, cancel := s.call(ctx)
		_, err := s.index.Create(cctx, key, []byte(digest))
		cancel()
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			return fmt.Errorf("store: claiming report %s version %d: %w", reportID, version, err)
		}
		stored, err := s.claimed(ctx, reportID, version)
		if err != nil {
			return err
		}
		if stored == "" {
			continue // deleted in between: try again
		}
		if stored != digest {
			return &ConflictError{ReportID: reportID, Version: version, Stored: stored, Sent: digest}
		}
		return nil
	}
	return fmt.Errorf("store: claiming report %s version %d: changed concurrently", reportID, version)
}

// claimed returns the digest a report version is bound to, "" if none.
func (s *Store) claimed(ctx context.Context, reportID string, version int) (string, error) {
	cctx, cancel := s.call(ctx)
	defer cancel()
	e, err := s.index.Get(cctx, claimKey(reportID, version))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: claim of report %s version %d: %w", reportID, version, err)
	}
	return string(e.Value()), nil
}
