package loadtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/foliohealth/folio/queue"
)

// routePortBase is the first of the three fixed loopback route ports of the
// simulated cluster (FOLIO_SCALE_ROUTE_PORT overrides it).
const routePortBase = 16248

// startCluster starts three embedded nats-servers clustered over loopback
// routes on fixed ports, from configuration text, and returns their client
// URLs joined with commas.
func startCluster(t *testing.T) (string, string) {
	t.Helper()
	base := routePortBase
	if v := os.Getenv("FOLIO_SCALE_ROUTE_PORT"); v != "" {
		var err error
		if base, err = strconv.Atoi(v); err != nil {
			t.Fatalf("FOLIO_SCALE_ROUTE_PORT=%q: %v", v, err)
		}
	}
	var routes []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", base+i))
	}
	var urls []string
	authDir := t.TempDir() // one set of credentials for the cluster
	for i := range 3 {
		dir := t.TempDir()
		conf := fmt.Sprintf(`
server_name: scale-n%d
listen: 127.0.0.1:-1
max_payload: 20MB
jetstream { store_dir: %q }
cluster {
  name: folio-scale
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, i+1, filepath.Join(dir, "nats"), base+i, strings.Join(routes, ", "))
		s, err := queue.StartServer(queue.ServerConfig{DataDir: dir, AuthDir: authDir, ConfigText: conf, Logger: quietLog()})
		if err != nil {
			t.Fatalf("node %d: %v (route port %d taken? set FOLIO_SCALE_ROUTE_PORT)", i+1, err, base+i)
		}
		t.Cleanup(s.Shutdown)
		urls = append(urls, s.ClientURL())
	}
	return strings.Join(urls, ","), authDir
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

	run := func(name string, cfg Config) *Result {
		p, err := Start(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		// Warm up (stream leaders elected, caches filled), then measure.
		if r, err := Run(ctx, p, Options{Report: report, Jobs: 50, MaxInFlight: 16}); err != nil || r.Done != 50 {
			t.Fatalf("%s warm-up: %v %+v", name, err, r)
		}
		r, err := Run(ctx, p, Options{Report: report, Jobs: jobs, MaxInFlight: 16})
		if err != nil {
			t.Fatal(err)
		}
		logResult(t, name, r)
		checkResult(t, name, r)
		return r
	}
	one := run("R1 single server, 4 workers", Config{DataDir: t.TempDir(), Workers: 1, WorkerProcs: 4})
	urls, authDir := startCluster(t)
	auth := func(r queue.Role) ([]nats.Option, error) { return queue.EmbeddedOptions(authDir, r) }
	three := run("R3 3-node cluster, 4 workers", Config{DataDir: t.TempDir(), NATSURL: urls, Auth: auth, Replicas: 3, Workers: 1, WorkerProcs: 4})
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
