package mllp

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/foliohealth/folio/hl7"
)

func msg(id string) string {
	return "MSH|^~\\&|LIS|LAKESIDE|FOLIO|LAKESIDE|20261120140300||ORU^R01^ORU_R01|" + id + "|P|2.5.1\rPID|1||123^^^^MR||Doe^Jane\r"
}

// echo answers AA, or AE for a control id starting with "bad".
type echo struct {
	n    atomic.Int64
	seen sync.Map
}

func (e *echo) Handle(_ context.Context, b []byte) Outcome {
	e.n.Add(1)
	m, err := hl7.Parse(b)
	if err != nil {
		return Outcome{Code: AR, Errors: []*hl7.Error{err.(*hl7.Error)}}
	}
	e.seen.Store(m.ControlID(), true)
	if strings.HasPrefix(m.ControlID(), "bad") {
		return Outcome{Code: AE, Errors: []*hl7.Error{{Loc: hl7.Location{Segment: "PID", Seq: 1, Field: 3}, Code: hl7.CodeRequiredMissing, Text: "no MRN | here ^ & ~ \\"}}}
	}
	return Outcome{Code: AA}
}

func start(t *testing.T, h Handler, cfg Config) (string, *Metrics, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg.Metrics = NewMetrics(reg)
	s := NewServer(h, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	return ln.Addr().String(), cfg.Metrics, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
}

func frame(s string) []byte { return []byte("\x0b" + s + "\x1c\r") }

// readAck reads one framed acknowledgement and parses it.
func readAck(t *testing.T, br *bufio.Reader) *hl7.Message {
	t.Helper()
	b, err := br.ReadBytes(EndBlock)
	if err != nil {
		t.Fatalf("reading the ack: %v", err)
	}
	if cr, _ := br.ReadByte(); cr != CR || b[0] != StartBlock {
		t.Fatalf("ack not framed: %q", b)
	}
	m, err := hl7.Parse(b[1 : len(b)-1])
	if err != nil {
		t.Fatalf("ack does not parse: %v\n%q", err, b)
	}
	return m
}

func msa(m *hl7.Message) (code, ctrl string) {
	s := m.All("MSA")[0]
	return s.Text(1, 1), s.Text(2, 1)
}

func TestManyMessagesManyConnections(t *testing.T) {
	h := &echo{}
	addr, met, stop := start(t, h, Config{})
	defer stop()
	var wg sync.WaitGroup
	for c := 0; c < 4; c++ {
		wg.Go(func() {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			for i := 0; i < 25; i++ {
				id := fmt.Sprintf("C%dM%d", c, i)
				if i%5 == 4 {
					id = "bad" + id
				}
				conn.Write(frame(msg(id)))
				ack := readAck(t, br)
				code, ctrl := msa(ack)
				if ctrl != id {
					t.Errorf("MSA-2 %q, want %q", ctrl, id)
				}
				want := AA
				if strings.HasPrefix(id, "bad") {
					want = AE
					err := ack.All("ERR")[0]
					if got := err.Text(2, 1); got != "PID" {
						t.Errorf("ERR-2 %q", err.Raw(2))
					}
					if txt, _ := ack.Text(err.Raw(8)); txt != "no MRN | here ^ & ~ \\" {
						t.Errorf("ERR-8 %q", txt)
					}
					if err.Text(3, 1) != "101" || err.Text(4, 1) != "E" {
						t.Errorf("ERR-3/4 %q %q", err.Raw(3), err.Raw(4))
					}
				}
				if code != want {
					t.Errorf("%s: ack %s, want %s", id, code, want)
				}
				if c, e, _ := ack.Type(); c != "ACK" || e != "R01" {
					t.Errorf("ack type %s^%s", c, e)
				}
				if got := ack.MSH().Text(3, 1); got != "FOLIO" {
					t.Errorf("ack MSH-3 %q, want the receiver of the message", got)
				}
			}
		})
	}
	wg.Wait()
	if n := h.n.Load(); n != 100 {
		t.Errorf("handler called %d times, want 100", n)
	}
	if got := testutil.ToFloat64(met.Messages.WithLabelValues(AA)); got != 80 {
		t.Errorf("AA count %v", got)
	}
	if got := testutil.ToFloat64(met.Messages.WithLabelValues(AE)); got != 20 {
		t.Errorf("AE count %v", got)
	}
}

func TestCustomDelimitersInAck(t *testing.T) {
	addr, _, stop := start(t, HandlerFunc(func(context.Context, []byte) Outcome {
		return Outcome{Code: AE, Errors: []*hl7.Error{{Loc: hl7.Location{Segment: "OBR", Seq: 2, Field: 24}, Code: 103, Text: "a # and a $"}}}
	}), Config{})
	defer stop()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write(frame("MSH#$*!%#LIS#X#FOLIO#Y#2026##ORU$R01#ID42#P#2.4\n"))
	ack := readAck(t, bufio.NewReader(conn))
	if ack.Delims.Field != '#' || ack.Delims.Component != '$' {
		t.Errorf("ack delimiters %+v, want the message's", ack.Delims)
	}
	code, ctrl := msa(ack)
	e := ack.All("ERR")[0]
	if code != AE || ctrl != "ID42" {
		t.Errorf("MSA %s %s", code, ctrl)
	}
	if e.Field(2).Rep(1).Comp(3).Raw() == nil || string(e.Field(2).Rep(1).Comp(3).Raw()) != "24" {
		t.Errorf("ERR-2 %q", e.Raw(2))
	}
	if txt, _ := ack.Text(e.Raw(8)); txt != "a # and a $" {
		t.Errorf("ERR-8 %q", txt)
	}
}

// TestTooLarge: a frame over the limit gets AR naming the limit, the
// connection is closed, and the handler never sees it.
func TestTooLarge(t *testing.T) {
	h := &echo{}
	addr, met, stop := start(t, h, Config{MaxFrame: 1 << 20})
	defer stop()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	big := msg("BIG1") + "OBX|1|TX|1^x^L||" + strings.Repeat("A", 2<<20) + "\r"
	go conn.Write(frame(big))
	br := bufio.NewReader(conn)
	ack := readAck(t, br)
	if code, ctrl := msa(ack); code != AR || ctrl != "BIG1" {
		t.Errorf("MSA %s %s, want AR BIG1", code, ctrl)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Error("connection still open after a too-large frame")
	}
	if h.n.Load() != 0 {
		t.Error("handler saw a too-large frame")
	}
	if got := testutil.ToFloat64(met.Refused.WithLabelValues("too_large")); got != 1 {
		t.Errorf("too_large count %v", got)
	}
}

// TestNoEndByte: a frame cut off by the sender is never handed on.
func TestNoEndByte(t *testing.T) {
	h := &echo{}
	addr, met, stop := start(t, h, Config{})
	defer stop()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("\x0b" + msg("CUT1")))
	conn.(*net.TCPConn).CloseWrite()
	b, _ := io.ReadAll(conn)
	conn.Close()
	if len(b) != 0 || h.n.Load() != 0 {
		t.Errorf("a truncated frame was answered (%q) or handled (%d)", b, h.n.Load())
	}
	// A second start byte before the end: the first frame had no end.
	conn, _ = net.Dial("tcp", addr)
	conn.Write([]byte("\x0b" + msg("CUT2") + "\x0b" + msg("CUT3") + "\x1c\r"))
	b, _ = io.ReadAll(conn)
	conn.Close()
	if len(b) != 0 || h.n.Load() != 0 {
		t.Errorf("a frame without end was answered (%q) or handled (%d)", b, h.n.Load())
	}
	waitFor(t, func() bool {
		return testutil.ToFloat64(met.Refused.WithLabelValues("no_end"))+testutil.ToFloat64(met.Refused.WithLabelValues("garbage")) == 2
	})
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if ok() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not reached in 2 s")
}

