package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/store"
)

// runIndex implements "folio index rebuild": write the document search
// index entries of records stored before folio kept them (and remove those
// of records entered in error). Entries that exist are kept, so running it
// again, or while folio stores records, is safe.
func runIndex(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("folio index rebuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nf := addNATSFlags(fs, "nats://127.0.0.1:4222")
	data := fs.String("data", "./folio-data", "data directory of the folio serve whose embedded NATS server to use (its credentials)")
	if len(args) == 0 || args[0] != "rebuild" {
		fmt.Fprintln(stderr, "usage: folio index rebuild [flags]")
		return exitUsage
	}
	pos, code, ok := parseFlags(fs, args[1:], stderr)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintln(stderr, "folio index rebuild: no arguments expected")
		return exitUsage
	}
	// It writes the index as the workers do: with the worker's role.
	nc, err := nf.connect(broker.RoleWorker, *data, nats.MaxReconnects(10))
	if err != nil {
		fmt.Fprintln(stderr, "folio index rebuild:", err)
		return exitFailed
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		fmt.Fprintln(stderr, "folio index rebuild:", err)
		return exitFailed
	}
	bctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	st, err := store.Bind(bctx, js, store.Config{})
	cancel()
	if err != nil {
		fmt.Fprintln(stderr, "folio index rebuild:", err)
		return exitFailed
	}
	stats, err := st.RebuildIndex(ctx)
	fmt.Fprintf(stdout, "records read: %d\nindex entries written: %d\nentered-in-error records unindexed: %d\n", stats.Records, stats.Created, stats.Withdrawn)
	if err != nil {
		fmt.Fprintln(stderr, "folio index rebuild:", err)
		return exitFailed
	}
	return exitOK
}
