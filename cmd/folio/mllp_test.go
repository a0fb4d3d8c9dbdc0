package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/hl7"
	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/queue"
)

// mllpSend runs Debian python3-hl7's mllp_send (a client nobody here
// wrote) over the messages and returns the acknowledgements it printed, in
// order.
func mllpSend(t *testing.T, addr string, msgs [][]byte) []*hl7.Message {
	t.Helper()
	bin, err := exec.LookPath("mllp_send")
	if err != nil {
		t.Fatal("mllp_send is needed (apt-get install python3-hl7; .ci/run installs it)")
	}
	host, port, _ := net.SplitHostPort(addr)
	f := filepath.Join(t.TempDir(), "msgs.hl7")
	var b bytes.Buffer
	for _, m := range msgs {
		b.Write(m)
		b.WriteByte(0x1c) // mllp_send's file format: messages end with the MLLP end byte
	}
	if err := os.WriteFile(f, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--port", port, "--file", f, host)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("mllp_send: %v\n%s", err, errb.String())
	}
	var acks []*hl7.Message
	for _, part := range bytes.Split(out.Bytes(), []byte{0x1c}) {
		part = bytes.Trim(part, "\x0b\r\n")
		if len(part) == 0 {
			continue
		}
		m, err := hl7.Parse(part)
		if err != nil {
			t.Fatalf("acknowledgement does not parse: %v\n%q", err, part)
		}
		acks = append(acks, m)
	}
	if len(acks) != len(msgs) {
		t.Fatalf("%d acknowledgements for %d messages:\n%s", len(acks), len(msgs), out.String())
	}
	return acks
}

func fixtureMessages(t *testing.T, pattern string) (names []string, msgs [][]byte) {
	t.Helper()
	files, _ := filepath.Glob(pattern)
	sort.Strings(files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		parts := hl7.Split(data)
		if len(parts) == 0 { // not HL7 at all: sent as it is
			parts = [][]byte{data}
		}
		for i, p := range parts {
			names = append(names, fmt.Sprintf("%s#%d", filepath.Base(f), i+1))
			msgs = append(msgs, bytes.TrimRight(p, "\r\n"))
		}
	}
	return names, msgs
}

// jobsAccepted is the number of job messages the jobs stream ever stored
// (its last sequence): a duplicate publish does not raise it.
func jobsAccepted(t *testing.T, srv *server) uint64 {
	t.Helper()
	nc := connectAs(t, srv, broker.RoleAdmin)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, queue.StreamJobs)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().State.LastSeq
}

func msa(m *hl7.Message) (code, ctrl string) {
	s := m.All("MSA")
	if len(s) == 0 {
		return "", ""
	}
	return s[0].Text(1, 1), s[0].Text(2, 1)
}

