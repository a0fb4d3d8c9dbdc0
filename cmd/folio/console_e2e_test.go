package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foliohealth/folio/console"
)

const (
	browserDir = "../../console/testdata/browser"
	chromium   = "/usr/bin/chromium"
)

// consoleInputs writes the inputs of the console tests to a directory: every
// fixture, a version 1 of the amended prostate report (so that its card has
// a version history), and one invalid report. It returns the directory and
// the invalid report's path.
func consoleInputs(t *testing.T) (dir, bad string) {
	t.Helper()
	dir = t.TempDir()
	for _, f := range goodFixtures(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(fixturesDir, "amended-prostate.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v1 map[string]any
	if err := json.Unmarshal(b, &v1); err != nil {
		t.Fatal(err)
	}
	v1["version"], v1["status"] = 1, "final"
	delete(v1, "amendment")
	b, _ = json.Marshal(v1)
	if err := os.WriteFile(filepath.Join(dir, "amended-prostate-v1.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err = os.ReadFile(filepath.Join(badDir, "status-unknown.json"))
	if err != nil {
		t.Fatal(err)
	}
	bad = filepath.Join(dir, "zz-bad-status.json")
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, bad
}

// screenshotDir is where the browser test leaves its screenshots:
// $FOLIO_TEST_OUTPUT/console, or test-output/console at the repository root.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("FOLIO_TEST_OUTPUT"); d != "" {
		return filepath.Join(d, "console")
	}
	d, err := filepath.Abs("../../test-output/console")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestE2EConsoleBrowser drives Debian's chromium (through playwright-core,
// which downloads no browser) through the console of a real "folio serve"
// fed with the fixtures and one invalid report: the jobs page lists the
// failed job with its field path, its page shows the error, a patient
// search shows cards whose thumbnails loaded, the PDF link answers a PDF,
// and the health page shows a queue depth. Screenshots are left in
// test-output/console.
func TestE2EConsoleBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary in a browser: not in -short mode")
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing: install Debian's chromium package (.ci/run does): %v", chromium, err)
	}
	if _, err := os.Stat(filepath.Join(browserDir, "node_modules", "playwright-core")); err != nil {
		t.Fatalf("playwright-core is not installed: run `npm ci --prefix console/testdata/browser` (.ci/run does): %v", err)
	}
	srv := startServe(t)
	dir, bad := consoleInputs(t)
	res := runFolio(t, "submit", "--wait", "--timeout", "120s", "--outputs", "pdf,thumbnail", "--nats-url", srv.natsURL, "--data", srv.data, dir)
	if res.code != 1 {
		t.Fatalf("folio submit: exit %d, want 1 (one invalid report)\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	failedJob := ""
	for _, l := range parseSubmit(t, res.stdout) {
		switch {
		case l.Input == bad && l.Status == "failed":
			failedJob = l.JobID
		case l.Status != "done":
			t.Fatalf("%s: %s %s", l.Input, l.Status, l.Error)
		}
	}
	if failedJob == "" {
		t.Fatalf("no failed job for %s:\n%s", bad, res.stdout)
	}

	// The console is on the operator listener, not on the FHIR one.
	if resp, _ := fhirGet(t, srv.base, "/console/jobs", "", ""); resp.StatusCode == http.StatusOK {
		t.Errorf("the FHIR listener serves the console")
	}
	if resp, _ := fhirGet(t, srv.base, "/metrics", "", ""); resp.StatusCode == http.StatusOK {
		t.Errorf("the FHIR listener serves /metrics; it belongs on the operator listener")
	}
	if resp, body := fhirGet(t, srv.ops, "/metrics", "", ""); resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "folio_") {
		t.Errorf("operator listener /metrics: %d", resp.StatusCode)
	}

	shots := screenshotDir(t)
	os.RemoveAll(shots)
	node := exec.Command("node", "console.mjs")
	node.Dir = browserDir
	node.Env = append(os.Environ(),
		"CONSOLE_URL="+srv.ops+console.Prefix,
		"SCREENSHOT_DIR="+shots,
		"FAILED_JOB="+failedJob,
		"FAILED_PATH=report.status",
		"PATIENT=pt-18830", // amended-prostate: two versions
		"CHROMIUM="+chromium,
	)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = node.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		node.Process.Kill()
		<-done
		t.Fatalf("the browser test did not end within 3 minutes:\n%s", out)
	}
	t.Logf("browser checks:\n%s", out)
	if err != nil {
		t.Fatalf("node console.mjs: %v\n%s", err, out)
	}
	for _, name := range []string{"jobs.png", "jobs-failed.png", "job.png", "documents.png", "health.png"} {
		st, err := os.Stat(filepath.Join(shots, name))
		if err != nil || st.Size() < 5000 {
			t.Errorf("screenshot %s missing or empty: %v", name, err)
		}
	}
	t.Logf("screenshots in %s", shots)

	// The console reads with folio serve's own NATS connection and rights:
	// no permission violation.
	if strings.Contains(srv.log.String(), "Violation") {
		t.Errorf("folio serve's log has a NATS permission violation")
	}

	// Nothing the console showed or was asked lands in folio's logs: not
	// the searched patient id, nor the patient's name or MRN.
	for _, phi := range []string{"pt-18830", "Abernathy", "000356120"} {
		if strings.Contains(srv.log.String(), phi) {
			t.Errorf("folio serve's log holds patient data %q", phi)
		}
	}
}

// TestE2EConsoleToken: with the operator listener on a non-loopback
// address, the console refuses a request without a token (401), with a
// token lacking the operator scope (403), and answers one with it.
func TestE2EConsoleToken(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary: not in -short mode")
	}
	port := strings.TrimPrefix(freeAddr(t), "127.0.0.1:")
	srv := startServeOps(t, "0.0.0.0:"+port)
	base := "http://127.0.0.1:" + port
	mint := func(scope string) string {
		res := runFolio(t, "token", "--data", srv.data, "--scope", scope)
		if res.code != 0 {
			t.Fatalf("folio token: %d %s", res.code, res.stderr)
		}
		return strings.TrimSpace(res.stdout)
	}
	for _, c := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"FHIR scopes only", mint(e2eScope), http.StatusForbidden},
		{"operator scope", mint(console.OperatorScope), http.StatusOK},
	} {
		resp, body := fhirGet(t, base, "/console/jobs", c.token, "")
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d\n%s", c.name, resp.StatusCode, c.want, body)
		}
	}
	if !strings.Contains(srv.log.String(), fmt.Sprintf("operator        http://0.0.0.0:%s/console  (bearer token with scope %s", port, console.OperatorScope)) {
		t.Errorf("the banner does not say the console needs a token:\n%s", srv.log.String())
	}
}
