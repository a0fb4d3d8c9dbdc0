package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/console"
	"github.com/foliohealth/folio/profile"
	"github.com/foliohealth/folio/queue"
)

// pipelineFlags are the flags serve and worker share.
type pipelineFlags struct {
	nats     *natsFlags
	workers  *int
	replicas *int
	profiles *string
}

func addPipelineFlags(fs *flag.FlagSet, defaultURL string) pipelineFlags {
	return pipelineFlags{
		nats:     addNATSFlags(fs, defaultURL),
		workers:  fs.Int("workers", runtime.NumCPU(), "render workers (jobs rendered at once)"),
		replicas: fs.Int("replicas", 1, "replicas of the JetStream streams and buckets (3 in a cluster)"),
		profiles: fs.String("profiles", "", "site profiles: the *.json profiles in this directory (docs/site-profile-v1.md)"),
	}
}

// putProfiles writes set into the deployment's NATS as the admin role:
// what every worker renders with.
func putProfiles(ctx context.Context, url string, auth []nats.Option, set *profile.Set) error {
	nc, err := broker.Connect(url, auth...)
	if err != nil {
		return err
	}
	defer nc.Close()
	octx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	q, err := queue.Open(octx, nc, queue.Config{Role: broker.RoleAdmin})
	if err != nil {
		return err
	}
	return q.PutProfiles(octx, set)
}

// runServe implements "folio serve": embedded (or external) NATS, render
// workers, and the HTTP side (FHIR endpoint, /healthz, /readyz, /metrics).
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("folio serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./folio-data", "data directory (embedded NATS store, signing key)")
	addr := fs.String("addr", "127.0.0.1:8080", "HTTP address of the FHIR endpoint (and /healthz, /readyz)")
	listen := fs.String("nats-listen", "127.0.0.1:4222", "client address of the embedded NATS server")
	syncAlways := fs.Bool("sync-always", false, "embedded NATS server: fsync the JetStream store before acknowledging each write,\nso that acknowledged jobs and Binaries survive a machine crash or power loss\n(slower). Default: nats-server's policy, which survives a process crash\nand fsyncs every 2 minutes. Ignored with --nats-url (configure that server)")
	verbose := fs.Bool("verbose", false, "log the embedded NATS server's start-up and informational lines too\n(default: its warnings and errors only)")
	pf := addPipelineFlags(fs, "")
	af := addAPIFlags(fs)
	mllpAddr := fs.String("mllp", "", "also take HL7 v2 ORU^R01 over MLLP on this address (conventional port 2575);\neach message is acknowledged AA only once its jobs are durably queued")
	mf := addMLLPFlags(fs)
	return runDaemon(ctx, daemon{
		name: "folio serve", fs: fs, nats: pf.nats, data: data, role: broker.RoleWorker,
		replicas: pf.replicas, workers: pf.workers, profiles: pf.profiles, putProfiles: true,
		usage: func(pos []string) string {
			if len(pos) > 0 || *pf.workers < 1 {
				return "no arguments expected and --workers must be at least 1"
			}
			if host, _, err := net.SplitHostPort(*listen); *pf.nats.url == "" && err == nil && !broker.LoopbackHost(host) && !*pf.nats.insecure {
				return fmt.Sprintf("--nats-listen %s is not a loopback address and the embedded NATS server has no TLS: "+
					"run an external nats-server with TLS (docs/SECURITY.md), or give --nats-insecure", *listen)
			}
			return ""
		},
		embedded: func(log *slog.Logger) (*broker.Server, error) {
			srv, err := broker.StartServer(broker.ServerConfig{Policy: queue.RolePermissions, DataDir: *data, Listen: *listen, SyncAlways: *syncAlways, Logger: natsLogger(stderr, *verbose)})
			if err != nil {
				return nil, err
			}
			log.Debug("embedded NATS server started", "url", srv.ClientURL(), "store", filepath.Join(*data, "nats"), "sync_always", *syncAlways,
				"credentials", broker.CredentialsDir(*data))
			return srv, nil
		},
		start: func(ctx context.Context, r *running) (func(), error) {
			var stops stopList
			// The MLLP listener starts before the HTTP side, so that /readyz
			// answering means every listener of this process is accepting.
			// It publishes jobs as a submitter, not with the workers'
			// connection.
			var mllpBound string
			if *mllpAddr != "" {
				sauth, err := r.roleAuth(broker.RoleSubmitter)
				if err != nil {
					return nil, err
				}
				sp, err := openPipeline(ctx, r.url, sauth, queue.Config{Role: broker.RoleSubmitter}, r.log)
				if err != nil {
					return nil, fmt.Errorf("MLLP's connection: %w", err)
				}
				stops.add(func() { sp.close(r.log) })
				bound, stopMLLP, err := r.p.startMLLP(ctx, *mllpAddr, sp.q, mf, r.log)
				if err != nil {
					stops.run()
					return nil, err
				}
				stops.add(stopMLLP)
				mllpBound = bound
			}
			r.p.withConsole = true
			httpAddr, opsAddr, stopHTTP, err := r.p.startAPI(*addr, *data, af, r.log)
			if err != nil {
				stops.run()
				return nil, err
			}
			stops.add(stopHTTP)
			r.log.Info("folio serve ready", "workers", *pf.workers)
			printBanner(r.stdout, bannerInfo{
				httpAddr: shownAddr(*addr, httpAddr), baseURL: *af.baseURL, natsURL: r.url, embedded: *pf.nats.url == "",
				opsAddr: shownAddr(*af.opsAddr, opsAddr), console: opsAddr != "", mllpAddr: mllpBound,
				dataDir: *data, devAuth: *af.jwks == "", workers: *pf.workers,
			})
			return stops.run, nil
		},
		binaries: addBinaryStoreFlag(fs),
	}, args, stdout, stderr)
}

