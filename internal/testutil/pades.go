package testutil

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// SigningPKI is a test certificate authority and a laboratory's signing
// certificate it issued, made by the tests with crypto/x509 (valid
// 2000-2099, so any report's release time falls inside it).
type SigningPKI struct {
	Key   crypto.Signer       // the laboratory's private key
	Chain []*x509.Certificate // the laboratory's certificate, then the CA's
	CA    *x509.Certificate

	KeyPEM, ChainPEM, CAPEM []byte // PKCS #8 key, both certificates, the CA's certificate
}

// MakeSigningPKI makes a SigningPKI whose laboratory key is kind: "rsa2048",
// "rsa3072" or "p256" (the CA's key is ECDSA P-256).
func MakeSigningPKI(t testing.TB, kind string) *SigningPKI {
	t.Helper()
	var key crypto.Signer
	var err error
	switch kind {
	case "rsa2048":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "rsa3072":
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	case "p256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		t.Fatalf("MakeSigningPKI: unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	until := time.Date(2099, 12, 31, 0, 0, 0, 0, time.UTC)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "folio test CA " + kind, Organization: []string{"folio tests"}},
		NotBefore:             from,
		NotAfter:              until,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	labTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(4711),
		Subject: pkix.Name{CommonName: "Institut für Pathologie, Klinikum Nord",
			Organization: []string{"Klinikum Nord"}, Country: []string{"DE"}},
		NotBefore:             from,
		NotAfter:              until,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
	}
	labDER, err := x509.CreateCertificate(rand.Reader, labTmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	lab, err := x509.ParseCertificate(labDER)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := func(c *x509.Certificate) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return &SigningPKI{
		Key: key, Chain: []*x509.Certificate{lab, ca}, CA: ca,
		KeyPEM:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		ChainPEM: append(certPEM(lab), certPEM(ca)...),
		CAPEM:    certPEM(ca),
	}
}

// WriteFiles writes the key (mode 0600), the chain and the CA's
// certificate into dir as signing-key.pem, signing-chain.pem and ca.pem,
// and returns their paths.
func (p *SigningPKI) WriteFiles(t testing.TB, dir string) (key, chain, ca string) {
	t.Helper()
	key, chain, ca = filepath.Join(dir, "signing-key.pem"), filepath.Join(dir, "signing-chain.pem"), filepath.Join(dir, "ca.pem")
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{key, p.KeyPEM, 0o600}, {chain, p.ChainPEM, 0o644}, {ca, p.CAPEM, 0o644}} {
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	return key, chain, ca
}

// NSSDB makes an NSS certificate database (certutil, from Debian's
// libnss3-tools) in a new temporary directory that trusts the CA for
// signing, for pdfsig -nssdir, and returns the directory.
func (p *SigningPKI) NSSDB(t testing.TB) string {
	t.Helper()
	return NSSDB(t, p.CAPEM)
}

// NSSDB makes an NSS certificate database in a new temporary directory
// that trusts the PEM CA certificates given (none: an empty database).
func NSSDB(t testing.TB, cas ...[]byte) string {
	t.Helper()
	NeedTools(t, "certutil")
	dir := t.TempDir()
	cmds := [][]string{{"-N", "-d", "sql:" + dir, "--empty-password"}}
	for i, ca := range cas {
		f := filepath.Join(dir, fmt.Sprintf("ca%d.pem", i))
		if err := os.WriteFile(f, ca, 0o644); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, []string{"-A", "-d", "sql:" + dir, "-n", fmt.Sprintf("folio-test-ca-%d", i), "-t", "CT,C,C", "-a", "-i", f})
	}
	for _, args := range cmds {
		if out, err := exec.Command("certutil", args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

// PDFSig runs poppler's pdfsig on the PDF at path with the NSS database
// nssdir (empty: pdfsig's default), in UTC, and returns its output,
// whatever its exit status.
func PDFSig(t testing.TB, path, nssdir string) string {
	t.Helper()
	NeedTools(t, "pdfsig")
	args := []string{}
	if nssdir != "" {
		args = append(args, "-nssdir", "sql:"+nssdir)
	}
	cmd := exec.Command("pdfsig", append(args, path)...)
	cmd.Env = append(os.Environ(), "TZ=UTC") // "Signing Time" in UTC
	out, _ := cmd.CombinedOutput()
	return string(out)
}

var byteRangeRE = regexp.MustCompile(`/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]`)

// SignedParts returns the signed bytes of a PDF with one signature (its
// /ByteRange ranges, concatenated) and the DER signature value in its
// /Contents, trailing zero padding cut off. It stops the test when the
// PDF has no /ByteRange or the ranges do not fit the file.
func SignedParts(t testing.TB, pdf []byte) (content, der []byte) {
	t.Helper()
	ms := byteRangeRE.FindAllSubmatch(pdf, -1)
	if len(ms) != 1 {
		t.Fatalf("%d /ByteRange entries, want 1", len(ms))
	}
	var r [4]int
	for i := range r {
		n, err := strconv.Atoi(string(ms[0][i+1]))
		if err != nil {
			t.Fatal(err)
		}
		r[i] = n
	}
	if r[0] != 0 || r[1] >= r[2] || r[2]+r[3] != len(pdf) {
		t.Fatalf("/ByteRange %v does not cover a %d-byte file but for one gap", r, len(pdf))
	}
	gap := pdf[r[1]:r[2]]
	if len(gap) < 2 || gap[0] != '<' || gap[len(gap)-1] != '>' {
		t.Fatalf("the /ByteRange gap is not a hex string: %.20q...", gap)
	}
	raw := make([]byte, hex.DecodedLen(len(gap)-2))
	if _, err := hex.Decode(raw, gap[1:len(gap)-1]); err != nil {
		t.Fatalf("/Contents: %v", err)
	}
	s := cryptobyte.String(raw)
	var elem cryptobyte.String
	if !s.ReadAnyASN1Element(&elem, nil) {
		t.Fatalf("/Contents does not start with a DER element")
	}
	if len(bytes.Trim(s, "\x00")) != 0 {
		t.Fatalf("/Contents has %d bytes after its DER element that are not zero padding", len(s))
	}
	content = append(append([]byte{}, pdf[:r[1]]...), pdf[r[2]:]...)
	return content, elem
}

// CMSVerify checks the signature of a signed PDF with `openssl cms
// -verify` against the CA only (the content being the PDF's signed byte
// ranges) and returns openssl's output and whether it verified.
func (p *SigningPKI) CMSVerify(t testing.TB, pdf []byte) (string, bool) {
	t.Helper()
	NeedTools(t, "openssl")
	content, der := SignedParts(t, pdf)
	dir := t.TempDir()
	files := map[string][]byte{"content": content, "sig.der": der, "ca.pem": p.CAPEM}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "sig.der",
		"-content", "content", "-CAfile", "ca.pem", "-out", os.DevNull)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}
