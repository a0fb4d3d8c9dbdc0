package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/foliohealth/folio/queue"
)

// runAPI implements "folio api": the FHIR read endpoint alone, against an
// external NATS server or cluster.
func runAPI(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("folio api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nf := addNATSFlags(fs, "nats://127.0.0.1:4222")
	addr := fs.String("addr", "127.0.0.1:8080", "HTTP address of the FHIR endpoint (and /healthz, /readyz)")
	data := fs.String("data", "./folio-data", "directory of the development signing key (and of the embedded NATS server's credentials)")
	fs.Int("replicas", 1, "ignored: the API creates no stream or bucket (workers do)")
	af := addAPIFlags(fs)
	binStore := addBinaryStoreFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "folio api:", err)
		return exitUsage
	}
	if len(pos) > 0 {
		fmt.Fprintln(stderr, "folio api: no arguments expected")
		fs.Usage()
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	auth, err := nf.options(queue.RoleAPI, *data)
	if err != nil {
		fmt.Fprintln(stderr, "folio api:", err)
		return exitUsage
	}
	bin, err := openBinaries(ctx, *binStore, log)
	if err != nil {
		fmt.Fprintln(stderr, "folio api:", err)
		return exitFailed
	}
	p, err := openPipeline(ctx, *nf.url, auth, queue.Config{Role: queue.RoleAPI, Binaries: bin}, log)
	if err != nil {
		fmt.Fprintln(stderr, "folio api:", err)
		return exitFailed
	}
	defer p.close(log)
	_, _, stop, err := p.startAPI(*addr, *data, af, log)
	if err != nil {
		fmt.Fprintln(stderr, "folio api:", err)
		return exitFailed
	}
	log.Info("folio api ready", "nats", *nf.url)
	<-ctx.Done()
	log.Info("shutting down")
	stop()
	return exitOK
}
