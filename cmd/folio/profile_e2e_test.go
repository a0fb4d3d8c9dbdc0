package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/queue"
)

const profileFixtures = "../../fixtures/profiles"

func TestProfileCheck(t *testing.T) {
	res := runFolio(t, "profile", "check", profileFixtures)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	want := []string{"gulf-specialty-pathology  sha256:", "hopital-nord-anapath  sha256:", "klinikum-nord-pathologie  sha256:", "lakeside-us  sha256:"}
	if len(lines) != len(want) {
		t.Fatalf("printed:\n%s", res.stdout)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d %q, want %q...", i+1, lines[i], w)
		}
	}
	if !strings.HasSuffix(lines[3], "(default)") {
		t.Errorf("the default is not marked: %q", lines[3])
	}
	bad := runFolio(t, "profile", "check", filepath.Join(profileFixtures, "bad", "missing-logo.json"))
	if bad.code != 1 || !strings.Contains(bad.stderr, "letterhead.logo: nope.png: no such file") {
		t.Errorf("bad profile: exit %d\n%s", bad.code, bad.stderr)
	}
	two := runFolio(t, "profile", "check", filepath.Join(profileFixtures, "bad", "two-defaults"))
	if two.code != 1 || !strings.Contains(two.stderr, "b.json: default:") {
		t.Errorf("two defaults: exit %d\n%s", two.code, two.stderr)
	}
	// folio render refuses to start with a bad profile, before rendering.
	r := runFolio(t, "render", "--profile", filepath.Join(profileFixtures, "bad", "low-contrast.json"), "-o", t.TempDir(), filepath.Join(profileFixtures, "reports"))
	if r.code != exitUsage || !strings.Contains(r.stderr, "accent: #FFCC00") {
		t.Errorf("render with a bad profile: exit %d\n%s", r.code, r.stderr)
	}
}

