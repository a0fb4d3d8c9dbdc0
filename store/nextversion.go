package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

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
		if err = s.putIndex(ctx, key, data, rev); err == nil {
			return len(digests), nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			return 0, fmt.Errorf("store: content history of report %s: %w", reportID, err)
		}
	}
	return 0, fmt.Errorf("store: content history of report %s: too many concurrent updates", reportID)
}

// Known returns how many content versions of a report NextVersion has
// handed out: 0 when folio has never seen the report (by content history:
// a report whose sender gave its own versions, report v1 or FHIR with
// meta.versionId, has none), else its newest version.
func (s *Store) Known(ctx context.Context, reportID string) (int, error) {
	cctx, cancel := s.call(ctx)
	e, err := s.index.Get(cctx, contentKey(reportID))
	cancel()
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: content history of report %s: %w", reportID, err)
	}
	var digests []string
	if err := json.Unmarshal(e.Value(), &digests); err != nil {
		return 0, fmt.Errorf("store: content history of report %s: %w", reportID, err)
	}
	return len(digests), nil
}

// VersionStore is the part of a Store that derives content versions
// (NextVersion, Known): all that a process publishing jobs from unversioned input
// (folio submit with HL7 v2 files, folio mllp) may do with the index. Under
// NATS permissions (broker.RoleSubmitter) it reads and writes only the
// index's content.* keys.
type VersionStore struct{ s *Store }

// NextVersion is Store.NextVersion.
func (v *VersionStore) NextVersion(ctx context.Context, reportID, digest string) (int, error) {
	return v.s.NextVersion(ctx, reportID, digest)
}

// Known is Store.Known.
func (v *VersionStore) Known(ctx context.Context, reportID string) (int, error) {
	return v.s.Known(ctx, reportID)
}

// Versions returns the VersionStore of s.
func (s *Store) Versions() *VersionStore { return &VersionStore{s: s} }

// BindVersions returns a VersionStore over the existing index bucket,
// creating nothing and binding to nothing else. Of cfg only CallTimeout
// counts.
func BindVersions(ctx context.Context, js jetstream.JetStream, cfg Config) (*VersionStore, error) {
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	index, err := js.KeyValue(ctx, BucketIndex)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", BucketIndex, err)
	}
	return &VersionStore{s: &Store{index: index, js: js, timeout: cfg.CallTimeout}}, nil
}
