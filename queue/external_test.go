package queue

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/foliohealth/folio/broker"
)

// The external-server restart test re-executes the test binary as a
// nats-server process.
const (
	envServerDir    = "FOLIO_QUEUE_TEST_SERVER_DIR"
	envServerListen = "FOLIO_QUEUE_TEST_SERVER_LISTEN"
)

// serverProcess runs an embedded server in this process, prints its URL
// and runs until it is killed.
func serverProcess(dir, listen string) {
	s, err := broker.StartServer(broker.ServerConfig{Policy: RolePermissions, DataDir: dir, Listen: listen, Logger: quietLogger()})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println("READY", s.ClientURL())
	select {}
}

// startServerProcess starts a nats-server process on dir and listen and
// returns it with its client URL.
func startServerProcess(t *testing.T, dir, listen string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envServerDir+"="+dir, envServerListen+"="+listen)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "READY ")
	if err != nil || !ok {
		t.Fatalf("server process said %q, %v", line, err)
	}
	return cmd, url
}

// TestExternalServerKilled runs workers against a nats-server in another
// process, kills it (SIGKILL) with jobs queued and in flight and starts it
// again on the same store and port: every job completes.
func TestExternalServerKilled(t *testing.T) {
	dir := t.TempDir()
	cmd, url := startServerProcess(t, dir, "127.0.0.1:-1")
	listen := strings.TrimPrefix(url, "nats://")
	_, q := openQueueAt(t, url, dir, broker.RoleAdmin, testConfig())
	r := newTestRenderer()
	started := make(chan string, 100)
	release := make(chan struct{})
	r.hook = func(ctx context.Context, job *Job, call int) error {
		select {
		case started <- job.ID:
		default:
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	runWorkers(t, q, r, 2)

	var reports [][]byte
	for _, b := range fixtures(t) {
		reports = append(reports, b)
	}
	subs := submitAll(t, q, reports, nil)
	<-started
	<-started // both slots busy, the rest queued
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	close(release) // the renders in hand finish while the server is down
	startServerProcess(t, dir, listen)
	got := waitFinal(t, q, subs, 60*time.Second)
	for _, st := range got {
		if st.Status != StatusDone {
			t.Errorf("%s: %s %s", st.JobID, st.Status, st.Error)
			continue
		}
		checkBinaries(t, q, st)
	}
}
