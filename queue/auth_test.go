package queue

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/broker"
)

// violations collects the permission violations a server logs.
type violations struct {
	mu    sync.Mutex
	lines []string
}

func (v *violations) Write(p []byte) (int, error) {
	if s := string(p); strings.Contains(s, "Violation") {
		v.mu.Lock()
		v.lines = append(v.lines, strings.TrimSpace(s))
		v.mu.Unlock()
	}
	return len(p), nil
}

func (v *violations) take() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	l := v.lines
	v.lines = nil
	return l
}

// startWatchedServer starts an embedded server whose permission violations
// are collected.
func startWatchedServer(t *testing.T) (*broker.Server, *violations) {
	t.Helper()
	v := &violations{}
	s, err := broker.StartServer(broker.ServerConfig{Policy: RolePermissions, DataDir: t.TempDir(), Listen: "127.0.0.1:-1",
		Logger: slog.New(slog.NewTextHandler(v, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s, v
}

// asyncErrs records a connection's asynchronous errors (the server's
// permission violations).
type asyncErrs struct {
	mu   sync.Mutex
	errs []error
}

func (a *asyncErrs) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	a.mu.Lock()
	a.errs = append(a.errs, err)
	a.mu.Unlock()
}

// violated reports whether the server reported a permission violation
// for subject, waiting up to 5 s for the asynchronous report.
func (a *asyncErrs) violated(subject string) bool {
	deadline := time.Now().Add(5 * time.Second)
	for {
		a.mu.Lock()
		for _, e := range a.errs {
			if errors.Is(e, nats.ErrPermissionViolation) && strings.Contains(e.Error(), `"`+subject+`"`) {
				a.mu.Unlock()
				return true
			}
		}
		a.mu.Unlock()
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

// TestEmbeddedServerCredentials: the embedded server creates one seed file
// per role, mode 0600 in a 0700 directory, keeps them across restarts,
// and refuses connections without credentials or with unknown ones.
func TestEmbeddedServerCredentials(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "")
	fi, err := os.Stat(broker.CredentialsDir(dir))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("credentials directory: %v, %v; want mode 0700", fi.Mode(), err)
	}
	seeds := map[broker.Role][]byte{}
	for _, r := range broker.Roles {
		fi, err := os.Stat(broker.NKeyFile(dir, r))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, %v; want mode 0600", r, fi.Mode(), err)
		}
		seeds[r], _ = os.ReadFile(broker.NKeyFile(dir, r))
	}
	url := s.ClientURL()
	if nc, err := nats.Connect(url, nats.Timeout(2*time.Second)); err == nil {
		nc.Close()
		t.Fatal("connected without credentials")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Errorf("no credentials: %v, want an authorization error", err)
	}
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	stranger := filepath.Join(t.TempDir(), "stranger.nk")
	os.WriteFile(stranger, seed, 0o600)
	opt, err := nats.NkeyOptionFromSeed(stranger)
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(url, opt, nats.Timeout(2*time.Second)); err == nil {
		nc.Close()
		t.Fatal("connected with an unknown NKey")
	}
	if nc, err := nats.Connect(url, nats.UserInfo("admin", "admin"), nats.Timeout(2*time.Second)); err == nil {
		nc.Close()
		t.Fatal("connected with a made-up user and password")
	}
	s.Shutdown()
	s = startServer(t, dir, strings.TrimPrefix(url, "nats://"))
	for _, r := range broker.Roles {
		if b, _ := os.ReadFile(broker.NKeyFile(dir, r)); string(b) != string(seeds[r]) {
			t.Errorf("%s: seed changed across a restart", r)
		}
		nc, err := s.Connect(r)
		if err != nil {
			t.Fatalf("%s after restart: %v", r, err)
		}
		nc.Close()
	}
}

// TestRolesDoTheirJobs runs the pipeline with one connection per role, as
// separate processes would: a worker, a submitter and the API. Each does
// its whole job without a single permission violation on the server.
func TestRolesDoTheirJobs(t *testing.T) {
	s, v := startWatchedServer(t)
	url := s.ClientURL()
	_, wq := openQueueAt(t, url, s.AuthDir(), broker.RoleWorker, testConfig())
	runWorkers(t, wq, newTestRenderer(), 2)
	_, sq := openQueueAt(t, url, s.AuthDir(), broker.RoleSubmitter, testConfig())
	_, aq := openQueueAt(t, url, s.AuthDir(), broker.RoleAPI, testConfig())

	fx := fixtures(t)
	waiter, err := sq.NewWaiter()
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close()
	subs := submitAll(t, sq, [][]byte{fx["surgical-breast"], fx["ct-chest"]}, []string{folio.OutputPDF, folio.OutputThumbnail})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var ended []*JobStatus
	if left := waiter.Wait(ctx, subs, func(st *JobStatus) { ended = append(ended, st) }); len(left) > 0 {
		t.Fatalf("%d jobs did not end", len(left))
	}
	for _, st := range ended {
		if st.Status != StatusDone {
			t.Fatalf("job %s: %s %s", st.JobID, st.Status, st.Error)
		}
		if got, err := sq.Status(ctx, st.JobID); err != nil || got.Status != StatusDone {
			t.Errorf("submitter reads status of %s: %v, %v", st.JobID, got, err)
		}
		checkBinaries(t, aq, st) // the API reads records and Binaries
		rec, err := aq.Store().Record(ctx, st.RecordID)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := aq.Store().RecordsByPatient(ctx, rec.PatientID)
		if err != nil || len(recs) == 0 {
			t.Errorf("API lists patient %s: %d records, %v", rec.PatientID, len(recs), err)
		}
	}
	// A submitter derives versions of unversioned input (HL7 v2).
	for i, want := range []int{1, 1, 2} {
		digest := []string{"d1", "d1", "d2"}[i]
		if v, err := sq.Versions().NextVersion(ctx, "HL7-REPORT-1", digest); err != nil || v != want {
			t.Errorf("submitter NextVersion(%s) = %d, %v; want %d", digest, v, err, want)
		}
	}
	// ... and reads which reports it has seen (an HL7 withdrawal of a
	// report never received is refused from that, not from records).
	for id, want := range map[string]int{"HL7-REPORT-1": 2, "HL7-NEVER-SEEN": 0} {
		if v, err := sq.Versions().Known(ctx, id); err != nil || v != want {
			t.Errorf("submitter Known(%s) = %d, %v; want %d", id, v, err, want)
		}
	}
	if page, err := sq.ListJobs(ctx, JobQuery{}); err != nil || len(page.Jobs) != len(ended) {
		t.Errorf("submitter lists jobs: %+v, %v; want %d", page, err, len(ended))
	}
	if err := aq.Ready(ctx); err != nil {
		t.Errorf("API Ready: %v", err)
	}
	if err := sq.Ready(ctx); err != nil {
		t.Errorf("submitter Ready: %v", err)
	}
	if _, _, err := wq.Depth(ctx); err != nil {
		t.Errorf("worker Depth: %v", err)
	}
	// A resubmission (a duplicate) reads the status it already has.
	again := submitAll(t, sq, [][]byte{fx["surgical-breast"]}, []string{folio.OutputPDF, folio.OutputThumbnail})
	if !again[0].Duplicate {
		t.Errorf("resubmission not seen as a duplicate")
	}
	if l := v.take(); len(l) > 0 {
		t.Errorf("permission violations while every role did its job:\n%s", strings.Join(l, "\n"))
	}
}

// TestRolesRefused checks each role's limits from the other side: what a
// role must not do is refused by the server.
func TestRolesRefused(t *testing.T) {
	s, v := startWatchedServer(t)
	url := s.ClientURL()
	_, wq := openQueueAt(t, url, s.AuthDir(), broker.RoleWorker, testConfig())
	runWorkers(t, wq, newTestRenderer(), 1)
	_, aq := openQueue(t, s, testConfig())
	subs := submitAll(t, aq, [][]byte{fixtures(t)["surgical-breast"]}, nil)
	st := waitFinal(t, aq, subs, 30*time.Second)[subs[0].JobID]
	if st.Status != StatusDone {
		t.Fatalf("job: %s %s", st.Status, st.Error)
	}
	binID, recID := st.Binaries[0].ID, st.RecordID

	// conn connects as role with a JetStream context whose calls time out
	// quickly (a refused request is never answered).
	conn := func(role broker.Role) (*nats.Conn, jetstream.JetStream, *asyncErrs) {
		t.Helper()
		auth, err := s.ClientOptions(role)
		if err != nil {
			t.Fatal(err)
		}
		errs := &asyncErrs{}
		nc, err := nats.Connect(url, append(auth, nats.ErrorHandler(errs.handler), nats.PermissionErrOnSubscribe(true))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return nc, js, errs
	}
	short := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), time.Second)
	}
	mustFail := func(role broker.Role, what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: %s succeeded", role, what)
		}
	}

	for _, role := range []broker.Role{broker.RoleSubmitter, broker.RoleAPI, broker.RoleWorker} {
		nc, js, errs := conn(role)
		ctx, cancel := short()
		// Nobody but the admin may delete or purge a stream, or delete the
		// render consumer.
		for _, stream := range []string{StreamJobs, StreamEvents, streamKVJobs, streamKVRecords, streamKVIndex, streamObjects} {
			mustFail(role, "delete stream "+stream, js.DeleteStream(ctx, stream))
		}
		mustFail(role, "delete consumer", js.DeleteConsumer(ctx, StreamJobs, ConsumerRender))
		cancel()
		// Nobody but the admin may listen to everything, or to another
		// role's inbox.
		for _, subj := range []string{">", "$KV.>", "_INBOX.>", "_INBOX_folio_api.>", SubjectJobs} {
			if subj == role.InboxPrefix()+".>" {
				continue
			}
			if sub, err := nc.SubscribeSync(subj); err == nil {
				nc.Flush()
				if _, err := sub.NextMsg(500 * time.Millisecond); !errors.Is(err, nats.ErrPermissionViolation) {
					t.Errorf("%s: subscribe %s: %v, want a permission violation", role, subj, err)
				}
			}
		}
		if role == broker.RoleWorker {
			continue
		}
		ctx, cancel = short()
		// Neither the API nor a submitter writes records, Binaries,
		// statuses or events, or consumes jobs.
		for _, subj := range []string{"$KV." + BucketRecords + ".x-1", "$KV." + BucketJobs + ".x", "$O." + BucketBinaries + ".C.x", SubjectJobDone} {
			_, err := js.Publish(ctx, subj, []byte("{}"))
			mustFail(role, "publish "+subj, err)
		}
		_, err := js.Consumer(ctx, StreamJobs, ConsumerRender)
		mustFail(role, "bind the render consumer", err)
		cancel()
		switch role {
		case broker.RoleSubmitter:
			// A submitter reads no Binary, record or index.
			ctx, cancel = short()
			_, err := js.ObjectStore(ctx, BucketBinaries)
			mustFail(role, "bind "+BucketBinaries, err)
			cancel()
			ctx, cancel = short()
			_, err = js.KeyValue(ctx, BucketRecords)
			mustFail(role, "bind "+BucketRecords, err)
			cancel()
			_, err = nc.Request(jsAPI+"DIRECT.GET."+streamObjects+".$O."+BucketBinaries+".M."+base64.URLEncoding.EncodeToString([]byte(binID)), nil, time.Second)
			mustFail(role, "direct get from "+streamObjects, err)
			_, err = nc.Request(jsAPI+"DIRECT.GET."+streamKVRecords+".$KV."+BucketRecords+"."+recID, nil, time.Second)
			mustFail(role, "get record", err)
			// Of the index, only the content histories: no patient key.
			_, err = nc.Request(jsAPI+"DIRECT.GET."+streamKVIndex+".$KV."+BucketIndex+".patient.>", nil, time.Second)
			mustFail(role, "read the patient index", err)
			ctx, cancel = short()
			_, err = js.Publish(ctx, "$KV."+BucketIndex+".patient.x.y", []byte("forged"))
			mustFail(role, "write the patient index", err)
			cancel()
			if !errs.violated("$JS.API.STREAM.INFO." + streamObjects) {
				t.Errorf("submitter: no permission violation reported for the Binaries stream")
			}
		case broker.RoleAPI:
			// The API publishes no job and reads no job status.
			ctx, cancel = short()
			_, err := js.Publish(ctx, SubjectJobs, []byte(`{"report":{}}`))
			mustFail(role, "publish a job", err)
			_, err = js.KeyValue(ctx, BucketJobs)
			mustFail(role, "bind "+BucketJobs, err)
			cancel()
			if !errs.violated(SubjectJobs) {
				t.Errorf("api: no permission violation reported for publishing a job")
			}
			if sub, err := nc.SubscribeSync(SubjectJobEvents); err == nil {
				nc.Flush()
				if _, err := sub.NextMsg(500 * time.Millisecond); !errors.Is(err, nats.ErrPermissionViolation) {
					t.Errorf("api: subscribe to job events: %v, want a permission violation", err)
				}
			}
		}
	}
	if n := len(v.take()); n == 0 {
		t.Error("the server logged no permission violation")
	}

	// The admin still reads everything: the refusals above are the roles',
	// not a broken server.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, rc, err := aq.Store().OpenBinary(ctx, binID); err != nil {
		t.Fatalf("admin reads %s: %v", binID, err)
	} else {
		io.Copy(io.Discard, rc)
		rc.Close()
	}
}
