package faults

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/queue"
)

// soak reports whether the long mode is on (FOLIO_SOAK=1) and for how long
// it runs (FOLIO_SOAK_DURATION, 10 minutes).
func soak(t *testing.T) (bool, time.Duration) {
	if os.Getenv("FOLIO_SOAK") != "1" {
		return false, 0
	}
	d := 10 * time.Minute
	if v := os.Getenv("FOLIO_SOAK_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("FOLIO_SOAK_DURATION=%q: %v", v, err)
		}
	}
	return true, d
}

// deployment is a running folio deployment of separate processes: external
// nats-server node(s), worker processes and one api process, plus the
// test's own client connection.
type deployment struct {
	t        *testing.T
	sec      *security
	nodes    []*natsNode
	urls     string
	replicas int
	slots    int // --workers of each worker process

	workers []*proc // running
	retired []*proc // killed or stopped
	seq     int

	api      *proc
	apiAddr  string
	apiData  string
	token    string
	apiProcs []*proc

	q       *queue.Queue
	js      jetstream.JetStream
	objects jetstream.ObjectStore
	sub     *submitter
	figs    tally
	counts  map[string]int

	// With Binaries in S3 (s3_test.go): the workers' and api's extra
	// flags and environment, and the listing of what is stored (nil: the
	// Object Store).
	extraArgs []string
	extraEnv  []string
	stored    func() map[string]string // Binary id -> hex SHA-256 as stored
}

// connect opens the test's own queue client (same Config as the processes).
func (d *deployment) connect() {
	t := d.t
	nc, err := broker.Connect(d.urls, d.sec.options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if d.q, err = queue.Open(ctx, nc, queue.Config{Replicas: d.replicas}); err != nil {
		t.Fatal(err)
	}
	if d.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	if d.objects, err = d.js.ObjectStore(ctx, queue.BucketBinaries); err != nil {
		t.Fatal(err)
	}
	d.sub = &submitter{q: d.q}
	d.counts = map[string]int{}
}

// startWorker starts one more "folio worker" process and waits until it is
// ready.
func (d *deployment) startWorker() *proc {
	d.seq++
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePorts(d.t, 1)[0])
	p := startEnv(d.t, fmt.Sprintf("worker-%d", d.seq), folioBin, append(d.sec.folioEnv(broker.RoleWorker), d.extraEnv...),
		append(append([]string{"worker", "--nats-url", d.urls,
			"--workers", fmt.Sprint(d.slots), "--replicas", fmt.Sprint(d.replicas), "--addr", addr},
			d.sec.folioArgs(broker.RoleWorker)...), d.extraArgs...)...)
	waitReady(d.t, p, "http://"+addr, 90*time.Second)
	d.workers = append(d.workers, p)
	return p
}

// startAPI starts the "folio api" process (on the same address and data
// directory as before, if it ran before) and waits until it is ready.
func (d *deployment) startAPI() {
	t := d.t
	if d.apiAddr == "" {
		d.apiAddr = fmt.Sprintf("127.0.0.1:%d", testutil.FreePorts(t, 1)[0])
		d.apiData = t.TempDir()
	}
	d.api = startEnv(t, fmt.Sprintf("api-%d", len(d.apiProcs)+1), folioBin, append(d.sec.folioEnv(broker.RoleAPI), d.extraEnv...),
		append(append([]string{"api", "--nats-url", d.urls, "--addr", d.apiAddr, "--ops-addr", "", "--data", d.apiData},
			d.sec.folioArgs(broker.RoleAPI)...), d.extraArgs...)...)
	d.apiProcs = append(d.apiProcs, d.api)
	waitReady(t, d.api, d.base(), 90*time.Second)
	if d.token == "" {
		out, err := exec.Command(folioBin, "token", "--data", d.apiData, "--ttl", "6h",
			"--scope", "user/Binary.read user/DocumentReference.read").Output()
		if err != nil {
			t.Fatalf("folio token: %v", err)
		}
		d.token = strings.TrimSpace(string(out))
	}
}

