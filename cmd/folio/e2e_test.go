package main

// End-to-end tests of the folio binary, run as a newcomer would run it
// (issues 4 and 5, "Done when"): the command is built once, "folio serve"
// runs as a subprocess with its embedded NATS server on free loopback ports,
// "folio submit --wait" enqueues the fixtures, "folio token" mints a
// development token, and the FHIR endpoint is read over real HTTP, by Go's
// net/http and by two npm FHIR clients (fhir/testdata/clients).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/queue"
	"github.com/nats-io/nats.go"
)

const (
	fixturesDir = "../../fixtures"
	badDir      = "../../fixtures/bad"
	clientsDir  = "../../fhir/testdata/clients"
	// e2eScope is what a practitioner app needs to read a Binary and find
	// it through DocumentReference.
	e2eScope = "user/Binary.read user/DocumentReference.read"
)

// fhirID is the FHIR id rule.
var fhirID = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// badSubmitted are the invalid fixtures sent through the queue: each must
// end failed with the field path and rule of its .err file.
var badSubmitted = []string{"status-unknown.json", "multiple-problems.json", "id-bad-chars.json", "version-zero.json"}

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.Cleanup()
	os.Exit(code)
}

// folioBinary builds the folio command once per test run (with -race when
// the tests run with it) and returns the path of the executable.
func folioBinary(t *testing.T) string {
	t.Helper()
	return testutil.MustBuild(t, testutil.FolioCmd, raceBuild)
}

// runResult is what a finished folio command printed and returned.
type runResult struct {
	stdout, stderr string
	code           int
}

// runFolio runs the folio binary to completion (at most two minutes) and
// returns its output and exit status. It fails the test if the command
// could not be run or was killed.
func runFolio(t *testing.T, args ...string) runResult {
	t.Helper()
	return runFolioIn(t, "", args...)
}

// runFolioIn is runFolio in the working directory dir.
func runFolioIn(t *testing.T, dir string, args ...string) runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, folioBinary(t), args...)
	cmd.Env = testutil.CleanEnv()
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := runResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		res.code = ee.ExitCode()
	default:
		t.Fatalf("folio %s: %v (ctx: %v)\nstderr:\n%s", strings.Join(args, " "), err, ctx.Err(), res.stderr)
	}
	return res
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// server is a running "folio serve" subprocess.
type server struct {
	*proc
	data    string // --data
	base    string // http://ADDR
	ops     string // http://OPS-ADDR, the operator listener
	natsURL string
}

// startServe starts "folio serve" on fresh loopback ports with its data
// directory in a temporary directory, as a newcomer would, and waits for
// /readyz. The process is stopped when the test ends.
func startServe(t *testing.T, extra ...string) *server {
	t.Helper()
	return startServeIn(t, t.TempDir(), freeAddr(t), freeAddr(t), extra...)
}

// startServeOps is startServe with the operator listener on opsAddr.
func startServeOps(t *testing.T, opsAddr string) *server {
	t.Helper()
	return startServeIn(t, t.TempDir(), freeAddr(t), freeAddr(t), "--ops-addr", opsAddr)
}

// startServeIn starts "folio serve" with its data directory under work, the
// FHIR endpoint on addr, the embedded NATS server on natsAddr, and extra
// flags (a restart passes the same ones).
func startServeIn(t *testing.T, work, addr, natsAddr string, extra ...string) *server {
	t.Helper()
	s := &server{data: filepath.Join(work, "folio-data")}
	opsAddr := freeAddr(t)
	if i := slices.Index(extra, "--ops-addr"); i >= 0 && i+1 < len(extra) {
		opsAddr = extra[i+1] // given: the last --ops-addr wins
	}
	s.base, s.natsURL, s.ops = "http://"+addr, "nats://"+natsAddr, "http://"+opsAddr
	s.proc = startProcIn(t, "serve", work, testutil.CleanEnv(),
		append([]string{"serve", "--data", s.data, "--addr", addr, "--ops-addr", opsAddr, "--nats-listen", natsAddr, "--workers", "2"}, extra...)...)

	deadline := time.Now().Add(90 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	client := &http.Client{Timeout: 5 * time.Second}
	var last string
	for {
		resp, err := client.Get(s.base + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
			last = fmt.Sprintf("%s: %s", resp.Status, body)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("folio serve not ready within 90s (last /readyz: %s)\nlog:\n%s", last, s.log.String())
		}
		select {
		case <-s.exited:
			t.Fatalf("folio serve exited with status %d before it was ready\nlog:\n%s", s.exitCode, s.log.String())
		case <-tick.C:
		}
	}
}

// proc is a folio process started by a test.
type proc struct {
	name     string
	cmd      *exec.Cmd
	log      *testutil.SyncBuffer
	exited   chan struct{} // closed when the process has exited
	exitCode int           // valid after exited is closed; -1 if killed by a signal
}

// startProc starts the folio binary with args and env; it is stopped
// (SIGTERM, then SIGKILL after 30 s) when the test ends, and its log is
// shown if the test failed.
func startProc(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	return startProcIn(t, name, "", env, args...)
}

// startProcIn is startProc in the working directory dir.
func startProcIn(t *testing.T, name, dir string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, log: &testutil.SyncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(folioBinary(t), args...)
	p.cmd.Dir, p.cmd.Env = dir, env
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		p.exitCode = p.cmd.ProcessState.ExitCode()
		if err != nil && p.exitCode == 0 {
			p.exitCode = -1
		}
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.exited:
			case <-time.After(30 * time.Second):
				p.cmd.Process.Kill()
				<-p.exited
			}
		}
		if t.Failed() {
			t.Logf("folio %s log:\n%s", p.name, p.log.String())
		}
	})
	return p
}

