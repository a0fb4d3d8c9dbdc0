package pdf

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/render/layout"
	"github.com/foliohealth/folio/render/pdf/pades"
)

// signer makes a test PKI of the given key kind and a Signer for it.
func signer(t testing.TB, kind string) (*testutil.SigningPKI, *pades.Signer) {
	t.Helper()
	pki := testutil.MakeSigningPKI(t, kind)
	s, err := pades.New(pki.Key, pki.Chain, "Befundfreigabe (Prüfung)", "Hamburg")
	if err != nil {
		t.Fatal(err)
	}
	return pki, s
}

// wholeAndValid reports whether pdfsig's output says the one signature is
// valid and covers the whole document.
func wholeAndValid(out string) bool {
	return strings.Count(out, "Signature #") == 1 &&
		strings.Contains(out, "  - Total document signed") &&
		strings.Contains(out, "Signature Validation: Signature is Valid.")
}

// TestSignedPDF signs documents with RSA 2048 and ECDSA P-256 keys and
// checks them with independent readers: poppler's pdfsig (the signature,
// its type, that it covers the whole file, and that the certificate is
// trusted once the test CA is in the NSS database, and only then),
// openssl cms -verify against the CA (and not against another CA), qpdf,
// and PDFBox preflight (PDF/A-1b). A second painting gives the same bytes.
func TestSignedPDF(t *testing.T) {
	docs := map[string][]layout.Page{
		"report": append(reportPages(2), scriptPage()),
		"one":    reportPages(1),
	}
	dir := t.TempDir()
	var paths []string
	for _, kind := range []string{"rsa2048", "p256", "rsa3072"} {
		pki, s := signer(t, kind)
		nss := pki.NSSDB(t)
		other := testutil.MakeSigningPKI(t, kind)
		for name, pages := range docs {
			t.Run(kind+"/"+name, func(t *testing.T) {
				data, err := Paint(pages, testInfo, Sign(s))
				if err != nil {
					t.Fatal(err)
				}
				again, err := Paint(pages, testInfo, Sign(s))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(data, again) {
					t.Errorf("a second signed painting differs (%d vs %d bytes)", len(again), len(data))
				}
				p := filepath.Join(dir, kind+"-"+name+".pdf")
				if err := os.WriteFile(p, data, 0o644); err != nil {
					t.Fatal(err)
				}
				paths = append(paths, p)
				tool(t, "qpdf", "--check", p)

				out := testutil.PDFSig(t, p, nss)
				for _, want := range []string{
					"Signature Validation: Signature is Valid.",
					"Signature Type: ETSI.CAdES.detached",
					"  - Total document signed",
					"Certificate Validation: Certificate is Trusted.",
					"Signer Certificate Common Name: Institut für Pathologie, Klinikum Nord",
					"Signing Hash Algorithm: SHA-256",
					"Signing Time: Mar 05 2024 14:30:00",
				} {
					if !strings.Contains(out, want) {
						t.Errorf("pdfsig lacks %q:\n%s", want, out)
					}
				}
				// Without the CA in its database, pdfsig must not trust it:
				// the trusted verdict above comes from the CA, not from
				// pdfsig trusting anything.
				if out := testutil.PDFSig(t, p, testutil.NSSDB(t)); !wholeAndValid(out) || strings.Contains(out, "Certificate is Trusted") {
					t.Errorf("pdfsig with an empty NSS database:\n%s", out)
				}
				if out, ok := pki.CMSVerify(t, data); !ok || !strings.Contains(out, "Verification successful") {
					t.Errorf("openssl cms -verify against the CA failed:\n%s", out)
				}
				if out, ok := other.CMSVerify(t, data); ok {
					t.Errorf("openssl cms -verify against another CA succeeded:\n%s", out)
				}
				checkSignatureObjects(t, p)
			})
		}
	}
	testutil.CheckPDFA(t, paths)
}

