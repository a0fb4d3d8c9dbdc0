// Package mllp is an HL7 v2 listener over the Minimal Lower Layer Protocol:
// it reads framed messages (0x0B ... 0x1C 0x0D) from many connections, hands
// each to a Handler, and answers each with an original-mode acknowledgement
// (MSH, MSA, ERR) built from the Handler's outcome.
//
// Bounds: a frame larger than Config.MaxFrame is refused (AR naming the
// limit when its header could be read) and the connection closed; a frame
// must arrive whole within Config.ReadTimeout of its start byte; a
// connection that sends nothing for Config.IdleTimeout is closed; at most
// Config.MaxConns connections are served at once (others are closed as
// soon as they are accepted). Nothing half-read reaches the Handler.
package mllp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/hl7"
)

// Framing bytes.
const (
	StartBlock = 0x0B
	EndBlock   = 0x1C
	CR         = 0x0D
)

// Acknowledgement codes (MSA-1, original mode).
const (
	AA = "AA" // accepted: the message's jobs are durably queued
	AE = "AE" // error: folio refuses the content (ERR says where and why)
	AR = "AR" // rejected: message type, version or processing id not taken, not HL7, or a system error (resend later)
)

// Outcome is what a Handler decided for one message.
type Outcome struct {
	Code   string       // AA, AE or AR
	Errors []*hl7.Error // ERR segments (AE, AR); warnings may accompany AA
}

// Handler decides the outcome of one complete message. It is called with
// the message bytes (frame removed) and must return only once the outcome
// is final: for AA, once whatever it promised is durable.
type Handler interface {
	Handle(ctx context.Context, msg []byte) Outcome
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, msg []byte) Outcome

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, msg []byte) Outcome { return f(ctx, msg) }

// Config bounds the listener. Zero fields take the defaults named.
type Config struct {
	MaxFrame     int           // bytes of one message (16 MiB)
	ReadTimeout  time.Duration // from a frame's start byte to its end (60 s)
	IdleTimeout  time.Duration // waiting for the next frame (10 min)
	WriteTimeout time.Duration // writing one acknowledgement (30 s)
	MaxConns     int           // connections served at once (256)
	Logger       *slog.Logger
	Metrics      *Metrics
	// Application and Facility are MSH-3 and MSH-4 of the
	// acknowledgements when the message did not name a receiver (FOLIO).
	Application, Facility string
}

func (c Config) withDefaults() Config {
	if c.MaxFrame <= 0 {
		c.MaxFrame = 16 << 20
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 60 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 256
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Application == "" {
		c.Application = "FOLIO"
	}
	return c
}

// Metrics are the listener's Prometheus metrics:
//
//	folio_mllp_messages_total{ack}        messages answered, by MSA-1 code (AA, AE, AR)
//	folio_mllp_frames_refused_total{why}  frames refused unread (too_large, no_end, garbage)
//	folio_mllp_connections                connections open
//	folio_mllp_connections_refused_total  connections closed at once (limit reached)
//	folio_mllp_ack_seconds                end byte received to acknowledgement written
type Metrics struct {
	Messages     *prometheus.CounterVec
	Refused      *prometheus.CounterVec
	Conns        prometheus.Gauge
	ConnsRefused prometheus.Counter
	AckSeconds   prometheus.Histogram
}

// NewMetrics creates the metrics and registers them.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_mllp_messages_total", Help: "HL7 v2 messages answered over MLLP, by acknowledgement code.",
		}, []string{"ack"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_mllp_frames_refused_total", Help: "MLLP frames refused before their end (too large, no end byte, bytes outside a frame).",
		}, []string{"why"}),
		Conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "folio_mllp_connections", Help: "MLLP connections open.",
		}),
		ConnsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "folio_mllp_connections_refused_total", Help: "MLLP connections closed at once because the connection limit was reached.",
		}),
		AckSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "folio_mllp_ack_seconds", Help: "Time from a message's end byte to its acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
	}
	reg.MustRegister(m.Messages, m.Refused, m.Conns, m.ConnsRefused, m.AckSeconds)
	for _, c := range []string{AA, AE, AR} {
		m.Messages.WithLabelValues(c)
	}
	return m
}

