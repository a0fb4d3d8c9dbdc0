package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/foliohealth/folio/queue"
)

// pipelineFlags are the flags serve and worker share.
type pipelineFlags struct {
	natsURL  *string
	workers  *int
	replicas *int
}

func addPipelineFlags(fs *flag.FlagSet, defaultURL string) pipelineFlags {
	return pipelineFlags{
		natsURL:  fs.String("nats-url", defaultURL, "NATS server or cluster URL(s), comma-separated"),
		workers:  fs.Int("workers", runtime.NumCPU(), "render workers (jobs rendered at once)"),
		replicas: fs.Int("replicas", 1, "replicas of the JetStream streams and buckets (3 in a cluster)"),
	}
}

// runServe implements "folio serve": embedded (or external) NATS, render
// workers, and the HTTP side (FHIR endpoint, /healthz, /readyz, /metrics).
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("folio serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./folio-data", "data directory (embedded NATS store, signing key)")
	addr := fs.String("addr", "127.0.0.1:8080", "HTTP address of the FHIR endpoint, health and metrics")
	listen := fs.String("nats-listen", "127.0.0.1:4222", "client address of the embedded NATS server")
	syncAlways := fs.Bool("sync-always", false, "embedded NATS server: fsync the JetStream store before acknowledging each write,\nso that acknowledged jobs and Binaries survive a machine crash or power loss\n(slower). Default: nats-server's policy, which survives a process crash\nand fsyncs every 2 minutes. Ignored with --nats-url (configure that server)")
	pf := addPipelineFlags(fs, "")
	af := addAPIFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "folio serve:", err)
		return exitUsage
	}
	if len(pos) > 0 || *pf.workers < 1 {
		fmt.Fprintln(stderr, "folio serve: no arguments expected and --workers must be at least 1")
		fs.Usage()
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	url := *pf.natsURL
	if url == "" {
		srv, err := queue.StartServer(queue.ServerConfig{DataDir: *data, Listen: *listen, SyncAlways: *syncAlways, Logger: log})
		if err != nil {
			fmt.Fprintln(stderr, "folio serve:", err)
			return exitFailed
		}
		defer srv.Shutdown()
		url = srv.ClientURL()
		log.Info("embedded NATS server started", "url", url, "store", filepath.Join(*data, "nats"), "sync_always", *syncAlways)
	}
	p, err := openPipeline(ctx, url, *pf.replicas, log)
	if err != nil {
		fmt.Fprintln(stderr, "folio serve:", err)
		return exitFailed
	}
	defer p.close(log)

	stopHTTP, err := p.startAPI(*addr, *data, af, log)
	if err != nil {
		fmt.Fprintln(stderr, "folio serve:", err)
		return exitFailed
	}
	defer stopHTTP()
	log.Info("folio serve ready", "workers", *pf.workers)
	p.q.Work(ctx, &queue.Engine{}, queue.WorkerOptions{Slots: *pf.workers, Logger: log, Metrics: p.metrics})
	log.Info("workers stopped; shutting down")
	return exitOK
}

// pipeline is a connection to the render pipeline with its metrics.
type pipeline struct {
	nc      *nats.Conn
	closed  chan struct{}
	q       *queue.Queue
	reg     *prometheus.Registry
	metrics *queue.Metrics
}

// openPipeline connects to NATS and sets up the pipeline's resources.
func openPipeline(ctx context.Context, url string, replicas int, log *slog.Logger) (*pipeline, error) {
	p := &pipeline{closed: make(chan struct{})}
	nc, err := queue.Connect(url,
		nats.ClosedHandler(func(*nats.Conn) { close(p.closed) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("NATS reconnected", "url", c.ConnectedUrl()) }),
	)
	if err != nil {
		return nil, err
	}
	p.nc = nc
	octx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	p.q, err = queue.Open(octx, nc, queue.Config{Replicas: replicas})
	if err != nil {
		nc.Close()
		return nil, err
	}
	p.reg = prometheus.NewRegistry()
	p.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p.metrics = queue.NewMetrics(p.reg, p.q)
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

// serveHTTP serves /healthz, /readyz, /metrics and, if api is not nil,
// everything else through api. It returns a function that shuts it down.
func (p *pipeline) serveHTTP(addr string, api http.Handler, log *slog.Logger) (func(), error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if !p.nc.IsConnected() {
			http.Error(w, "not connected to NATS", http.StatusServiceUnavailable)
			return
		}
		if _, _, err := p.q.Depth(ctx); err != nil {
			http.Error(w, "JetStream not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.reg, promhttp.HandlerOpts{}))
	if api != nil {
		mux.Handle("/", api)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server", "err", err)
		}
	}()
	log.Info("HTTP listening", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}
