package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

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
	nc := connectAs(t, srv, queue.RoleWorker)
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
}
