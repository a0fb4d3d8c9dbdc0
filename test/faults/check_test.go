package faults

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/queue"
)

// tally holds the figures a run prints.
type tally struct {
	rows [][2]string
}

func (c *tally) add(name string, v any) { c.rows = append(c.rows, [2]string{name, fmt.Sprint(v)}) }

// log prints the figures as a table.
func (c *tally) log(t *testing.T, title string) {
	t.Helper()
	w := 0
	for _, r := range c.rows {
		w = max(w, len(r[0]))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n| %-*s | value |\n|%s|-------|\n", title, w, "figure", strings.Repeat("-", w+2))
	for _, r := range c.rows {
		fmt.Fprintf(&b, "| %-*s | %s |\n", w, r[0], r[1])
	}
	t.Log("\n" + b.String())
}

// waitFinal polls the status of every job until all have ended (done or
// failed), failing the test with the stragglers after d.
func waitFinal(t *testing.T, q *queue.Queue, js jetstream.JetStream, jobs []*job, d time.Duration) map[string]*queue.JobStatus {
	t.Helper()
	final := map[string]*queue.JobStatus{}
	deadline := time.Now().Add(d)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		var left []string
		var seqs []uint64
		var ids []string
		for _, j := range jobs {
			if final[j.id] != nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			st, err := q.Status(ctx, j.id)
			cancel()
			if err == nil && st.Final() {
				final[j.id] = st
				continue
			}
			what := "no status"
			if err == nil {
				what = st.Status + " " + st.Error
				seqs = append(seqs, st.Seq)
				ids = append(ids, j.id)
			} else if !errors.Is(err, folio.ErrNotFound) {
				what = err.Error()
			}
			left = append(left, j.id+": "+what)
		}
		if len(left) == 0 {
			return final
		}
		if time.Now().After(deadline) {
			if len(left) > 20 {
				left = append(left[:20], fmt.Sprintf("... and %d more", len(left)-20))
			}
			// The rest of the outcome is still checked.
			t.Errorf("%d of %d jobs not ended within %v:\n%s\n%s\n%s", len(left), len(jobs), d, strings.Join(left, "\n"), streamState(js, seqs), eventsOf(js, ids))
			return final
		}
		<-tick.C
	}
}

// outcome is what checkOutcome found.
type outcome struct {
	done, failed, notEnded, redelivered, maxDeliveries int
	binaries, docRefs, superseded, bytes               int
}

