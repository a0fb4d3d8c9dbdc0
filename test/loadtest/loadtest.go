// Package loadtest drives a whole in-process folio pipeline (NATS JetStream,
// render workers and the FHIR read endpoint on loopback HTTP) with job
// submissions and authorised Binary reads at once, and measures throughput,
// latency, errors and memory.
//
// `go test ./loadtest -run Load -v` runs the small default load (2,000
// jobs); FOLIO_LOAD_JOBS=100000 runs the long leak check, and
// FOLIO_LOAD_NATS=external runs the NATS server as a separate process so
// that the test process's heap is folio's alone (docs/SCALING.md).
package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/fhir"
	"github.com/foliohealth/folio/queue"
	"github.com/foliohealth/folio/store"
)

// Config assembles a Pipeline the way `folio serve` does.
type Config struct {
	// DataDir holds the embedded server's store and the development
	// signing key. Required.
	DataDir string
	// NATSURL, if set, is an external server or cluster (comma-separated
	// URLs); otherwise an embedded server listens on a free loopback port.
	NATSURL string
	// Auth returns the connection options of a NATS role for NATSURL (nil:
	// connect without credentials). The embedded server's own credentials
	// are used when NATSURL is empty.
	Auth func(broker.Role) ([]nats.Option, error)
	// Replicas of the streams and buckets (1).
	Replicas int
	// Workers is the number of render slots (runtime.NumCPU()); 0 with
	// NoWorkers false means NumCPU.
	Workers int
	// WorkerProcs is the number of separate Work loops (each with its own
	// NATS connection and Workers slots), as separate `folio worker`
	// processes would run (1).
	WorkerProcs int
	// Logger receives the pipeline's logs (discarded when nil).
	Logger *slog.Logger
	// Binaries keeps the Binaries' bytes in another backend (store/s3)
	// instead of the Object Store (nil).
	Binaries store.Binaries
}

// Pipeline is a running folio: NATS, workers and the FHIR endpoint.
type Pipeline struct {
	// NATSURL is the client URL of the server (or the cluster URLs).
	NATSURL string
	// BaseURL is the FHIR endpoint, http://127.0.0.1:PORT.
	BaseURL string
	// Queue is the submitting side's queue.
	Queue *queue.Queue
	// Token is a development bearer token with system/*.read.
	Token string

	srv     *broker.Server
	auth    func(broker.Role) ([]nats.Option, error)
	conns   []*nats.Conn
	http    *http.Server
	stop    context.CancelFunc
	workers sync.WaitGroup
}

// connect opens a connection to the pipeline's NATS server as role.
func (p *Pipeline) connect(role broker.Role) (*nats.Conn, error) {
	var opts []nats.Option
	if p.auth != nil {
		var err error
		if opts, err = p.auth(role); err != nil {
			return nil, err
		}
	}
	return broker.Connect(p.NATSURL, opts...)
}

