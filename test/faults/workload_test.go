package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/queue"
	"github.com/foliohealth/folio/report"
)

const (
	fixturesDir = "../../fixtures"
	badDir      = "../../fixtures/bad"
)

// job is one render job of the workload and what it must end as.
type job struct {
	id       string // job id
	reportID string // "" for an invalid report
	version  int
	patient  string
	outputs  []string
	report   []byte
	bad      string   // bad fixture name, "" for a valid report
	wantErr  []string // an invalid report's failure must name these
}

// binaryIDs returns the Binary ids a valid job must produce.
func (j *job) binaryIDs() []string {
	var ids []string
	for _, o := range j.outputs {
		ids = append(ids, folio.BinaryID(j.reportID, j.version, o))
	}
	return ids
}

// goodFixture is a valid report fixture decoded to its top-level fields.
type goodFixture struct {
	name    string
	fields  map[string]json.RawMessage
	version int
	patient string
}

func loadGood(t *testing.T) []goodFixture {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(fixturesDir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures in %s (%v)", fixturesDir, err)
	}
	sort.Strings(paths)
	var out []goodFixture
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f := goodFixture{name: strings.TrimSuffix(filepath.Base(p), ".json"), version: 1}
		if err := json.Unmarshal(data, &f.fields); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if v, ok := f.fields["version"]; ok {
			if err := json.Unmarshal(v, &f.version); err != nil {
				t.Fatalf("%s: version: %v", p, err)
			}
		}
		var pat struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(f.fields["patient"], &pat); err != nil || pat.ID == "" {
			t.Fatalf("%s: no patient.id (%v)", p, err)
		}
		f.patient = pat.ID
		out = append(out, f)
	}
	return out
}

// goodJobs returns n valid jobs for a round: the fixtures copied under
// distinct report ids (the id field rewritten), every third report in two
// versions (the second supersedes the first), every other one with a
// thumbnail as well as the PDF. Each is checked with the report decoder.
func goodJobs(t *testing.T, fixtures []goodFixture, round, n int) []*job {
	t.Helper()
	var jobs []*job
	for i := 0; len(jobs) < n; i++ {
		f := fixtures[i%len(fixtures)]
		c := i / len(fixtures)
		reportID := fmt.Sprintf("FLT-%d-%02d-%03d", round, i%len(fixtures), c)
		versions := []int{f.version}
		if c%3 == 0 {
			versions = append(versions, f.version+1)
		}
		outputs := []string{folio.OutputPDF}
		if c%2 == 1 {
			outputs = append(outputs, folio.OutputThumbnail)
		}
		for _, v := range versions {
			fields := make(map[string]json.RawMessage, len(f.fields))
			for k, val := range f.fields {
				fields[k] = val
			}
			fields["id"], _ = json.Marshal(reportID)
			fields["version"], _ = json.Marshal(v)
			data, err := json.Marshal(fields)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := queue.DecodeReport(&queue.Job{Report: data}, report.DefaultLimits()); err != nil {
				t.Fatalf("%s rewritten as %s version %d is refused: %v", f.name, reportID, v, err)
			}
			jobs = append(jobs, &job{
				id: queue.DefaultJobID(data, outputs), reportID: reportID, version: v,
				patient: f.patient, outputs: outputs, report: data,
			})
		}
	}
	return jobs
}

// badJobs returns one job per invalid fixture that is JSON at all (a job
// message carries the report as JSON), each under its own job id, with the
// error lines of its .err file.
func badJobs(t *testing.T, round int) []*job {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(badDir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures in %s (%v)", badDir, err)
	}
	sort.Strings(paths)
	var jobs []*job
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(data) {
			continue // refused by folio submit before it is a job
		}
		want, err := os.ReadFile(strings.TrimSuffix(p, ".json") + ".err")
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		j := &job{id: fmt.Sprintf("bad-%d-%s", round, name), bad: name, report: data, outputs: []string{folio.OutputPDF}}
		for _, l := range strings.Split(strings.TrimSpace(string(want)), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				// Field paths are prefixed with "report." in a job's reason.
				l = strings.TrimPrefix(l, "$")
				// The job carries the report compacted: positions differ.
				if i := strings.Index(l, " (line "); i > 0 {
					l = l[:i]
				}
				j.wantErr = append(j.wantErr, l)
			}
		}
		jobs = append(jobs, j)
	}
	return jobs
}

// shuffle mixes jobs deterministically.
func shuffle(jobs []*job, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 1))
	r.Shuffle(len(jobs), func(i, k int) { jobs[i], jobs[k] = jobs[k], jobs[i] })
}

// submitter publishes jobs through the queue package, retrying (same job
// id, so Nats-Msg-Id dedupes) across server restarts.
type submitter struct {
	q          *queue.Queue
	submitted  atomic.Int64
	retries    atomic.Int64 // failed Submit calls, retried
	duplicates atomic.Int64 // accepted as duplicates of an earlier attempt
}

// all publishes jobs with 4 concurrent publishers and returns when every
// one is accepted, or an error if one is not within d.
func (s *submitter) all(jobs []*job, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	ch := make(chan *job)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for j := range ch {
				if err := s.one(ctx, j); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					cancel()
				}
			}
		})
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	return first
}

func (s *submitter) one(ctx context.Context, j *job) error {
	for {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		sub, err := s.q.Submit(sctx, &queue.Job{ID: j.id, Outputs: j.outputs, Report: j.report})
		cancel()
		if err == nil {
			if sub.JobID != j.id {
				return fmt.Errorf("job %s submitted as %s", j.id, sub.JobID)
			}
			if sub.Duplicate {
				s.duplicates.Add(1)
			}
			s.submitted.Add(1)
			return nil
		}
		s.retries.Add(1)
		select {
		case <-ctx.Done():
			return fmt.Errorf("job %s not accepted in time: %v", j.id, err)
		case <-time.After(200 * time.Millisecond): // retry pace
		}
	}
}

// submitAsync publishes jobs in the background (see all); the function
// it returns waits until they are accepted and fails the test if they were
// not.
func (s *submitter) submitAsync(t *testing.T, jobs []*job, d time.Duration) (wait func()) {
	done := make(chan error, 1)
	go func() { done <- s.all(jobs, d) }()
	return func() {
		t.Helper()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