func (d *deployment) base() string { return "http://" + d.apiAddr }

// inFlight waits (polling every 5 ms, at most 60 s) until some job is
// delivered and not acknowledged, and reports whether it saw one.
func (d *deployment) inFlight() bool {
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, inflight, err := d.q.Depth(ctx)
		cancel()
		if err == nil && inflight > 0 {
			return true
		}
		<-tick.C
	}
	return false
}

// during submits jobs in the background, applies fault as soon as some job
// is in a worker's hands, and returns when every job has been accepted.
func (d *deployment) during(name string, jobs []*job, fault func()) {
	d.t.Helper()
	wait := d.sub.submitAsync(d.t, jobs, 3*time.Minute)
	if d.inFlight() {
		d.counts[name+" with jobs in flight"]++
	}
	fault()
	d.counts[name]++
	wait()
}

// killWorker SIGKILLs a worker and starts a replacement.
func (d *deployment) killWorker() {
	w := d.workers[0]
	w.kill(d.t)
	d.workers, d.retired = d.workers[1:], append(d.retired, w)
	d.startWorker()
}

// termWorker SIGTERMs a worker, which must exit 0 after finishing or
// handing back its jobs, and starts a replacement.
func (d *deployment) termWorker() {
	w := d.workers[0]
	code, took := w.term(d.t, 90*time.Second)
	if code != 0 {
		d.t.Errorf("%s exited %d after SIGTERM, want 0\n%s", w.name, code, tail(w.log.String(), 30))
	}
	d.t.Logf("%s exited %d %v after SIGTERM (%d jobs handed back)", w.name, code, took.Round(time.Millisecond), w.count("job handed back at shutdown"))
	d.workers, d.retired = d.workers[1:], append(d.retired, w)
	d.startWorker()
}

// restartNATS SIGKILLs the single nats-server and starts it again on the
// same store directory and port.
func (d *deployment) restartNATS() {
	n := d.nodes[0]
	n.p.kill(d.t)
	n.start(d.t)
	waitJetStream(d.t, d.sec, d.urls, 90*time.Second)
}

// restartAPI reads a Binary through the api process, SIGTERMs it (it must
// exit 0), starts it again on the same address and data directory, and
// reads the Binary again.
func (d *deployment) restartAPI(binaryID string) {
	t := d.t
	client := &http.Client{Timeout: 30 * time.Second}
	before, err := get(client, d.base()+"/Binary/"+binaryID, d.token, "application/pdf")
	if err != nil {
		t.Fatalf("Binary %s before the api restart: %v", binaryID, err)
	}
	if code, _ := d.api.term(t, 60*time.Second); code != 0 {
		t.Errorf("%s exited %d after SIGTERM, want 0", d.api.name, code)
	}
	d.startAPI()
	after, err := get(client, d.base()+"/Binary/"+binaryID, d.token, "application/pdf")
	if err != nil {
		t.Fatalf("Binary %s after the api restart: %v", binaryID, err)
	}
	if string(before) != string(after) {
		t.Errorf("Binary %s: %d bytes before the api restart, %d different bytes after", binaryID, len(before), len(after))
	}
}