func TestTimeouts(t *testing.T) {
	addr, _, stop := start(t, &echo{}, Config{IdleTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond})
	defer stop()
	for _, send := range []string{"", "\x0bMSH|^~\\&|slow"} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.Write([]byte(send))
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		if err != io.EOF {
			t.Errorf("sent %q then waited: %v, want the server to close the connection", send, err)
		}
		conn.Close()
	}
}

func TestConnectionLimit(t *testing.T) {
	addr, met, stop := start(t, &echo{}, Config{MaxConns: 2})
	defer stop()
	var open []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(frame(msg(fmt.Sprint("L", i))))
		readAck(t, bufio.NewReader(c)) // served
		open = append(open, c)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("third connection: %v, want it closed", err)
	}
	c.Close()
	if got := testutil.ToFloat64(met.ConnsRefused); got != 1 {
		t.Errorf("refused count %v", got)
	}
	for _, c := range open {
		c.Close()
	}
}

func TestAckOfGarbage(t *testing.T) {
	ack := Ack([]byte("not hl7"), Outcome{Code: AR, Errors: []*hl7.Error{{Code: 100, Text: "not HL7"}}}, "FOLIO", "LAKESIDE")
	m, err := hl7.Parse(ack)
	if err != nil {
		t.Fatalf("%v\n%q", err, ack)
	}
	if code, ctrl := msa(m); code != AR || ctrl != "" {
		t.Errorf("MSA %s %q", code, ctrl)
	}
	if !bytes.Contains(ack, []byte("ERR|MSH^1^^100&Segment sequence error&HL70357|MSH^1|100^Segment sequence error^HL70357|E||||not HL7")) {
		t.Errorf("ERR segment: %q", ack)
	}
}

// TestAckVersion: the acknowledgement copies MSH-12 when folio reads that
// version, else says 2.5.1 (so the sender can parse it).
func TestAckVersion(t *testing.T) {
	for in, want := range map[string]string{"2.3": "2.3", "2.8": "2.8", "2.2": "2.5.1", "": "2.5.1"} {
		ack := Ack([]byte("MSH|^~\\&|A|B|C|D|2026||ORU^R01|X1|P|"+in+"\r"), Outcome{Code: AR}, "FOLIO", "")
		m, err := hl7.Parse(ack)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if m.Version() != want {
			t.Errorf("message version %q: ack version %q, want %q", in, m.Version(), want)
		}
	}
}
