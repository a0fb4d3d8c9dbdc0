package loadtest

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/store"
	"github.com/foliohealth/folio/store/s3"
)

// procCPU returns the user+system CPU time of process pid so far (0 if it
// cannot be read).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ
}

// natsFootprint is what the JetStream server keeps after a run.
type natsFootprint struct {
	storeBytes uint64 // every stream's bytes on disk
	subjects   uint64 // distinct subjects (what the server indexes in memory)
	rss        int64
	streams    map[string][2]uint64 // stream -> bytes, subjects
}

func footprint(t *testing.T, url string, pid int) natsFootprint {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := natsFootprint{streams: map[string][2]uint64{}}
	for name := range js.StreamNames(ctx).Name() {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f.storeBytes += info.State.Bytes
		f.subjects += info.State.NumSubjects
		f.streams[name] = [2]uint64{info.State.Bytes, info.State.NumSubjects}
	}
	f.rss = ProcRSS(strconv.Itoa(pid))
	return f
}

// TestS3SideBySide is the measurement of docs/SCALING.md "Binaries in S3":
// the same jobs (closed loop, 16 in flight, 4 readers of GET /Binary
// meanwhile) through a pipeline whose Binaries are in the JetStream Object
// Store and through one whose Binaries are in SeaweedFS over S3,
// alternating (Object Store, S3, Object Store, S3) so that the shared
// machine's load falls on both alike. Each run has its own external
// nats-server; CPU per job counts this process, the nats-server and (for
// S3) SeaweedFS. It logs jobs/s, CPU per job, read throughput and p99, and
// what the nats-server keeps per job (bytes, subjects, RSS), and asserts
// only that every job was done and every read whole.
func TestS3SideBySide(t *testing.T) {
	if testing.Short() {
		t.Skip("side-by-side run in -short mode")
	}
	report := readFixture(t)
	jobs := 600
	if v := os.Getenv("FOLIO_S3_JOBS"); v != "" {
		jobs, _ = strconv.Atoi(v)
	}
	if raceBuild {
		jobs = min(jobs, 60)
	}
	weed := testutil.StartWeed(t, "folio")
	for _, kv := range weed.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	type row struct {
		name                 string
		r                    *Result
		cpuPerJob            time.Duration
		natsCPU, weedCPU     time.Duration
		before, after        natsFootprint
		weedRSSBefore, weedR int64
	}
	var rows []row
	run := func(round int, useS3 bool) {
		name := fmt.Sprintf("object store #%d", round)
		var bin store.Binaries
		if useS3 {
			name = fmt.Sprintf("s3 (SeaweedFS) #%d", round)
			cfg, err := s3.ParseURL(weed.URL(fmt.Sprintf("bench-%d", round)))
			if err != nil {
				t.Fatal(err)
			}
			s, err := s3.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			bin = s
		}
		ext := startExternalNATS(t)
		p, err := Start(ctx, Config{DataDir: t.TempDir(), NATSURL: ext.URL, Workers: 2, Binaries: bin})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if r, err := Run(ctx, p, Options{Report: report, Jobs: 50, MaxInFlight: 16}); err != nil || r.Done != 50 {
			t.Fatalf("%s warm-up: %v %+v", name, err, r)
		}
		rw := row{name: name, before: footprint(t, ext.URL, ext.PID), weedRSSBefore: ProcRSS(strconv.Itoa(weed.PID()))}
		n0, w0 := procCPU(ext.PID), procCPU(weed.PID())
		r, err := Run(ctx, p, Options{Report: report, Jobs: jobs, MaxInFlight: 16, Readers: 4, ServerPID: ext.PID})
		if err != nil {
			t.Fatal(err)
		}
		rw.natsCPU = procCPU(ext.PID) - n0
		if useS3 {
			rw.weedCPU = procCPU(weed.PID()) - w0
		}
		rw.after = footprint(t, ext.URL, ext.PID)
		rw.weedR = ProcRSS(strconv.Itoa(weed.PID()))
		rw.r = r
		rw.cpuPerJob = (r.CPU + rw.natsCPU + rw.weedCPU) / time.Duration(max(1, r.Done))
		logResult(t, name, r)
		checkResult(t, name, r)
		rows = append(rows, rw)
	}
	for round := 1; round <= 2; round++ {
		run(round, false)
		run(round, true)
	}
	t.Logf("%-20s %8s %12s %10s %10s %10s %10s %12s %12s %12s", "run", "jobs/s", "CPU/job", "folio", "nats", "weed", "reads/s", "read p99", "nats B/job", "subj/job")
	for _, rw := range rows {
		d := float64(max(1, rw.r.Done))
		t.Logf("%-20s %8.1f %12v %10v %10v %10v %10.1f %12v %12.0f %12.2f", rw.name, rw.r.JobsPerSec, rw.cpuPerJob.Round(time.Microsecond),
			(rw.r.CPU / time.Duration(d)).Round(time.Microsecond), (rw.natsCPU / time.Duration(d)).Round(time.Microsecond),
			(rw.weedCPU / time.Duration(d)).Round(time.Microsecond), rw.r.ReadsPerSec, rw.r.Read.P99,
			float64(rw.after.storeBytes-rw.before.storeBytes)/d, float64(rw.after.subjects-rw.before.subjects)/d)
		t.Logf("%-20s nats-server RSS %s -> %s (%+.1f KiB/job); SeaweedFS RSS %s -> %s", rw.name, mib(rw.before.rss), mib(rw.after.rss),
			float64(rw.after.rss-rw.before.rss)/d/1024, mib(rw.weedRSSBefore), mib(rw.weedR))
		var per []string
		for name, a := range rw.after.streams {
			b := rw.before.streams[name]
			per = append(per, fmt.Sprintf("%s %.0f B %.2f subj", name, float64(a[0]-b[0])/d, float64(a[1]-b[1])/d))
		}
		slices.Sort(per)
		t.Logf("%-20s per job and stream: %s", rw.name, strings.Join(per, "; "))
	}
	if len(rows) == 4 {
		avg := func(i, j int, f func(row) float64) float64 { return (f(rows[i]) + f(rows[j])) / 2 }
		ratio := func(what string, f func(row) float64) {
			t.Logf("S3 / Object Store, %s: %.2f", what, avg(1, 3, f)/avg(0, 2, f))
		}
		ratio("jobs/s", func(r row) float64 { return r.r.JobsPerSec })
		ratio("CPU per job (folio + nats-server + SeaweedFS)", func(r row) float64 { return r.cpuPerJob.Seconds() })
		ratio("reads/s", func(r row) float64 { return r.r.ReadsPerSec })
		ratio("read p99", func(r row) float64 { return r.r.Read.P99.Seconds() })
		ratio("JetStream bytes per job", func(r row) float64 { return float64(r.after.storeBytes - r.before.storeBytes) })
		ratio("JetStream subjects per job", func(r row) float64 { return float64(r.after.subjects - r.before.subjects) })
	}
}