// Start starts a pipeline. Close it when done.
func Start(ctx context.Context, cfg Config) (p *Pipeline, err error) {
	if cfg.DataDir == "" {
		return nil, errors.New("loadtest: no DataDir")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.NumCPU()
	}
	if cfg.WorkerProcs <= 0 {
		cfg.WorkerProcs = 1
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p = &Pipeline{NATSURL: cfg.NATSURL, auth: cfg.Auth}
	defer func() {
		if err != nil {
			p.Close()
			p = nil
		}
	}()
	if p.NATSURL == "" {
		p.srv, err = broker.StartServer(broker.ServerConfig{Policy: queue.RolePermissions, DataDir: cfg.DataDir, Listen: "127.0.0.1:-1", Logger: log})
		if err != nil {
			return p, err
		}
		p.NATSURL = p.srv.ClientURL()
		p.auth = p.srv.ClientOptions
	}
	open := func(role broker.Role) (*queue.Queue, error) {
		nc, err := p.connect(role)
		if err != nil {
			return nil, err
		}
		p.conns = append(p.conns, nc)
		octx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return queue.Open(octx, nc, queue.Config{Replicas: cfg.Replicas, Role: role, Binaries: cfg.Binaries})
	}
	// The submitting side also reads what the API reads and writes the
	// queued statuses: the admin role.
	if p.Queue, err = open(broker.RoleAdmin); err != nil {
		return p, err
	}
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	p.stop = stop
	for range cfg.WorkerProcs {
		wq, err := open(broker.RoleWorker)
		if err != nil {
			return p, err
		}
		p.workers.Go(func() {
			wq.Work(wctx, &queue.Engine{}, queue.WorkerOptions{Slots: cfg.Workers, Logger: log})
		})
	}
	key, _, err := fhir.LoadDevKey(cfg.DataDir, true)
	if err != nil {
		return p, err
	}
	if p.Token, err = key.Mint(fhir.TokenRequest{Scope: "system/*.read", TTL: 24 * time.Hour}); err != nil {
		return p, err
	}
	h, err := fhir.New(p.Queue.Store(), fhir.Config{Verifier: key.Verifier(), Logger: log})
	if err != nil {
		return p, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return p, err
	}
	p.BaseURL = "http://" + ln.Addr().String()
	p.http = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go p.http.Serve(ln)
	return p, nil
}

// Close stops the workers (letting jobs in hand finish), the HTTP server,
// the connections and the embedded server.
func (p *Pipeline) Close() {
	if p.stop != nil {
		p.stop()
		p.workers.Wait()
	}
	if p.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		p.http.Shutdown(ctx)
		cancel()
	}
	for _, nc := range p.conns {
		nc.Close()
	}
	if p.srv != nil {
		p.srv.Shutdown()
	}
}

// Options shape one load run.
type Options struct {
	// Report is the report JSON submitted; each job gets its own report id
	// so that every job renders and stores its own Binary. Required.
	Report []byte
	// Jobs is the number of jobs submitted. Required.
	Jobs int
	// Submitters is the number of goroutines submitting at once (4).
	Submitters int
	// Rate, if positive, paces submission at this many jobs per second;
	// zero submits as fast as the submitters can.
	Rate float64
	// MaxInFlight, if positive, bounds the jobs submitted and not yet
	// ended (a closed loop: the submitters keep the pipeline busy without
	// building a backlog in the stream); zero leaves it unbounded.
	MaxInFlight int
	// Readers is the number of goroutines reading Binaries over HTTP at
	// once while the jobs run (0: no read load).
	Readers int
	// SampleEvery is the memory sampling interval (1 s).
	SampleEvery time.Duration
	// GCBeforeSample runs a garbage collection before each sample, so that
	// HeapLive is the live heap (leak checks).
	GCBeforeSample bool
	// HeapProfile, if set, is a file that gets a heap profile (after a
	// garbage collection) when every job has ended, while the pipeline
	// still runs: `go tool pprof -sample_index=inuse_space` shows what the
	// live heap holds.
	HeapProfile string
	// EarlyHeapProfile, if set, is a file that gets a heap profile (after
	// a garbage collection) at the first memory sample taken once
	// EarlyHeapProfileAt jobs have ended (default Jobs/3): the base of
	// `go tool pprof -top -base EARLY LATE`, which shows what the live heap
	// gained between the two.
	EarlyHeapProfile   string
	EarlyHeapProfileAt int
	// ServerPID, if positive, is an external nats-server process whose
	// resident set size each sample also reads (Sample.ServerRSS), so that
	// the server's memory and this process's are told apart.
	ServerPID int
	// Timeout bounds the whole run (10 minutes).
	Timeout time.Duration
}

// Sample is one memory reading during a run.
type Sample struct {
	At        time.Duration // since the run started
	Done      int64         // jobs ended so far
	RSS       int64         // bytes, VmRSS of this process
	HeapInuse uint64        // bytes
	HeapLive  uint64        // bytes live after a GC (GCBeforeSample), else HeapAlloc
	ServerRSS int64         // bytes, VmRSS of Options.ServerPID (0 without one)
}

// Latency summarises a set of durations.
type Latency struct {
	N             int
	P50, P99, Max time.Duration
}

