package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpLimits bound what one client can hold of an HTTP listener: time to
// send a request, time a kept-alive connection may sit idle, time one write
// of the response may take, header bytes and connections at once.
type httpLimits struct {
	ReadHeader time.Duration // request line and headers
	Read       time.Duration // the whole request, body included
	Idle       time.Duration // between requests on a kept-alive connection
	// Write is the deadline of each write of a response, renewed before
	// every write: a large Binary streams for as long as the client keeps
	// reading, and a client that stops reading is dropped after Write.
	Write          time.Duration
	MaxHeaderBytes int
	// MaxConns caps the connections served at once; further ones wait in
	// the listen backlog (holding no descriptor of this process) until one
	// closes.
	MaxConns int
}

// defaultHTTPLimits apply to the FHIR and operator listeners. Requests are
// GETs without bodies; a bearer token is at most 16 KiB. Each listener
// serves at most 1,024 connections and never more than a quarter of the
// process's descriptor limit, so that clients of the HTTP side can never
// take the descriptors the embedded NATS server and the JetStream store
// need.
var defaultHTTPLimits = httpLimits{
	ReadHeader:     10 * time.Second,
	Read:           30 * time.Second,
	Idle:           60 * time.Second,
	Write:          30 * time.Second,
	MaxHeaderBytes: 64 << 10,
	MaxConns:       maxConns(1024),
}

// maxConns is n, or a quarter of the descriptor limit if that is less
// (at least 4).
func maxConns(n int) int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur > 0 && rl.Cur/4 < uint64(n) {
		return max(4, int(rl.Cur/4))
	}
	return n
}

// listenHTTP serves h on addr within lim. It returns the address it
// listens on and a function that shuts the server down.
func listenHTTP(addr string, h http.Handler, lim httpLimits, what string, log *slog.Logger) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	return ln.Addr().String(), serveListener(ln, h, lim, what, log), nil
}

// serveListener serves h on ln within lim and returns a function that
// shuts the server down.
func serveListener(ln net.Listener, h http.Handler, lim httpLimits, what string, log *slog.Logger) func() {
	srv := &http.Server{
		Handler:           writeDeadlines(h, lim.Write),
		ReadHeaderTimeout: lim.ReadHeader,
		ReadTimeout:       lim.Read,
		IdleTimeout:       lim.Idle,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	var l net.Listener = ln
	if lim.MaxConns > 0 {
		l = &limitListener{Listener: ln, sem: make(chan struct{}, lim.MaxConns), done: make(chan struct{})}
	}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server", "listener", what, "err", err)
		}
	}()
	log.Info("HTTP listening", "listener", what, "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}
}

// writeDeadlines gives every write of a response its own deadline d.
func writeDeadlines(h http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		rc.SetWriteDeadline(time.Now().Add(d))
		h.ServeHTTP(&deadlineWriter{ResponseWriter: w, rc: rc, d: d}, r)
	})
}

type deadlineWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.rc.SetWriteDeadline(time.Now().Add(w.d))
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// limitListener accepts at most cap(sem) connections at once.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{} // closed by Close: a waiting Accept returns
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// addHealth routes /healthz (the process is up) and /readyz (NATS is
// connected and JetStream answers) on mux, for GET and HEAD only: HEAD
// /readyz runs the same check. Other methods get 405.
func (p *pipeline) addHealth(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if !p.nc.IsConnected() {
			http.Error(w, "not connected to NATS", http.StatusServiceUnavailable)
			return
		}
		if err := p.q.Ready(ctx); err != nil {
			http.Error(w, "JetStream not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	notAllowed := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, r.Method+" is not allowed: GET or HEAD", http.StatusMethodNotAllowed)
	}
	mux.HandleFunc("/healthz", notAllowed)
	mux.HandleFunc("/readyz", notAllowed)
}

// opsMux is the operator listener's mux (--ops-addr, loopback by default):
// /metrics (Prometheus), /healthz and /readyz. Operator pages (the console)
// are added to it with Handle before it is served; nothing on it is
// reachable through the FHIR listener.
func (p *pipeline) opsMux() *http.ServeMux {
	mux := http.NewServeMux()
	p.addHealth(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.reg, promhttp.HandlerOpts{}))
	return mux
}
