package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// contentKey is the index key of a report's content history: the digests
// of its versions, in version order.
func contentKey(reportID string) string { return "content." + enc(reportID) }

// NextVersion returns the durable content-based version of a report's
// content, for input adapters whose messages carry no version number of
// their own (HL7 v2): the first content seen for a report id is version 1,
// content seen before keeps the version it was given (a resent message is
// the same version), other content gets the next version. The history is
// one KV entry per report id in the index bucket, updated with
// compare-and-set, so concurrent callers never hand out one version for
// two contents.
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
