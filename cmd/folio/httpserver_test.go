package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/foliohealth/folio/internal/testutil"
)

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// testListener serves h within lim on a free loopback port.
func testListener(t *testing.T, h http.Handler, lim httpLimits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := serveListener(ln, h, lim, "test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(stop)
	return ln.Addr().String()
}

// TestSlowAndIdleConnectionsClosed: twenty connections that sit idle, send
// their headers slowly or declare a body and never send it are closed by
// the listener's timeouts, while normal reads keep being answered, and the
// process's descriptor count comes back down (issue 10).
func TestSlowAndIdleConnectionsClosed(t *testing.T) {
	lim := httpLimits{ReadHeader: time.Second, Read: 2 * time.Second, Idle: 2 * time.Second, Write: 2 * time.Second, MaxHeaderBytes: 8 << 10, MaxConns: 64}
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	addr := testListener(t, mux, lim)
	before := openFDs(t)

	var conns []net.Conn
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		return c
	}
	for i := 0; i < 20; i++ {
		c := dial()
		switch i % 4 {
		case 0: // connects and says nothing
		case 1: // half a request line, never finished
			fmt.Fprintf(c, "GET /ok HTTP/1.1\r\nHost: x\r\n")
		case 2: // declares a body and sends three bytes of it
			fmt.Fprintf(c, "POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nabc")
		case 3: // one good request, then keeps the connection idle
			fmt.Fprintf(c, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
		}
	}
	// Normal reads are answered meanwhile.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < 10; i++ {
		res, err := client.Get("http://" + addr + "/ok")
		if err != nil {
			t.Fatalf("normal read %d during the slow connections: %v", i, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("normal read %d: %s", i, res.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := openFDs(t); n > before+2*len(conns)+8 {
		t.Errorf("%d descriptors open during the test, %d before: more than the connections account for", n, before)
	}
	// Every one of the twenty is closed by the server (EOF or reset),
	// within the timeouts plus slack.
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("connection %d (kind %d) still open after 10 s", i, i%4)
		}
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for openFDs(t) > before+2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := openFDs(t); n > before+2 {
		t.Errorf("%d descriptors open after the connections closed, %d before", n, before)
	}
}

// TestConnectionCap: past MaxConns, a new connection waits until one
// closes; it is never refused and never served beyond the cap.
func TestConnectionCap(t *testing.T) {
	lim := httpLimits{ReadHeader: time.Second, Read: time.Second, Idle: time.Second, Write: time.Second, MaxHeaderBytes: 8 << 10, MaxConns: 4}
	var served atomic.Int32
	addr := testListener(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		io.WriteString(w, "ok\n")
	}), lim)
	var idle []net.Conn
	for i := 0; i < lim.MaxConns; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	time.Sleep(200 * time.Millisecond) // let the server accept them
	client := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	if res, err := client.Get("http://" + addr + "/"); err == nil {
		res.Body.Close()
		t.Fatalf("a fifth connection was served while %d were open (cap %d)", len(idle), lim.MaxConns)
	}
	// The idle ones time out (ReadHeader 1 s); then requests are served.
	client.Timeout = 5 * time.Second
	res, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("after the idle connections timed out: %v", err)
	}
	res.Body.Close()
	if served.Load() == 0 {
		t.Fatal("nothing served")
	}
}