func summarise(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	at := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return Latency{N: len(d), P50: at(0.50), P99: at(0.99), Max: d[len(d)-1]}
}

// String formats the summary in milliseconds.
func (l Latency) String() string {
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) }
	return fmt.Sprintf("n=%d p50=%sms p99=%sms max=%sms", l.N, ms(l.P50), ms(l.P99), ms(l.Max))
}

// Result is what a run measured.
type Result struct {
	Jobs         int
	Done, Failed int
	Missing      int      // jobs with no final status when the run ended
	Failures     []string // the first few failures, "jobId: error"
	SubmitErrors int
	Elapsed      time.Duration // first submission to last job ended
	JobsPerSec   float64
	SubmitToDone Latency
	Reads        int
	ReadErrors   int
	ReadErrorMsg []string // the first few
	ReadsPerSec  float64
	Read         Latency // N is every read; the percentiles come from a uniform sample of at most readSampleCap reads per reader
	Samples      []Sample
	// CPU is the user+system CPU time this process used during the run
	// (everything in the process: NATS servers, workers, endpoint, load
	// generator); CPUPerJob is CPU divided by the jobs ended.
	CPU       time.Duration
	CPUPerJob time.Duration
	// EarlyProfileDone is the number of jobs ended when the early heap
	// profile was written (0: none was).
	EarlyProfileDone int64
}

// MemoryGrowth returns the change of RSS and of the live heap from the
// sample nearest the middle of the run (by jobs done) to the last one, per
// 1,000 jobs ended in between.
func (r *Result) MemoryGrowth() (rssPer1000, heapPer1000 float64, ok bool) {
	mid, last, jobs, ok := r.secondHalf()
	if !ok {
		return 0, 0, false
	}
	return float64(last.RSS-mid.RSS) / jobs * 1000, (float64(last.HeapLive) - float64(mid.HeapLive)) / jobs * 1000, true
}

// secondHalf returns the samples at the middle (the last one with at most
// half the jobs ended) and at the end of the run, and how many jobs ended
// in between; ok is false with fewer than 4 samples or no job in between.
func (r *Result) secondHalf() (mid, last Sample, jobs float64, ok bool) {
	if len(r.Samples) < 4 {
		return mid, last, 0, false
	}
	last = r.Samples[len(r.Samples)-1]
	mid = r.Samples[0]
	for _, s := range r.Samples {
		if s.Done <= last.Done/2 {
			mid = s
		}
	}
	jobs = float64(last.Done - mid.Done)
	return mid, last, jobs, jobs > 0
}

// ServerGrowth is MemoryGrowth for the external server's RSS
// (Options.ServerPID): its change per 1,000 jobs over the second half.
func (r *Result) ServerGrowth() (rssPer1000 float64, ok bool) {
	mid, last, jobs, ok := r.secondHalf()
	if !ok || r.Samples[0].ServerRSS == 0 {
		return 0, false
	}
	return float64(last.ServerRSS-mid.ServerRSS) / jobs * 1000, true
}

// readSampleCap bounds the read latencies each reader keeps for the
// percentiles (a uniform sample of its reads beyond that).
const readSampleCap = 1 << 16