// stopList stops what was started, last first.
type stopList []func()

func (s *stopList) add(f func()) { *s = append(*s, f) }

func (s *stopList) run() {
	for i := len(*s) - 1; i >= 0; i-- {
		(*s)[i]()
	}
	*s = nil
}

// natsLogger is the logger of the embedded NATS server: its warnings and
// errors only, unless verbose. Its start-up banner (some 40 lines) is
// informational and says nothing a folio user must act on.
func natsLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	return slog.New(quietNATS{slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})})
}

// quietNATS demotes to info the one warning nats-server always gives for
// folio's configuration: folio raises the message size limit to 20 MiB on
// purpose (a report may be 16 MiB; Binaries go through the Object Store in
// chunks), so "payloads over 8 MB are discouraged" is not a problem to report.
type quietNATS struct{ slog.Handler }

func (h quietNATS) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && strings.HasPrefix(r.Message, "Maximum payloads over") {
		r.Level = slog.LevelInfo
		if !h.Handler.Enabled(ctx, r.Level) {
			return nil
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietNATS) WithAttrs(as []slog.Attr) slog.Handler { return quietNATS{h.Handler.WithAttrs(as)} }
func (h quietNATS) WithGroup(g string) slog.Handler       { return quietNATS{h.Handler.WithGroup(g)} }

// bannerInfo is what the ready banner of folio serve says.
type bannerInfo struct {
	httpAddr, baseURL string // FHIR listener address, --base-url
	opsAddr           string // operator listener address ("" when it is off)
	console           bool   // the console is mounted on the operator listener
	natsURL           string
	mllpAddr          string // HL7 v2 MLLP listener ("" when off)
	embedded          bool   // the NATS server is folio's own
	dataDir           string
	devAuth           bool
	workers           int
}

// printBanner prints the short "ready" text of folio serve on w (stdout;
// logs go to stderr): where everything is and how to get a token.
func printBanner(w io.Writer, b bannerInfo) {
	fhirURL := b.baseURL
	if fhirURL == "" {
		fhirURL = "http://" + b.httpAddr
	}
	ops := b.opsAddr
	data := b.dataDir
	if abs, err := filepath.Abs(data); err == nil {
		data = abs
	}
	nats := b.natsURL + " (embedded, JetStream in the data directory)"
	if !b.embedded {
		nats = b.natsURL + " (external)"
	}
	fmt.Fprintf(w, "folio %s ready: %d render workers\n", folio.Version, b.workers)
	fmt.Fprintf(w, "  FHIR endpoint   %s/  (bearer token required)\n", strings.TrimSuffix(fhirURL, "/"))
	fmt.Fprintf(w, "  NATS            %s\n", nats)
	if b.embedded {
		fmt.Fprintf(w, "  NATS creds      %s creds --data %s  (NKeys per role, for the nats CLI)\n", selfName(), shellQuote(b.dataDir))
	}
	if b.mllpAddr != "" {
		fmt.Fprintf(w, "  HL7 v2 (MLLP)   %s\n", b.mllpAddr)
	}
	if ops == "" {
		fmt.Fprintf(w, "  operator        off (--ops-addr \"\")\n")
	} else if b.console {
		login := "no login on loopback"
		if !isLoopback(ops) {
			login = "bearer token with scope " + console.OperatorScope
		}
		fmt.Fprintf(w, "  operator        http://%s/console  (%s; metrics: http://%s/metrics)\n", ops, login, ops)
	} else {
		fmt.Fprintf(w, "  operator        http://%s/metrics\n", ops)
	}
	fmt.Fprintf(w, "  data directory  %s\n", data)
	if b.devAuth {
		fmt.Fprintf(w, "  dev token       %s token --data %s --scope \"user/Binary.read user/DocumentReference.read\"\n", selfName(), shellQuote(b.dataDir))
	} else {
		fmt.Fprintf(w, "  tokens          from the identity provider (--jwks-url)\n")
	}
	fmt.Fprintln(w, "Stop with Ctrl-C (SIGINT) or SIGTERM; logs go to stderr.")
}

// shownAddr is the address to show for a listener: the host as configured
// (0.0.0.0 stays 0.0.0.0, not the [::] the listener reports) with the port
// it listens on (which differs when the configured port is 0).
func shownAddr(configured, listening string) string {
	if listening == "" {
		return ""
	}
	host, _, err := net.SplitHostPort(configured)
	_, port, err2 := net.SplitHostPort(listening)
	if err != nil || err2 != nil {
		return listening
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return net.JoinHostPort(host, port)
}

// selfName is how the user ran this program, for commands the banner
// suggests: "./folio" stays "./folio"; a "go run" binary (in a temporary
// build directory) becomes "go run ./cmd/folio".
func selfName() string {
	p := os.Args[0]
	if strings.Contains(p, "go-build") {
		return "go run ./cmd/folio"
	}
	return p
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:,@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// pipeline is a connection to the render pipeline with its metrics.
type pipeline struct {
	nc      *nats.Conn
	closed  chan struct{}
	q       *queue.Queue
	reg     *prometheus.Registry
	metrics *queue.Metrics
	// withConsole mounts the operator console on the operator listener
	// (folio serve).
	withConsole bool
}

// openPipeline connects to NATS with auth (the options of one role) and
// sets up or binds the pipeline's resources for cfg.Role.
func openPipeline(ctx context.Context, url string, auth []nats.Option, cfg queue.Config, log *slog.Logger) (*pipeline, error) {
	p := &pipeline{closed: make(chan struct{})}
	nc, err := broker.Connect(url, append(auth,
		nats.ClosedHandler(func(*nats.Conn) { close(p.closed) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("NATS reconnected", "url", c.ConnectedUrl()) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { log.Warn("NATS", "err", err) }),
	)...)
	if err != nil {
		return nil, err
	}
	p.nc = nc
	octx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	p.q, err = queue.Open(octx, nc, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	p.reg = prometheus.NewRegistry()
	p.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.Role == broker.RoleAPI || cfg.Role == broker.RoleSubmitter {
		p.metrics = queue.NewMetrics(p.reg, nil) // the role may not read the queue's depth
	} else {
		p.metrics = queue.NewMetrics(p.reg, p.q)
	}
	return p, nil
}

// close drains the connection: pending publishes and acks are flushed.
func (p *pipeline) close(log *slog.Logger) {
	if err := p.nc.Drain(); err != nil {
		p.nc.Close()
		return
	}
	select {
	case <-p.closed:
	case <-time.After(10 * time.Second):
		log.Warn("NATS drain timed out")
		p.nc.Close()
	}
}
