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

func addBinaryStoreFlag(fs *flag.FlagSet) *string {
	return fs.String("binary-store", "", binaryStoreUsage)
}

// openBinaries opens the backend a --binary-store value names: nil for the
// Object Store (empty), a store/s3 Store for s3://. It checks that the
// bucket answers, waiting up to a minute (an S3 gateway starting beside
// folio), and logs where Binaries go, never credentials.
func openBinaries(ctx context.Context, raw string, log *slog.Logger) (store.Binaries, error) {
	s, err := openS3(ctx, raw)
	if err != nil || s == nil {
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

// openS3 returns the S3 store raw names, or nil for an empty raw.
func openS3(ctx context.Context, raw string) (*s3.Store, error) {
	if raw == "" {
		return nil, nil
	}
	if !strings.HasPrefix(raw, "s3://") {
		return nil, fmt.Errorf("--binary-store: want s3://BUCKET/PREFIX?endpoint=URL... (or nothing for the Object Store)")
	}
	cfg, err := s3.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	return s3.Open(ctx, cfg)
}
