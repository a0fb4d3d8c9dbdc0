package render_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/render"
	"github.com/foliohealth/folio/render/pdf"
	"github.com/foliohealth/folio/render/pdf/pades"
)

// TestSignedFixtures renders every good fixture signed with an RSA 2048
// and an ECDSA P-256 key (test CA and laboratory certificate made here)
// and checks each PDF: pdfsig finds one valid ETSI.CAdES.detached
// signature over the whole document, at the report's release time, by a
// certificate it trusts once the CA is in its NSS database; openssl cms
// -verify accepts it against the CA; the text is the unsigned PDF's; a
// second rendering gives the same bytes; and every signed PDF passes
// PDFBox preflight (PDF/A-1b).
func TestSignedFixtures(t *testing.T) {
	testutil.NeedTools(t, "qpdf", "pdftotext", "pdfsig", "certutil", "openssl")
	dir := t.TempDir()
	var paths []string
	for _, kind := range []string{"rsa2048", "p256"} {
		pki := testutil.MakeSigningPKI(t, kind)
		s, err := pades.New(pki.Key, pki.Chain, "Report release", "Hamburg")
		if err != nil {
			t.Fatal(err)
		}
		nss := pki.NSSDB(t)
		for _, fx := range goodFixtures(t) {
			laid, err := render.Layout(fx.r)
			if err != nil {
				t.Fatal(err)
			}
			signed, err := laid.PDF(pdf.Sign(s))
			if err != nil {
				t.Fatalf("%s: %v", fx.name, err)
			}
			again, err := laid.PDF(pdf.Sign(s))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(signed, again) {
				t.Errorf("%s (%s): a second signed rendering gave different bytes", fx.name, kind)
			}
			plain, err := laid.PDF()
			if err != nil {
				t.Fatal(err)
			}
			if testutil.PDFToText(t, signed) != testutil.PDFToText(t, plain) {
				t.Errorf("%s (%s): the signed PDF's text differs from the unsigned one's", fx.name, kind)
			}
			p := filepath.Join(dir, kind+"-"+fx.name+".pdf")
			if err := os.WriteFile(p, signed, 0o644); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
			if err := testutil.QPDFCheck(t, signed); err != nil {
				t.Errorf("%s (%s): %v", fx.name, kind, err)
			}
			out := testutil.PDFSig(t, p, nss)
			for _, want := range []string{
				"Signature Validation: Signature is Valid.",
				"Signature Type: ETSI.CAdES.detached",
				"  - Total document signed",
				"Certificate Validation: Certificate is Trusted.",
				"Signing Time: " + laid.Info.Created.UTC().Format("Jan 02 2006 15:04:05"),
			} {
				if !strings.Contains(out, want) {
					t.Errorf("%s (%s): pdfsig lacks %q:\n%s", fx.name, kind, want, out)
				}
			}
			if strings.Count(out, "Signature #") != 1 {
				t.Errorf("%s (%s): pdfsig does not find exactly one signature:\n%s", fx.name, kind, out)
			}
			if out, ok := pki.CMSVerify(t, signed); !ok {
				t.Errorf("%s (%s): openssl cms -verify against the CA:\n%s", fx.name, kind, out)
			}
		}
	}
	testutil.CheckPDFA(t, paths)
}
