package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/queue"
)

// openQueue connects to NATS as the job commands do (the connection flags
// of submit, the submitter's role: they read job statuses) and binds to
// the job statuses.
func openQueue(ctx context.Context, nf *natsFlags, dataDir string) (*queue.Queue, func(), error) {
	nc, err := nf.connect(broker.RoleSubmitter, dataDir, nats.MaxReconnects(10))
	if err != nil {
		return nil, nil, err
	}
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	q, err := queue.Open(octx, nc, queue.Config{Role: broker.RoleSubmitter})
	cancel()
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return q, nc.Close, nil
}

// runJobs implements "folio jobs": recent job statuses, newest first.
func runJobs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("folio jobs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nf := addNATSFlags(fs, "nats://127.0.0.1:4222")
	data := fs.String("data", "./folio-data", "data directory of the folio serve whose embedded NATS server to use (its credentials)")
	failed := fs.Bool("failed", false, "failed jobs only")
	since := fs.Duration("since", 24*time.Hour, "jobs whose status changed within this long (0: every status kept, 7 days by default)")
	limit := fs.Int("limit", 100, "at most this many jobs (0: no limit)")
	asJSON := fs.Bool("json", false, "one JSON object per line (the job status record) instead of a table")
	pos, code, ok := parseFlags(fs, args, stderr)
	if !ok {
		return code
	}
	if len(pos) > 0 || *since < 0 || *limit < 0 {
		fmt.Fprintln(stderr, "folio jobs: no arguments expected; --since and --limit must not be negative")
		fs.Usage()
		return exitUsage
	}
	q, closeQ, err := openQueue(ctx, nf, *data)
	if err != nil {
		fmt.Fprintln(stderr, "folio jobs:", err)
		return exitFailed
	}
	defer closeQ()
	jq := queue.JobQuery{Failed: *failed, Limit: 500}
	if *since > 0 {
		jq.Since = time.Now().Add(-*since)
	}
	var jobs []*queue.JobStatus
	for {
		if *limit > 0 && len(jobs) >= *limit {
			jobs = jobs[:*limit]
			break
		}
		page, err := q.ListJobs(ctx, jq)
		if err != nil {
			fmt.Fprintln(stderr, "folio jobs:", err)
			return exitFailed
		}
		jobs = append(jobs, page.Jobs...)
		if page.Next == 0 {
			if *limit > 0 && len(jobs) > *limit {
				jobs = jobs[:*limit]
			}
			break
		}
		jq.Before = page.Next
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		for _, st := range jobs {
			enc.Encode(st)
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "UPDATED\tSTATUS\tJOB\tREPORT\tDETAIL")
	for _, st := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", st.Updated.Local().Format("2006-01-02 15:04:05"), st.Status, st.JobID, reportOf(st), oneLine(detail(st), 100))
	}
	tw.Flush()
	if len(jobs) == 0 {
		what := "jobs"
		if *failed {
			what = "failed jobs"
		}
		fmt.Fprintf(stderr, "folio jobs: no %s within --since %v\n", what, *since)
	}
	return exitOK
}

// runJob implements "folio job ID": one job's status in full.
func runJob(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("folio job", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nf := addNATSFlags(fs, "nats://127.0.0.1:4222")
	data := fs.String("data", "./folio-data", "data directory of the folio serve whose embedded NATS server to use (its credentials)")
	asJSON := fs.Bool("json", false, "print the job status record as JSON")
	pos, code, ok := parseFlags(fs, args, stderr)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "folio job: give one JOB-ID (as printed by folio submit or folio jobs)")
		fs.Usage()
		return exitUsage
	}
	q, closeQ, err := openQueue(ctx, nf, *data)
	if err != nil {
		fmt.Fprintln(stderr, "folio job:", err)
		return exitFailed
	}
	defer closeQ()
	st, err := q.Status(ctx, pos[0])
	if errors.Is(err, folio.ErrNotFound) {
		fmt.Fprintf(stderr, "folio job: no job %q (statuses are kept for 7 days)\n", pos[0])
		return exitFailed
	}
	if err != nil {
		fmt.Fprintln(stderr, "folio job:", err)
		return exitFailed
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		enc.Encode(st)
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("job", st.JobID)
	row("status", st.Status)
	row("reason", st.Reason)
	row("report", reportOf(st))
	row("identifier", st.Identifier) // the report's identifier as sent, when its key is derived
	if !st.Submitted.IsZero() {
		row("submitted", st.Submitted.Local().Format(time.RFC3339))
	}
	row("updated", st.Updated.Local().Format(time.RFC3339))
	if st.Deliveries > 0 {
		row("deliveries", fmt.Sprint(st.Deliveries))
	}
	for _, b := range st.Binaries {
		row("binary", b.ID+" ("+b.ContentType+")")
	}
	tw.Flush()
	if st.Error != "" {
		fmt.Fprintln(stdout, "error:")
		for _, l := range strings.Split(st.Error, "\n") {
			fmt.Fprintln(stdout, "  "+l)
		}
	}
	if len(st.Warnings) > 0 {
		fmt.Fprintln(stdout, "warnings:")
		for _, w := range st.Warnings {
			fmt.Fprintln(stdout, "  "+w)
		}
	}
	return exitOK
}

// reportOf names the report version of a job, "-" if unknown.
func reportOf(st *queue.JobStatus) string {
	if r := st.ReportVersion(); r != "" {
		return r
	}
	return "-"
}

// detail is the one thing to know about a job in a listing.
func detail(st *queue.JobStatus) string {
	switch {
	case st.Error != "" && st.Reason != "":
		return st.Reason + ": " + st.Error
	case st.Error != "":
		return st.Error
	case len(st.Warnings) > 0:
		return fmt.Sprintf("%d warning(s): %s", len(st.Warnings), st.Warnings[0])
	}
	return ""
}

// oneLine folds s to one line of at most n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