// doneBinary waits until one of the valid jobs is done and returns its
// first Binary id.
func (d *deployment) doneBinary(jobs []*job) string {
	var id string
	testutil.PollUntil(d.t, 3*time.Minute, "a job of the first phase done", func() bool {
		for _, j := range jobs {
			if j.bad != "" {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			st, err := d.q.Status(ctx, j.id)
			cancel()
			if err == nil && st.Status == queue.StatusDone && len(st.Binaries) > 0 {
				id = st.Binaries[0].ID
				return true
			}
		}
		return false
	})
	return id
}

// finish waits for every job to end, checks the outcome and prints the
// figures.
func (d *deployment) finish(title string, jobs []*job, started time.Time, wait time.Duration) {
	t := d.t
	final := waitFinal(t, d.q, d.js, jobs, wait)
	ended := time.Since(started)
	stored := d.stored
	if stored == nil {
		stored = func() map[string]string { return objectStoreSums(t, d.objects) }
	}
	o := checkOutcome(t, d.q, stored(), d.base(), d.token, jobs, final)
	var retried, handedBack, exhausted int
	for _, w := range append(d.retired, d.workers...) {
		retried += w.count("job will be retried")
		handedBack += w.count("job handed back at shutdown")
		exhausted += w.count("reason=exhausted")
	}
	f := &d.figs
	f.add("jobs submitted", len(jobs))
	f.add("  valid (distinct report versions)", len(jobs)-countBad(jobs))
	f.add("  invalid (fixtures/bad)", countBad(jobs))
	f.add("submit calls retried (server down)", d.sub.retries.Load())
	f.add("submits answered as duplicates", d.sub.duplicates.Load())
	f.add("jobs done", o.done)
	f.add("jobs failed (all invalid, own reason)", o.failed)
	f.add("jobs not ended (status not final)", o.notEnded)
	f.add("jobs delivered more than once", o.redelivered)
	f.add("most deliveries of one job", o.maxDeliveries)
	f.add("transient failures retried (worker logs)", retried)
	f.add("jobs handed back at SIGTERM", handedBack)
	f.add("jobs failed exhausted", exhausted)
	for _, k := range sortedKeys(d.counts) {
		f.add(k, d.counts[k])
	}
	f.add("worker processes started", d.seq)
	// Every process had only its role's permissions (docs/SECURITY.md):
	// not one request of theirs may have been refused.
	violations := 0
	for _, n := range d.nodes {
		for _, p := range n.runs {
			violations += p.count("Publish Violation") + p.count("Subscription Violation")
		}
	}
	for _, p := range append(append(d.retired, d.workers...), d.apiProcs...) {
		violations += p.count("ermissions violation")
	}
	if violations > 0 {
		t.Errorf("%d NATS permission violations in the server and folio logs: a role lacks a permission it needs", violations)
	}
	f.add("NATS permission violations", violations)
	f.add("Binaries read over HTTP, digest checked", o.binaries)
	f.add("bytes read", o.bytes)
	f.add("DocumentReferences checked", o.docRefs)
	f.add("  superseded (one current per report)", o.superseded)
	f.add("first submit to last job ended", ended.Round(time.Second))
	f.log(t, title)
	if o.done+o.failed+o.notEnded != len(jobs) {
		t.Errorf("%d done + %d failed of %d jobs", o.done, o.failed, len(jobs))
	}
}

func countBad(jobs []*job) int {
	n := 0
	for _, j := range jobs {
		if j.bad != "" {
			n++
		}
	}
	return n
}

func sortedKeys(m map[string]int) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for k := i + 1; k < len(ks); k++ {
			if ks[k] < ks[i] {
				ks[i], ks[k] = ks[k], ks[i]
			}
		}
	}
	return ks
}

// phases splits jobs into n nearly equal parts.
func phases(jobs []*job, n int) [][]*job {
	var out [][]*job
	for i := range n {
		out = append(out, jobs[i*len(jobs)/n:(i+1)*len(jobs)/n])
	}
	return out
}

