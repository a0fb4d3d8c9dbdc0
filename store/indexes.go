package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio"
)

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
		if err = s.putIndex(ctx, key, data, rev); err == nil {
			return versions, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			return nil, fmt.Errorf("store: versions of report %s: %w", reportID, err)
		}
	}
}

// RecordsByPatient returns every record of a patient, oldest first (by
// issued time, then id), except those entered in error.
func (s *Store) RecordsByPatient(ctx context.Context, patientID string) ([]*folio.Record, error) {
	all, err := s.recordsIndexed(ctx, "patient."+enc(patientID)+".>")
	if err != nil {
		return nil, fmt.Errorf("store: records of patient %s: %w", patientID, err)
	}
	recs := all[:0]
	for _, rec := range all {
		if rec.PatientID != patientID || rec.EnteredInError != "" {
			continue // being unindexed
		}
		recs = append(recs, rec)
	}
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

// unindex removes an entered-in-error record from its patient's index.
func (s *Store) unindex(ctx context.Context, rec *folio.Record) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	err := s.index.Delete(ctx, patientKey(rec.PatientID, rec.ID))
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("store: unindexing record %s: %w", rec.ID, err)
	}
	return s.unindexDocument(ctx, rec)
}

// putIndex writes an index entry with compare-and-set: it creates key when
// rev is 0, else updates the entry if its revision is still rev.
func (s *Store) putIndex(ctx context.Context, key string, data []byte, rev uint64) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	var err error
	if rev == 0 {
		_, err = s.index.Create(ctx, key, data)
	} else {
		_, err = s.index.Update(ctx, key, data, rev)
	}
	return err
}