// stop sends SIGTERM and returns the exit status (-1: killed by a signal).
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
		return p.exitCode
	case <-time.After(60 * time.Second):
		t.Fatalf("folio %s did not exit within 60s of SIGTERM\nlog:\n%s", p.name, p.log.String())
		return -1
	}
}

// submitOut is one line printed by "folio submit" (cli.md).
type submitOut struct {
	Input    string `json:"input"`
	JobID    string `json:"jobId"`
	Status   string `json:"status"`
	Binaries []struct {
		ID          string `json:"id"`
		ContentType string `json:"contentType"`
	} `json:"binaries"`
	Warnings []string `json:"warnings"`
	Error    string   `json:"error"`
}

// parseSubmit parses the JSON lines of folio submit's stdout.
func parseSubmit(t *testing.T, stdout string) []submitOut {
	t.Helper()
	var out []submitOut
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l submitOut
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("folio submit printed a line that is not JSON: %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

// goodFixtures returns the absolute paths of the good fixtures.
func goodFixtures(t *testing.T) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(fixturesDir, "*.json"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no fixtures in %s (%v)", fixturesDir, err)
	}
	for i := range m {
		if m[i], err = filepath.Abs(m[i]); err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(m)
	return m
}

// errLines returns the expected error lines of a bad fixture (its .err file).
func errLines(t *testing.T, badJSON string) []string {
	t.Helper()
	b, err := os.ReadFile(strings.TrimSuffix(badJSON, ".json") + ".err")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("%s: empty .err file", badJSON)
	}
	return lines
}

// patientOf returns patient.id of a report fixture.
func patientOf(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Patient struct {
			ID string `json:"id"`
		} `json:"patient"`
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Patient.ID == "" {
		t.Fatalf("%s: no patient.id (%v)", path, err)
	}
	return r.Patient.ID
}

// fhirGet does one GET against the endpoint. token "" sends no
// Authorization header.
func fhirGet(t *testing.T, base, path, token, accept string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", path, err)
	}
	return resp, body
}

// connectAs connects to the NATS server of a running folio serve with the
// credentials of role from its data directory; the caller closes the
// connection.
func connectAs(t *testing.T, srv *server, role broker.Role) *nats.Conn {
	t.Helper()
	auth, err := broker.EmbeddedOptions(srv.data, role)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.natsURL, auth...)
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

// qpdfCheck runs qpdf --check on PDF bytes; a failure is an error naming
// name.
func qpdfCheck(t *testing.T, name string, pdf []byte) {
	t.Helper()
	if err := testutil.QPDFCheck(t, pdf); err != nil {
		t.Errorf("%s: %v", name, err)
	}
}

