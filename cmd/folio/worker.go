package main

import (
	"context"
	"flag"
	"io"

	"github.com/foliohealth/folio/broker"
)

// runWorker implements "folio worker": render workers against an external
// NATS server or cluster, with health and metrics on --addr if given.
func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("folio worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pf := addPipelineFlags(fs, "nats://127.0.0.1:4222")
	addr := fs.String("addr", "", "operator listener: /healthz, /readyz and /metrics (off when empty); keep it on loopback")
	data := fs.String("data", "./folio-data", "data directory of a folio serve whose embedded NATS server to use (its credentials)")
	return runDaemon(ctx, daemon{
		name: "folio worker", fs: fs, nats: pf.nats, data: data, role: broker.RoleWorker,
		replicas: pf.replicas, opsAddr: addr, workers: pf.workers, profiles: pf.profiles,
		usage: func(pos []string) string {
			if len(pos) > 0 || *pf.workers < 1 || *pf.nats.url == "" {
				return "no arguments expected, --nats-url must be set and --workers at least 1"
			}
			return ""
		},
		start: func(ctx context.Context, r *running) (func(), error) {
			r.log.Info("folio worker ready", "nats", r.url, "workers", *pf.workers)
			return nil, nil
		},
		binaries: addBinaryStoreFlag(fs),
	}, args, stdout, stderr)
}
