package queue

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/internal/testutil"
)

// TestClusterLosesNode runs the pipeline on a 3-node cluster with every
// stream and bucket at 3 replicas, and shuts down the jobs stream's leader
// mid-run. The nodes are nats-server processes, so that the race detector
// watches folio's code and not the server's.
func TestClusterLosesNode(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test in -short mode")
	}
	authDir := t.TempDir() // one set of credentials for the whole cluster
	auth, err := broker.NKeyServerAuth(authDir, RolePermissions)
	if err != nil {
		t.Fatal(err)
	}
	nodes, urls := testutil.StartNATSCluster(t, testutil.MustBuild(t, testutil.NATSServer, false), 3, auth)
	servers := map[string]*testutil.NATSProcess{}
	for _, n := range nodes {
		servers[n.Name] = n
	}
	admin, err := broker.EmbeddedOptions(authDir, broker.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitJetStream(t, urls, time.Minute, admin...)
	cfg := testConfig()
	cfg.Replicas = 3
	_, q := openQueueAt(t, urls, authDir, broker.RoleAdmin, cfg)
	r := newTestRenderer()
	r.hook = func(ctx context.Context, job *Job, call int) error {
		select { // a render that takes a little while
		case <-time.After(20 * time.Millisecond):
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
	subs := submitAll(t, q, reports, []string{folio.OutputPDF})
	subs = append(subs, submitAll(t, q, reports, []string{folio.OutputThumbnail})...)

	ctx := context.Background()
	testutil.PollUntil(t, 30*time.Second, "no job done before the node loss", func() bool {
		st, err := q.Status(ctx, subs[0].JobID)
		return err == nil && st.Final()
	})
	info, err := q.jobs.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader := info.Cluster.Leader
	if servers[leader] == nil {
		t.Fatalf("stream leader %q is not one of ours", leader)
	}
	t.Logf("shutting down %s, the %s leader", leader, StreamJobs)
	servers[leader].Stop(t)
	delete(servers, leader)

	got := waitFinal(t, q, subs, 50*time.Second)
	for _, st := range got {
		if st.Status != StatusDone {
			t.Errorf("%s: %s %s", st.JobID, st.Status, st.Error)
			continue
		}
		checkBinaries(t, q, st)
	}
}

// The worker-crash test re-executes the test binary as a worker process.
const (
	envCrashWorker     = "FOLIO_QUEUE_TEST_CRASH_WORKER_URL"
	envCrashWorkerAuth = "FOLIO_QUEUE_TEST_CRASH_WORKER_AUTH"
)

func TestMain(m *testing.M) {
	if url := os.Getenv(envCrashWorker); url != "" {
		crashWorker(url, os.Getenv(envCrashWorkerAuth))
		return
	}
	if dir := os.Getenv(envServerDir); dir != "" {
		serverProcess(dir, os.Getenv(envServerListen))
		return
	}
	code := m.Run()
	testutil.Cleanup()
	os.Exit(code)
}

// crashWorker runs a worker whose renders announce themselves on stdout and
// then hang until the process is killed.
func crashWorker(url, authDir string) {
	auth, err := broker.EmbeddedOptions(authDir, broker.RoleWorker)
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	nc, err := broker.Connect(url, auth...)
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	ctx := context.Background()
	cfg := crashConfig()
	cfg.Role = broker.RoleWorker
	q, err := Open(ctx, nc, cfg)
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	r := newTestRenderer()
	r.hook = func(ctx context.Context, job *Job, call int) error {
		fmt.Println("RENDERING", job.ID)
		select {}
	}
	q.Work(ctx, r, WorkerOptions{Slots: 1, Logger: quietLogger()})
}

func crashConfig() Config {
	cfg := testConfig()
	cfg.AckWait = 2 * time.Second
	return cfg
}

// TestWorkerCrash kills (SIGKILL) a worker process mid-render: the job is
// redelivered after the ack wait to a surviving worker and completes once.
func TestWorkerCrash(t *testing.T) {
	s := startServer(t, t.TempDir(), "")
	_, q := openQueue(t, s, crashConfig())
	subs := submitAll(t, q, [][]byte{fixtures(t)["autopsy"]}, nil)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envCrashWorker+"="+s.ClientURL(), envCrashWorkerAuth+"="+s.AuthDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "RENDERING "+subs[0].JobID+"\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("worker process said %q, %v", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	r := newTestRenderer()
	runWorkers(t, q, r, 1)
	st := waitFinal(t, q, subs, 30*time.Second)[subs[0].JobID]
	if st.Status != StatusDone || st.Deliveries != 2 {
		t.Fatalf("job: %s after %d deliveries (%s); want done on the 2nd", st.Status, st.Deliveries, st.Error)
	}
	checkBinaries(t, q, st)
	if calls, renders := r.count(subs[0].JobID); calls != 1 || renders != 1 {
		t.Errorf("surviving worker rendered %d times (%d calls), want once", renders, calls)
	}
	if objs := listObjects(t, q); len(objs) != 1 {
		t.Errorf("object store: %d objects; want 1", len(objs))
	}
}