// renderDir runs folio render --json -o (a temporary directory) over dir,
// which must exit 0, and for each line it prints checks that the line
// names an output, that the output is a PDF and that qpdf --check passes,
// then hands the line and the PDF's bytes to each. It returns the number of
// lines.
func renderDir(t *testing.T, dir string, each func(rl renderLine, pdf []byte)) int {
	t.Helper()
	out := t.TempDir()
	res := runFolio(t, "render", "--json", "-o", out, dir)
	if res.code != 0 {
		t.Fatalf("folio render: exit %d\n%s", res.code, res.stderr)
	}
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
		var rl renderLine
		if err := json.Unmarshal([]byte(l), &rl); err != nil || rl.Output == "" {
			t.Fatalf("line %q: %v", l, err)
		}
		n++
		b, err := os.ReadFile(rl.Output)
		if err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) {
			t.Fatalf("%s: not a PDF (%v)", rl.Output, err)
		}
		qpdfCheck(t, rl.Output, b)
		each(rl, b)
	}
	return n
}

// operationOutcome decodes an OperationOutcome body and returns its
// diagnostics, failing if it is not one.
func operationOutcome(t *testing.T, what string, body []byte) string {
	t.Helper()
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Severity    string `json:"severity"`
			Code        string `json:"code"`
			Diagnostics string `json:"diagnostics"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		t.Fatalf("%s: body is not an OperationOutcome with issues (%v): %.300s", what, err, body)
	}
	var d []string
	for _, is := range oo.Issue {
		d = append(d, is.Code+": "+is.Diagnostics)
	}
	return strings.Join(d, "; ")
}

// TestE2EServe is the newcomer path of issues 4 and 5 against one running
// "folio serve": submit every fixture and some bad ones, mint a token, read
// every rendered PDF back as raw bytes and as a Binary resource, find it
// through DocumentReference?patient=, refuse a wrong Accept and a missing
// token, have two npm FHIR clients read a Binary, refuse a second serve on
// the same data directory, and exit 0 on SIGTERM.
func TestE2EServe(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary: not in -short mode")
	}
	srv := startServe(t)
	fixtures := goodFixtures(t)

	t.Run("quiet start with a ready banner", func(t *testing.T) {
		testutil.PollUntil(t, 10*time.Second, "folio serve's ready banner", func() bool {
			return strings.Contains(srv.log.String(), "data directory")
		})
		out := srv.log.String()
		for _, want := range []string{
			"folio " + folio.Version + " ready",
			"FHIR endpoint   " + srv.base + "/",
			"NATS            " + srv.natsURL,
			"NATS creds      ",
			"operator        " + srv.ops + "/console  (no login on loopback; metrics: " + srv.ops + "/metrics)",
			"data directory  " + srv.data,
			"token --data " + srv.data + ` --scope "user/Binary.read user/DocumentReference.read"`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("start-up output lacks %q:\n%s", want, out)
			}
		}
		// The embedded NATS server's informational banner (about 40 lines)
		// and its payload-size warning stay out of the default output.
		for _, unwanted := range []string{"Starting nats-server", "JETSTREAM", "Maximum payloads"} {
			if strings.Contains(out, unwanted) {
				t.Errorf("start-up output has %q without --verbose:\n%s", unwanted, out)
			}
		}
		if n := strings.Count(out, "\n"); n > 15 {
			t.Errorf("start-up output is %d lines, want a short banner:\n%s", n, out)
		}
	})

	// Every good fixture ends done with its Binary ids. folio submit runs
	// where folio serve runs, as a newcomer's would, and finds the
	// submitter's credentials in ./folio-data by itself.
	fixDir, err := filepath.Abs(filepath.Dir(fixtures[0]))
	if err != nil {
		t.Fatal(err)
	}
	res := runFolioIn(t, filepath.Dir(srv.data), "submit", "--wait", "--timeout", "90s", "--nats-url", srv.natsURL, fixDir+string(filepath.Separator))
	if res.code != 0 {
		t.Fatalf("folio submit --wait fixtures/: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	lines := parseSubmit(t, res.stdout)
	if len(lines) != len(fixtures) {
		t.Fatalf("folio submit printed %d lines for %d fixtures:\n%s", len(lines), len(fixtures), res.stdout)
	}
	pdfOf := map[string]string{} // fixture path -> PDF Binary id
	for _, l := range lines {
		if l.Status != "done" || l.Error != "" {
			t.Errorf("%s: job %s status %q error %q, want done", l.Input, l.JobID, l.Status, l.Error)
			continue
		}
		if l.JobID == "" || len(l.Binaries) == 0 {
			t.Errorf("%s: job %q done without Binary ids: %+v", l.Input, l.JobID, l)
			continue
		}
		for _, b := range l.Binaries {
			if !fhirID.MatchString(b.ID) {
				t.Errorf("%s: Binary id %q breaks the FHIR id rule", l.Input, b.ID)
			}
			if b.ContentType == "application/pdf" {
				pdfOf[l.Input] = b.ID
			}
		}
		if pdfOf[l.Input] == "" {
			t.Errorf("%s: no application/pdf Binary among %+v", l.Input, l.Binaries)
		}
	}
	for _, f := range fixtures {
		if _, ok := pdfOf[f]; !ok {
			t.Errorf("%s: no done line with a PDF Binary", f)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	failedJobs := map[string]string{} // job id -> its error, from folio submit
	t.Run("bad reports fail with field path", func(t *testing.T) {
		var args []string
		want := map[string][]string{}
		for _, name := range badSubmitted {
			p, err := filepath.Abs(filepath.Join(badDir, name))
			if err != nil {
				t.Fatal(err)
			}
			args = append(args, p)
			want[p] = errLines(t, p)
		}
		res := runFolio(t, append([]string{"submit", "--wait", "--timeout", "60s", "--nats-url", srv.natsURL, "--data", srv.data}, args...)...)
		if res.code != 1 {
			t.Errorf("folio submit --wait on bad reports: exit %d, want 1\nstderr:\n%s", res.code, res.stderr)
		}
		lines := parseSubmit(t, res.stdout)
		if len(lines) != len(args) {
			t.Fatalf("%d lines for %d bad reports:\n%s", len(lines), len(args), res.stdout)
		}
		for _, l := range lines {
			exp, ok := want[l.Input]
			if !ok {
				t.Errorf("line for unexpected input %q", l.Input)
				continue
			}
			delete(want, l.Input)
			failedJobs[l.JobID] = l.Error
			if l.Status != "failed" || len(l.Binaries) != 0 {
				t.Errorf("%s: status %q binaries %v, want failed and none", filepath.Base(l.Input), l.Status, l.Binaries)
			}
			for _, e := range exp {
				if !strings.Contains(l.Error, e) {
					t.Errorf("%s: error %q does not name %q", filepath.Base(l.Input), l.Error, e)
				}
			}
		}
	})

	t.Run("folio jobs and folio job", func(t *testing.T) {
		if len(failedJobs) != len(badSubmitted) {
			t.Fatalf("%d failed jobs from submit, want %d", len(failedJobs), len(badSubmitted))
		}
		res := runFolio(t, "jobs", "--failed", "--json", "--nats-url", srv.natsURL, "--data", srv.data)
		if res.code != 0 {
			t.Fatalf("folio jobs --failed --json: exit %d\n%s", res.code, res.stderr)
		}
		got := map[string]bool{}
		sc := bufio.NewScanner(strings.NewReader(res.stdout))
		for sc.Scan() {
			var st struct {
				JobID, Status, Reason, Error string
			}
			if err := json.Unmarshal(sc.Bytes(), &st); err != nil {
				t.Fatalf("folio jobs --json line %q: %v", sc.Text(), err)
			}
			if got[st.JobID] {
				t.Errorf("job %s listed twice", st.JobID)
			}
			got[st.JobID] = true
			want, ok := failedJobs[st.JobID]
			switch {
			case !ok:
				t.Errorf("folio jobs --failed lists %s (%s), which is not one of the failed fixtures", st.JobID, st.Status)
			case st.Status != "failed" || st.Reason != "invalid" || st.Error != want:
				t.Errorf("folio jobs --failed: %s status %q reason %q error %q, want failed, invalid, %q", st.JobID, st.Status, st.Reason, st.Error, want)
			}
		}
		for id := range failedJobs {
			if !got[id] {
				t.Errorf("folio jobs --failed --json does not list failed job %s:\n%s", id, res.stdout)
			}
		}

		// Every job, failed and done, in the table.
		goodJob := fixtureJobID(t, "../../fixtures/spec-example.json")
		badJob := fixtureJobID(t, filepath.Join(badDir, "status-unknown.json"))
		res = runFolio(t, "jobs", "--nats-url", srv.natsURL, "--data", srv.data)
		if res.code != 0 || !strings.Contains(res.stdout, goodJob) || !strings.Contains(res.stdout, "failed") {
			t.Errorf("folio jobs: exit %d, want a table with done and failed jobs:\n%s%s", res.code, res.stdout, res.stderr)
		}

		// One job: its error with the field path.
		res = runFolio(t, "job", "--nats-url", srv.natsURL, "--data", srv.data, badJob)
		if res.code != 0 || !strings.Contains(res.stdout, "status      failed") ||
			!strings.Contains(res.stdout, `  report.status: "signed" is not a report status`) {
			t.Errorf("folio job %s: exit %d, want its failure with the field path:\n%s%s", badJob, res.code, res.stdout, res.stderr)
		}
		res = runFolio(t, "job", "--json", "--nats-url", srv.natsURL, "--data", srv.data, goodJob)
		var st struct {
			Status   string
			RecordID string
			Binaries []struct{ ID string }
		}
		if err := json.Unmarshal([]byte(res.stdout), &st); err != nil || st.Status != "done" || st.RecordID != "S26-004512-1" || len(st.Binaries) == 0 || st.Binaries[0].ID != "pdf-S26-004512-1" {
			t.Errorf("folio job --json %s: exit %d, %v:\n%s", goodJob, res.code, err, res.stdout)
		}
		if res := runFolio(t, "job", "--nats-url", srv.natsURL, "--data", srv.data, "no-such-job.pdf"); res.code != 1 || !strings.Contains(res.stderr, "no job") {
			t.Errorf("folio job on an unknown id: exit %d, want 1 and \"no job\":\n%s", res.code, res.stderr)
		}
	})

	tok := runFolio(t, "token", "--data", srv.data, "--scope", e2eScope)
	if tok.code != 0 {
		t.Fatalf("folio token: exit %d\n%s", tok.code, tok.stderr)
	}
	token := strings.TrimSpace(tok.stdout)
	if strings.Count(token, ".") != 2 || strings.ContainsAny(token, " \n") {
		t.Fatalf("folio token printed %q, not one compact JWT", tok.stdout)
	}

	pdfs := map[string][]byte{} // Binary id -> PDF bytes served raw
	t.Run("Binary as PDF and as FHIR JSON, DocumentReference", func(t *testing.T) {
		for _, f := range fixtures {
			id := pdfOf[f]
			name := filepath.Base(f)

			resp, pdf := fhirGet(t, srv.base, "/Binary/"+id, token, "application/pdf")
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s: GET /Binary/%s (Accept application/pdf): %s: %.300s", name, id, resp.Status, pdf)
				continue
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/pdf") {
				t.Errorf("%s: raw Binary Content-Type %q", name, ct)
			}
			if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
				t.Errorf("%s: raw Binary does not start with %%PDF-: %q", name, pdf[:min(len(pdf), 16)])
				continue
			}
			qpdfCheck(t, name, pdf)
			pdfs[id] = pdf

			resp, body := fhirGet(t, srv.base, "/Binary/"+id, token, "application/fhir+json")
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s: GET /Binary/%s (Accept application/fhir+json): %s: %.300s", name, id, resp.Status, body)
				continue
			}
			var bin struct {
				ResourceType string `json:"resourceType"`
				ID           string `json:"id"`
				ContentType  string `json:"contentType"`
				Data         string `json:"data"`
			}
			if err := json.Unmarshal(body, &bin); err != nil {
				t.Errorf("%s: Binary JSON: %v: %.200s", name, err, body)
				continue
			}
			data, err := base64.StdEncoding.DecodeString(bin.Data)
			switch {
			case bin.ResourceType != "Binary" || bin.ID != id || bin.ContentType != "application/pdf":
				t.Errorf("%s: Binary JSON resourceType %q id %q contentType %q, want Binary %s application/pdf", name, bin.ResourceType, bin.ID, bin.ContentType, id)
			case err != nil:
				t.Errorf("%s: Binary.data is not base64: %v", name, err)
			case !bytes.Equal(data, pdf):
				t.Errorf("%s: Binary.data (%d bytes) differs from the raw PDF (%d bytes)", name, len(data), len(pdf))
			}

			checkDocumentReference(t, srv.base, token, name, patientOf(t, f), id, pdf)
		}
	})

	// One Binary for the negotiation and auth cases and the npm clients.
	someID := pdfOf[fixtures[0]]
	t.Run("wrong Accept is 406", func(t *testing.T) {
		resp, body := fhirGet(t, srv.base, "/Binary/"+someID, token, "text/html")
		if resp.StatusCode != http.StatusNotAcceptable {
			t.Fatalf("Accept text/html: %s, want 406 Not Acceptable: %.300s", resp.Status, body)
		}
		d := operationOutcome(t, "406", body)
		if !strings.Contains(d, "application/pdf") {
			t.Errorf("406 OperationOutcome %q does not say the Binary is to be had as application/pdf", d)
		}
	})
	t.Run("no token is 401", func(t *testing.T) {
		resp, body := fhirGet(t, srv.base, "/Binary/"+someID, "", "application/pdf")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("no token: %s, want 401: %.300s", resp.Status, body)
		}
		if wa := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(wa, "Bearer") {
			t.Errorf("401 WWW-Authenticate %q, want a Bearer challenge", wa)
		}
		operationOutcome(t, "401", body)
		if bytes.Contains(body, []byte("%PDF")) {
			t.Error("401 response carries the PDF")
		}
		// The same server answers /metadata without a token: the 401 is
		// about the token, not the route.
		resp, body = fhirGet(t, srv.base, "/metadata", "", "application/fhir+json")
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"CapabilityStatement"`)) {
			t.Errorf("GET /metadata without token: %s: %.200s", resp.Status, body)
		}
	})

	t.Run("npm FHIR clients", func(t *testing.T) {
		pdf := pdfs[someID]
		if pdf == nil {
			t.Fatalf("no PDF read for %s", someID)
		}
		sum := sha256.Sum256(pdf)
		got := runNodeClients(t, srv.base, token, someID)
		for _, c := range []string{"fhirclient", "fhir-kit-client"} {
			r, ok := got[c]
			switch {
			case !ok:
				t.Errorf("%s: no result", c)
			case r.SHA256 != hex.EncodeToString(sum[:]) || r.Bytes != len(pdf):
				t.Errorf("%s read %d bytes with SHA-256 %s, want %d bytes %x", c, r.Bytes, r.SHA256, len(pdf), sum)
			case r.ContentType != "application/pdf" && !strings.HasPrefix(r.ContentType, "application/pdf;"):
				t.Errorf("%s: content type %q", c, r.ContentType)
			}
		}
	})

	t.Run("second serve on the same data directory is refused", func(t *testing.T) {
		res := runFolio(t, "serve", "--data", srv.data, "--addr", freeAddr(t), "--ops-addr", freeAddr(t), "--nats-listen", freeAddr(t), "--workers", "1")
		if res.code == 0 {
			t.Fatalf("second folio serve on %s exited 0, want refused\n%s", srv.data, res.stderr)
		}
		if !strings.Contains(res.stderr, srv.data) {
			t.Errorf("second folio serve's refusal does not name the data directory %s:\n%s", srv.data, res.stderr)
		}
	})

	t.Run("metrics on the operator listener only; health GET and HEAD only", func(t *testing.T) {
		client := &http.Client{Timeout: 10 * time.Second}
		check := func(method, url string, want int, wantIn string) {
			t.Helper()
			req, _ := http.NewRequest(method, url, nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want || !strings.Contains(string(body), wantIn) {
				t.Errorf("%s %s: %s %.200q, want %d with %q", method, url, resp.Status, body, want, wantIn)
			}
		}
		check("GET", srv.ops+"/metrics", 200, "folio_")
		check("GET", srv.base+"/metrics", 404, "")
		for _, base := range []string{srv.base, srv.ops} {
			check("GET", base+"/healthz", 200, "ok")
			check("HEAD", base+"/readyz", 200, "")
			check("GET", base+"/readyz", 200, "ready")
			for _, m := range []string{"POST", "DELETE", "PUT"} {
				check(m, base+"/healthz", 405, "")
				check(m, base+"/readyz", 405, "")
			}
		}
	})

	t.Run("development auth on a non-loopback --addr is refused without --dev-auth", func(t *testing.T) {
		_, port, _ := net.SplitHostPort(freeAddr(t))
		res := runFolio(t, "serve", "--data", filepath.Join(t.TempDir(), "d"), "--addr", "0.0.0.0:"+port, "--ops-addr", freeAddr(t), "--nats-listen", freeAddr(t), "--workers", "1")
		if res.code != exitFailed || !strings.Contains(res.stderr, "--dev-auth") || !strings.Contains(res.stderr, "not a loopback address") {
			t.Fatalf("folio serve --addr 0.0.0.0:%s in development auth mode: exit %d, want 1 naming --dev-auth\n%s", port, res.code, res.stderr)
		}
	})

	// Last: SIGTERM ends serve with status 0.
	if code := srv.stop(t); code != 0 {
		t.Errorf("folio serve exited %d after SIGTERM, want 0\nlog:\n%s", code, srv.log.String())
	}
}