// checkSignatureObjects checks the signature field, the signature
// dictionary and the form as qpdf reads them.
func checkSignatureObjects(t *testing.T, path string) {
	t.Helper()
	objs := qpdfObjects(t, path)
	trailer := objs["trailer"]["value"].(map[string]any)
	root := dict(t, objs, trailer["/Root"])
	form := dict(t, objs, root["/AcroForm"])
	if form["/SigFlags"] != float64(3) {
		t.Errorf("/SigFlags %v, want 3", form["/SigFlags"])
	}
	fields, _ := form["/Fields"].([]any)
	if len(fields) != 1 {
		t.Fatalf("/Fields %v, want one field", form["/Fields"])
	}
	widget := dict(t, objs, fields[0])
	pages := dict(t, objs, root["/Pages"])
	page1 := pages["/Kids"].([]any)[0]
	annots, _ := dict(t, objs, page1)["/Annots"].([]any)
	if len(annots) != 1 || annots[0] != fields[0] {
		t.Errorf("page 1 /Annots %v, want the field %v", annots, fields[0])
	}
	for k, want := range map[string]any{"/Subtype": "/Widget", "/FT": "/Sig", "/F": float64(132), "/P": page1} {
		if widget[k] != want {
			t.Errorf("widget %s = %v, want %v", k, widget[k], want)
		}
	}
	if r := fmt.Sprint(widget["/Rect"]); r != "[0 0 0 0]" {
		t.Errorf("widget /Rect %s, want an empty rectangle (invisible)", r)
	}
	sig := dict(t, objs, widget["/V"])
	for k, want := range map[string]string{
		"/Type": "/Sig", "/Filter": "/Adobe.PPKLite", "/SubFilter": "/ETSI.CAdES.detached",
		"/M": "D:20240305143000Z", "/Name": "Institut für Pathologie, Klinikum Nord",
		"/Reason": "Befundfreigabe (Prüfung)", "/Location": "Hamburg",
	} {
		got, _ := sig[k].(string)
		if k[1] != 'T' && k[1] != 'F' && k[1] != 'S' {
			got = pdfText(sig[k])
		}
		if got != want {
			t.Errorf("signature dictionary %s = %q, want %q", k, got, want)
		}
	}
}

var byteRangeOf = regexp.MustCompile(`/ByteRange \[0 (\d+) (\d+) (\d+)`)

// TestSignedTamper changes one byte at a time and checks that pdfsig, with
// the test CA trusted, no longer reports a valid signature over the whole
// document by a trusted certificate. Outside the signature value: at
// every kind of place (header, pages, fonts, the signature dictionary, the
// /ByteRange, the xref, the trailer, %%EOF, the delimiters and zero
// padding of /Contents, and evenly spaced places between). Inside it: the
// signed attributes (message digest, ESS certificate hash, content type),
// the signature bytes and the signer's certificate (subject, public key).
//
// Not every byte of a CMS signature is covered by it, in any CMS
// signature: the SignedData version, the encapsulated content type and the
// copies of issuing certificates (a verifier takes the CA from its own
// trust store) can be altered without pdfsig noticing; they carry nothing
// of the document or of who signed it, so they are left out here.
func TestSignedTamper(t *testing.T) {
	for _, kind := range []string{"p256", "rsa2048"} {
		t.Run(kind, func(t *testing.T) { tamper(t, kind) })
	}
}

