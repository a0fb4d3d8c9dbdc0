package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/hl7"
	"github.com/foliohealth/folio/input"
	"github.com/foliohealth/folio/mllp/intake"
	"github.com/foliohealth/folio/queue"
	"github.com/foliohealth/folio/report"
)

// submitLine is one line of "folio submit" output (cli.md).
type submitLine struct {
	Input    string            `json:"input,omitempty"`
	Source   string            `json:"source,omitempty"` // which report of an input holding several
	JobID    string            `json:"jobId"`
	Status   string            `json:"status"`
	Binaries []queue.BinaryRef `json:"binaries"`
	Warnings []string          `json:"warnings"`
	Error    string            `json:"error,omitempty"`
	Reason   string            `json:"reason,omitempty"` // failed: invalid, conflict, render, exhausted
}

// runSubmit implements "folio submit": one render job per report file,
// optionally waiting for each to end.
func runSubmit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("folio submit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nf := addNATSFlags(fs, "nats://127.0.0.1:4222")
	data := fs.String("data", "./folio-data", "data directory of the folio serve whose embedded NATS server to use (its credentials)")
	outputs := fs.String("outputs", "pdf", "comma-separated outputs: pdf, thumbnail")
	wait := fs.Bool("wait", false, "wait for every job to end (done or failed)")
	timeout := fs.Duration("timeout", 5*time.Minute, "with --wait, give up on jobs not ended by then")
	sitePath := addSiteFlag(fs)
	paths, code, ok := parseFlags(fs, args, stderr)
	if !ok {
		return code
	}
	var outs []string
	for _, o := range strings.Split(*outputs, ",") {
		o = strings.TrimSpace(o)
		if o != folio.OutputPDF && o != folio.OutputThumbnail {
			fmt.Fprintf(stderr, "folio submit: --outputs: unknown output %q (want pdf, thumbnail)\n", o)
			return exitUsage
		}
		outs = append(outs, o)
	}
	if len(paths) == 0 || *timeout <= 0 {
		fmt.Fprintln(stderr, "folio submit: give at least one FILE or DIR (and a positive --timeout)")
		fs.Usage()
		return exitUsage
	}
	files, err := expandInputs(paths)
	if err != nil {
		fmt.Fprintln(stderr, "folio submit:", err)
		return exitUsage
	}

	enc := json.NewEncoder(stdout)
	print := func(l submitLine) {
		if l.Binaries == nil {
			l.Binaries = []queue.BinaryRef{}
		}
		if l.Warnings == nil {
			l.Warnings = []string{}
		}
		enc.Encode(l)
	}
	nc, err := nf.connect(broker.RoleSubmitter, *data, nats.MaxReconnects(10))
	if err != nil {
		fmt.Fprintln(stderr, "folio submit:", err)
		return exitFailed
	}
	defer nc.Close()
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	q, err := queue.Open(octx, nc, queue.Config{Role: broker.RoleSubmitter})
	cancel()
	if err != nil {
		fmt.Fprintln(stderr, "folio submit:", err)
		return exitFailed
	}
	var waiter *queue.Waiter
	if *wait {
		if waiter, err = q.NewWaiter(); err != nil {
			fmt.Fprintln(stderr, "folio submit:", err)
			return exitFailed
		}
		defer waiter.Close()
	}

	site, err := loadSite(*sitePath)
	if err != nil {
		fmt.Fprintln(stderr, "folio submit: --hl7-site:", err)
		return exitUsage
	}
	hl7in := intake.New(q, q.Versions(), intake.Config{Outputs: outs, Site: site})
	code = exitOK
	var subs []*queue.Submitted
	inputOf := map[string]string{}
	sourceOf := map[string]string{}
	for _, f := range files {
		jobs, err := jobsOf(ctx, f, outs, hl7in)
		if err != nil {
			print(submitLine{Input: f, Status: queue.StatusFailed, Error: fmt.Sprintf("%s: %v", f, err)})
			code = exitFailed
			continue
		}
		for _, job := range jobs {
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			sub, err := q.Submit(sctx, job)
			cancel()
			if err != nil {
				print(submitLine{Input: f, Source: job.Source, Status: queue.StatusFailed, Error: fmt.Sprintf("%s: %v", f, err)})
				code = exitFailed
				continue
			}
			if first, ok := inputOf[sub.JobID]; ok {
				// The same report (id, version and content digest, so the
				// same job id) as an earlier input of this run: the queue
				// keeps one job per id. Say so instead of crediting the
				// other file's outcome to it.
				print(submitLine{Input: f, Source: job.Source, JobID: sub.JobID, Status: queue.StatusFailed,
					Error: fmt.Sprintf("%s: the same report (id, version and content) as %s in this run: not submitted twice", f, first)})
				code = exitFailed
				continue
			}
			inputOf[sub.JobID] = f
			sourceOf[sub.JobID] = job.Source
			if *wait {
				subs = append(subs, sub)
				continue
			}
			line := submitLine{Input: f, Source: job.Source, JobID: sub.JobID, Status: queue.StatusQueued}
			if sub.Duplicate {
				if st, err := q.Status(ctx, sub.JobID); err == nil {
					line = statusLine(f, st)
					line.Source = job.Source
				}
			}
			print(line)
		}
	}
	if !*wait {
		return code
	}
	wctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	left := waiter.Wait(wctx, subs, func(st *queue.JobStatus) {
		l := statusLine(inputOf[st.JobID], st)
		l.Source = sourceOf[st.JobID]
		print(l)
		if st.Status != queue.StatusDone {
			code = exitFailed
		}
	})
	for _, sub := range left {
		line := submitLine{Input: inputOf[sub.JobID], Source: sourceOf[sub.JobID], JobID: sub.JobID, Status: queue.StatusQueued}
		if st, err := q.Status(context.Background(), sub.JobID); err == nil {
			line.Status = st.Status
		}
		line.Error = fmt.Sprintf("did not end within %v", *timeout)
		if ctx.Err() != nil {
			line.Error = "interrupted while waiting"
		}
		print(line)
		code = exitFailed
	}
	return code
}

