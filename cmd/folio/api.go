package main

import (
	"context"
	"flag"
	"io"

	"github.com/foliohealth/folio/broker"
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
	return runDaemon(ctx, daemon{
		name: "folio api", fs: fs, nats: nf, data: data, role: broker.RoleAPI,
		start: func(ctx context.Context, r *running) (func(), error) {
			_, _, stop, err := r.p.startAPI(*addr, *data, af, r.log)
			if err != nil {
				return nil, err
			}
			r.log.Info("folio api ready", "nats", r.url)
			return stop, nil
		},
		binaries: addBinaryStoreFlag(fs),
	}, args, stdout, stderr)
}
