package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/foliohealth/folio"
)

// The search indexes: a record is found by its patient's medical record
// number and by its accession number (operators and records staff search
// by these; the FHIR side searches by patient id). An entered-in-error
// record stays in them, so that a search shows it, marked.
func mrnKey(mrn, recordID string) string { return "mrn." + enc(mrn) + "." + enc(recordID) }
func accessionKey(accession, recordID string) string {
	return "accession." + enc(accession) + "." + enc(recordID)
}

// indexSearch writes a record's MRN and accession index entries.
func (s *Store) indexSearch(ctx context.Context, rec *folio.Record) error {
	var msgs []*nats.Msg
	if rec.MRN != "" {
		msgs = append(msgs, &nats.Msg{Subject: "$KV." + BucketIndex + "." + mrnKey(rec.MRN, rec.ID), Data: []byte(rec.ID)})
	}
	if rec.Accession != "" {
		msgs = append(msgs, &nats.Msg{Subject: "$KV." + BucketIndex + "." + accessionKey(rec.Accession, rec.ID), Data: []byte(rec.ID)})
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := PublishAll(ctx, s.js, s.timeout, msgs); err != nil {
		return fmt.Errorf("store: indexing record %s: %w", rec.ID, err)
	}
	return nil
}

// RecordsByMRN returns every record of the patient with this medical record
// number, oldest first.
func (s *Store) RecordsByMRN(ctx context.Context, mrn string) ([]*folio.Record, error) {
	recs, err := s.recordsIndexed(ctx, "mrn."+enc(mrn)+".>")
	if err != nil {
		return nil, fmt.Errorf("store: records of MRN: %w", err)
	}
	return recs, nil
}

// RecordsByAccession returns every record with this accession number,
// oldest first.
func (s *Store) RecordsByAccession(ctx context.Context, accession string) ([]*folio.Record, error) {
	recs, err := s.recordsIndexed(ctx, "accession."+enc(accession)+".>")
	if err != nil {
		return nil, fmt.Errorf("store: records of accession: %w", err)
	}
	return recs, nil
}

// recordsIndexed returns the records whose ids the index keys matching
// filter end with, oldest first (by issued time, then id).
func (s *Store) recordsIndexed(ctx context.Context, filter string) ([]*folio.Record, error) {
	keys, err := s.listKeys(ctx, filter)
	if err != nil {
		return nil, err
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