// TestSingleServerFaults runs 3 worker processes and an api process against
// one external nats-server and, while a few hundred jobs flow, SIGKILLs a
// worker, SIGKILLs and restarts the nats-server on the same store and port,
// SIGTERMs a worker and restarts the api process; then every job must have
// ended done (or failed, for the invalid reports, with their own reason)
// and every Binary must read back intact. With FOLIO_SOAK=1 the faults
// repeat in rounds for FOLIO_SOAK_DURATION.
func TestSingleServerFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("fault suite: not in -short mode")
	}
	long, dur := soak(t)
	port := testutil.FreePorts(t, 1)[0]
	d := &deployment{t: t, replicas: 1, slots: 2, sec: newSecurity(t)}
	d.nodes = []*natsNode{newNATSNode(t, d.sec, "n1", port, 0, nil)}
	d.urls = d.nodes[0].url()
	d.nodes[0].start(t)
	waitJetStream(t, d.sec, d.urls, 60*time.Second)
	d.connect()
	for range 3 {
		d.startWorker()
	}
	d.startAPI()

	fixtures := loadGood(t)
	var all []*job
	started := time.Now()
	for round := 0; ; round++ {
		jobs := goodJobs(t, fixtures, round, 240)
		if round == 0 {
			jobs = append(jobs, badJobs(t, round)...)
		}
		shuffle(jobs, uint64(round))
		all = append(all, jobs...)
		ph := phases(jobs, 5)
		d.during("worker SIGKILL", ph[0], d.killWorker)
		d.during("nats-server SIGKILL + restart", ph[1], d.restartNATS)
		d.during("worker SIGTERM (exit 0)", ph[2], d.termWorker)
		d.during("api SIGTERM + restart", ph[3], func() { d.restartAPI(d.doneBinary(ph[0])) })
		if err := d.sub.all(ph[4], 3*time.Minute); err != nil {
			t.Fatal(err)
		}
		if !long || time.Since(started) > dur {
			break
		}
		t.Logf("round %d submitted (%d jobs so far, %v)", round, len(all), time.Since(started).Round(time.Second))
	}
	d.finish("TestSingleServerFaults", all, started, 3*time.Minute)
}

// TestClusterLosesNode runs 2 worker processes and an api process against a
// 3-node nats-server cluster with every stream and bucket at 3 replicas,
// SIGKILLs the node that leads the jobs stream while jobs are in flight,
// leaves it down, and checks that every job ends and every Binary reads back.
func TestClusterLosesNode(t *testing.T) {
	if testing.Short() {
		t.Skip("fault suite: not in -short mode")
	}
	long, _ := soak(t)
	ports := testutil.FreePorts(t, 6) // 3 client ports, 3 route ports
	var routes, urls []string
	for _, p := range ports[3:] {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	d := &deployment{t: t, replicas: 3, slots: 2, sec: newSecurity(t)}
	for i := range 3 {
		n := newNATSNode(t, d.sec, fmt.Sprintf("n%d", i+1), ports[i], ports[3+i], routes)
		d.nodes = append(d.nodes, n)
		urls = append(urls, n.url())
	}
	d.urls = strings.Join(urls, ",")
	for _, n := range d.nodes {
		n.start(t)
	}
	waitJetStream(t, d.sec, d.urls, 90*time.Second)
	d.connect()
	for range 2 {
		d.startWorker()
	}
	d.startAPI()

	n := 120
	if long {
		n = 600
	}
	jobs := goodJobs(t, loadGood(t), 100, n)
	bad := badJobs(t, 100)
	jobs = append(jobs, bad[:min(len(bad), 8)]...)
	shuffle(jobs, 100)
	ph := phases(jobs, 2)
	started := time.Now()
	d.during("cluster node (jobs stream leader) SIGKILL, left down", ph[0], func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := d.js.Stream(ctx, queue.StreamJobs)
		if err != nil {
			t.Fatal(err)
		}
		leader := s.CachedInfo().Cluster.Leader
		for _, n := range d.nodes {
			if n.name == leader {
				t.Logf("SIGKILL %s, the %s leader", n.name, queue.StreamJobs)
				n.p.kill(t)
				return
			}
		}
		t.Fatalf("stream leader %q is not one of the nodes", leader)
	})
	if err := d.sub.all(ph[1], 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	d.finish("TestClusterLosesNode", jobs, started, 4*time.Minute)
}