// TestHeaderLimitAndWriteDeadline: headers past MaxHeaderBytes get 431; a
// client that stops reading a large response is dropped after one write
// deadline, while a reader that keeps reading gets all of it however long
// the whole takes.
func TestHeaderLimitAndWriteDeadline(t *testing.T) {
	lim := httpLimits{ReadHeader: time.Second, Read: 2 * time.Second, Idle: 2 * time.Second, Write: time.Second, MaxHeaderBytes: 8 << 10, MaxConns: 16}
	writeErr := make(chan error, 4)
	chunk := strings.Repeat("x", 32<<10)
	const chunks = 1024 // 32 MiB
	addr := testListener(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < chunks; i++ {
			if _, err := io.WriteString(w, chunk); err != nil {
				writeErr <- fmt.Errorf("chunk %d of %d: %w", i, chunks, err)
				return
			}
		}
		writeErr <- nil
	}), lim)

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 16<<10))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("16 KiB header over an 8 KiB limit: %s, want 431", res.Status)
	}

	// A reader that stops: the server's write fails after the deadline.
	stalled, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	fmt.Fprintf(stalled, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case err := <-writeErr:
		if err == nil {
			t.Fatal("32 MiB written to a client that reads nothing")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a write to a client that stopped reading never timed out")
	}

	// A slow but steady reader gets everything, though the whole response
	// takes longer than one write deadline.
	res2, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer res2.Body.Close()
	var n int64
	buf := make([]byte, 1<<20)
	start := time.Now()
	for {
		k, err := io.ReadFull(res2.Body, buf)
		n += int64(k)
		if err != nil {
			break
		}
		time.Sleep(50 * time.Millisecond) // 32 reads of 1 MiB: 1.6 s or more in all
	}
	if n != chunks*int64(len(chunk)) {
		t.Errorf("a steady reader got %d bytes of %d in %v", n, chunks*len(chunk), time.Since(start))
	}
	if err := <-writeErr; err != nil {
		t.Errorf("writing to a steady reader: %v", err)
	}
	if took := time.Since(start); took < lim.Write {
		t.Errorf("the whole response took %v, less than one write deadline: the test shows nothing", took)
	}
}

// TestServeUnderLowDescriptorLimit is the reproduction against the
// real folio serve (embedded NATS in the same process) with a descriptor
// limit of 64: thirty connections that sit idle or declare a body and never
// send it do not stop folio submit (the NATS side keeps its descriptors,
// the HTTP side takes at most a quarter), the FHIR side answers again once
// the listener's timeouts close them, and the process's descriptor count
// stays under the limit and comes back down.
func TestServeUnderLowDescriptorLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary: not in -short mode")
	}
	work := t.TempDir()
	addr, natsAddr, opsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	cmd := exec.Command("sh", "-c", `ulimit -n 64 && exec "$0" "$@"`, folioBinary(t), "serve",
		"--data", filepath.Join(work, "folio-data"), "--addr", addr, "--ops-addr", opsAddr, "--nats-listen", natsAddr, "--workers", "1")
	cmd.Dir = work
	cmd.Env = testutil.CleanEnv()
	log := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("folio serve log:\n%s", log.String())
		}
	}()
	client := &http.Client{Timeout: 2 * time.Second}
	get := func(path string) error {
		res, err := client.Get("http://" + addr + path)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("%s", res.Status)
		}
		return nil
	}
	testutil.PollUntil(t, 90*time.Second, "folio serve ready", func() bool { return get("/readyz") == nil })
	fds := func() int {
		es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	before := fds()

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 30; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if i%2 == 1 {
			fmt.Fprintf(c, "POST /Binary HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nabc")
		}
	}
	time.Sleep(500 * time.Millisecond)
	peak := fds()
	if peak >= 64 || peak > before+16+4 {
		t.Fatalf("%d descriptors open (%d before) with the limit at 64: the HTTP side holds more than its 16", peak, before)
	}
	sub := runFolio(t, "submit", "--nats-url", "nats://"+natsAddr, "--data", filepath.Join(work, "folio-data"), "--wait", "--timeout", "60s", filepath.Join(fixturesDir, "surgical-breast.json"))
	if sub.code != 0 || !strings.Contains(sub.stdout, `"done"`) {
		t.Fatalf("folio submit while 30 connections are held: exit %d\n%s\n%s", sub.code, sub.stdout, sub.stderr)
	}
	// The held connections are closed by the timeouts (10 s for headers,
	// 30 s for a request); then reads are answered again.
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(45 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("held connection %d still open after 45 s", i)
			}
		}
	}
	if err := get("/healthz"); err != nil {
		t.Fatalf("GET /healthz after the held connections closed: %v", err)
	}
	testutil.PollUntil(t, 10*time.Second, "descriptors back down", func() bool { return fds() <= before+4 })
	t.Logf("descriptors: %d before, %d with 30 held connections (limit 64, HTTP cap 16), %d after", before, peak, fds())
}
