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

// runWorker implements "folio worker": render workers against an external
// NATS server or cluster, with health and metrics on --addr if given.
func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("folio worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pf := addPipelineFlags(fs, "nats://127.0.0.1:4222")
	addr := fs.String("addr", "", "operator listener: /healthz, /readyz and /metrics (off when empty); keep it on loopback")
	data := fs.String("data", "./folio-data", "data directory of a folio serve whose embedded NATS server to use (its credentials)")
	binStore := addBinaryStoreFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "folio worker:", err)
		return exitUsage
	}
	if len(pos) > 0 || *pf.workers < 1 || *pf.nats.url == "" {
		fmt.Fprintln(stderr, "folio worker: no arguments expected, --nats-url must be set and --workers at least 1")
		fs.Usage()
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	auth, err := pf.nats.options(queue.RoleWorker, *data)
	if err != nil {
		fmt.Fprintln(stderr, "folio worker:", err)
		return exitUsage
	}
	bin, err := openBinaries(ctx, *binStore, log)
	if err != nil {
		fmt.Fprintln(stderr, "folio worker:", err)
		return exitFailed
	}
	p, err := openPipeline(ctx, *pf.nats.url, auth, queue.Config{Replicas: *pf.replicas, Role: queue.RoleWorker, Binaries: bin}, log)
	if err != nil {
		fmt.Fprintln(stderr, "folio worker:", err)
		return exitFailed
	}
	defer p.close(log)
	if *addr != "" {
		_, stop, err := listenHTTP(*addr, p.opsMux(), defaultHTTPLimits, "operator", log)
		if err != nil {
			fmt.Fprintln(stderr, "folio worker:", err)
			return exitFailed
		}
		defer stop()
	}
	log.Info("folio worker ready", "nats", *pf.nats.url, "workers", *pf.workers)
	setWorkerMemoryLimit(*pf.workers)
	p.q.Work(ctx, &queue.Engine{Versions: p.q.Store()}, queue.WorkerOptions{Slots: *pf.workers, Logger: log, Metrics: p.metrics})
	log.Info("workers stopped")
	return exitOK
}
