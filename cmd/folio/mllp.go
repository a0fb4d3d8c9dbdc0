package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/input/hl7input"
	"github.com/foliohealth/folio/mllp"
	"github.com/foliohealth/folio/mllp/intake"
	"github.com/foliohealth/folio/queue"
)

// mllpFlags are the MLLP listener's flags (folio serve and folio mllp).
type mllpFlags struct {
	maxFrame      *int
	readTimeout   *time.Duration
	idleTimeout   *time.Duration
	maxConns      *int
	processingIDs *string
	site          *string
}

func addMLLPFlags(fs *flag.FlagSet) mllpFlags {
	return mllpFlags{
		maxFrame:      fs.Int("mllp-max-frame", 16<<20, "MLLP: largest message in bytes; a larger frame is refused (AR) and its connection closed"),
		readTimeout:   fs.Duration("mllp-read-timeout", 60*time.Second, "MLLP: a message must arrive whole within this time of its start byte"),
		idleTimeout:   fs.Duration("mllp-idle-timeout", 10*time.Minute, "MLLP: close a connection that sends nothing for this long"),
		maxConns:      fs.Int("mllp-max-conns", 256, "MLLP: connections served at once (more are closed when accepted)"),
		processingIDs: fs.String("mllp-processing-ids", "P", "MLLP: MSH-11 processing ids taken, comma-separated (others get AR)"),
		site:          addSiteFlag(fs),
	}
}

// addSiteFlag adds --hl7-site: the HL7 v2 site table (docs/hl7v2.md).
func addSiteFlag(fs *flag.FlagSet) *string {
	return fs.String("hl7-site", "", "HL7 v2 site table, JSON: local OBR-24 codes, sender defaults, facility names, time zone (docs/hl7v2.md)")
}

// loadSite reads the site table, the default site when path is empty.
func loadSite(path string) (hl7input.Site, error) {
	if path == "" {
		return hl7input.Site{}, nil
	}
	return hl7input.LoadSite(path)
}

// startMLLP listens for HL7 v2 over MLLP on addr and hands each message to
// an intake publishing with pub (a queue of the submitter role, which also
// numbers versions: withdrawals are jobs the workers carry out). It returns
// the bound address and a function that stops the listener (letting
// messages in hand finish).
func (p *pipeline) startMLLP(ctx context.Context, addr string, pub *queue.Queue, mf mllpFlags, log *slog.Logger) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("--mllp %s: %w", addr, err)
	}
	var ids []string
	for _, s := range strings.Split(*mf.processingIDs, ",") {
		if s = strings.TrimSpace(s); s != "" {
			ids = append(ids, s)
		}
	}
	site, err := loadSite(*mf.site)
	if err != nil {
		ln.Close()
		return "", nil, fmt.Errorf("--hl7-site: %w", err)
	}
	in := intake.New(pub, pub.Versions(), intake.Config{ProcessingIDs: ids, Site: site})
	srv := mllp.NewServer(in, mllp.Config{
		MaxFrame: *mf.maxFrame, ReadTimeout: *mf.readTimeout, IdleTimeout: *mf.idleTimeout,
		MaxConns: *mf.maxConns, Logger: log, Metrics: mllp.NewMetrics(p.reg),
	})
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(sctx, ln); err != nil {
			log.Error("MLLP listener stopped", "err", err)
		}
	}()
	log.Info("MLLP listener ready", "addr", ln.Addr().String())
	return ln.Addr().String(), func() { cancel(); <-done }, nil
}

// runMLLP implements "folio mllp": the MLLP listener alone, publishing jobs
// to an external NATS server or cluster for workers elsewhere.
func runMLLP(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("folio mllp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nf := addNATSFlags(fs, "nats://127.0.0.1:4222")
	data := fs.String("data", "./folio-data", "data directory of a folio serve whose embedded NATS server to use (its credentials)")
	def := "127.0.0.1:2575"
	if v := os.Getenv("FOLIO_MLLP"); v != "" {
		def = v
	}
	listen := fs.String("listen", def, "MLLP address (also FOLIO_MLLP; conventional port 2575)")
	addr := fs.String("addr", "", "HTTP address for /healthz, /readyz and /metrics (off when empty)")
	mf := addMLLPFlags(fs)
	return runDaemon(ctx, daemon{
		name: "folio mllp", fs: fs, nats: nf, data: data, role: broker.RoleSubmitter, opsAddr: addr,
		usage: func(pos []string) string {
			if len(pos) > 0 || *nf.url == "" {
				return "no arguments expected and --nats-url must be set"
			}
			return ""
		},
		start: func(ctx context.Context, r *running) (func(), error) {
			bound, stop, err := r.p.startMLLP(ctx, *listen, r.p.q, mf, r.log)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(r.stdout, "folio mllp ready: HL7 v2 over MLLP on %s, jobs to %s\n", bound, r.url)
			return func() { stop(); r.log.Info("MLLP listener stopped") }, nil
		},
	}, args, stdout, stderr)
}
