package main

// Security of the NATS side (issue 10, item 1), checked from outside with
// the real nats CLI: without credentials or with wrong ones nothing of
// folio's is read or changed, and each role's credentials do that role's
// job and nothing else, against the embedded server of folio serve and
// against an external nats-server with TLS and the example configuration
// of docs/nats.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/internal/testutil"
)

const (
	secretFixture = "surgical-breast.json" // report S26-004871 version 1
	secretRecord  = "S26-004871-1"
	secretBinary  = "pdf-S26-004871-1"
	secretName    = "Whitfield" // the patient's name: never in a refused call's output
)

// natsCLI runs the nats CLI against one server with connection flags that
// every call shares (server URL, TLS files).
type natsCLI struct {
	t    *testing.T
	bin  string
	env  []string
	conn []string
	dir  string // scratch directory for object gets and puts
	job  string // the job id of the secret fixture (with its content digest)
}

func newNATSCLI(t *testing.T, conn ...string) *natsCLI {
	return &natsCLI{t: t, bin: testutil.NATSCLI(t), env: testutil.NATSCLIEnv(t), conn: conn, dir: t.TempDir()}
}

// run runs the CLI with the identity flags who and args, at most 30 s.
func (c *natsCLI) run(who []string, args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	all := append(append(append([]string{"--no-context", "--timeout", "2s"}, c.conn...), who...), args...)
	cmd := exec.Command(c.bin, all...)
	cmd.Env = c.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader("")
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		c.t.Fatalf("nats %s: still running after 30 s", strings.Join(args, " "))
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// must runs a call that has to succeed and returns its output.
func (c *natsCLI) must(who []string, args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(who, args...)
	if code != 0 {
		c.t.Fatalf("nats %s (as %v): exit %d\n%s%s", strings.Join(args, " "), who, code, out, errOut)
	}
	return out
}

// refused runs a call that has to fail and checks that it printed no
// patient data and wrote no file.
func (c *natsCLI) refused(whoName string, who []string, args ...string) {
	c.t.Helper()
	out, errOut, code := c.run(who, args...)
	if code == 0 {
		c.t.Errorf("%s: nats %s succeeded, want refused\n%s", whoName, strings.Join(args, " "), out)
	}
	if strings.Contains(out+errOut, secretName) {
		c.t.Errorf("%s: nats %s printed patient data:\n%s%s", whoName, strings.Join(args, " "), out, errOut)
	}
}

// state is what the admin sees of folio's data: it must not change while
// refused calls run.
type natsState struct {
	record, binary, status string
	jobs, events           string
}

func (c *natsCLI) state(admin []string) natsState {
	c.t.Helper()
	out := filepath.Join(c.dir, "state.pdf")
	os.Remove(out)
	c.must(admin, "object", "get", "folio-binaries", secretBinary, "--output", out)
	b, err := os.ReadFile(out)
	if err != nil {
		c.t.Fatal(err)
	}
	count := func(stream string) string {
		var info struct {
			State struct {
				Msgs     uint64 `json:"messages"`
				LastSeq  uint64 `json:"last_seq"`
				Consumer int    `json:"consumer_count"`
			} `json:"state"`
		}
		if err := json.Unmarshal([]byte(c.must(admin, "stream", "info", stream, "--json")), &info); err != nil {
			c.t.Fatalf("stream info %s: %v", stream, err)
		}
		return fmt.Sprintf("%+v", info.State)
	}
	return natsState{
		record: c.must(admin, "kv", "get", "folio-records", secretRecord, "--raw"),
		binary: string(b),
		status: c.must(admin, "kv", "get", "folio-jobs", c.job, "--raw"),
		jobs:   count("FOLIO_JOBS"),
		events: count("FOLIO_EVENTS"),
	}
}

// checkNothingWithout runs every read and write on folio's streams, KV
// buckets and object store as whoName (no credentials or wrong ones): all
// are refused, and the admin finds everything as it was.
func (c *natsCLI) checkNothingWithout(whoName string, who, admin []string) {
	c.t.Helper()
	before := c.state(admin)
	stolen := filepath.Join(c.dir, "stolen.pdf")
	fake := filepath.Join(c.dir, "fake.pdf")
	os.WriteFile(fake, []byte("%PDF-1.7 forged"), 0o600)
	for _, args := range [][]string{
		// reads
		{"kv", "get", "folio-records", secretRecord, "--raw"},
		{"kv", "get", "folio-jobs", c.job, "--raw"},
		{"kv", "ls"},
		{"kv", "ls", "folio-index"},
		{"kv", "history", "folio-records", secretRecord},
		{"object", "get", "folio-binaries", secretBinary, "--output", stolen},
		{"object", "ls", "folio-binaries"},
		{"object", "info", "folio-binaries", secretBinary},
		{"stream", "ls"},
		{"stream", "info", "FOLIO_JOBS"},
		{"stream", "get", "FOLIO_EVENTS", "1"},
		{"stream", "get", "KV_folio-records", "1"},
		{"consumer", "info", "FOLIO_JOBS", "render"},
		{"consumer", "next", "FOLIO_JOBS", "render", "--no-ack"},
		// writes
		{"kv", "put", "folio-records", secretRecord, `{"id":"forged"}`},
		{"kv", "put", "folio-jobs", c.job, `{"status":"done"}`},
		{"kv", "del", "folio-records", secretRecord, "-f"},
		{"object", "put", "folio-binaries", fake, "--name", secretBinary, "-f"},
		{"object", "rm", "folio-binaries", secretBinary, "-f"},
		{"pub", "--jetstream", "folio.jobs.render", `{"report":{}}`},
		{"pub", "--jetstream", "folio.events.job.done", `{"jobId":"forged","status":"done"}`},
		{"stream", "purge", "FOLIO_EVENTS", "-f"},
		{"consumer", "rm", "FOLIO_JOBS", "render", "-f"},
		{"stream", "rm", "FOLIO_JOBS", "-f"},
		{"kv", "del", "folio-records", "-f"},
		{"object", "del", "folio-binaries", "-f"},
	} {
		c.refused(whoName, who, args...)
	}
	if _, err := os.Stat(stolen); err == nil {
		c.t.Errorf("%s: the object get wrote %s", whoName, stolen)
	}
	if after := c.state(admin); after != before {
		c.t.Errorf("%s changed folio's data:\nbefore %+v\nafter  %+v", whoName, before, after)
	}
}

// checkRoles checks each role both ways: what it must do works, what it
// must not is refused. roles gives each role's identity flags.
func (c *natsCLI) checkRoles(roles map[broker.Role][]string, jobJSON []byte) {
	c.t.Helper()
	admin := roles[broker.RoleAdmin]
	before := c.state(admin)
	sub, api, worker := roles[broker.RoleSubmitter], roles[broker.RoleAPI], roles[broker.RoleWorker]

	// The API reads records and Binaries, the same bytes the admin reads.
	if got := c.must(api, "kv", "get", "folio-records", secretRecord, "--raw"); got != before.record {
		c.t.Errorf("api reads the record as %q, admin as %q", got, before.record)
	}
	apiPDF := filepath.Join(c.dir, "api.pdf")
	c.must(api, "object", "get", "folio-binaries", secretBinary, "--output", apiPDF)
	if b, _ := os.ReadFile(apiPDF); string(b) != before.binary {
		c.t.Errorf("api reads %d bytes of the Binary, admin %d", len(b), len(before.binary))
	}
	// ... and nothing else: no job, no status, no write.
	fake := filepath.Join(c.dir, "fake.pdf")
	os.WriteFile(fake, []byte("%PDF-1.7 forged"), 0o600)
	for _, args := range [][]string{
		{"pub", "--jetstream", "folio.jobs.render", string(jobJSON)},
		{"kv", "get", "folio-jobs", c.job, "--raw"},
		{"kv", "put", "folio-records", secretRecord, `{"id":"forged"}`},
		{"object", "put", "folio-binaries", fake, "--name", "pdf-forged-1", "-f"},
		{"stream", "info", "FOLIO_JOBS"},
		{"consumer", "next", "FOLIO_JOBS", "render", "--no-ack"},
	} {
		c.refused("api", api, args...)
	}

	// A submitter reads job statuses...
	if got := c.must(sub, "kv", "get", "folio-jobs", c.job, "--raw"); got != before.status {
		c.t.Errorf("submitter reads the status as %q, admin as %q", got, before.status)
	}
	// ... and no record or Binary, and writes no status.
	stolen := filepath.Join(c.dir, "stolen.pdf")
	for _, args := range [][]string{
		{"object", "get", "folio-binaries", secretBinary, "--output", stolen},
		{"object", "ls", "folio-binaries"},
		{"kv", "get", "folio-records", secretRecord, "--raw"},
		{"kv", "ls", "folio-index"},
		{"kv", "put", "folio-jobs", c.job, `{"status":"failed"}`},
		{"pub", "--jetstream", "folio.events.job.done", `{"jobId":"forged"}`},
	} {
		c.refused("submitter", sub, args...)
	}
	if _, err := os.Stat(stolen); err == nil {
		c.t.Error("submitter: the object get wrote a file")
	}

	// A worker cannot destroy anything wholesale.
	for _, args := range [][]string{
		{"stream", "rm", "FOLIO_JOBS", "-f"},
		{"stream", "purge", "FOLIO_EVENTS", "-f"},
		{"kv", "del", "folio-records", "-f"},
		{"consumer", "rm", "FOLIO_JOBS", "render", "-f"},
	} {
		c.refused("worker", worker, args...)
	}
	if after := c.state(admin); after != before {
		c.t.Errorf("refused calls changed folio's data:\nbefore %+v\nafter  %+v", before, after)
	}

	// Last, the submitter's own job: a job published with the nats CLI is
	// rendered by the worker and its status read back by the submitter.
	c.must(sub, "pub", "--jetstream", "folio.jobs.render", string(jobJSON), "-H", "Nats-Msg-Id:cli-job-1")
	testutil.PollUntil(c.t, 60*time.Second, "the job published with the nats CLI is done", func() bool {
		out, _, code := c.run(sub, "kv", "get", "folio-jobs", "cli-job-1", "--raw")
		return code == 0 && strings.Contains(out, `"status":"done"`)
	})
}

// secretJobID returns the job id of the secret fixture from folio submit's
// output.
func secretJobID(t *testing.T, stdout string) string {
	t.Helper()
	for _, line := range strings.Split(stdout, "\n") {
		var l struct {
			Input, JobID string
		}
		if json.Unmarshal([]byte(line), &l) == nil && strings.HasSuffix(l.Input, secretFixture) && l.JobID != "" {
			return l.JobID
		}
	}
	t.Fatalf("no job id for %s in folio submit's output:\n%s", secretFixture, stdout)
	return ""
}

// cliJob is a render job of another version of the secret fixture.
func cliJob(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixturesDir, secretFixture))
	if err != nil {
		t.Fatal(err)
	}
	var rep map[string]any
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	rep["version"] = 7
	job, err := json.Marshal(map[string]any{"jobId": "cli-job-1", "report": rep})
	if err != nil {
		t.Fatal(err)
	}
	return job
}