// Run submits opt.Jobs jobs to p and, at the same time, reads Binaries of
// finished jobs with opt.Readers concurrent clients, until every job has
// ended (or the timeout). Submit and read failures are counted, not fatal.
func Run(ctx context.Context, p *Pipeline, opt Options) (*Result, error) {
	if opt.Jobs <= 0 || len(opt.Report) == 0 {
		return nil, errors.New("loadtest: Options.Jobs and Options.Report are required")
	}
	if opt.Submitters <= 0 {
		opt.Submitters = 4
	}
	if opt.SampleEvery <= 0 {
		opt.SampleEvery = time.Second
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()
	tmpl, err := reportTemplate(opt.Report)
	if err != nil {
		return nil, err
	}
	run := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)

	// Job outcomes arrive as events on a connection of our own.
	nc, err := p.connect(broker.RoleSubmitter)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	var (
		mu        sync.Mutex
		submitted = make([]time.Time, opt.Jobs)
		ended     = make([]bool, opt.Jobs)
		lat       = make([]time.Duration, 0, opt.Jobs)
		res       = &Result{Jobs: opt.Jobs}
		done      atomic.Int64
		allDone   = make(chan struct{})
		recent    []string // Binary ids of recently finished jobs
		lastEnd   time.Time
		inFlight  chan struct{}
	)
	if opt.MaxInFlight > 0 {
		inFlight = make(chan struct{}, opt.MaxInFlight)
	}
	release := func() {
		if inFlight != nil {
			select {
			case <-inFlight:
			default:
			}
		}
	}
	prefix := "load-" + run + "-"
	index := func(jobID string) int {
		if !strings.HasPrefix(jobID, prefix) {
			return -1
		}
		i, err := strconv.Atoi(jobID[len(prefix):])
		if err != nil || i < 0 || i >= opt.Jobs {
			return -1
		}
		return i
	}
	accept := func(st *queue.JobStatus, now time.Time) {
		i := index(st.JobID)
		if i < 0 || !st.Final() {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if ended[i] || submitted[i].IsZero() {
			return
		}
		ended[i] = true
		release()
		lat = append(lat, now.Sub(submitted[i]))
		lastEnd = now
		if st.Status == queue.StatusDone {
			res.Done++
			for _, b := range st.Binaries {
				if b.ContentType == "application/pdf" {
					if len(recent) >= 1024 {
						recent = recent[1:]
					}
					recent = append(recent, b.ID)
				}
			}
		} else {
			res.Failed++
			if len(res.Failures) < 5 {
				res.Failures = append(res.Failures, st.JobID+": "+st.Error)
			}
		}
		if done.Add(1) == int64(opt.Jobs) {
			close(allDone)
		}
	}
	sub, err := nc.Subscribe(queue.SubjectJobEvents, func(m *nats.Msg) {
		now := time.Now()
		var st queue.JobStatus
		if json.Unmarshal(m.Data, &st) == nil {
			accept(&st, now)
		}
	})
	if err != nil {
		return nil, err
	}
	sub.SetPendingLimits(-1, -1)
	if err := nc.Flush(); err != nil {
		return nil, err
	}

	start := time.Now()
	cpu0 := CPUTime()
	var wg sync.WaitGroup

	// Memory sampler.
	stopSampling := make(chan struct{})
	earlyAt := int64(opt.EarlyHeapProfileAt)
	if earlyAt <= 0 {
		earlyAt = int64(max(1, opt.Jobs/3))
	}
	var earlyErr error
	wg.Go(func() {
		t := time.NewTicker(opt.SampleEvery)
		defer t.Stop()
		for {
			s := sample(opt.GCBeforeSample)
			s.At, s.Done = time.Since(start), done.Load()
			if opt.ServerPID > 0 {
				s.ServerRSS = ProcRSS(strconv.Itoa(opt.ServerPID))
			}
			if opt.EarlyHeapProfile != "" && res.EarlyProfileDone == 0 && s.Done >= earlyAt {
				earlyErr = writeHeapProfile(opt.EarlyHeapProfile)
				res.EarlyProfileDone = s.Done
			}
			mu.Lock()
			res.Samples = append(res.Samples, s)
			mu.Unlock()
			select {
			case <-t.C:
			case <-stopSampling:
				return
			}
		}
	})

	// Readers: GET /Binary/{id} of finished jobs until every job has ended.
	var (
		readMu  sync.Mutex
		readLat []time.Duration
		reads   atomic.Int64
		readErr atomic.Int64
	)
	readCtx, stopReads := context.WithCancel(ctx)
	defer stopReads()
	tr := &http.Transport{MaxIdleConns: opt.Readers, MaxIdleConnsPerHost: opt.Readers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var readStart time.Time
	var readers sync.WaitGroup
	for r := range opt.Readers {
		readers.Go(func() {
			// A bounded uniform sample of this reader's latencies
			// (reservoir), so that a long run's heap does not grow
			// with the number of reads.
			var mine []time.Duration
			seen := 0
			rng := rand.New(rand.NewPCG(uint64(r), 0x5eed))
			buf := make([]byte, 32<<10)
			for k := r; readCtx.Err() == nil; k += opt.Readers {
				mu.Lock()
				id := ""
				if len(recent) > 0 {
					id = recent[(k*7919)%len(recent)]
				}
				mu.Unlock()
				if id == "" {
					select { // nothing to read until the first job is done
					case <-readCtx.Done():
					case <-time.After(5 * time.Millisecond):
					}
					continue
				}
				t0 := time.Now()
				err := readBinary(readCtx, client, p.BaseURL+"/Binary/"+id, p.Token, buf)
				if readCtx.Err() != nil {
					break
				}
				if seen++; len(mine) < readSampleCap {
					mine = append(mine, time.Since(t0))
				} else if j := rng.IntN(seen); j < readSampleCap {
					mine[j] = time.Since(t0)
				}
				reads.Add(1)
				if err != nil {
					readErr.Add(1)
					readMu.Lock()
					if len(res.ReadErrorMsg) < 5 {
						res.ReadErrorMsg = append(res.ReadErrorMsg, id+": "+err.Error())
					}
					readMu.Unlock()
				}
			}
			readMu.Lock()
			readLat = append(readLat, mine...)
			readMu.Unlock()
		})
	}
	readStart = time.Now()

	// Submitters.
	next := atomic.Int64{}
	var interval time.Duration
	if opt.Rate > 0 {
		interval = time.Duration(float64(time.Second) / opt.Rate)
	}
	var submitErrs atomic.Int64
	var submitters sync.WaitGroup
	for range opt.Submitters {
		submitters.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= opt.Jobs {
					return
				}
				if interval > 0 {
					wait := time.Until(start.Add(time.Duration(i) * interval))
					if wait > 0 {
						select { // pacing the offered load
						case <-time.After(wait):
						case <-ctx.Done():
							return
						}
					}
				}
				if inFlight != nil {
					select {
					case inFlight <- struct{}{}:
					case <-ctx.Done():
						return
					}
				}
				id := prefix + strconv.Itoa(i)
				job := &queue.Job{ID: id, Report: tmpl.with(run, i)}
				mu.Lock()
				submitted[i] = time.Now()
				mu.Unlock()
				if _, err := p.Queue.Submit(ctx, job); err != nil {
					submitErrs.Add(1)
					mu.Lock()
					submitted[i] = time.Time{}
					mu.Unlock()
					release()
					if done.Add(1) == int64(opt.Jobs) {
						close(allDone)
					}
				}
			}
		})
	}
	submitters.Wait()

	select {
	case <-allDone:
	case <-ctx.Done():
	}
	// Events lost (none expected on loopback) are looked up once.
	for i := range opt.Jobs {
		mu.Lock()
		lost := !ended[i] && !submitted[i].IsZero()
		mu.Unlock()
		if lost {
			qctx, qcancel := context.WithTimeout(context.Background(), 5*time.Second)
			st, err := p.Queue.Status(qctx, prefix+strconv.Itoa(i))
			qcancel()
			if err == nil && st.Final() {
				accept(st, time.Now())
			} else {
				res.Missing++
			}
		}
	}
	var profErr error
	if opt.HeapProfile != "" {
		profErr = writeHeapProfile(opt.HeapProfile)
	}
	stopReads()
	readers.Wait()
	readElapsed := time.Since(readStart)
	close(stopSampling)
	wg.Wait()
	sub.Unsubscribe()

	mu.Lock()
	defer mu.Unlock()
	res.CPU = CPUTime() - cpu0
	if n := res.Done + res.Failed; n > 0 {
		res.CPUPerJob = res.CPU / time.Duration(n)
	}
	res.SubmitErrors = int(submitErrs.Load())
	if !lastEnd.IsZero() {
		res.Elapsed = lastEnd.Sub(start)
	}
	if res.Elapsed > 0 {
		res.JobsPerSec = float64(res.Done+res.Failed) / res.Elapsed.Seconds()
	}
	res.SubmitToDone = summarise(lat)
	res.Reads, res.ReadErrors = int(reads.Load()), int(readErr.Load())
	if readElapsed > 0 {
		res.ReadsPerSec = float64(res.Reads) / readElapsed.Seconds()
	}
	res.Read = summarise(readLat)
	res.Read.N = res.Reads
	return res, errors.Join(earlyErr, profErr)
}