// TestE2EMLLP: folio serve --mllp and mllp_send over every fixture message:
// AA for every good one (once its jobs are queued), AE/AR with the HL7
// location for every bad one; a resend gets AA again and makes no job;
// the reports are readable through the FHIR endpoint, the prostate
// sequence as versions 1, 2 and 3.
func TestE2EMLLP(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary: not in -short mode")
	}
	mllpAddr := freeAddr(t)
	srv := startServeIn(t, t.TempDir(), freeAddr(t), freeAddr(t), "--mllp", mllpAddr)
	// The banner follows /readyz (which startServeIn waits for).
	testutil.PollUntil(t, 30*time.Second, "the ready banner naming the MLLP address", func() bool {
		return strings.Contains(srv.log.String(), "HL7 v2 (MLLP)   "+mllpAddr)
	})
	dir := filepath.Join("..", "..", "fixtures", "hl7")
	names, msgs := fixtureMessages(t, filepath.Join(dir, "*.hl7"))
	acks := mllpSend(t, mllpAddr, msgs)
	for i, a := range acks {
		m, _ := hl7.Parse(msgs[i])
		code, ctrl := msa(a)
		if ctrl != m.ControlID() {
			t.Errorf("%s: MSA-2 %q, want MSH-10 %q", names[i], ctrl, m.ControlID())
		}
		if code != "AA" {
			t.Errorf("%s: %s, want AA (ERR %q)", names[i], code, errText(a))
		}
	}
	accepted := jobsAccepted(t, srv)
	if accepted != uint64(len(msgs)) { // one report per message in these fixtures
		t.Errorf("%d jobs for %d messages", accepted, len(msgs))
	}

	// A resend of every message: AA again, no new job.
	for i, a := range mllpSend(t, mllpAddr, msgs) {
		if code, _ := msa(a); code != "AA" {
			t.Errorf("resend of %s: %s", names[i], code)
		}
	}
	if again := jobsAccepted(t, srv); again != accepted {
		t.Errorf("the resend made %d new jobs", again-accepted)
	}

	// Bad messages: AE or AR, ERR-2 naming the location of the golden.
	badNames, bad := fixtureMessages(t, filepath.Join(dir, "bad", "*.hl7"))
	for i, a := range mllpSend(t, mllpAddr, bad) {
		name := strings.SplitN(badNames[i], "#", 2)[0]
		golden, err := os.ReadFile(filepath.Join(dir, "..", "golden", "hl7", "bad", strings.TrimSuffix(name, ".hl7")+".err"))
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(golden)) // ACK CODE LOCATION: text
		code, _ := msa(a)
		loc := strings.TrimSuffix(f[2], ":")
		errs := a.All("ERR")
		if code != f[0] || len(errs) == 0 || strings.ReplaceAll(string(errs[0].Raw(2)), "^", "^") != loc || errs[0].Text(3, 1) != f[1] {
			t.Errorf("%s: %s ERR %q, want %s at %s code %s", name, code, errText(a), f[0], loc, f[1])
		}
	}
	if again := jobsAccepted(t, srv); again != accepted {
		t.Errorf("bad messages made %d jobs", again-accepted)
	}

	// The documents, through the FHIR endpoint.
	tok := strings.TrimSpace(runFolio(t, "token", "--data", srv.data, "--scope", e2eScope).stdout)
	for _, id := range []string{"pdf-R26-118842-1", "pdf-S26-004512-1", "pdf-S26-007001-1", "pdf-S26-007001-2", "pdf-S26-007001-3", "pdf-E26-04411-1", "pdf-S26-N0991-1"} {
		testutil.PollUntil(t, 90*time.Second, "Binary "+id, func() bool {
			resp, body := fhirGet(t, srv.base, "/Binary/"+id, tok, "application/pdf")
			return resp.StatusCode == 200 && bytes.HasPrefix(body, []byte("%PDF-"))
		})
	}
	// Records and indexes are stored after the Binaries: wait for all three
	// versions in the search.
	var body []byte
	testutil.PollUntil(t, 90*time.Second, "three versions of S26-007001", func() bool {
		var resp *http.Response
		resp, body = fhirGet(t, srv.base, "/DocumentReference?patient=000310022", tok, "application/fhir+json")
		return resp.StatusCode == 200 && bytes.Count(body, []byte(`"id":"S26-007001-`)) == 3
	})
	var bundle struct {
		Entry []struct {
			Resource struct {
				ID        string `json:"id"`
				DocStatus string `json:"docStatus"`
				Status    string `json:"status"`
			} `json:"resource"`
		} `json:"entry"`
	}
	json.Unmarshal(body, &bundle)
	var got []string
	for _, e := range bundle.Entry {
		got = append(got, e.Resource.ID+" "+e.Resource.Status+" "+e.Resource.DocStatus)
	}
	sort.Strings(got)
	t.Logf("DocumentReferences of the prostate sequence: %q", got)
	if len(got) == 0 || !strings.Contains(strings.Join(got, "|"), "S26-007001-3 current") {
		t.Errorf("the corrected version 3 is not the current DocumentReference: %q", got)
	}

	// Withdrawal: the surgical report sent again with result status W
	// (wrong patient): AA, one job (the worker withdraws), and its
	// DocumentReference reads entered-in-error; an X for a report folio
	// never had: AE 204 at OBR-3, no job.
	// (Its record is stored after its Binary: wait for the DocumentReference.)
	testutil.PollUntil(t, 60*time.Second, "DocumentReference S26-004512-1", func() bool {
		r, _ := fhirGet(t, srv.base, "/DocumentReference/S26-004512-1", tok, "application/fhir+json")
		return r.StatusCode == 200
	})
	surg, _ := os.ReadFile(filepath.Join(dir, "surgical-breast.hl7"))
	w := withdrawal(t, surg, "SP", "W")
	x := bytes.ReplaceAll(w, []byte("S26-004512"), []byte("S26-999999"))
	x = bytes.Replace(x, []byte("|SP|W|"), []byte("|SP|X|"), 1)
	acks = mllpSend(t, mllpAddr, [][]byte{w, x})
	if code, _ := msa(acks[0]); code != "AA" {
		t.Errorf("withdrawal W: %s %s", code, errText(acks[0]))
	}
	checkUnknownWithdrawal(t, acks[1])
	waitEnteredInError(t, srv, "S26-004512-1")
	if again := jobsAccepted(t, srv); again != accepted+1 {
		t.Errorf("the withdrawals made %d jobs, want 1", again-accepted)
	}
}

