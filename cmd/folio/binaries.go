package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/queue"
	"github.com/foliohealth/folio/store"
)

// binaryLister is what `folio binaries` needs of a Binaries backend beyond
// store.Binaries: the Object Store (store.Store) and store/s3 both list
// and remove.
type binaryLister interface {
	store.Binaries
	ListBinaries(ctx context.Context, fn func(id string) error) error
	RemoveBinary(ctx context.Context, id string) error
}

// runBinaries implements "folio binaries copy|orphans".
func runBinaries(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "copy" && args[0] != "orphans") {
		fmt.Fprint(stderr, `usage: folio binaries copy --to s3://BUCKET/PREFIX?endpoint=URL... [flags]
       folio binaries orphans [--binary-store s3://...] [--older-than 24h] [--remove] [flags]

copy     copies every Binary of the JetStream Object Store to the S3 bucket, each
         read back checked against its SHA-256; resumable (what is there already
         is checked, not copied again)
orphans  lists the Binaries no record names (left by jobs that failed after
         storing them); --remove removes those older than --older-than
`)
		return exitUsage
	}
	cmd := args[0]
	fs := flag.NewFlagSet("folio binaries "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	nf := addNATSFlags(fs, "nats://127.0.0.1:4222")
	data := fs.String("data", "./folio-data", "data directory of a folio serve whose embedded NATS server to use (its credentials)")
	var to, binStore *binaryStore
	var remove *bool
	var olderThan *time.Duration
	var parallel *int
	if cmd == "copy" {
		to = &binaryStore{}
		fs.StringVar(&to.raw, "to", "", "the S3 binary store to copy to: s3://BUCKET/PREFIX?endpoint=URL&region=R&path-style=true")
		parallel = fs.Int("parallel", 4, "Binaries copied at once")
	} else {
		binStore = addBinaryStoreFlag(fs)
		remove = fs.Bool("remove", false, "remove the orphans older than --older-than (on a bucket with object lock their bytes stay as noncurrent versions until their retention ends)")
		olderThan = fs.Duration("older-than", 24*time.Hour, "only Binaries stored longer ago than this count (a job in flight stores its Binaries before its record)")
	}
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "folio binaries:", err)
		return exitUsage
	}
	if len(pos) > 0 || (cmd == "copy" && (to.raw == "" || *parallel < 1)) {
		fmt.Fprintln(stderr, "folio binaries: no arguments expected; copy needs --to s3://... and --parallel at least 1")
		return exitUsage
	}
	for _, b := range []*binaryStore{to, binStore} {
		if err := b.parse(); err != nil {
			fmt.Fprintln(stderr, "folio binaries "+cmd+":", err)
			return exitUsage
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	auth, err := nf.options(broker.RoleWorker, *data)
	if err != nil {
		fmt.Fprintln(stderr, "folio binaries:", err)
		return exitUsage
	}
	// Worker credentials (it reads the Object Store and records, and may
	// remove orphans), but the resources are only bound, as the API binds
	// them: opening them as a worker would set their replicas to this
	// command's default.
	p, err := openPipeline(ctx, *nf.url, auth, queue.Config{Role: broker.RoleAPI}, log)
	if err != nil {
		fmt.Fprintln(stderr, "folio binaries:", err)
		return exitFailed
	}
	defer p.close(log)
	if cmd == "copy" {
		dst, err := to.open(ctx, log)
		if err != nil {
			fmt.Fprintln(stderr, "folio binaries copy:", err)
			return exitFailed
		}
		return copyBinaries(ctx, p.q.Store().ObjectStore(), dst.(binaryLister), *parallel, stdout, stderr)
	}
	var src binaryLister = p.q.Store().ObjectStore()
	if binStore.cfg != nil {
		s, err := binStore.open(ctx, log)
		if err != nil {
			fmt.Fprintln(stderr, "folio binaries orphans:", err)
			return exitFailed
		}
		src = s.(binaryLister)
	}
	return orphans(ctx, p.q.Store(), src, *olderThan, *remove, stdout, stderr)
}

// copyBinaries copies every Binary of src that dst does not hold yet,
// checking each: the source read against its SHA-256, the copy stored
// create-only and checked by dst.PutBinary, and its metadata compared.
// A Binary that dst holds with other bytes is a conflict, reported and
// left as it is. It prints a summary and returns the exit status.
func copyBinaries(ctx context.Context, src *store.Store, dst binaryLister, parallel int, stdout, stderr io.Writer) int {
	ids := make(chan string)
	var copied, present, failed atomic.Int64
	var mu sync.Mutex
	report := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stderr, format+"\n", a...)
	}
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for id := range ids {
				switch err := copyOne(ctx, src, dst, id); {
				case errors.Is(err, errPresent):
					present.Add(1)
				case err != nil:
					failed.Add(1)
					report("folio binaries copy: %v", err)
				default:
					if copied.Add(1)%1000 == 0 {
						report("folio binaries copy: %d copied so far", copied.Load())
					}
				}
			}
		})
	}
	err := src.ListBinaries(ctx, func(id string) error {
		select {
		case ids <- id:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(ids)
	wg.Wait()
	fmt.Fprintf(stdout, "%d copied, %d already there (checked), %d failed\n", copied.Load(), present.Load(), failed.Load())
	if err != nil {
		fmt.Fprintln(stderr, "folio binaries copy:", err)
		return exitFailed
	}
	if failed.Load() > 0 {
		fmt.Fprintln(stderr, "folio binaries copy: not every Binary was copied; run it again (what is there is not copied twice)")
		return exitFailed
	}
	return exitOK
}

var errPresent = errors.New("already copied")

func copyOne(ctx context.Context, src *store.Store, dst binaryLister, id string) error {
	b, rc, err := src.OpenBinary(ctx, id)
	if errors.Is(err, folio.ErrNotFound) {
		return errPresent // removed meanwhile: nothing to copy
	}
	if err != nil {
		return fmt.Errorf("reading %s from the Object Store: %w", id, err)
	}
	if have, err := dst.BinaryInfo(ctx, id); err == nil {
		rc.Close()
		if have.SHA256 != b.SHA256 {
			return fmt.Errorf("Binary %s: the destination holds other bytes (SHA-256 %s, the Object Store's %s): left as it is", id, have.SHA256, b.SHA256)
		}
		return errPresent
	} else if !errors.Is(err, folio.ErrNotFound) {
		rc.Close()
		return fmt.Errorf("checking %s at the destination: %w", id, err)
	}
	data, err := io.ReadAll(rc) // checked against its SHA-256 as it passes
	rc.Close()
	if err != nil {
		return fmt.Errorf("reading %s from the Object Store: %w", id, err)
	}
	got, err := dst.PutBinary(ctx, *b, data)
	if err != nil {
		return fmt.Errorf("copying %s: %w", id, err)
	}
	want := *b
	if !got.Created.Equal(want.Created) {
		return fmt.Errorf("Binary %s: the destination holds it with creation time %s, the Object Store's %s", id, got.Created, want.Created)
	}
	got.Created = want.Created
	if *got != want {
		return fmt.Errorf("Binary %s: the destination holds other bytes or metadata (SHA-256 %s, the Object Store's %s): left as it is", id, got.SHA256, want.SHA256)
	}
	return nil
}

// orphans lists (and with remove, removes) the Binaries of bin whose
// record does not exist or does not name them, stored more than age ago.
func orphans(ctx context.Context, recs *store.Store, bin binaryLister, age time.Duration, remove bool, stdout, stderr io.Writer) int {
	var found, removed, failed int
	cutoff := time.Now().Add(-age)
	err := bin.ListBinaries(ctx, func(id string) error {
		b, err := bin.BinaryInfo(ctx, id)
		if errors.Is(err, folio.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if b.Created.After(cutoff) {
			return nil
		}
		rec, err := recs.Record(ctx, b.RecordID)
		why := ""
		switch {
		case errors.Is(err, folio.ErrNotFound):
			why = "no record " + b.RecordID
		case err != nil:
			return err
		case b.Output != folio.OutputReportJSON && !slices.ContainsFunc(rec.Binaries, func(rb folio.Binary) bool { return rb.ID == id }):
			why = "record " + b.RecordID + " does not name it"
		}
		if why == "" {
			return nil
		}
		found++
		fmt.Fprintf(stdout, "%s\t%s\t%d bytes\tjob %s\t%s\n", id, b.Created.Format(time.RFC3339), b.Size, b.JobID, why)
		if remove {
			if err := bin.RemoveBinary(ctx, id); err != nil {
				failed++
				fmt.Fprintf(stderr, "folio binaries orphans: removing %s: %v\n", id, err)
			} else {
				removed++
			}
		}
		return nil
	})
	fmt.Fprintf(stderr, "%d orphans older than %v, %d removed\n", found, age, removed)
	if err != nil {
		fmt.Fprintln(stderr, "folio binaries orphans:", err)
		return exitFailed
	}
	if failed > 0 {
		return exitFailed
	}
	return exitOK
}
