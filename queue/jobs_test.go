package queue

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestListJobs pages through job statuses newest first, filters failed
// ones, and bounds the entries one call examines.
func TestListJobs(t *testing.T) {
	srv := startServer(t, t.TempDir(), "127.0.0.1:-1")
	_, q := openQueue(t, srv, testConfig())
	ctx := context.Background()
	var ids []string
	for i := range 12 {
		id := fmt.Sprintf("S26-%06d-1.pdf", i)
		ids = append(ids, id)
		st := &JobStatus{JobID: id, Status: StatusRunning}
		if err := q.putInterimStatus(ctx, st); err != nil {
			t.Fatal(err)
		}
		if i%4 == 1 {
			st.Status, st.Reason, st.Error = StatusFailed, ReasonInvalid, "report.status: required"
		} else {
			st.Status = StatusDone
		}
		if err := q.finalize(ctx, st); err != nil {
			t.Fatal(err)
		}
	}

	// Every job once, newest first, in pages of 5.
	var got []string
	jq := JobQuery{Limit: 5}
	for pages := 0; ; pages++ {
		if pages > 4 {
			t.Fatal("more than 4 pages of 5 for 12 jobs")
		}
		p, err := q.ListJobs(ctx, jq)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Jobs) > 5 {
			t.Fatalf("page of %d, limit 5", len(p.Jobs))
		}
		for _, st := range p.Jobs {
			got = append(got, st.JobID)
		}
		if p.Next == 0 {
			break
		}
		jq.Before = p.Next
	}
	if len(got) != len(ids) {
		t.Fatalf("listed %v, want the %d jobs once each", got, len(ids))
	}
	for i, id := range got {
		if want := ids[len(ids)-1-i]; id != want {
			t.Fatalf("position %d: %s, want %s (newest first): %v", i, id, want, got)
		}
	}

	// Failed only: jobs 1, 5, 9.
	p, err := q.ListJobs(ctx, JobQuery{Failed: true})
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, st := range p.Jobs {
		failed = append(failed, st.JobID)
		if st.Status != StatusFailed || st.Error == "" {
			t.Errorf("failed filter returned %+v", st)
		}
	}
	if fmt.Sprint(failed) != fmt.Sprint([]string{ids[9], ids[5], ids[1]}) || p.Next != 0 {
		t.Errorf("failed jobs %v (next %d), want %v and no next page", failed, p.Next, []string{ids[9], ids[5], ids[1]})
	}

	// A scan budget of 3 entries stops early with a page to continue from.
	p, err = q.ListJobs(ctx, JobQuery{Failed: true, MaxScan: 3})
	if err != nil {
		t.Fatal(err)
	}
	if p.Scanned != 3 || p.Next == 0 || len(p.Jobs) != 1 || p.Jobs[0].JobID != ids[9] {
		t.Errorf("MaxScan 3: scanned %d, next %d, jobs %d; want 3, a next page, %s", p.Scanned, p.Next, len(p.Jobs), ids[9])
	}

	// Since in the future: nothing.
	p, err = q.ListJobs(ctx, JobQuery{Since: time.Now().Add(time.Hour)})
	if err != nil || len(p.Jobs) != 0 || p.Next != 0 {
		t.Errorf("since in an hour: %d jobs, next %d, %v; want none", len(p.Jobs), p.Next, err)
	}
}

func TestReportVersion(t *testing.T) {
	for id, want := range map[string]string{
		"S26-004512-2.pdf":                          "S26-004512-2",
		"S26-004512-2.pdf-thumbnail":                "S26-004512-2",
		"S26.7-004512-2.3f1c9a0b7d2e4f60.pdf":       "S26.7-004512-2",
		"x-51c696047501308c.pdf":                    "",
		"fhir-51c696047501308c.pdf":                 "",
		"my-own-id":                                 "",
		"RAD-2026-1.3f1c9a0b7d2e4f60.pdf-thumbnail": "RAD-2026-1",
	} {
		if got := (&JobStatus{JobID: id}).ReportVersion(); got != want {
			t.Errorf("%s: %q, want %q", id, got, want)
		}
	}
	if got := (&JobStatus{JobID: "x-1.pdf", RecordID: "S26-1-3"}).ReportVersion(); got != "S26-1-3" {
		t.Errorf("with a record id: %q", got)
	}
}
