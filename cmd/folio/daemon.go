package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/profile"
	"github.com/foliohealth/folio/queue"
)

// daemon is what one long-running command (serve, worker, api, mllp) runs;
// runDaemon does the rest: it parses the flags, connects to NATS as the
// command's role, opens the pipeline, starts the operator listener, starts
// what the command runs, runs render workers or waits until ctx ends, and
// shuts everything down in reverse order.
type daemon struct {
	name string        // "folio worker", the prefix of its messages
	fs   *flag.FlagSet // the command's flags, defined
	nats *natsFlags
	data *string // --data: the embedded server's credentials (and more)
	role broker.Role
	// replicas, if set, is --replicas: of the streams and buckets a worker
	// creates.
	replicas *int
	// binaries, if set, is --binary-store: where the Binaries' bytes are
	// kept (binarystore.go); otherwise the Object Store.
	binaries *binaryStore
	// usage checks the parsed flags and arguments: a message is a usage
	// error (nil: no arguments expected).
	usage func(pos []string) string
	// embedded, if set, starts the embedded NATS server when --nats-url is
	// empty (folio serve); the role's credentials are then its own.
	embedded func(log *slog.Logger) (*broker.Server, error)
	// opsAddr, if set and not empty, is the address of the operator
	// listener: /healthz, /readyz and /metrics.
	opsAddr *string
	// start starts what the command runs on the open pipeline and returns
	// what stops it (nil: nothing to stop).
	start func(ctx context.Context, r *running) (stop func(), err error)
	// workers, if set, is how many render workers run until ctx ends;
	// otherwise runDaemon waits for ctx. They render with the site
	// profiles kept in NATS (queue.Profiles).
	workers *int
	// profiles, if set and not empty, is --profiles DIR: site profiles
	// checked before anything starts (a deployment never runs with a
	// profile it refused). With putProfiles (folio serve) they are put
	// into NATS as the admin role before the command starts; without
	// (folio worker, which may not write them) the command refuses to
	// start unless NATS holds exactly that set.
	profiles    *string
	putProfiles bool
}

// running is what a daemon's start gets: the open pipeline and how to reach
// the NATS server as another role.
type running struct {
	p        *pipeline
	url      string // the NATS server's client URL(s)
	roleAuth func(broker.Role) ([]nats.Option, error)
	log      *slog.Logger
	stdout   io.Writer
}

// runDaemon runs d with the command-line arguments args and returns the
// exit code.
func runDaemon(ctx context.Context, d daemon, args []string, stdout, stderr io.Writer) int {
	fail := func(code int, err error) int {
		fmt.Fprintln(stderr, d.name+":", err)
		return code
	}
	pos, code, ok := parseFlags(d.fs, args, stderr)
	if !ok {
		return code
	}
	if err := d.binaries.parse(); err != nil {
		return fail(exitUsage, err)
	}
	msg := ""
	if d.usage != nil {
		msg = d.usage(pos)
	} else if len(pos) > 0 {
		msg = "no arguments expected"
	}
	if msg != "" {
		fmt.Fprintln(stderr, d.name+":", msg)
		d.fs.Usage()
		return exitUsage
	}
	var localSet *profile.Set
	if d.profiles != nil && *d.profiles != "" {
		var err error
		if localSet, err = loadProfiles("", *d.profiles); err != nil {
			printProfileErr(stderr, d.name+": --profiles", err)
			return exitUsage
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	url := *d.nats.url
	var auth []nats.Option
	var err error
	// roleAuth returns the connection options of a role: the flags'
	// credentials for an external server, the embedded server's own.
	roleAuth := func(r broker.Role) ([]nats.Option, error) { return d.nats.options(r, *d.data) }
	if url == "" && d.embedded != nil {
		srv, err := d.embedded(log)
		if err != nil {
			return fail(exitFailed, err)
		}
		defer srv.Shutdown()
		url = srv.ClientURL()
		roleAuth = srv.ClientOptions
		if auth, err = roleAuth(d.role); err != nil {
			return fail(exitFailed, err)
		}
	} else if auth, err = roleAuth(d.role); err != nil {
		return fail(exitUsage, err)
	}
	cfg := queue.Config{Role: d.role}
	if d.replicas != nil {
		cfg.Replicas = *d.replicas
	}
	if cfg.Binaries, err = d.binaries.open(ctx, log); err != nil {
		return fail(exitFailed, err)
	}
	p, err := openPipeline(ctx, url, auth, cfg, log)
	if err != nil {
		return fail(exitFailed, err)
	}
	defer p.close(log)
	if d.opsAddr != nil && *d.opsAddr != "" {
		_, stop, err := listenHTTP(*d.opsAddr, p.opsMux(), defaultHTTPLimits, "operator", log)
		if err != nil {
			return fail(exitFailed, err)
		}
		defer stop()
	}
	// Workers render with the profiles kept in NATS: folio serve puts
	// --profiles there first (as the admin); folio worker only checks
	// that NATS holds exactly those.
	var profiles *queue.Profiles
	if d.workers != nil {
		if localSet != nil && d.putProfiles {
			adminAuth, err := roleAuth(broker.RoleAdmin)
			if err == nil {
				err = putProfiles(ctx, url, adminAuth, localSet)
			}
			if err != nil {
				return fail(exitFailed, fmt.Errorf("--profiles: keeping the profiles in NATS: %w", err))
			}
		}
		if profiles, err = p.q.WatchProfiles(ctx); err != nil {
			return fail(exitFailed, fmt.Errorf("site profiles: %w", err))
		}
		if localSet != nil && !d.putProfiles {
			held, err := profiles.ProfileSet(ctx)
			if err == nil {
				err = sameProfiles(localSet, held)
			}
			if err != nil {
				fmt.Fprintf(stderr, "%s: --profiles %s: %v; run folio profile put %s (admin role) first\n", d.name, *d.profiles, err, *d.profiles)
				return exitUsage
			}
		}
	}
	stop, err := d.start(ctx, &running{p: p, url: url, roleAuth: roleAuth, log: log, stdout: stdout})
	if err != nil {
		return fail(exitFailed, err)
	}
	if stop != nil {
		defer stop()
	}
	if d.workers != nil {
		setWorkerMemoryLimit(*d.workers)
		p.q.Work(ctx, &queue.Engine{Versions: p.q.Store(), Profiles: profiles}, queue.WorkerOptions{Slots: *d.workers, Logger: log, Metrics: p.metrics})
		log.Info("workers stopped; shutting down")
	} else {
		<-ctx.Done()
		log.Info("shutting down")
	}
	return exitOK
}
