package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/foliohealth/folio/store"
	"github.com/foliohealth/folio/store/s3"
)

// binaryStoreUsage is the --binary-store flag's help (serve, worker, api,
// binaries).
const binaryStoreUsage = "where the Binaries' bytes are kept: empty for the JetStream Object Store (folio-binaries),\n" +
	"or s3://BUCKET/PREFIX?endpoint=URL&region=R&path-style=true (ca=FILE for a private CA) for an\n" +
	"S3-compatible bucket, with credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the shared\n" +
	"credentials file (AWS_PROFILE) or the instance's role; Binaries not there yet are read from the\n" +
	"Object Store (docs/cli.md: Binaries in S3-compatible storage)"

// binaryStore is a --binary-store (or binaries copy --to) value: parsed
// right after the flags, so that a malformed URL is a usage error, and
// opened once the command runs.
type binaryStore struct {
	raw string
	cfg *s3.Config // nil: the Object Store
}

func addBinaryStoreFlag(fs *flag.FlagSet) *binaryStore {
	b := &binaryStore{}
	fs.StringVar(&b.raw, "binary-store", "", binaryStoreUsage)
	return b
}

// parse checks the value: empty for the Object Store, or an s3:// URL. A
// nil binaryStore (a command without the flag) is the Object Store.
func (b *binaryStore) parse() error {
	if b == nil || b.raw == "" {
		return nil
	}
	if !strings.HasPrefix(b.raw, "s3://") {
		return fmt.Errorf("--binary-store: want s3://BUCKET/PREFIX?endpoint=URL... (or nothing for the Object Store)")
	}
	cfg, err := s3.ParseURL(b.raw)
	if err != nil {
		return err
	}
	b.cfg = &cfg
	return nil
}

// open returns the backend of a parsed value: nil for the Object Store,
// a store/s3 Store for s3://. It checks that the bucket answers, waiting
// up to a minute (an S3 gateway starting beside folio), and logs where
// Binaries go, never credentials.
func (b *binaryStore) open(ctx context.Context, log *slog.Logger) (store.Binaries, error) {
	if b == nil || b.cfg == nil {
		return nil, nil
	}
	s, err := s3.Open(ctx, *b.cfg)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		err := s.Ready(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("--binary-store %s: %w", s, err)
		}
		log.Warn("binary store not answering yet; retrying", "store", s.String(), "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
	log.Info("Binaries kept in S3", "store", s.String())
	return s, nil
}