// checkDocumentReference finds Binary id through DocumentReference?patient=
// and checks its attachment's size and hash (base64 SHA-1) against pdf.
func checkDocumentReference(t *testing.T, base, token, name, patient, id string, pdf []byte) {
	t.Helper()
	path := "/DocumentReference?patient=" + url.QueryEscape(patient)
	resp, body := fhirGet(t, base, path, token, "application/fhir+json")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("%s: GET %s: %s: %.300s", name, path, resp.Status, body)
		return
	}
	var bundle struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
		Entry        []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
				ID           string `json:"id"`
				Subject      struct {
					Reference string `json:"reference"`
				} `json:"subject"`
				Content []struct {
					Attachment struct {
						URL         string `json:"url"`
						ContentType string `json:"contentType"`
						Size        int    `json:"size"`
						Hash        string `json:"hash"`
					} `json:"attachment"`
				} `json:"content"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &bundle); err != nil || bundle.ResourceType != "Bundle" || bundle.Type != "searchset" {
		t.Errorf("%s: %s is not a searchset Bundle (%v): %.300s", name, path, err, body)
		return
	}
	sum := sha1.Sum(pdf)
	wantHash := base64.StdEncoding.EncodeToString(sum[:])
	for _, e := range bundle.Entry {
		r := e.Resource
		if r.ResourceType != "DocumentReference" {
			t.Errorf("%s: %s returned a %s", name, path, r.ResourceType)
			continue
		}
		if r.Subject.Reference != "Patient/"+patient {
			t.Errorf("%s: DocumentReference/%s subject %q in a search for patient %s", name, r.ID, r.Subject.Reference, patient)
		}
		for _, c := range r.Content {
			a := c.Attachment
			if a.URL != "Binary/"+id && !strings.HasSuffix(a.URL, "/Binary/"+id) {
				continue
			}
			if a.ContentType != "application/pdf" || a.Size != len(pdf) || a.Hash != wantHash {
				t.Errorf("%s: DocumentReference/%s attachment %s: contentType %q size %d hash %q, want application/pdf %d %q",
					name, r.ID, a.URL, a.ContentType, a.Size, a.Hash, len(pdf), wantHash)
			}
			return
		}
	}
	t.Errorf("%s: no DocumentReference among %d for patient %s has an attachment Binary/%s", name, len(bundle.Entry), patient, id)
}

// clientResult is one npm client's result from read-binary.mjs.
type clientResult struct {
	SHA256      string `json:"sha256"`
	Bytes       int    `json:"bytes"`
	ContentType string `json:"contentType"`
}

// runNodeClients runs fhir/testdata/clients/read-binary.mjs against the
// running endpoint. A missing node or node_modules fails the test with the
// command that sets it up: CI must run these clients, not skip them.
func runNodeClients(t *testing.T, base, token, id string) map[string]clientResult {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node (20 or later) is needed to run the npm FHIR clients: %v", err)
	}
	dir, err := filepath.Abs(clientsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"fhirclient", "fhir-kit-client"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			t.Fatalf("npm package %s is not installed in %s/node_modules: run `npm ci --prefix fhir/testdata/clients` from the repository root first", pkg, dir)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "read-binary.mjs"))
	cmd.Dir = dir
	cmd.Env = append(testutil.CleanEnv(), "BASE_URL="+base, "TOKEN="+token, "BINARY_ID="+id)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node read-binary.mjs: %v\nstdout: %s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	var got map[string]clientResult
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("read-binary.mjs printed %q: %v", stdout.String(), err)
	}
	return got
}

// TestE2ERender runs "folio render" as a user would: every good fixture to
// a PDF, bad input refused with FILE: path: rule and exit 1, bad usage exit 2.
func TestE2ERender(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary: not in -short mode")
	}
	fixtures := goodFixtures(t)

	t.Run("fixtures to PDFs", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		dir := filepath.Dir(fixtures[0]) + string(filepath.Separator)
		res := runFolio(t, "render", "-o", out, dir)
		if res.code != 0 {
			t.Fatalf("folio render -o OUT fixtures/: exit %d, want 0\nstderr:\n%s", res.code, res.stderr)
		}
		// Without --json, each input's warnings still reach stderr, and
		// no progress bar is drawn when stderr is not a terminal.
		for _, want := range []string{
			filepath.Join(dir, "url-sections.json") + `: warning: sections[1]: url section "Digital Slides" not included in PDF`,
			filepath.Join(dir, "multiscript.json") + `: warning: sections[4].body: character U+1F4C5`,
			fmt.Sprintf("folio render: %d of %d rendered, 0 refused", len(fixtures), len(fixtures)),
		} {
			if !strings.Contains(res.stderr, want) {
				t.Errorf("folio render stderr lacks %q:\n%s", want, res.stderr)
			}
		}
		if strings.Contains(res.stderr, "\r") {
			t.Errorf("folio render drew a progress bar on a stderr that is not a terminal:\n%q", res.stderr)
		}
		entries, err := os.ReadDir(out)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		var want []string
		for _, f := range fixtures {
			want = append(want, strings.TrimSuffix(filepath.Base(f), ".json")+".pdf")
		}
		sort.Strings(names)
		sort.Strings(want)
		if strings.Join(names, " ") != strings.Join(want, " ") {
			t.Fatalf("folio render wrote %v, want one PDF per fixture %v", names, want)
		}
		for _, n := range names {
			b, err := os.ReadFile(filepath.Join(out, n))
			if err != nil {
				t.Fatal(err)
			}
			if st, err := os.Stat(filepath.Join(out, n)); err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600 (a rendered report is patient data)", n, st.Mode().Perm())
			}
			if !bytes.HasPrefix(b, []byte("%PDF-")) {
				t.Errorf("%s does not start with %%PDF-", n)
				continue
			}
			qpdfCheck(t, n, b)
		}
	})

	t.Run("bad reports refused with FILE: path: rule", func(t *testing.T) {
		var inputs []string
		for _, name := range badSubmitted {
			inputs = append(inputs, filepath.Join(badDir, name))
		}
		out := t.TempDir()
		res := runFolio(t, append([]string{"render", "--json", "-o", out}, inputs...)...)
		if res.code != 1 {
			t.Errorf("folio render --json on bad reports: exit %d, want 1", res.code)
		}
		stderrLines := strings.Split(strings.TrimSpace(res.stderr), "\n")
		for _, in := range inputs {
			for _, e := range errLines(t, in) {
				want := in + ": " + e
				found := false
				for _, l := range stderrLines {
					if l == want {
						found = true
					}
				}
				if !found {
					t.Errorf("stderr lacks the line %q:\n%s", want, res.stderr)
				}
			}
		}
		var outLines []struct {
			Input  string `json:"input"`
			Output string `json:"output"`
			Error  string `json:"error"`
		}
		for _, l := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
			var o struct {
				Input  string `json:"input"`
				Output string `json:"output"`
				Error  string `json:"error"`
			}
			if err := json.Unmarshal([]byte(l), &o); err != nil {
				t.Fatalf("--json line %q: %v", l, err)
			}
			outLines = append(outLines, o)
		}
		if len(outLines) != len(inputs) {
			t.Fatalf("--json printed %d lines for %d inputs:\n%s", len(outLines), len(inputs), res.stdout)
		}
		for _, o := range outLines {
			if o.Error == "" || o.Output != "" {
				t.Errorf("--json line for %s: output %q error %q, want an error and no output", o.Input, o.Output, o.Error)
			}
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 {
			t.Errorf("refused reports left files in the output directory: %v", entries)
		}
	})

	t.Run("outputs are mode 0600, also over an existing 0644 file", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "thumb.png")
		if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(out, 0o644); err != nil {
			t.Fatal(err)
		}
		res := runFolio(t, "render", "--thumbnail", "-o", out, fixtures[0])
		if res.code != 0 {
			t.Fatalf("folio render --thumbnail: exit %d\nstderr:\n%s", res.code, res.stderr)
		}
		st, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 || st.Size() < 100 {
			t.Errorf("%s: mode %v size %d, want a new thumbnail with mode 0600", out, st.Mode().Perm(), st.Size())
		}
		if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 1 {
			t.Errorf("temporary files left beside the output: %v", entries)
		}
	})

	t.Run("thumbnail size out of range is bad usage", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "thumb.png")
		res := runFolio(t, "render", "--thumbnail", "--size", "5000", "-o", out, fixtures[0])
		if res.code != 2 {
			t.Errorf("folio render --thumbnail --size 5000: exit %d, want 2\nstderr:\n%s", res.code, res.stderr)
		}
		if !strings.Contains(res.stderr, "--size") {
			t.Errorf("bad-usage message does not name --size:\n%s", res.stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("bad usage still wrote %s", out)
		}
	})
}

// fixtureJobID returns the job id folio submit gives a report file.
func fixtureJobID(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		t.Fatal(err)
	}
	return queue.DefaultJobID(buf.Bytes(), nil)
}
