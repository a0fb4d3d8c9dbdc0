package loadtest

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/queue"
)

// startCluster starts three nats-server processes clustered over loopback
// routes (so that the race detector watches folio's code, not the
// server's), each admitting the users of one set of embedded credentials,
// and returns their client URLs joined with commas and that credentials
// directory, once the cluster answers JetStream requests.
func startCluster(t *testing.T) (string, string, []*testutil.NATSProcess) {
	t.Helper()
	authDir := t.TempDir() // one set of credentials for the cluster
	auth, err := broker.NKeyServerAuth(authDir, queue.RolePermissions)
	if err != nil {
		t.Fatal(err)
	}
	nodes, urls := testutil.StartNATSCluster(t, testutil.MustBuild(t, testutil.NATSServer, false), 3, "max_payload: 20MB\n"+auth)
	admin, err := broker.EmbeddedOptions(authDir, broker.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitJetStream(t, urls, time.Minute, admin...)
	return urls, authDir, nodes
}

// serversCPU is the user+system CPU time the server processes have used
// so far (from /proc; 0 for a process it cannot read).
func serversCPU(nodes []*testutil.NATSProcess) time.Duration {
	var sum time.Duration
	for _, n := range nodes {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.Cmd.Process.Pid))
		if err != nil {
			continue
		}
		// The fields after the command name, which is in parentheses:
		// utime and stime are the 12th and 13th, in clock ticks (100 a
		// second on Linux).
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		sum += time.Duration(u+st) * 10 * time.Millisecond
	}
	return sum
}

// TestScaleCluster is the simulated run of docs/SCALING.md: the same jobs
// through (a) one embedded server with R1 and (b) a 3-node loopback cluster
// with every stream and bucket at R3, each with 4 workers of one slot, all
// on this machine's cores. It logs the measured jobs/s and CPU per job of
// each and compares the cluster's throughput with the prediction from the
// per-core figures: cores / (render CPU + 3 x the R1 storage CPU per job).
// It asserts only that every job was done.
func TestScaleCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster run in -short mode")
	}
	report := readFixture(t)
	jobs := 1000
	if v := os.Getenv("FOLIO_SCALE_JOBS"); v != "" {
		jobs, _ = strconv.Atoi(v)
	}
	if raceBuild {
		jobs = min(jobs, 100)
	}
	ctx := context.Background()
	cores := runtime.NumCPU()
	_, renderCPU, err := RenderThroughput(report, max(200, jobs/2), cores)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("render alone: %v CPU per render", renderCPU.Round(time.Microsecond))

	// run measures cfg's pipeline; the CPU of servers (processes of their
	// own) counts in its CPU per job as an embedded server's does.
	run := func(name string, cfg Config, servers []*testutil.NATSProcess) *Result {
		p, err := Start(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		// Warm up (stream leaders elected, caches filled), then measure.
		if r, err := Run(ctx, p, Options{Report: report, Jobs: 50, MaxInFlight: 16}); err != nil || r.Done != 50 {
			t.Fatalf("%s warm-up: %v %+v", name, err, r)
		}
		cpu0 := serversCPU(servers)
		r, err := Run(ctx, p, Options{Report: report, Jobs: jobs, MaxInFlight: 16})
		if err != nil {
			t.Fatal(err)
		}
		if n := r.Done + r.Failed; len(servers) > 0 && n > 0 {
			r.CPU += serversCPU(servers) - cpu0
			r.CPUPerJob = r.CPU / time.Duration(n)
		}
		logResult(t, name, r)
		checkResult(t, name, r)
		return r
	}
	one := run("R1 single server, 4 workers", Config{DataDir: t.TempDir(), Workers: 1, WorkerProcs: 4}, nil)
	urls, authDir, nodes := startCluster(t)
	auth := func(r broker.Role) ([]nats.Option, error) { return broker.EmbeddedOptions(authDir, r) }
	three := run("R3 3-node cluster, 4 workers", Config{DataDir: t.TempDir(), NATSURL: urls, Auth: auth, Replicas: 3, Workers: 1, WorkerProcs: 4}, nodes)
	if t.Failed() {
		return
	}
	storeR1 := one.CPUPerJob - renderCPU
	predicted := float64(cores) / (renderCPU + 3*storeR1).Seconds()
	t.Logf("per job: render %v, R1 storage+queue %v, R3 measured total %v",
		renderCPU.Round(time.Microsecond), storeR1.Round(time.Microsecond), three.CPUPerJob.Round(time.Microsecond))
	t.Logf("R3 cluster on %d cores: predicted %.1f jobs/s (cores / (render + 3 x R1 storage)), measured %.1f jobs/s (%.0f%% of predicted)",
		cores, predicted, three.JobsPerSec, 100*three.JobsPerSec/predicted)
	t.Logf("R1 on %d cores: predicted %.1f jobs/s (cores / R1 CPU per job), measured %.1f jobs/s",
		cores, float64(cores)/one.CPUPerJob.Seconds(), one.JobsPerSec)
}

func quietLog() *slogLogger { return slogDiscard() }

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.Cleanup() // the nats-server executable the cluster tests built
	os.Exit(code)
}