func tamper(t *testing.T, kind string) {
	pki, s := signer(t, kind)
	nss := pki.NSSDB(t)
	data, err := Paint(reportPages(1), testInfo, Sign(s))
	if err != nil {
		t.Fatal(err)
	}
	trusted := func(out string) bool {
		return wholeAndValid(out) && strings.Contains(out, "Certificate Validation: Certificate is Trusted.")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "signed.pdf")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := testutil.PDFSig(t, p, nss); !trusted(out) {
		t.Fatalf("the untouched PDF does not verify:\n%s", out)
	}
	m := byteRangeOf.FindSubmatchIndex(data)
	if m == nil {
		t.Fatal("no /ByteRange")
	}
	start, _ := strconv.Atoi(string(data[m[2]:m[3]]))
	end, _ := strconv.Atoi(string(data[m[4]:m[5]]))
	at := map[string]int{
		"header":               5,
		"/ByteRange":           m[2],
		"/Contents <":          start,
		"signature padding":    end - 3,
		"/Contents >":          end - 1,
		"/M":                   bytes.Index(data, []byte("/M (D:")) + 8,
		"/Reason":              bytes.Index(data, []byte("/Reason")) + 10,
		"widget /Rect":         bytes.Index(data, []byte("/Rect [0 0 0 0]")) + 7,
		"/SigFlags":            bytes.Index(data, []byte("/SigFlags 3")) + 10,
		"xref":                 bytes.LastIndex(data, []byte("\nxref\n")) + 30,
		"trailer /ID":          bytes.LastIndex(data, []byte("/ID [<")) + 8,
		"startxref":            len(data) - 9,
		"%%EOF":                len(data) - 3,
		"page content stream":  bytes.Index(data, []byte("stream\n")) + 20,
		"last byte":            len(data) - 1,
		"first byte after gap": end,
		"last byte before gap": start - 1,
	}
	for i := 1; i < 24; i++ {
		if pos := len(data) * i / 24; pos < start || pos >= end {
			at[fmt.Sprintf("%d/24 of the file", i)] = pos
		}
	}
	// Places in the signature value: the hex digit of a byte found in its
	// DER.
	content, der := testutil.SignedParts(t, data)
	digest := sha256.Sum256(content)
	certHash := sha256.Sum256(pki.Chain[0].Raw)
	inDER := func(what string, part []byte, off int) {
		i := bytes.Index(der, part)
		if i < 0 {
			t.Fatalf("%s not found in the signature value", what)
		}
		at["signature value: "+what] = start + 1 + 2*(i+off)
	}
	inDER("message digest", digest[:], 16)
	inDER("ESS signing-certificate-v2 hash", certHash[:], 5)
	inDER("content-type attribute", []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03}, 10)
	inDER("signer's subject", pki.Chain[0].RawSubject, len(pki.Chain[0].RawSubject)-3)
	inDER("signer's public key", pki.Chain[0].RawSubjectPublicKeyInfo, len(pki.Chain[0].RawSubjectPublicKeyInfo)-5)
	at["signature value: last signature byte"] = start + 1 + 2*len(der) - 1
	at["signature value: a signature byte"] = start + 1 + 2*len(der) - 21

	for what, pos := range at {
		bad := bytes.Clone(data)
		switch c := bad[pos]; {
		case c >= '0' && c <= '8':
			bad[pos]++ // a hex digit stays one
		case c == '\n' || c == '\r' || c == ' ':
			bad[pos] = 'x'
		default:
			bad[pos] ^= 0x01
		}
		q := filepath.Join(dir, "tampered.pdf")
		if err := os.WriteFile(q, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		if out := testutil.PDFSig(t, q, nss); trusted(out) {
			t.Errorf("byte %d (%s) changed from %q to %q: pdfsig still reports a valid signature of the whole document by a trusted certificate:\n%s",
				pos, what, data[pos], bad[pos], out)
		}
	}
}

// TestUnsignedUnchanged checks that Sign(nil) and no option paint the
// same bytes, with no trace of a signature.
func TestUnsignedUnchanged(t *testing.T) {
	pages := reportPages(1)
	plain, err := Paint(pages, testInfo)
	if err != nil {
		t.Fatal(err)
	}
	nilSigner, err := Paint(pages, testInfo, Sign(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain, nilSigner) {
		t.Error("Sign(nil) changed the output")
	}
	for _, s := range []string{"/AcroForm", "/Sig", "/Annots", "/ByteRange"} {
		if bytes.Contains(plain, []byte(s)) {
			t.Errorf("unsigned PDF contains %s", s)
		}
	}
}
