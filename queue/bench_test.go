package queue

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

var benchRate = flag.Float64("queue.rate", 0, "BenchmarkPipeline/paced: jobs per second offered (0: skip)")

// benchReports returns n copies of a fixture, each with its own report id,
// so that every job renders and stores its own Binary.
func benchReports(b *testing.B, fixture string, n int) [][]byte {
	var rep map[string]any
	if err := json.Unmarshal(fixtures(b)[fixture], &rep); err != nil {
		b.Fatal(err)
	}
	out := make([][]byte, n)
	for i := range out {
		rep["id"] = fmt.Sprintf("BENCH-%d-%d", time.Now().UnixNano()%1e6, i)
		out[i], _ = json.Marshal(rep)
	}
	return out
}

// BenchmarkRenderInProcess is the in-process render throughput of the
// fixture the pipeline benchmark uses: decode, layout and PDF, on every
// core.
func BenchmarkRenderInProcess(b *testing.B) {
	reports := benchReports(b, "surgical-breast", 64)
	e := &Engine{}
	var mu sync.Mutex
	i := 0
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			r := reports[i%len(reports)]
			i++
			mu.Unlock()
			if _, err := e.Render(context.Background(), &Job{ID: "x", Outputs: []string{"pdf"}, Report: r}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
}

// BenchmarkPipeline submits b.N jobs to an embedded server with
// runtime.NumCPU() worker slots rendering with the real engine, and reports
// jobs/s and submit-to-done latency. "saturated" submits them all at once;
// "paced" offers -queue.rate jobs per second (run it at half the saturated
// rate to check latency under load).
func BenchmarkPipeline(b *testing.B) {
	b.Run("saturated", func(b *testing.B) { benchPipeline(b, 0) })
	b.Run("paced", func(b *testing.B) {
		if *benchRate <= 0 {
			b.Skip("set -queue.rate")
		}
		benchPipeline(b, *benchRate)
	})
}

func benchPipeline(b *testing.B, rate float64) {
	s := startServer(b, b.TempDir(), "")
	_, q := openQueue(b, s, Config{})
	runWorkers(b, q, &Engine{}, benchSlots())
	reports := benchReports(b, "surgical-breast", b.N)
	w, err := q.NewWaiter()
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()

	ctx := context.Background()
	var mu sync.Mutex
	submitted := map[string]time.Time{}
	var latencies []time.Duration
	var subs []*Submitted
	waitDone := make(chan struct{})
	subCh := make(chan *Submitted, b.N)
	b.ResetTimer()
	start := time.Now()
	cpu0 := cpuTime()
	go func() {
		defer close(waitDone)
		var all []*Submitted
		for s := range subCh {
			all = append(all, s)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		left := w.Wait(wctx, all, func(st *JobStatus) {
			mu.Lock()
			latencies = append(latencies, st.Updated.Sub(submitted[st.JobID]))
			mu.Unlock()
			if st.Status != StatusDone {
				b.Errorf("%s: %s", st.JobID, st.Error)
			}
		})
		if len(left) > 0 {
			b.Errorf("%d jobs did not end", len(left))
		}
	}()
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	for i, r := range reports {
		if interval > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(i) * interval))) // pacing the offered load
		}
		id := fmt.Sprintf("bench-%d", i)
		mu.Lock()
		submitted[id] = time.Now()
		mu.Unlock()
		sub, err := q.Submit(ctx, &Job{ID: id, Report: r})
		if err != nil {
			b.Fatal(err)
		}
		subs = append(subs, sub)
		subCh <- sub
	}
	close(subCh)
	<-waitDone
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	slices.Sort(latencies)
	if len(latencies) > 0 {
		pct := func(p float64) float64 {
			return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
		}
		b.ReportMetric(float64(len(subs))/elapsed.Seconds(), "jobs/s")
		b.ReportMetric(pct(0.5), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
	}
	// CPU time of the whole process (workers, submitter and the embedded
	// server) per job: on a machine shared with other work, wall-clock
	// rates swing with the neighbours' load, CPU per job much less.
	cpuPerJob := cpu.Seconds() * 1000 / float64(len(subs))
	b.ReportMetric(cpuPerJob, "cpu-ms/job")
	if rate == 0 {
		// The in-process reference, measured right after on the same
		// cores: the ratio of the rates, and the ratio of CPU per job
		// (the throughput ratio once the cores are the limit).
		c0 := cpuTime()
		inproc := inProcessRate(b, reports)
		inprocCPU := (cpuTime() - c0).Seconds() * 1000 / float64(len(reports))
		b.ReportMetric(inproc, "inproc-jobs/s")
		b.ReportMetric(100*float64(len(subs))/elapsed.Seconds()/inproc, "%-of-inproc")
		b.ReportMetric(inprocCPU, "inproc-cpu-ms/job")
		b.ReportMetric(100*inprocCPU/cpuPerJob, "%-of-inproc-cpu")
	}
}

// cpuTime returns the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// inProcessRate renders reports with the engine on runtime.NumCPU()
// goroutines and returns the jobs per second.
func inProcessRate(b *testing.B, reports [][]byte) float64 {
	e := &Engine{}
	var wg sync.WaitGroup
	next := make(chan []byte)
	start := time.Now()
	for range runtime.NumCPU() {
		wg.Go(func() {
			for r := range next {
				if _, err := e.Render(context.Background(), &Job{ID: "x", Outputs: []string{"pdf"}, Report: r}); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for _, r := range reports {
		next <- r
	}
	close(next)
	wg.Wait()
	return float64(len(reports)) / time.Since(start).Seconds()
}

var benchSlotsFlag = flag.Int("queue.slots", 0, "BenchmarkPipeline: worker slots (0: runtime.NumCPU())")

func benchSlots() int {
	if *benchSlotsFlag > 0 {
		return *benchSlotsFlag
	}
	return runtime.NumCPU()
}