func statusLine(input string, st *queue.JobStatus) submitLine {
	return submitLine{Input: input, JobID: st.JobID, Status: st.Status, Binaries: st.Binaries, Warnings: st.Warnings, Error: st.Error, Reason: st.Reason}
}

// jobsOf reads one input file and returns its jobs: one for a report v1
// file, one per report for FHIR (the payload sent as it is, "source"
// naming the report when the input holds several). FHIR input is mapped
// here first so that a bad file is refused before anything is queued,
// with the same FHIR paths the worker would give.
func jobsOf(ctx context.Context, path string, outs []string, hl7in *intake.Intake) ([]*queue.Job, error) {
	lim := report.DefaultLimits()
	data, err := readLimited(path, int64(lim.MaxBytes))
	if err != nil {
		return nil, err
	}
	// A byte order mark is no part of the input: the job carries the
	// input from its first character on (JSON cannot embed one).
	data = folio.TrimBOM(data)
	if kindOf(path, data) == input.HL7 {
		// HL7 v2: every message mapped and versioned here (as the MLLP
		// listener does), one report job per OBR; a refused message
		// refuses the file before anything is queued.
		var jobs []*queue.Job
		var errs []string
		for i, msg := range hl7.Split(data) {
			js, err := hl7in.Jobs(ctx, msg)
			if err != nil {
				errs = append(errs, fmt.Sprintf("message %d: %v", i+1, strings.ReplaceAll(err.Error(), "\n", "; ")))
				continue
			}
			for _, j := range js { // result status X or W too: the worker withdraws
				jobs = append(jobs, j.Job)
			}
		}
		if len(errs) > 0 {
			return nil, errors.New(strings.Join(errs, "; "))
		}
		if len(jobs) == 0 && len(hl7.Split(data)) == 0 {
			return nil, errors.New("MSH^1: no HL7 v2 message in the file")
		}
		return jobs, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	data = buf.Bytes()
	kind := input.Detect(data)
	if kind == input.Report {
		return []*queue.Job{{Report: data, Outputs: outs}}, nil
	}
	docs, err := input.Map(kind, data, input.Options{Limits: lim})
	if err != nil {
		var lines []string
		for _, l := range failLine(renderLine{}, err).errLines {
			lines = append(lines, l)
		}
		return nil, errors.New(strings.Join(lines, "; "))
	}
	var jobs []*queue.Job
	for _, d := range docs {
		j := &queue.Job{FHIR: data, Outputs: outs}
		if len(docs) > 1 {
			j.Source = d.Source
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}