// withdrawal returns msg (one ORU^R01 whose OBR-25 is "|cat|F|") with
// result status st (X or W) under a new control id.
func withdrawal(t *testing.T, msg []byte, cat, st string) []byte {
	t.Helper()
	w := bytes.Replace(msg, []byte("|"+cat+"|F|"), []byte("|"+cat+"|"+st+"|"), 1)
	if bytes.Equal(w, msg) {
		t.Fatalf("no |%s|F| in the message", cat)
	}
	ctrl := []byte(hl7Must(t, msg).MSH().Text(10, 1))
	return bytes.Replace(w, ctrl, append(ctrl, 'W'), 1)
}

func hl7Must(t *testing.T, msg []byte) *hl7.Message {
	t.Helper()
	m, err := hl7.Parse(msg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkUnknownWithdrawal: the acknowledgement of an X or W for a report
// folio never received is AE, error 204 at OBR^1^3 with a sentence.
func checkUnknownWithdrawal(t *testing.T, ack *hl7.Message) {
	t.Helper()
	code, _ := msa(ack)
	errs := ack.All("ERR")
	if code != "AE" || len(errs) == 0 || !strings.HasPrefix(errText(ack), "OBR^1^3 folio has never received report") || errs[0].Text(3, 1) != "204" {
		t.Errorf("withdrawal of an unknown report: %s %s", code, errText(ack))
	}
}

// waitEnteredInError waits until the DocumentReference and the
// DiagnosticReport of record id read entered-in-error through the FHIR
// endpoint (the worker withdraws after the acknowledgement).
func waitEnteredInError(t *testing.T, srv *server, id string) {
	t.Helper()
	tok := strings.TrimSpace(runFolio(t, "token", "--data", srv.data, "--scope", "user/DocumentReference.read user/DiagnosticReport.read").stdout)
	for _, typ := range []string{"DocumentReference", "DiagnosticReport"} {
		testutil.PollUntil(t, 90*time.Second, typ+" "+id+" entered-in-error", func() bool {
			resp, body := fhirGet(t, srv.base, "/"+typ+"/"+id, tok, "application/fhir+json")
			return resp.StatusCode == 200 && bytes.Contains(body, []byte(`"status":"entered-in-error"`))
		})
	}
}

func errText(a *hl7.Message) string {
	var s []string
	for _, e := range a.All("ERR") {
		t, _ := a.Text(e.Raw(8))
		s = append(s, string(e.Raw(2))+" "+t)
	}
	return strings.Join(s, "; ")
}

// sendFrames is a plain MLLP client for what mllp_send cannot send: it
// writes raw bytes and reads framed acknowledgements.
func sendRaw(t *testing.T, addr string, data []byte) (*bufio.Reader, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go c.Write(data)
	return bufio.NewReader(c), c
}

// TestE2EMLLPFrames: a 20 MB frame gets AR and its connection closed; a
// truncated frame is never queued.
func TestE2EMLLPFrames(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary: not in -short mode")
	}
	mllpAddr := freeAddr(t)
	srv := startServeIn(t, t.TempDir(), freeAddr(t), freeAddr(t), "--mllp", mllpAddr)
	before := jobsAccepted(t, srv)
	data, _ := os.ReadFile(filepath.Join("..", "..", "fixtures", "hl7", "surgical-breast.hl7"))
	big := append(bytes.Clone(data), []byte("NTE|1|L|"+strings.Repeat("x", 20<<20)+"\r")...)
	br, c := sendRaw(t, mllpAddr, append(append([]byte{0x0b}, big...), 0x1c, 0x0d))
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	ack, err := br.ReadBytes(0x1c)
	if err != nil {
		t.Fatalf("20 MB frame: no acknowledgement: %v", err)
	}
	m, err := hl7.Parse(bytes.Trim(ack, "\x0b\x1c"))
	if err != nil {
		t.Fatal(err)
	}
	if code, ctrl := msa(m); code != "AR" || ctrl != "CP20261120-0001" || !strings.Contains(errText(m), "larger than the limit") {
		t.Errorf("20 MB frame: %s %s %s", code, ctrl, errText(m))
	}
	br.ReadByte() // the CR after the end byte
	if _, err := br.ReadByte(); err == nil {
		t.Error("connection still open after a 20 MB frame")
	}
	c.Close()

	// Truncated: the sender hangs up mid-frame.
	c, err = net.Dial("tcp", mllpAddr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write(append([]byte{0x0b}, data[:len(data)/2]...))
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	rest, _ := bufio.NewReader(c).ReadBytes(0x1c)
	c.Close()
	if len(rest) != 0 {
		t.Errorf("a truncated frame was answered: %q", rest)
	}
	time.Sleep(500 * time.Millisecond)
	if after := jobsAccepted(t, srv); after != before {
		t.Errorf("%d jobs queued from a too-large and a truncated frame", after-before)
	}
}

// TestE2EMLLPKillBeforeAck kills folio (SIGKILL) right after a message's
// last byte is sent, before its acknowledgement is read, restarts it on the
// same data directory and lets the sender resend: exactly one job and one
// document, whichever side of the publication the kill fell on.
func TestE2EMLLPKillBeforeAck(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary: not in -short mode")
	}
	work := t.TempDir()
	addr, natsAddr, mllpAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	srv := startServeIn(t, work, addr, natsAddr, "--mllp", mllpAddr)
	data, _ := os.ReadFile(filepath.Join("..", "..", "fixtures", "hl7", "ct-chest-tx.hl7"))
	var published int
	const rounds = 3
	for round := 0; round < rounds; round++ {
		// A distinct report per round: a new accession.
		msg := bytes.ReplaceAll(data, []byte("R26-118842"), []byte(fmt.Sprintf("R26-9000%02d", round)))
		msg = bytes.ReplaceAll(msg, []byte("RIS-7733101"), []byte(fmt.Sprintf("RIS-K%02d", round)))
		before := jobsAccepted(t, srv)
		c, err := net.Dial("tcp", mllpAddr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(append(append([]byte{0x0b}, msg...), 0x1c, 0x0d))
		if round > 0 { // round 0 kills at once; later ones a little later
			time.Sleep(time.Duration(round) * 2 * time.Millisecond)
		}
		srv.cmd.Process.Signal(syscall.SIGKILL)
		<-srv.exited
		c.Close()
		srv = startServeIn(t, work, addr, natsAddr, "--mllp", mllpAddr)
		mid := jobsAccepted(t, srv)
		if mid > before {
			published++
		}
		// The sender had no acknowledgement: it resends.
		acks := mllpSend(t, mllpAddr, [][]byte{msg})
		if code, _ := msa(acks[0]); code != "AA" {
			t.Fatalf("round %d: resend got %s: %s", round, code, errText(acks[0]))
		}
		if after := jobsAccepted(t, srv); after != before+1 {
			t.Errorf("round %d: %d jobs for one message (killed %s publication)", round, after-before, map[bool]string{true: "after", false: "before"}[mid > before])
		}
		tok := strings.TrimSpace(runFolio(t, "token", "--data", srv.data, "--scope", e2eScope).stdout)
		id := fmt.Sprintf("R26-9000%02d", round)
		// The Binary is stored before its record and indexes: wait for the
		// DocumentReference search to show the report.
		var resp *http.Response
		var body []byte
		testutil.PollUntil(t, 90*time.Second, "the document of "+id, func() bool {
			resp, body = fhirGet(t, srv.base, "/DocumentReference?patient=000778812", tok, "application/fhir+json")
			return resp.StatusCode == 200 && bytes.Contains(body, []byte(`"id":"`+id+`-`))
		})
		if r, _ := fhirGet(t, srv.base, "/Binary/pdf-"+id+"-1", tok, "application/pdf"); r.StatusCode != 200 {
			t.Errorf("round %d: Binary pdf-%s-1: %d", round, id, r.StatusCode)
		}
		if resp.StatusCode != 200 || bytes.Count(body, []byte(`"id":"`+id+`-`)) != 1 {
			t.Errorf("round %d: DocumentReferences of %s: %d\n%s", round, id, bytes.Count(body, []byte(`"id":"`+id+`-`)), body)
		}
		if resp, _ := fhirGet(t, srv.base, "/Binary/pdf-"+id+"-2", tok, "application/pdf"); resp.StatusCode != 404 {
			t.Errorf("round %d: a second version of %s exists", round, id)
		}
	}
	t.Logf("%d of %d kills fell after the job was published, %d before", published, rounds, rounds-published)

	// A resend after the job is done and folio restarted (JetStream's
	// duplicate detection does not survive the job's removal from the work
	// queue): AA and still no new job.
	if code := srv.stop(t); code != 0 {
		t.Fatalf("folio serve exit %d", code)
	}
	srv = startServeIn(t, work, addr, natsAddr, "--mllp", mllpAddr)
	before := jobsAccepted(t, srv)
	msg := bytes.ReplaceAll(data, []byte("R26-118842"), []byte("R26-900000"))
	msg = bytes.ReplaceAll(msg, []byte("RIS-7733101"), []byte("RIS-K00"))
	if code, _ := msa(mllpSend(t, mllpAddr, [][]byte{msg})[0]); code != "AA" {
		t.Errorf("late resend: %s", code)
	}
	if after := jobsAccepted(t, srv); after != before {
		t.Errorf("a late resend made %d new jobs", after-before)
	}
}

// TestE2EMLLPProcess: the listener as its own process (folio mllp against
// the NATS server of a folio serve without --mllp, FOLIO_MLLP for the
// address, the submitter role's credentials): AA, then the document through
// the FHIR endpoint; a W for it: AA, and the document reads
// entered-in-error; an X for a report never received: AE 204. folio submit
// (submitter credentials too) of .hl7 files does the same withdrawal.
// SIGTERM ends folio mllp with status 0.
func TestE2EMLLPProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary: not in -short mode")
	}
	srv := startServe(t)
	mllpAddr := freeAddr(t)
	p := startProc(t, "mllp", append(testutil.CleanEnv(), "FOLIO_MLLP="+mllpAddr), "mllp", "--nats-url", srv.natsURL, "--data", srv.data)
	out := p.log
	defer func() {
		if code := p.stop(t); code != 0 {
			t.Errorf("folio mllp after SIGTERM: exit status %d\n%s", code, out.String())
		}
	}()
	testutil.PollUntil(t, 60*time.Second, "folio mllp ready", func() bool {
		return strings.Contains(out.String(), "folio mllp ready: HL7 v2 over MLLP on "+mllpAddr)
	})
	_, msgs := fixtureMessages(t, filepath.Join("..", "..", "fixtures", "hl7", "cytology-thyroid.hl7"))
	if code, _ := msa(mllpSend(t, mllpAddr, msgs)[0]); code != "AA" {
		t.Fatalf("ack %s\n%s", code, out.String())
	}
	tok := strings.TrimSpace(runFolio(t, "token", "--data", srv.data, "--scope", e2eScope).stdout)
	testutil.PollUntil(t, 90*time.Second, "the cytology report's PDF", func() bool {
		resp, body := fhirGet(t, srv.base, "/Binary/pdf-C26-001877-1", tok, "application/pdf")
		return resp.StatusCode == 200 && bytes.HasPrefix(body, []byte("%PDF-"))
	})
	// The withdrawal is a job: the worker carries it out, whether or not
	// the cytology report's record is stored yet.
	w := withdrawal(t, msgs[0], "CP", "W")
	x := bytes.ReplaceAll(withdrawal(t, msgs[0], "CP", "X"), []byte("C26-001877"), []byte("C26-999999"))
	acks := mllpSend(t, mllpAddr, [][]byte{w, x})
	if code, _ := msa(acks[0]); code != "AA" {
		t.Errorf("withdrawal W through folio mllp: %s %s\n%s", code, errText(acks[0]), out.String())
	}
	checkUnknownWithdrawal(t, acks[1])
	waitEnteredInError(t, srv, "C26-001877-1")

	// folio submit of .hl7 files: the surgical report, then its W.
	dir := t.TempDir()
	surg, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "hl7", "surgical-breast.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	sw := withdrawal(t, surg, "SP", "W")
	for i, msg := range [][]byte{surg, sw} {
		f := filepath.Join(dir, fmt.Sprintf("m%d.hl7", i))
		if err := os.WriteFile(f, msg, 0o600); err != nil {
			t.Fatal(err)
		}
		res := runFolio(t, "submit", "--wait", "--timeout", "90s", "--nats-url", srv.natsURL, "--data", srv.data, f)
		if res.code != 0 || !strings.Contains(res.stdout, `"status":"done"`) {
			t.Fatalf("folio submit %s: exit %d\n%s%s", []string{"report", "W"}[i], res.code, res.stdout, res.stderr)
		}
		if i == 1 && !strings.Contains(res.stdout, "entered-in-error") {
			t.Errorf("folio submit of the W does not say what it withdrew: %s", res.stdout)
		}
	}
	waitEnteredInError(t, srv, "S26-004512-1")
	xf := filepath.Join(dir, "x.hl7")
	os.WriteFile(xf, bytes.ReplaceAll(sw, []byte("S26-004512"), []byte("S26-999998")), 0o600)
	res := runFolio(t, "submit", "--nats-url", srv.natsURL, "--data", srv.data, xf)
	if res.code == 0 || !strings.Contains(res.stdout+res.stderr, "OBR^1^3") || !strings.Contains(res.stdout+res.stderr, "never received") {
		t.Errorf("folio submit of a W for a report never received: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}
