package loadtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/foliohealth/folio/internal/testutil"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// externalNATS is a nats-server running as a separate process, so that
// its memory is not in the test process's heap.
type externalNATS struct {
	URL string
	PID int
	// ProfURL is the server's pprof endpoint (prof_port), for
	// `go tool pprof PROFURL/heap` during a run.
	ProfURL string
}

// startExternalNATS builds nats-server from the module (or takes the
// executable FOLIO_LOAD_NATS_BIN), starts it with JetStream on a store
// under a temporary directory and a free loopback port, waits until
// JetStream answers, and kills it when the test ends.
func startExternalNATS(t *testing.T) *externalNATS {
	t.Helper()
	dir := t.TempDir()
	bin := os.Getenv("FOLIO_LOAD_NATS_BIN")
	if bin == "" {
		bin = testutil.MustBuild(t, testutil.NATSServer, false)
	}
	port, profPort := testutil.FreePort(t), testutil.FreePort(t)
	conf := filepath.Join(dir, "nats.conf")
	text := fmt.Sprintf("listen: 127.0.0.1:%d\nprof_port: %d\nmax_payload: 20MB\njetstream {\n  store_dir: %q\n}\n",
		port, profPort, filepath.Join(dir, "store"))
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-exited:
			t.Fatalf("nats-server exited before answering:\n%s", log.String())
		default:
		}
		if jetStreamAnswers(url) {
			return &externalNATS{URL: url, PID: cmd.Process.Pid, ProfURL: fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", profPort)}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server at %s: JetStream not answering after a minute:\n%s", url, log.String())
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

// jetStreamAnswers reports whether a JetStream account info request to url
// succeeds.
func jetStreamAnswers(url string) bool {
	nc, err := nats.Connect(url, nats.Timeout(time.Second))
	if err != nil {
		return false
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err == nil
}

// TestProcRSS checks the RSS reader on this process and on one that does
// not exist.
func TestProcRSS(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	self := ProcRSS(strconv.Itoa(os.Getpid()))
	if self <= 0 || self != ProcRSS("self") && abs(self-ProcRSS("self")) > 64<<20 {
		t.Errorf("ProcRSS(own pid) = %d, ProcRSS(self) = %d", self, ProcRSS("self"))
	}
	if got := ProcRSS("999999999"); got != 0 {
		t.Errorf("ProcRSS(no such process) = %d, want 0", got)
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