// Server serves MLLP connections.
type Server struct {
	h     Handler
	cfg   Config
	sem   chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// NewServer returns a server handing messages to h.
func NewServer(h Handler, cfg Config) *Server {
	cfg = cfg.withDefaults()
	return &Server{h: h, cfg: cfg, sem: make(chan struct{}, cfg.MaxConns), conns: map[net.Conn]struct{}{}}
}

// Serve accepts connections on ln until ctx is done or ln fails. When ctx is
// done it closes ln, lets each connection finish the message in its
// Handler (its acknowledgement is written), drops frames still being read
// (unanswered: the sender resends them), closes the connections and
// returns nil.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var err error
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				var ne net.Error
				if errors.As(aerr, &ne) && ne.Timeout() {
					continue
				}
				err = aerr
			}
			break
		}
		select {
		case s.sem <- struct{}{}:
		default:
			s.cfg.Logger.Warn("MLLP connection refused: connection limit reached", "remote", c.RemoteAddr().String(), "limit", s.cfg.MaxConns)
			if s.cfg.Metrics != nil {
				s.cfg.Metrics.ConnsRefused.Inc()
			}
			c.Close()
			continue
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() { <-s.sem }()
			s.serveConn(ctx, c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		})
	}
	// End the reads of every connection: one waiting for a frame, or in the
	// middle of reading one (that frame is dropped unanswered, so the
	// sender sends it again), ends now; one whose message is in the
	// Handler finishes it and writes its acknowledgement first.
	s.mu.Lock()
	for c := range s.conns {
		c.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// errFrame is a framing problem that closes the connection.
type errFrame struct{ why, text string }

func (e *errFrame) Error() string { return e.text }

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	m := s.cfg.Metrics
	if m != nil {
		m.Conns.Inc()
		defer m.Conns.Dec()
	}
	log := s.cfg.Logger.With("remote", c.RemoteAddr().String())
	br := bufio.NewReaderSize(c, 64<<10)
	for ctx.Err() == nil {
		msg, err := s.readFrame(ctx, c, br)
		if err != nil {
			var fe *errFrame
			if errors.As(err, &fe) {
				log.Warn("MLLP frame refused; closing the connection", "why", fe.text)
				if m != nil {
					m.Refused.WithLabelValues(fe.why).Inc()
				}
				if fe.why == "too_large" && len(msg) > 0 {
					// The header was read: say why before closing.
					s.write(c, Ack(msg, Outcome{Code: AR, Errors: []*hl7.Error{{
						Loc: hl7.Location{Segment: "MSH", Seq: 1}, Code: hl7.CodeApplicationInternal,
						Text: fmt.Sprintf("the message is larger than the limit of %d bytes and was not read", s.cfg.MaxFrame),
					}}}, s.cfg.Application, s.cfg.Facility))
					if m != nil {
						m.Messages.WithLabelValues(AR).Inc()
					}
				}
			} else if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				var ne net.Error
				if !(errors.As(err, &ne) && ne.Timeout()) {
					log.Debug("MLLP connection ended", "err", err)
				}
			}
			return
		}
		end := time.Now()
		// A byte order mark before MSH (some Windows senders write one)
		// is not part of the message: the handler and the
		// acknowledgement see the message from MSH on.
		msg = folio.TrimBOM(msg)
		out := s.h.Handle(context.WithoutCancel(ctx), msg)
		ack := Ack(msg, out, s.cfg.Application, s.cfg.Facility)
		if m != nil {
			m.Messages.WithLabelValues(out.Code).Inc()
			m.AckSeconds.Observe(time.Since(end).Seconds())
		}
		if !s.write(c, ack) {
			log.Warn("MLLP acknowledgement not written; the sender will resend", "ack", out.Code)
			return
		}
	}
}

func (s *Server) write(c net.Conn, ack []byte) bool {
	c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	frame := make([]byte, 0, len(ack)+3)
	frame = append(frame, StartBlock)
	frame = append(frame, ack...)
	frame = append(frame, EndBlock, CR)
	_, err := c.Write(frame)
	return err == nil
}

// readFrame reads one frame. Between frames CR and LF are skipped; any
// other byte there is a framing error. On a too-large frame it returns the
// first bytes read (for the acknowledgement's header) with the error.
func (s *Server) readFrame(ctx context.Context, c net.Conn, br *bufio.Reader) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
	for {
		b, err := br.ReadByte()
		if err != nil {
			return nil, err
		}
		if b == StartBlock {
			break
		}
		if b == '\r' || b == '\n' {
			continue
		}
		return nil, &errFrame{"garbage", fmt.Sprintf("byte 0x%02X outside a frame (a frame starts with 0x0B)", b)}
	}
	if ctx.Err() == nil {
		c.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
	}
	var buf []byte
	for {
		chunk, err := br.ReadSlice(EndBlock)
		if len(buf)+len(chunk) > s.cfg.MaxFrame+1 {
			head := append(buf, chunk...)
			if len(head) > 64<<10 {
				head = head[:64<<10]
			}
			return bytes.Clone(head), &errFrame{"too_large", fmt.Sprintf("frame larger than %d bytes", s.cfg.MaxFrame)}
		}
		buf = append(buf, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if len(buf) > 0 {
				return nil, &errFrame{"no_end", fmt.Sprintf("connection ended after %d bytes of a frame without its end byte: %v", len(buf), err)}
			}
			return nil, err
		}
		// buf ends with 0x1C; the next byte must be CR.
		next, err := br.ReadByte()
		if err != nil {
			return nil, &errFrame{"no_end", "connection ended between the end byte 0x1C and its CR"}
		}
		if next != CR {
			return nil, &errFrame{"no_end", fmt.Sprintf("byte 0x%02X after the end byte 0x1C (want CR)", next)}
		}
		msg := buf[:len(buf)-1]
		if bytes.IndexByte(msg, StartBlock) >= 0 {
			return nil, &errFrame{"garbage", "a start byte 0x0B inside a frame: the previous frame had no end"}
		}
		return msg, nil
	}
}
