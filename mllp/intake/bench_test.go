package intake_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/mllp"
	"github.com/foliohealth/folio/mllp/intake"
	"github.com/foliohealth/folio/queue"
)

// listener runs an embedded nats-server, the queue and an MLLP listener
// whose intake publishes there (no workers: the jobs wait in the stream,
// as rendering "continues behind the queue").
func listener(b *testing.B) string {
	b.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := broker.StartServer(broker.ServerConfig{Policy: queue.RolePermissions, DataDir: b.TempDir(), Listen: "127.0.0.1:-1", Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Shutdown)
	nc, err := srv.Connect(broker.RoleAdmin)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	q, err := queue.Open(context.Background(), nc, queue.Config{})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := mllp.NewServer(intake.New(q, q.Store(), intake.Config{}), mllp.Config{Logger: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx, ln); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// message returns the 40-OBX pathology message with accession n, so that
// every message is a new report (a new job, a new version record).
func message(b *testing.B, n int) []byte {
	data, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "hl7", "surgical-breast.hl7"))
	if err != nil {
		b.Fatal(err)
	}
	acc := []byte(fmt.Sprintf("S26-B%06d", n))
	data = bytes.ReplaceAll(data, []byte("S26-004512"), acc)
	return bytes.ReplaceAll(data, []byte("CP20261120-0001"), append([]byte("CTRL-"), acc...))
}

// run sends n messages over conns connections, each connection waiting for
// each acknowledgement (as MLLP senders do), at most rate messages/s in all
// (0: as fast as acknowledgements come). It returns the acknowledgement
// latencies.
func run(b *testing.B, addr string, conns, n, rate int, base int) []time.Duration {
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = append(append([]byte{0x0b}, message(b, base+i)...), 0x1c, 0x0d)
	}
	var next atomic.Int64
	lat := make([]time.Duration, n)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		wg.Go(func() {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if rate > 0 {
					if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
						time.Sleep(d)
					}
				}
				t0 := time.Now()
				conn.Write(frames[i])
				ack, err := br.ReadBytes(0x1c)
				if err != nil {
					b.Error(err)
					return
				}
				br.ReadByte()
				lat[i] = time.Since(t0)
				if !bytes.Contains(ack, []byte("MSA|AA|")) {
					b.Errorf("message %d: %q", i, ack)
					return
				}
			}
		})
	}
	wg.Wait()
	return lat
}

func pct(l []time.Duration, p float64) time.Duration {
	s := slices.Clone(l)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}

// BenchmarkMLLP: 4 connections sending the 40-OBX pathology ORU as fast as
// acknowledgements come; every AA is given after the job's JetStream
// publish acknowledgement. Reports acknowledged messages/s and latency.
func BenchmarkMLLP(b *testing.B) {
	addr := listener(b)
	run(b, addr, 4, 200, 0, 1_000_000) // warm up
	b.ResetTimer()
	t0, cpu0 := time.Now(), cpuTime()
	lat := run(b, addr, 4, b.N, 0, 0)
	el := time.Since(t0)
	b.ReportMetric(float64(b.N)/el.Seconds(), "acks/s")
	// CPU of the whole process (listener, mapping, embedded nats-server,
	// the benchmark's clients) per acknowledged message: on a shared
	// machine the figure that says what 2 cores would carry.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/ack")
	b.ReportMetric(float64(pct(lat, 0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(lat, 0.99).Microseconds())/1000, "p99-ms")
}

// BenchmarkMLLPPaced: the same at a fixed offered rate (FOLIO_MLLP_RATE,
// default 500 messages/s, half the 1,000/s target), for the
// acknowledgement latency at that load.
func BenchmarkMLLPPaced(b *testing.B) {
	rate := 500
	if v := os.Getenv("FOLIO_MLLP_RATE"); v != "" {
		fmt.Sscan(v, &rate)
	}
	addr := listener(b)
	run(b, addr, 4, 200, 0, 1_000_000)
	b.ResetTimer()
	lat := run(b, addr, 4, b.N, rate, 0)
	b.ReportMetric(float64(rate), "offered/s")
	b.ReportMetric(float64(pct(lat, 0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(lat, 0.99).Microseconds())/1000, "p99-ms")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