// checkOutcome checks every job's end, then reads everything back through
// the api process over HTTP: every Binary with the digest and size its
// DocumentReference gives and its stored SHA-256, no report with two current
// DocumentReferences, no Binary listed twice or stored twice.
func checkOutcome(t *testing.T, q *queue.Queue, stored map[string]string, base, token string, jobs []*job, final map[string]*queue.JobStatus) outcome {
	t.Helper()
	var o outcome
	wantBinaries := map[string]*job{} // Binary id -> a job that produces it
	records := map[string][]int{}     // report id -> versions
	patients := map[string]bool{}
	allVersions := map[string][]int{} // report id -> versions submitted
	possible := map[string]bool{}     // Binary ids some valid job may make
	for _, j := range jobs {
		if j.bad == "" {
			for _, id := range j.binaryIDs() {
				possible[id] = true
			}
			allVersions[j.reportID] = append(allVersions[j.reportID], j.version)
			patients[j.patient] = true
		}
		st := final[j.id]
		if st == nil {
			o.notEnded++ // reported by waitFinal
			continue
		}
		if st.Deliveries > 1 {
			o.redelivered++
		}
		o.maxDeliveries = max(o.maxDeliveries, st.Deliveries)
		if j.bad != "" {
			o.failed++
			if st.Status != queue.StatusFailed || st.Reason != queue.ReasonInvalid || len(st.Binaries) != 0 {
				t.Errorf("invalid %s (job %s): %s reason %q binaries %v, want failed, invalid, none", j.bad, j.id, st.Status, st.Reason, st.Binaries)
			}
			for _, w := range j.wantErr {
				if !strings.Contains(st.Error, w) {
					t.Errorf("invalid %s (job %s): reason %q does not say %q", j.bad, j.id, st.Error, w)
				}
			}
			continue
		}
		if st.Status != queue.StatusDone {
			o.failed++
			t.Errorf("job %s (report %s version %d): %s %s: %s, want done", j.id, j.reportID, j.version, st.Status, st.Reason, st.Error)
			continue
		}
		o.done++
		var got []string
		for _, b := range st.Binaries {
			got = append(got, b.ID)
		}
		want := j.binaryIDs()
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("job %s: Binaries %v, want %v", j.id, got, want)
		}
		for _, id := range want {
			wantBinaries[id] = j
		}
		if !slices.Contains(records[j.reportID], j.version) {
			records[j.reportID] = append(records[j.reportID], j.version)
		}
		patients[j.patient] = true
	}

	// Every Binary stored (once: a listing fails the test on a second
	// copy), and nothing else stored.
	for id := range wantBinaries {
		if _, ok := stored[id]; !ok {
			t.Errorf("Binary %s of a done job is not stored", id)
		}
	}
	for id := range stored {
		if !possible[id] {
			t.Errorf("Binary %s is stored but no job made it", id)
		}
	}

	// DocumentReferences through the api process, per patient.
	docs := map[string]docRef{}
	for p := range patients {
		for _, d := range searchDocRefs(t, base, token, p) {
			if _, dup := docs[d.ID]; dup {
				t.Errorf("DocumentReference/%s returned twice", d.ID)
			}
			docs[d.ID] = d
		}
	}
	attachment := map[string]attachmentInfo{} // Binary id -> attachment
	for rid, versions := range records {
		for _, v := range versions {
			id := folio.RecordID(rid, v)
			d, ok := docs[id]
			if !ok {
				t.Errorf("no DocumentReference/%s for a done job", id)
				continue
			}
			o.docRefs++
			if d.Status == "superseded" {
				o.superseded++
			} else if d.Status != "current" {
				t.Errorf("DocumentReference/%s status %q", id, d.Status)
			}
			seen := map[string]bool{}
			for _, c := range d.Content {
				bid := c.Attachment.URL[strings.LastIndexByte(c.Attachment.URL, '/')+1:]
				if seen[bid] {
					t.Errorf("DocumentReference/%s lists Binary %s twice", id, bid)
				}
				seen[bid] = true
				attachment[bid] = c.Attachment
			}
		}
	}
	// One current DocumentReference per report, the highest version there
	// is (counting versions whose job status never ended, see waitFinal).
	for rid, versions := range allVersions {
		slices.Sort(versions)
		var current []int
		top := 0
		for _, v := range versions {
			if d, ok := docs[folio.RecordID(rid, v)]; ok {
				top = v
				if d.Status == "current" {
					current = append(current, v)
				}
			}
		}
		if top > 0 && (len(current) != 1 || current[0] != top) {
			t.Errorf("report %s: current DocumentReference versions %v, want [%d]", rid, current, top)
		}
	}

	// Every Binary's bytes, served raw by the api process.
	ids := make([]string, 0, len(wantBinaries))
	for id := range wantBinaries {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	client := &http.Client{Timeout: 30 * time.Second}
	for _, id := range ids {
		a, ok := attachment[id]
		if !ok {
			t.Errorf("Binary %s is in no DocumentReference", id)
			continue
		}
		body, err := get(client, base+"/Binary/"+id, token, a.ContentType)
		if err != nil {
			t.Errorf("Binary %s: %v", id, err)
			continue
		}
		s1 := sha1.Sum(body)
		s256 := sha256.Sum256(body)
		if base64.StdEncoding.EncodeToString(s1[:]) != a.Hash || len(body) != a.Size {
			t.Errorf("Binary %s: served %d bytes with SHA-1 %s; its DocumentReference says %d bytes, %s",
				id, len(body), base64.StdEncoding.EncodeToString(s1[:]), a.Size, a.Hash)
		}
		if sum, ok := stored[id]; ok && sum != hex.EncodeToString(s256[:]) {
			t.Errorf("Binary %s: served SHA-256 %x, stored metadata %q", id, s256, sum)
		}
		if a.ContentType == "application/pdf" && !strings.HasPrefix(string(body), "%PDF-") {
			t.Errorf("Binary %s: not a PDF", id)
		}
		o.binaries++
		o.bytes += len(body)
	}
	return o
}

