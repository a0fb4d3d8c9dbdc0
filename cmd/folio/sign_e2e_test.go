package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliohealth/folio/internal/testutil"
)

// signingProfile writes a site profile with a signature block (key mode
// 0600, chain, reason, location) and the test PKI's files into a new
// directory and returns the profile's path. def makes it the default
// profile.
func signingProfile(t *testing.T, pki *testutil.SigningPKI, def bool) string {
	t.Helper()
	dir := t.TempDir()
	pki.WriteFiles(t, dir)
	prof := fmt.Sprintf(`{"schema": "folio.profile/v1", "id": "signing-lab", "default": %v,
  "signature": {"key": "signing-key.pem", "certificates": "signing-chain.pem",
                "reason": "Befundfreigabe", "location": "Hamburg"}}`, def)
	p := filepath.Join(dir, "signing-lab.json")
	if err := os.WriteFile(p, []byte(prof), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkSigned checks a signed PDF at path with pdfsig (valid, PAdES,
// whole document, trusted through the NSS database nss) and openssl cms
// -verify against the CA; what names it in messages.
func checkSigned(t *testing.T, pki *testutil.SigningPKI, nss, what, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := testutil.PDFSig(t, path, nss)
	for _, want := range []string{
		"Signature Validation: Signature is Valid.",
		"Signature Type: ETSI.CAdES.detached",
		"  - Total document signed",
		"Certificate Validation: Certificate is Trusted.",
		"Signer Certificate Common Name: " + pki.Chain[0].Subject.CommonName,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("%s: pdfsig lacks %q:\n%s", what, want, out)
		}
	}
	if out, ok := pki.CMSVerify(t, data); !ok {
		t.Errorf("%s: openssl cms -verify against the CA:\n%s", what, out)
	}
}

// TestE2ESignedRender renders every fixture input (report JSON, FHIR, HL7)
// with folio render --profile and a signing profile: every PDF folio
// paints is signed, verifies with pdfsig and openssl against the test CA,
// passes PDFBox preflight, and comes out the same on a second run. A
// sender's own PDF, stored as sent, is not signed (folio never rewrites
// it).
func TestE2ESignedRender(t *testing.T) {
	pki := testutil.MakeSigningPKI(t, "rsa2048")
	nss := pki.NSSDB(t)
	prof := signingProfile(t, pki, false)
	groups := fixtureInputs(t, filepath.Join("..", "..", "fixtures"))
	out := t.TempDir()
	var painted []string
	for i, files := range groups {
		for _, run := range []string{"a", "b"} {
			dir := filepath.Join(out, run, fmt.Sprint(i))
			res := runFolio(t, append([]string{"render", "--profile", prof, "--json", "-o", dir}, files...)...)
			if res.code != 0 {
				t.Errorf("folio render --profile %s: exit %d\n%s", strings.Join(files, " "), res.code, res.stderr)
			}
			if run == "b" {
				continue
			}
			for _, line := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
				var l struct {
					Input, Output, Error string
					Warnings             []string
				}
				if err := json.Unmarshal([]byte(line), &l); err != nil {
					t.Fatalf("folio render --json printed %q: %v", line, err)
				}
				if l.Error != "" || l.Output == "" {
					t.Errorf("%s: not rendered: %s", l.Input, l.Error)
					continue
				}
				asSent := false
				for _, w := range l.Warnings {
					asSent = asSent || strings.Contains(w, "as sent")
				}
				data, err := os.ReadFile(l.Output)
				if err != nil {
					t.Fatal(err)
				}
				if asSent && !bytes.Contains(data, []byte(folioProducer)) {
					if bytes.Contains(data, []byte("/ETSI.CAdES.detached")) {
						t.Errorf("%s: the sender's own PDF was signed (it must be stored as sent)", l.Input)
					}
					continue
				}
				qpdfCheck(t, l.Output, data)
				checkSigned(t, pki, nss, filepath.Base(l.Input), l.Output)
				painted = append(painted, l.Output)
			}
		}
	}
	if len(painted) < 15 {
		t.Fatalf("only %d PDFs painted by folio", len(painted))
	}
	for _, a := range painted {
		b := filepath.Join(out, "b", strings.TrimPrefix(a, filepath.Join(out, "a")))
		da, _ := os.ReadFile(a)
		db, err := os.ReadFile(b)
		if err != nil || !bytes.Equal(da, db) {
			t.Errorf("%s: a second folio render gave other bytes (%v)", filepath.Base(a), err)
		}
	}
	testutil.CheckPDFA(t, painted)
}

// TestE2ESignedServe runs folio serve --profiles with a default signing
// profile, submits a report and reads its PDF Binary back over FHIR: the
// served bytes are signed, verify with pdfsig and openssl against the test
// CA, are what folio render --profile makes of the same report, and the
// DocumentReference's hash is the SHA-1 of the signed bytes. The private
// key appears nowhere in folio's output.
func TestE2ESignedServe(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary: not in -short mode")
	}
	pki := testutil.MakeSigningPKI(t, "p256")
	nss := pki.NSSDB(t)
	prof := signingProfile(t, pki, true)
	srv := startServe(t, "--profiles", filepath.Dir(prof))

	fixture, err := filepath.Abs(filepath.Join(fixturesDir, "surgical-breast.json"))
	if err != nil {
		t.Fatal(err)
	}
	res := runFolio(t, "submit", "--wait", "--timeout", "90s", "--nats-url", srv.natsURL, "--data", srv.data, fixture)
	if res.code != 0 {
		t.Fatalf("folio submit --wait: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	lines := parseSubmit(t, res.stdout)
	if len(lines) != 1 || lines[0].Status != "done" {
		t.Fatalf("folio submit: %+v", lines)
	}
	id := ""
	for _, b := range lines[0].Binaries {
		if b.ContentType == "application/pdf" {
			id = b.ID
		}
	}
	if id == "" {
		t.Fatalf("no PDF Binary: %+v", lines[0])
	}
	token := strings.TrimSpace(runFolio(t, "token", "--data", srv.data, "--scope", e2eScope).stdout)
	resp, pdf := fhirGet(t, srv.base, "/Binary/"+id, token, "application/pdf")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /Binary/%s: %s", id, resp.Status)
	}
	served := filepath.Join(t.TempDir(), "served.pdf")
	if err := os.WriteFile(served, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	checkSigned(t, pki, nss, "served Binary", served)
	checkDocumentReference(t, srv.base, token, "surgical-breast.json", patientOf(t, fixture), id, pdf)

	// The same report rendered locally with the same profile: the same
	// signed bytes (deterministic signing, release time as /M).
	local := t.TempDir()
	if r := runFolio(t, "render", "--profile", prof, "-o", local, fixture); r.code != 0 {
		t.Fatalf("folio render --profile: exit %d\n%s", r.code, r.stderr)
	}
	mine, err := os.ReadFile(filepath.Join(local, "surgical-breast.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mine, pdf) {
		t.Errorf("the served PDF (%d bytes) is not what folio render --profile makes (%d bytes)", len(pdf), len(mine))
	}

	// The key never reaches folio's output.
	keyBody := strings.Split(string(pki.KeyPEM), "\n")[1]
	if strings.Contains(srv.log.String(), keyBody) || strings.Contains(srv.log.String(), "PRIVATE KEY") {
		t.Error("folio serve's output contains the private key")
	}
}