// strangerNKey writes an NKey seed no server knows.
func strangerNKey(t *testing.T) string {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	path := filepath.Join(t.TempDir(), "stranger.nk")
	if err := os.WriteFile(path, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestE2ENATSEmbedded: the embedded server of folio serve refuses the nats
// CLI without credentials or with wrong ones, enforces each role, and
// folio creds tells the way in.
func TestE2ENATSEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary: not in -short mode")
	}
	srv := startServe(t)
	res0 := runFolio(t, "submit", "--wait", "--timeout", "60s", "--nats-url", srv.natsURL, "--data", srv.data,
		filepath.Join(fixturesDir, secretFixture))
	res := res0
	if res.code != 0 {
		t.Fatalf("folio submit: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	// The credentials: one seed per role, 0600, named by folio creds.
	roles := map[broker.Role][]string{}
	for _, r := range broker.Roles {
		res := runFolio(t, "creds", "--data", srv.data, "--role", string(r))
		path := strings.TrimSpace(res.stdout)
		fi, err := os.Stat(path)
		if res.code != 0 || err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("folio creds --role %s: exit %d, %q (%v, %v)", r, res.code, path, fi, err)
		}
		roles[r] = []string{"--nkey", path, "--inbox-prefix", r.InboxPrefix()}
	}
	if res := runFolio(t, "creds", "--data", srv.data); res.code != 0 || !strings.Contains(res.stdout, "nats --nkey") {
		t.Errorf("folio creds: exit %d\n%s", res.code, res.stdout)
	}
	// An explicit seed file works from anywhere.
	res = runFolio(t, "submit", "--wait", "--timeout", "60s", "--nats-url", srv.natsURL, "--data", t.TempDir(),
		"--nats-nkey", broker.NKeyFile(srv.data, broker.RoleSubmitter), filepath.Join(fixturesDir, secretFixture))
	if res.code != 0 || !strings.Contains(res.stdout, `"status":"done"`) {
		t.Errorf("folio submit --nats-nkey: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	// Without the data directory nothing connects.
	res = runFolio(t, "submit", "--nats-url", srv.natsURL, "--data", t.TempDir(), filepath.Join(fixturesDir, secretFixture))
	if res.code == 0 || !strings.Contains(res.stderr, "uthorization") {
		t.Errorf("folio submit without credentials: exit %d, want a refusal naming authorization\n%s", res.code, res.stderr)
	}

	cli := newNATSCLI(t, "--server", srv.natsURL)
	cli.job = secretJobID(t, res0.stdout)
	admin := roles[broker.RoleAdmin]
	cli.checkNothingWithout("no credentials", nil, admin)
	cli.checkNothingWithout("an unknown NKey", []string{"--nkey", strangerNKey(t)}, admin)
	cli.checkNothingWithout("a made-up user", []string{"--user", "admin", "--password", "admin"}, admin)
	cli.checkRoles(roles, cliJob(t))
}

// TestE2EScaledOutTLS is the scaled-out deployment over TLS with one user
// per role: an external nats-server (the example users of docs/nats, TLS
// with client certificates), a folio worker and a folio api as separate
// processes, folio submit; then the nats CLI checks the refusals and each
// role.
func TestE2EScaledOutTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary: not in -short mode")
	}
	dir := t.TempDir()
	tlsf := testutil.MakeTLS(t, dir)
	// The example configuration of docs/nats, as shipped.
	for _, name := range []string{"server.conf", "folio-users.conf"} {
		b, err := os.ReadFile(filepath.Join("../../docs/nats", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "server.conf")
	port := testutil.FreePort(t)
	env := []string{
		fmt.Sprintf("FOLIO_NATS_LISTEN=127.0.0.1:%d", port),
		"FOLIO_NATS_STORE=" + filepath.Join(dir, "store"),
		"FOLIO_NATS_TLS_CERT=" + tlsf.ServerCert,
		"FOLIO_NATS_TLS_KEY=" + tlsf.ServerKey,
		"FOLIO_NATS_TLS_CA=" + tlsf.CA,
	}
	passwords := map[broker.Role]string{}
	for _, r := range broker.Roles {
		b := make([]byte, 16)
		rand.Read(b)
		passwords[r] = hex.EncodeToString(b)
		env = append(env, r.PasswordEnv()+"="+passwords[r])
	}
	testutil.StartNATSProcess(t, testutil.MustBuild(t, testutil.NATSServer, false), conf, port, env...)
	url := fmt.Sprintf("tls://127.0.0.1:%d", port)
	tlsFlags := []string{"--nats-url", url, "--nats-tls-ca", tlsf.CA, "--nats-tls-cert", tlsf.ClientCert, "--nats-tls-key", tlsf.ClientKey}
	as := func(r broker.Role) []string { return append([]string{"--nats-user", r.User()}, tlsFlags...) }
	// Passwords come from the environment, as an operator would give them.
	pwEnv := func(r broker.Role) []string { return append(testutil.CleanEnv(), "FOLIO_NATS_PASSWORD="+passwords[r]) }

	workerAddr, apiAddr, apiData := freeAddr(t), freeAddr(t), t.TempDir()
	worker := startProc(t, "worker", pwEnv(broker.RoleWorker), append([]string{"worker", "--workers", "2", "--addr", workerAddr}, as(broker.RoleWorker)...)...)
	waitHTTPReady(t, worker, "http://"+workerAddr)
	api := startProc(t, "api", pwEnv(broker.RoleAPI), append([]string{"api", "--addr", apiAddr, "--ops-addr", freeAddr(t), "--data", apiData}, as(broker.RoleAPI)...)...)
	waitHTTPReady(t, api, "http://"+apiAddr)

	sub := exec.Command(folioBinary(t), append(append([]string{"submit", "--wait", "--timeout", "60s"}, as(broker.RoleSubmitter)...),
		filepath.Join(fixturesDir, secretFixture))...)
	sub.Env = pwEnv(broker.RoleSubmitter)
	out, err := sub.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"status":"done"`) {
		t.Fatalf("folio submit over TLS as submitter: %v\n%s", err, out)
	}
	tok := runFolio(t, "token", "--data", apiData, "--scope", e2eScope)
	resp, body := fhirGet(t, "http://"+apiAddr, "/Binary/"+secretBinary, strings.TrimSpace(tok.stdout), "application/pdf")
	if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(body, []byte("%PDF-")) {
		t.Fatalf("GET /Binary/%s from folio api: %s", secretBinary, resp.Status)
	}

	// What folio refuses to do on its own: a wrong password, no client
	// certificate, no TLS to a server elsewhere.
	for name, args := range map[string][]string{
		"wrong password": append([]string{"submit", "--nats-password", "wrong"}, as(broker.RoleSubmitter)...),
		"no client certificate": {"submit", "--nats-url", url, "--nats-tls-ca", tlsf.CA,
			"--nats-user", broker.RoleSubmitter.User(), "--nats-password", passwords[broker.RoleSubmitter]},
		"another CA": {"submit", "--nats-url", url, "--nats-tls-ca", tlsf.OtherCA, "--nats-tls-cert", tlsf.ClientCert, "--nats-tls-key", tlsf.ClientKey,
			"--nats-user", broker.RoleSubmitter.User(), "--nats-password", passwords[broker.RoleSubmitter]},
	} {
		res := runFolio(t, append(args, filepath.Join(fixturesDir, secretFixture))...)
		if res.code != exitFailed {
			t.Errorf("folio submit with %s: exit %d, want %d\n%s", name, res.code, exitFailed, res.stderr)
		}
	}
	res := runFolio(t, "submit", "--nats-url", "nats://192.0.2.1:4222", filepath.Join(fixturesDir, secretFixture))
	if res.code != exitFailed || !strings.Contains(res.stderr, "TLS") {
		t.Errorf("folio submit to a remote server without TLS: exit %d, want a refusal naming TLS\n%s", res.code, res.stderr)
	}

	cliTLS := []string{"--server", url, "--tlsca", tlsf.CA, "--tlscert", tlsf.ClientCert, "--tlskey", tlsf.ClientKey}
	cli := newNATSCLI(t, cliTLS...)
	cli.job = secretJobID(t, string(out))
	roles := map[broker.Role][]string{}
	for _, r := range broker.Roles {
		roles[r] = []string{"--user", r.User(), "--password", passwords[r], "--inbox-prefix", r.InboxPrefix()}
	}
	admin := roles[broker.RoleAdmin]
	cli.checkNothingWithout("no credentials", nil, admin)
	cli.checkNothingWithout("a wrong password", []string{"--user", broker.RoleAdmin.User(), "--password", "wrong"}, admin)
	cli.checkNothingWithout("an unknown NKey", []string{"--nkey", strangerNKey(t)}, admin)
	// Right password, no client certificate: the TLS handshake fails.
	noCert := newNATSCLI(t, "--server", url, "--tlsca", tlsf.CA)
	for _, args := range [][]string{{"kv", "get", "folio-records", secretRecord, "--raw"}, {"stream", "ls"}} {
		noCert.refused("admin without a client certificate", admin, args...)
	}
	cli.checkRoles(roles, cliJob(t))
}

// waitHTTPReady waits until base/readyz answers 200.
func waitHTTPReady(t *testing.T, p *proc, base string) {
	t.Helper()
	client := &http.Client{Timeout: 3 * time.Second}
	testutil.PollUntil(t, 90*time.Second, p.name+" ready at "+base, func() bool {
		select {
		case <-p.exited:
			t.Fatalf("folio %s exited before it was ready:\n%s", p.name, p.log.String())
		default:
		}
		resp, err := client.Get(base + "/readyz")
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