// readBinary GETs one raw Binary and checks that it is a whole PDF.
func readBinary(ctx context.Context, c *http.Client, url, token string, buf []byte) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/pdf")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := io.CopyBuffer(&body, resp.Body, buf); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	b := body.Bytes()
	if strconv.Itoa(len(b)) != resp.Header.Get("Content-Length") || !bytes.HasPrefix(b, []byte("%PDF-")) ||
		!bytes.Contains(b[max(0, len(b)-32):], []byte("%%EOF")) {
		return fmt.Errorf("not a whole PDF (%d bytes, Content-Length %s)", len(b), resp.Header.Get("Content-Length"))
	}
	return nil
}

// template is a report JSON with its id replaced by a placeholder.
type template struct{ before, after []byte }

const placeholder = "@@FOLIO-LOAD-ID@@"

func reportTemplate(report []byte) (*template, error) {
	var m map[string]any
	if err := json.Unmarshal(report, &m); err != nil {
		return nil, fmt.Errorf("loadtest: report: %w", err)
	}
	m["id"] = placeholder
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	before, after, ok := bytes.Cut(b, []byte(`"`+placeholder+`"`))
	if !ok {
		return nil, errors.New("loadtest: report id placeholder lost")
	}
	return &template{before, after}, nil
}

// with returns the report with the id "L<run>-<i>".
func (t *template) with(run string, i int) []byte {
	out := make([]byte, 0, len(t.before)+len(t.after)+24)
	out = append(out, t.before...)
	out = append(out, `"L`...)
	out = append(out, run...)
	out = append(out, '-')
	out = strconv.AppendInt(out, int64(i), 10)
	out = append(out, '"')
	return append(out, t.after...)
}

