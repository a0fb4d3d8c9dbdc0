package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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

func contentKey(reportID string) string { return "content." + enc(reportID) }

// NextVersion returns the durable content-based version of a report's
// content, for input adapters whose messages carry no version number of
// their own: the first content seen for a report id is version 1, content
// seen before keeps the version it was given (a resent message is
// idempotent, also when it repeats an older content), and any other content
// gets the next version. The history (the digests in version order) is one
// KV entry per report id, updated with compare-and-set, so concurrent
// callers never hand out one version for two contents.
//
// The version is not claimed: the caller submits the report with it and the
// worker's Claim binds it, as for any report.
func (s *Store) NextVersion(ctx context.Context, reportID, digest string) (int, error) {
	if digest == "" {
		return 0, errors.New("store: next version without a digest")
	}
	key := contentKey(reportID)
	for try := 0; try < 50; try++ {
		var digests []string
		var rev uint64
		cctx, cancel := s.call(ctx)
		e, err := s.index.Get(cctx, key)
		cancel()
		switch {
		case err == nil:
			if err := json.Unmarshal(e.Value(), &digests); err != nil {
				return 0, fmt.Errorf("store: content history of report %s: %w", reportID, err)
			}
			rev = e.Revision()
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			return 0, fmt.Errorf("store: content history of report %s: %w", reportID, err)
		}
		if i := slices.Index(digests, digest); i >= 0 {
			return i + 1, nil
		}
		digests = append(digests, digest)
		data, _ := json.Marshal(digests)
		cctx, cancel = s.call(ctx)
		if rev == 0 {
			_, err = s.index.Create(cctx, key, data)
		} else {
			_, err = s.index.Update(cctx, key, data, rev)
		}
		cancel()
		if err == nil {
			return len(digests), nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			return 0, fmt.Errorf("store: content history of report %s: %w", reportID, err)
		}
	}
	return 0, fmt.Errorf("store: content history of report %s: too many concurrent updates", reportID)
}
