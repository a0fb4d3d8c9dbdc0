// Package testutil holds the helpers that folio's tests share: building
// commands once per test process, free loopback ports, polling, and a clean
// environment for child processes.
package testutil

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// FreePorts returns n distinct loopback TCP ports that were free a moment ago.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// FreePort returns one loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	return FreePorts(t, 1)[0]
}

// PollUntil calls cond every 100 ms until it returns true, failing the test
// with what if it has not within d.
func PollUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		<-tick.C
	}
}

// CleanEnv is the test process's environment without FOLIO_* variables, so
// that a developer's settings do not change the flags of a child process
// under test.
func CleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FOLIO_") {
			env = append(env, kv)
		}
	}
	return env
}

// Module paths of the commands the tests build.
const (
	FolioCmd   = "github.com/foliohealth/folio/cmd/folio"
	NATSServer = "github.com/nats-io/nats-server/v2"
)

var (
	buildMu  sync.Mutex
	binDir   string
	builds   = map[string]*build{}
	dirError error
)

type build struct {
	once sync.Once
	path string
	err  error
}

// Build compiles the Go command pkg (a full import path, e.g. FolioCmd or
// NATSServer) once per test process, with -race when race is true, and
// returns the executable's path. The executables live in one temporary
// directory that Cleanup removes; call it from TestMain after m.Run.
func Build(pkg string, race bool) (string, error) {
	key := fmt.Sprintf("%s race=%v", pkg, race)
	buildMu.Lock()
	if binDir == "" && dirError == nil {
		binDir, dirError = os.MkdirTemp("", "folio-test-bin-")
	}
	if dirError != nil {
		buildMu.Unlock()
		return "", dirError
	}
	b := builds[key]
	if b == nil {
		b = &build{}
		builds[key] = b
	}
	dir := binDir
	n := len(builds)
	buildMu.Unlock()
	b.once.Do(func() {
		b.path = filepath.Join(dir, fmt.Sprintf("%s-%d", filepath.Base(strings.TrimSuffix(pkg, "/v2")), n))
		args := []string{"build", "-o", b.path}
		if race {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, pkg)...).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go %s: %v\n%s", strings.Join(append(args, pkg), " "), err, out)
		}
	})
	return b.path, b.err
}

// MustBuild is Build that fails the test on error.
func MustBuild(t testing.TB, pkg string, race bool) string {
	t.Helper()
	p, err := Build(pkg, race)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Cleanup removes the executables Build made.
func Cleanup() {
	buildMu.Lock()
	defer buildMu.Unlock()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}
