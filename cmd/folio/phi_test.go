package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/foliohealth/folio/broker"
	"github.com/nats-io/nats.go/jetstream"
)

// identifyingValues returns, per value, the bad fixture it comes from: the
// patient's name, id, MRN and birth date, the encounter id, and the
// accession when it differs from the report id (a report id is every job's
// and Binary's key, so it is in statuses by design; see README).
func identifyingValues(t *testing.T, files []string) map[string]string {
	t.Helper()
	vals := map[string]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			ID        any `json:"id"`
			Accession any `json:"accession"`
			Encounter any `json:"encounterId"`
			Patient   any `json:"patient"`
		}
		if json.Unmarshal(raw, &r) != nil {
			continue
		}
		add := func(v any) {
			if s, ok := v.(string); ok && len(s) >= 4 {
				vals[s] = filepath.Base(f)
			}
		}
		add(r.Encounter)
		if r.Accession != r.ID {
			add(r.Accession)
		}
		if p, ok := r.Patient.(map[string]any); ok {
			for _, k := range []string{"name", "id", "mrn", "birthDate"} {
				add(p[k])
			}
		}
	}
	return vals
}

// TestNoPHIInLogsStatusesEvents renders and submits every bad fixture and
// makes a search fail, then looks for the fixtures' identifying values in
// everything folio wrote: folio serve's log, folio render's and folio
// submit's output, the job statuses (folio jobs --json) and the events
// stream (issue 10).
func TestNoPHIInLogsStatusesEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary: not in -short mode")
	}
	bad, err := filepath.Glob(filepath.Join(badDir, "*.json"))
	if err != nil || len(bad) < 20 {
		t.Fatalf("bad fixtures: %v, %d files", err, len(bad))
	}
	vals := identifyingValues(t, bad)
	for _, must := range []string{"Doe, Jane", "pt 1/2", "04/09/1961", "enc#1"} {
		if _, ok := vals[must]; !ok {
			t.Fatalf("the bad fixtures no longer hold %q: the test would show nothing", must)
		}
	}

	// Every bad fixture through the queue, each under its own report id
	// (most share one, and one job id is rendered once per duplicate window).
	dir := t.TempDir()
	for i, f := range bad {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		raw = bytes.Replace(raw, []byte(`"id": "S26-000001"`), []byte(fmt.Sprintf(`"id": "PHI-%03d"`, i)), 1)
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srv := startServe(t)
	sub := runFolio(t, "submit", "--nats-url", srv.natsURL, "--data", srv.data, "--wait", "--timeout", "2m", dir)
	if sub.code != 1 || strings.Count(sub.stdout, `"failed"`) < len(bad)/2 {
		t.Fatalf("folio submit --wait of the bad fixtures: exit %d (want 1), output:\n%s\n%s", sub.code, sub.stdout, sub.stderr)
	}
	jobs := runFolio(t, "jobs", "--nats-url", srv.natsURL, "--data", srv.data, "--json", "--limit", "0")
	if jobs.code != 0 || !strings.Contains(jobs.stdout, "PHI-") {
		t.Fatalf("folio jobs --json: exit %d\n%s\n%s", jobs.code, jobs.stdout, jobs.stderr)
	}
	rend := runFolio(t, append([]string{"render", "--json", "-o", t.TempDir()}, bad...)...)
	if rend.code != 1 {
		t.Fatalf("folio render of the bad fixtures: exit %d, want 1", rend.code)
	}

	// A search that fails on its patient value.
	tok := strings.TrimSpace(runFolio(t, "token", "--data", srv.data, "--scope", "user/DocumentReference.read").stdout)
	searched := "Doe, Jane 1961-04-09"
	resp, body := fhirGet(t, srv.base, "/DocumentReference?patient="+url.QueryEscape(searched), tok, "application/fhir+json")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("search with patient=%q: %s %.300s, want 400", searched, resp.Status, body)
	}
	if strings.Contains(string(body), "Doe") {
		t.Errorf("the search error repeats the query value: %s", body)
	}

	// The events stream, every message.
	nc := connectAs(t, srv, broker.RoleAdmin)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, "FOLIO_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var events bytes.Buffer
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		events.Write(m.Data)
		events.WriteByte('\n')
	}
	if !strings.Contains(events.String(), "PHI-") {
		t.Fatalf("no events of the submitted jobs (%d messages)", info.State.Msgs)
	}

	time.Sleep(200 * time.Millisecond) // the request's log line
	where := map[string]string{
		"folio serve log":     srv.log.String(),
		"folio submit output": sub.stdout + sub.stderr,
		"job statuses":        jobs.stdout,
		"events":              events.String(),
		"folio render output": rend.stdout + rend.stderr,
	}
	names := make([]string, 0, len(where))
	for k := range where {
		names = append(names, k)
	}
	sort.Strings(names)
	for v, fixture := range vals {
		for _, k := range names {
			if strings.Contains(where[k], v) {
				i := strings.Index(where[k], v)
				t.Errorf("%s holds %q (from %s): ...%s...", k, v, fixture, where[k][max(0, i-120):min(len(where[k]), i+60)])
			}
		}
	}
	if strings.Contains(srv.log.String(), searched) || strings.Contains(srv.log.String(), url.QueryEscape(searched)) {
		t.Error("folio serve's log holds the search's patient value")
	}
}
