package faults

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/foliohealth/folio/internal/testutil"
)

var (
	folioBin     string
	natsBin      string
	buildFailure error
)

// TestMain builds the folio command and a nats-server from the module in
// go.mod once, for every test of the package.
func TestMain(m *testing.M) {
	folioBin, buildFailure = testutil.Build(testutil.FolioCmd, os.Getenv("FOLIO_FAULTS_RACE") == "1") // -race children are slow
	if buildFailure == nil {
		natsBin, buildFailure = testutil.Build(testutil.NATSServer, false)
	}
	code := m.Run()
	testutil.Cleanup()
	os.Exit(code)
}

// proc is a child process of the test.
type proc struct {
	name   string
	cmd    *exec.Cmd
	log    *testutil.SyncBuffer
	exited chan struct{}
	code   int // after exited: exit status, -1 when ended by a signal
}

// start starts a child process that is killed when the test ends (if still
// running); its output is logged when the test fails.
func start(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	return startEnv(t, name, bin, testutil.CleanEnv(), args...)
}

// startEnv is start with the environment env.
func startEnv(t *testing.T, name, bin string, env []string, args ...string) *proc {
	t.Helper()
	if buildFailure != nil {
		t.Fatal(buildFailure)
	}
	p := &proc{name: name, log: &testutil.SyncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if p.running() {
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			// The whole log goes to a file that outlives the test.
			dir := filepath.Join(os.TempDir(), "folio-faults-logs", t.Name())
			f := filepath.Join(dir, p.name+".log")
			if os.MkdirAll(dir, 0o755) == nil && os.WriteFile(f, []byte(p.log.String()), 0o644) == nil {
				t.Logf("--- %s (exit %d): log in %s", p.name, p.code, f)
			} else {
				t.Logf("--- %s (exit %d), last lines:\n%s", p.name, p.code, tail(p.log.String(), 40))
			}
		}
	})
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s still running 30s after SIGKILL", p.name)
	}
}

// term sends SIGTERM and returns the exit status and how long the process
// took to exit (at most limit, else the test fails).
func (p *proc) term(t *testing.T, limit time.Duration) (int, time.Duration) {
	t.Helper()
	t0 := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.code, time.Since(t0)
	case <-time.After(limit):
		t.Fatalf("%s did not exit within %v of SIGTERM\n%s", p.name, limit, tail(p.log.String(), 40))
		return -1, limit
	}
}

// count returns how many log lines of p contain s.
func (p *proc) count(s string) int { return strings.Count(p.log.String(), s) }

// natsNode is one external nats-server: its config file, store and port.
type natsNode struct {
	name  string
	port  int
	conf  string // config file path
	store string
	sec   *security
	p     *proc
	runs  []*proc // every run of the server, for their logs
}

func (n *natsNode) url() string { return fmt.Sprintf("tls://127.0.0.1:%d", n.port) }

// newNATSNode writes the config of one nats-server with JetStream on disk
// under a fresh temporary directory. routePort and routes (nats-route URLs)
// make it a cluster member when routePort is not 0.
func newNATSNode(t *testing.T, sec *security, name string, port, routePort int, routes []string) *natsNode {
	t.Helper()
	dir := t.TempDir()
	n := &natsNode{name: name, port: port, conf: filepath.Join(dir, name+".conf"), store: filepath.Join(dir, "jetstream"), sec: sec}
	conf := fmt.Sprintf("server_name: %s\nlisten: 127.0.0.1:%d\nmax_payload: 8MB\njetstream {\n  store_dir: %q\n}\n", name, port, n.store)
	conf += sec.serverConf()
	if err := os.WriteFile(filepath.Join(dir, "folio-users.conf"), sec.users, 0o600); err != nil {
		t.Fatal(err)
	}
	if routePort != 0 {
		conf += fmt.Sprintf("cluster {\n  name: folio-faults\n  listen: 127.0.0.1:%d\n  routes: [%s]\n}\n", routePort, strings.Join(routes, ", "))
	}
	if err := os.WriteFile(n.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return n
}

// start starts (or restarts, on the same store and port) the server.
func (n *natsNode) start(t *testing.T) {
	t.Helper()
	n.p = startEnv(t, n.name, natsBin, n.sec.serverEnv(), "-c", n.conf)
	n.runs = append(n.runs, n.p)
}

// waitJetStream waits until urls answer a JetStream request (in a cluster:
// until the meta group has a leader).
func waitJetStream(t *testing.T, sec *security, urls string, d time.Duration) {
	t.Helper()
	testutil.WaitJetStream(t, urls, d, sec.options()...)
}

// waitReady waits until GET base/readyz answers 200.
func waitReady(t *testing.T, p *proc, base string, d time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 3 * time.Second}
	testutil.PollUntil(t, d, p.name+" ready at "+base, func() bool {
		if !p.running() {
			t.Fatalf("%s exited with status %d before it was ready\n%s", p.name, p.code, tail(p.log.String(), 40))
		}
		resp, err := client.Get(base + "/readyz")
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