// TestE2EProfiles: folio serve --profiles DIR; reports from three senders
// (a German hospital by facility, a French one by HL7 MSH-4, a US default)
// each come back on their own paper, in their own language, and the job
// names its profile; a job naming a profile the deployment lacks fails
// invalid, naming it.
func TestE2EProfiles(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary: not in -short mode")
	}
	testutil.NeedTools(t, "pdfinfo", "pdftotext")
	dir, err := filepath.Abs(profileFixtures)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, "--profiles", dir)
	reports := filepath.Join(dir, "reports")
	cases := []struct {
		file, profile, paper, word string
	}{
		{"klinikum-nord-preliminary.json", "klinikum-nord-pathologie", "(A4)", "Geburtsdatum"},
		{"hopital-nord.hl7", "hopital-nord-anapath", "(A4)", "Date de naissance"},
		{"lakeside-default-ct.json", "lakeside-us", "(letter)", "CLIA 23D0987654"},
	}
	var args []string
	for _, c := range cases {
		args = append(args, filepath.Join(reports, c.file))
	}
	res := runFolio(t, append([]string{"submit", "--wait", "--timeout", "90s", "--nats-url", srv.natsURL, "--data", srv.data}, args...)...)
	if res.code != 0 {
		t.Fatalf("submit: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	lines := parseSubmit(t, res.stdout)
	if len(lines) != len(cases) {
		t.Fatalf("%d lines:\n%s", len(lines), res.stdout)
	}
	tok := runFolio(t, "token", "--data", srv.data, "--scope", e2eScope)
	token := strings.TrimSpace(tok.stdout)
	byInput := map[string]submitOut{}
	for _, l := range lines {
		byInput[filepath.Base(l.Input)] = l
	}
	for _, c := range cases {
		l := byInput[c.file]
		if l.Status != "done" {
			t.Errorf("%s: %s %s", c.file, l.Status, l.Error)
			continue
		}
		js := runFolio(t, "job", "--json", "--nats-url", srv.natsURL, "--data", srv.data, l.JobID)
		var st queue.JobStatus
		if err := json.Unmarshal([]byte(js.stdout), &st); err != nil {
			t.Fatalf("folio job --json: %v\n%s", err, js.stdout)
		}
		if st.Profile != c.profile || !strings.HasPrefix(st.ProfileDigest, "sha256:") {
			t.Errorf("%s: job status names profile %q %q, want %s", c.file, st.Profile, st.ProfileDigest, c.profile)
		}
		if tbl := runFolio(t, "job", "--nats-url", srv.natsURL, "--data", srv.data, l.JobID); !regexp.MustCompile(`(?m)^profile +` + regexp.QuoteMeta(c.profile+" ("+st.ProfileDigest+")") + `$`).MatchString(tbl.stdout) {
			t.Errorf("%s: folio job does not print the profile:\n%s", c.file, tbl.stdout)
		}
		// The console's job page names the profile and its digest.
		if cr, err := http.Get(srv.ops + "/console/jobs/" + l.JobID); err != nil {
			t.Error(err)
		} else {
			body, _ := io.ReadAll(cr.Body)
			cr.Body.Close()
			if cr.StatusCode != 200 || !strings.Contains(string(body), "<code>"+c.profile+"</code>") || !strings.Contains(string(body), st.ProfileDigest) {
				t.Errorf("%s: console job page (%s) does not name the profile", c.file, cr.Status)
			}
		}
		var pdfID string
		for _, b := range l.Binaries {
			if b.ContentType == "application/pdf" {
				pdfID = b.ID
			}
		}
		resp, pdf := fhirGet(t, srv.base, "/Binary/"+pdfID, token, "application/pdf")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: GET Binary/%s: %s", c.file, pdfID, resp.Status)
		}
		path := filepath.Join(t.TempDir(), "r.pdf")
		if err := os.WriteFile(path, pdf, 0o600); err != nil {
			t.Fatal(err)
		}
		info, err := exec.Command("pdfinfo", path).Output()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(info), c.paper) {
			t.Errorf("%s: served PDF is not %s:\n%s", c.file, c.paper, info)
		}
		if txt := testutil.PDFToText(t, pdf); !strings.Contains(txt, c.word) {
			t.Errorf("%s: served PDF lacks %q", c.file, c.word)
		}
		if !strings.Contains(string(pdf), "<folioprofile:id>"+c.profile+"</folioprofile:id>") {
			t.Errorf("%s: XMP does not name the profile", c.file)
		}
	}
	// A profile the deployment does not hold (a report not submitted
	// before: a resubmitted one is the same job, already done).
	bad := runFolio(t, "submit", "--wait", "--timeout", "60s", "--nats-url", srv.natsURL, "--data", srv.data, "--profile", "nowhere", filepath.Join(reports, "gulf-rtl-pathology.json"))
	bl := parseSubmit(t, bad.stdout)
	if bad.code != 1 || len(bl) != 1 || bl[0].Status != "failed" || !strings.Contains(bl[0].Error, `profile: "nowhere": no such site profile`) {
		t.Errorf("job naming an unknown profile: exit %d\n%s\n%s", bad.code, bad.stdout, bad.stderr)
	}
	js := runFolio(t, "job", "--json", "--nats-url", srv.natsURL, "--data", srv.data, bl[0].JobID)
	var st queue.JobStatus
	if json.Unmarshal([]byte(js.stdout), &st) != nil || st.Reason != queue.ReasonInvalid {
		t.Errorf("unknown profile: reason %q, want invalid\n%s", st.Reason, js.stdout)
	}

	// The worker role reads the profiles but may not write them.
	nc := connectAs(t, srv, broker.RoleWorker)
	defer nc.Close()
	if _, err := nc.Request("$KV."+queue.BucketProfiles+".lakeside-us", []byte("{}"), 2*time.Second); err == nil {
		t.Error("the worker role wrote a site profile")
	}
	// folio profile put (admin) changes the set: a new version of a report
	// now renders with the one profile left, as the default.
	only := t.TempDir()
	raw, err := os.ReadFile(filepath.Join(dir, "hopital-nord.json"))
	if err != nil {
		t.Fatal(err)
	}
	raw = []byte(strings.Replace(string(raw), `"id": "hopital-nord-anapath",`, `"id": "hopital-nord-anapath", "default": true,`, 1))
	if err := os.WriteFile(filepath.Join(only, "hopital-nord.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	put := runFolio(t, "profile", "put", "--nats-url", srv.natsURL, "--data", srv.data, only)
	if put.code != 0 || !strings.HasPrefix(put.stdout, "hopital-nord-anapath  sha256:") {
		t.Fatalf("folio profile put: exit %d\n%s%s", put.code, put.stdout, put.stderr)
	}
	ct, err := os.ReadFile(filepath.Join(reports, "lakeside-default-ct.json"))
	if err != nil {
		t.Fatal(err)
	}
	v2 := filepath.Join(t.TempDir(), "ct-v2.json")
	if err := os.WriteFile(v2, []byte(strings.Replace(string(ct), `"version": 1`, `"version": 2`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	// A job that starts after the put renders with the new set (the
	// worker waits for its watcher to reach the bucket's last revision).
	res = runFolio(t, "submit", "--wait", "--timeout", "60s", "--nats-url", srv.natsURL, "--data", srv.data, v2)
	l2 := parseSubmit(t, res.stdout)
	if res.code != 0 || len(l2) != 1 {
		t.Fatalf("submit v2: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	js2 := runFolio(t, "job", "--json", "--nats-url", srv.natsURL, "--data", srv.data, l2[0].JobID)
	var st2 queue.JobStatus
	if err := json.Unmarshal([]byte(js2.stdout), &st2); err != nil || st2.Profile != "hopital-nord-anapath" {
		t.Errorf("after profile put, the job rendered with %q (%v)", st2.Profile, err)
	}

	// folio worker --profiles DIR (through the one start-up path): a
	// refused profile stops it before anything starts; it starts only when
	// NATS holds exactly DIR's profiles, so the fixture set (NATS now holds
	// only hopital-nord) is refused and the set just put is taken.
	badSet := runFolio(t, "worker", "--nats-url", srv.natsURL, "--data", srv.data, "--workers", "1", "--profiles", filepath.Join(dir, "bad", "two-defaults"))
	if badSet.code != exitUsage || !strings.Contains(badSet.stderr, "folio worker: --profiles") || !strings.Contains(badSet.stderr, "default:") {
		t.Errorf("worker with a refused --profiles: exit %d\n%s", badSet.code, badSet.stderr)
	}
	stale := runFolio(t, "worker", "--nats-url", srv.natsURL, "--data", srv.data, "--workers", "1", "--profiles", dir)
	if stale.code != exitUsage || !strings.Contains(stale.stderr, "run folio profile put "+dir) {
		t.Errorf("worker with an out-of-date --profiles: exit %d\n%s", stale.code, stale.stderr)
	}
	w := startProc(t, "worker", nil, "worker", "--nats-url", srv.natsURL, "--data", srv.data, "--workers", "1", "--profiles", only)
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(w.log.String(), "folio worker ready") {
		select {
		case <-w.exited:
			t.Fatalf("folio worker --profiles %s exited %d\n%s", only, w.exitCode, w.log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("folio worker --profiles %s not ready within 60s\n%s", only, w.log.String())
		}
	}
	if code := w.stop(t); code != 0 {
		t.Errorf("folio worker exit %d after SIGTERM\n%s", code, w.log.String())
	}
}

// TestE2EProfileKeyRoles: a profile with a signing key kept in NATS (the
// key travels with its profile so every worker signs with it): the admin
// and worker roles read it, the api and submitter roles are refused by the
// server, checked with the nats CLI; the worker cannot write it; folio
// prints neither the key nor the bundle.
func TestE2EProfileKeyRoles(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary: not in -short mode")
	}
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, "signing-key.pem"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Klinikum Nord Befundfreigabe"},
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)}
	cder, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "signing-chain.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cder}), 0o644); err != nil {
		t.Fatal(err)
	}
	prof := `{"schema": "folio.profile/v1", "id": "signing-site", "default": true, "language": "de",
	  "signature": {"key": "signing-key.pem", "certificates": "signing-chain.pem", "reason": "Befundfreigabe", "location": "Hamburg"}}`
	if err := os.WriteFile(filepath.Join(dir, "signing-site.json"), []byte(prof), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, "--profiles", dir)
	check := runFolio(t, "profile", "check", dir)
	if check.code != 0 || !strings.HasPrefix(check.stdout, "signing-site  sha256:") || strings.Contains(check.stdout+check.stderr, "PRIVATE") {
		t.Fatalf("folio profile check: exit %d\n%s%s", check.code, check.stdout, check.stderr)
	}

	roles := map[broker.Role][]string{}
	for _, r := range broker.Roles {
		res := runFolio(t, "creds", "--data", srv.data, "--role", string(r))
		roles[r] = []string{"--nkey", strings.TrimSpace(res.stdout), "--inbox-prefix", r.InboxPrefix()}
	}
	cli := newNATSCLI(t, "--server", srv.natsURL)
	bundle := cli.must(roles[broker.RoleAdmin], "kv", "get", queue.BucketProfiles, "signing-site", "--raw")
	var b struct {
		Files map[string][]byte `json:"files"`
	}
	if err := json.Unmarshal([]byte(bundle), &b); err != nil || string(b.Files["signing-key.pem"]) != string(keyPEM) {
		t.Fatalf("the bundle in NATS does not carry the key (%v)", err)
	}
	if got := cli.must(roles[broker.RoleWorker], "kv", "get", queue.BucketProfiles, "signing-site", "--raw"); got != bundle {
		t.Error("the worker reads another bundle than the admin")
	}
	for _, r := range []broker.Role{broker.RoleAPI, broker.RoleSubmitter} {
		for _, args := range [][]string{
			{"kv", "get", queue.BucketProfiles, "signing-site", "--raw"},
			{"kv", "ls", queue.BucketProfiles},
			{"kv", "history", queue.BucketProfiles, "signing-site"},
			{"stream", "get", "KV_" + queue.BucketProfiles, "1"},
			{"kv", "put", queue.BucketProfiles, "signing-site", "{}"},
		} {
			out, errOut, code := cli.run(roles[r], args...)
			if code == 0 || strings.Contains(out+errOut, "PRIVATE KEY") {
				t.Errorf("%s: nats %s: exit %d, want refused\n%s", r, strings.Join(args, " "), code, out)
			}
		}
	}
	for _, args := range [][]string{
		{"kv", "put", queue.BucketProfiles, "signing-site", "{}"},
		{"kv", "del", queue.BucketProfiles, "signing-site", "-f"},
	} {
		if _, _, code := cli.run(roles[broker.RoleWorker], args...); code == 0 {
			t.Errorf("worker: nats %s succeeded, want refused", strings.Join(args, " "))
		}
	}
	if after := cli.must(roles[broker.RoleAdmin], "kv", "get", queue.BucketProfiles, "signing-site", "--raw"); after != bundle {
		t.Error("refused calls changed the bundle")
	}

	// A report renders with it; nothing folio prints holds the key.
	res := runFolio(t, "submit", "--wait", "--timeout", "60s", "--nats-url", srv.natsURL, "--data", srv.data, filepath.Join(profileFixtures, "reports", "lakeside-default-ct.json"))
	lines := parseSubmit(t, res.stdout)
	if res.code != 0 || len(lines) != 1 {
		t.Fatalf("submit: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	js := runFolio(t, "job", "--json", "--nats-url", srv.natsURL, "--data", srv.data, lines[0].JobID)
	if !strings.Contains(js.stdout, `"profile": "signing-site"`) {
		t.Errorf("job status does not name the profile:\n%s", js.stdout)
	}
	pemBody := strings.Split(string(keyPEM), "\n")[1]
	for what, text := range map[string]string{"serve log": srv.log.String(), "submit": res.stdout + res.stderr, "job": js.stdout} {
		if strings.Contains(text, "PRIVATE KEY") || strings.Contains(text, pemBody) {
			t.Errorf("%s holds the private key", what)
		}
	}
}