// sample reads this process's memory.
func sample(gc bool) Sample {
	if gc {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := Sample{RSS: RSS(), HeapInuse: ms.HeapInuse, HeapLive: ms.HeapAlloc}
	return s
}

// RSS returns this process's resident set size in bytes (VmRSS from
// /proc/self/status), or 0 where that is not available.
func RSS() int64 { return ProcRSS("self") }

// ProcRSS returns the resident set size in bytes of process pid (a number
// or "self"), VmRSS from /proc/PID/status, or 0 where that is not
// available (no such process, no /proc).
func ProcRSS(pid string) int64 {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// CPUTime returns the user and system CPU time this process has used.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// RenderThroughput renders report (decode, layout and PDF, as a worker
// does) n times on parallel goroutines in this process, without the queue,
// after a short warm-up, and returns renders per second and the CPU time
// per render.
func RenderThroughput(report []byte, n, parallel int) (perSec float64, cpuPerRender time.Duration, err error) {
	tmpl, err := reportTemplate(report)
	if err != nil {
		return 0, 0, err
	}
	if parallel <= 0 {
		parallel = runtime.NumCPU()
	}
	e := &queue.Engine{}
	for i := range 20 { // warm-up: fonts, pools
		if _, err := e.Render(context.Background(), &queue.Job{ID: "x", Outputs: []string{"pdf"}, Report: tmpl.with("warm", i)}); err != nil {
			return 0, 0, err
		}
	}
	cpu0 := CPUTime()
	var next atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range parallel {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				_, err := e.Render(context.Background(), &queue.Job{ID: "x", Outputs: []string{"pdf"}, Report: tmpl.with("inproc", i)})
				if err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		return 0, 0, err
	}
	return float64(n) / time.Since(start).Seconds(), (CPUTime() - cpu0) / time.Duration(n), nil
}
