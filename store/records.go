package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio"
)

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
	if _, err := s.indexDocument(ctx, rec); err != nil {
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