// objectStoreSums lists the folio-binaries Object Store: Binary id ->
// SHA-256 of its metadata, failing the test on a Binary stored twice.
func objectStoreSums(t *testing.T, objects jetstream.ObjectStore) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	infos, err := objects.List(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		t.Fatalf("listing %s: %v", queue.BucketBinaries, err)
	}
	stored := map[string]string{}
	for _, info := range infos {
		if _, dup := stored[info.Name]; dup {
			t.Errorf("Binary %s stored twice", info.Name)
		}
		var b folio.Binary
		if err := json.Unmarshal([]byte(info.Metadata["binary"]), &b); err != nil {
			t.Errorf("Binary %s: metadata: %v", info.Name, err)
		}
		stored[info.Name] = b.SHA256
	}
	return stored
}

type attachmentInfo struct {
	ContentType string `json:"contentType"`
	URL         string `json:"url"`
	Size        int    `json:"size"`
	Hash        string `json:"hash"`
}

type docRef struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Content []struct {
		Attachment attachmentInfo `json:"attachment"`
	} `json:"content"`
}

// searchDocRefs returns the DocumentReferences of a patient.
func searchDocRefs(t *testing.T, base, token, patient string) []docRef {
	t.Helper()
	client := &http.Client{Timeout: time.Minute}
	body, err := get(client, base+"/DocumentReference?patient="+url.QueryEscape(patient), token, "application/fhir+json")
	if err != nil {
		t.Fatalf("DocumentReference?patient=%s: %v", patient, err)
	}
	var bundle struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource docRef `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &bundle); err != nil || bundle.ResourceType != "Bundle" {
		t.Fatalf("DocumentReference?patient=%s: not a Bundle (%v): %.300s", patient, err, body)
	}
	var out []docRef
	for _, e := range bundle.Entry {
		out = append(out, e.Resource)
	}
	return out
}

// get does one authorized GET and returns the body of a 200 answer.
func get(client *http.Client, u, token, accept string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", accept)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %.300s", resp.Status, body)
	}
	return body, nil
}

// streamState describes the jobs stream, its consumer and the messages at
// seqs, for a failure message.
func streamState(js jetstream.JetStream, seqs []uint64) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b strings.Builder
	s, err := js.Stream(ctx, queue.StreamJobs)
	if err != nil {
		return "stream: " + err.Error()
	}
	si := s.CachedInfo()
	fmt.Fprintf(&b, "stream %s: msgs %d first %d last %d deleted %d\n", queue.StreamJobs, si.State.Msgs, si.State.FirstSeq, si.State.LastSeq, si.State.NumDeleted)
	if c, err := s.Consumer(ctx, queue.ConsumerRender); err == nil {
		ci := c.CachedInfo()
		fmt.Fprintf(&b, "consumer %s: delivered stream seq %d, ack floor %d, pending %d, ack pending %d, redelivered %d, waiting %d\n",
			queue.ConsumerRender, ci.Delivered.Stream, ci.AckFloor.Stream, ci.NumPending, ci.NumAckPending, ci.NumRedelivered, ci.NumWaiting)
	} else {
		fmt.Fprintf(&b, "consumer: %v\n", err)
	}
	for _, seq := range seqs {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			fmt.Fprintf(&b, "message %d: %v\n", seq, err)
			continue
		}
		fmt.Fprintf(&b, "message %d: %s, %d bytes, Nats-Msg-Id %q\n", seq, m.Time.Format(time.RFC3339Nano), len(m.Data), m.Header.Get(jetstream.MsgIDHeader))
	}
	return b.String()
}

// eventsOf returns the done/failed events published for the given jobs, for
// a failure message: a job whose status is not final but that has a done
// event had its final status overwritten.
func eventsOf(js jetstream.JetStream, ids []string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	c, err := js.OrderedConsumer(ctx, queue.StreamEvents, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return "events: " + err.Error()
	}
	var b strings.Builder
	for {
		m, err := c.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			break
		}
		var st queue.JobStatus
		if json.Unmarshal(m.Data(), &st) == nil && want[st.JobID] {
			fmt.Fprintf(&b, "event %s: job %s %s deliveries %d seq %d binaries %v at %s\n", m.Subject(), st.JobID, st.Status, st.Deliveries, st.Seq, st.Binaries, st.Updated.Format(time.RFC3339Nano))
		}
	}
	if b.Len() == 0 {
		return "no done/failed event for these jobs"
	}
	return b.String()
}
