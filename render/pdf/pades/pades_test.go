package pades

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/foliohealth/folio/internal/testutil"
)

// cms writes a signature value and its content into a directory and runs
// openssl cms with args there ("sig.der", "content" and "ca.pem" name
// them).
func cms(t *testing.T, sig, content, caPEM []byte, args ...string) (string, error) {
	t.Helper()
	testutil.NeedTools(t, "openssl")
	dir := t.TempDir()
	for name, data := range map[string][]byte{"sig.der": sig, "content": content, "ca.pem": caPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("openssl", append([]string{"cms"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestSignVerifies checks a signature value with openssl: it verifies
// against the CA for its content only, has the signed attributes PAdES
// B-B asks for and no signing-time, and is the same every time.
func TestSignVerifies(t *testing.T) {
	content := []byte("%PDF-1.4 stands in for the signed byte ranges")
	for _, kind := range []string{"rsa2048", "rsa3072", "p256"} {
		t.Run(kind, func(t *testing.T) {
			pki := testutil.MakeSigningPKI(t, kind)
			s, err := New(pki.Key, pki.Chain, "Befundfreigabe", "Hamburg")
			if err != nil {
				t.Fatal(err)
			}
			sig, err := s.Sign(content[:10], content[10:])
			if err != nil {
				t.Fatal(err)
			}
			if len(sig) > s.Size() {
				t.Errorf("signature value of %d bytes, Size says at most %d", len(sig), s.Size())
			}
			if _, ok := pki.Key.(*rsa.PrivateKey); ok && len(sig) != s.Size() {
				t.Errorf("RSA signature value of %d bytes, Size %d: RSA signatures have one size", len(sig), s.Size())
			}
			for i := 0; i < 3; i++ {
				again, err := s.Sign(content)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(again, sig) {
					t.Fatal("signing the same content again gave other bytes")
				}
			}
			verify := []string{"-verify", "-binary", "-inform", "DER", "-in", "sig.der", "-content", "content", "-CAfile", "ca.pem", "-out", os.DevNull}
			if out, err := cms(t, sig, content, pki.CAPEM, verify...); err != nil || !strings.Contains(out, "Verification successful") {
				t.Errorf("openssl cms -verify: %v\n%s", err, out)
			}
			changed := bytes.Clone(content)
			changed[3] ^= 1
			if out, err := cms(t, sig, changed, pki.CAPEM, verify...); err == nil {
				t.Errorf("openssl cms -verify accepted changed content:\n%s", out)
			}
			if out, err := cms(t, sig, content, testutil.MakeSigningPKI(t, kind).CAPEM, verify...); err == nil {
				t.Errorf("openssl cms -verify accepted another CA:\n%s", out)
			}

			printed, err := cms(t, sig, content, pki.CAPEM, "-cmsout", "-print", "-inform", "DER", "-in", "sig.der")
			if err != nil {
				t.Fatalf("openssl cms -cmsout -print: %v\n%s", err, printed)
			}
			for _, want := range []string{
				"contentType: pkcs7-signedData",
				"eContentType: pkcs7-data",
				"eContent: <ABSENT>", // detached
				"object: contentType (1.2.840.113549.1.9.3)",
				"object: messageDigest (1.2.840.113549.1.9.4)",
				"object: id-smime-aa-signingCertificateV2 (1.2.840.113549.1.9.16.2.47)",
				"algorithm: sha256 (2.16.840.1.101.3.4.2.1)",
			} {
				if !strings.Contains(printed, want) {
					t.Errorf("openssl cms -print lacks %q", want)
				}
			}
			if strings.Contains(printed, "signingTime") {
				t.Error("signed attributes have signing-time (EN 319 142-1 forbids it in PAdES; the time is /M)")
			}
			checkESS(t, sig, pki.Chain[0])
		})
	}
}

// checkESS reads the signing-certificate-v2 attribute back: one
// ESSCertIDv2 with the SHA-256 of the signing certificate, hashAlgorithm
// left out (its DEFAULT is SHA-256) and no issuerSerial.
func checkESS(t *testing.T, sig []byte, cert *x509.Certificate) {
	t.Helper()
	i := bytes.Index(sig, oidSigningCertificateV2)
	if i < 2 {
		t.Fatal("no signing-certificate-v2 attribute")
	}
	s := cryptobyte.String(sig[i+len(oidSigningCertificateV2):])
	var set, scv2, certs, id, hash cryptobyte.String
	if !s.ReadASN1(&set, cbasn1.SET) || !set.ReadASN1(&scv2, cbasn1.SEQUENCE) || !set.Empty() ||
		!scv2.ReadASN1(&certs, cbasn1.SEQUENCE) || !scv2.Empty() ||
		!certs.ReadASN1(&id, cbasn1.SEQUENCE) || !certs.Empty() ||
		!id.ReadASN1(&hash, cbasn1.OCTET_STRING) || !id.Empty() {
		t.Fatal("signing-certificate-v2 is not SET { SEQUENCE { SEQUENCE { SEQUENCE { OCTET STRING } } } }")
	}
	want := sha256.Sum256(cert.Raw)
	if !bytes.Equal(hash, want[:]) {
		t.Errorf("ESS certHash %x, want the SHA-256 of the signing certificate %x", []byte(hash), want)
	}
}

// TestECDSAIsRFC6979 checks the call Sign makes for an ECDSA key (Sign
// with a nil random source and crypto.SHA256) against the P-256/SHA-256
// vector of RFC 6979, A.2.5, message "sample": deterministic ECDSA, not
// merely repeatable.
func TestECDSAIsRFC6979(t *testing.T) {
	d, _ := hex.DecodeString("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721")
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte("sample"))
	sig, err := crypto.Signer(key).Sign(nil, h[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	var r, s big.Int
	in := cryptobyte.String(sig)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) {
		t.Fatal("signature is not an ECDSA-Sig-Value")
	}
	wantR, _ := new(big.Int).SetString("EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716", 16)
	wantS, _ := new(big.Int).SetString("F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8", 16)
	if r.Cmp(wantR) != 0 || s.Cmp(wantS) != 0 {
		t.Errorf("r, s = %X, %X; RFC 6979 A.2.5 says %X, %X", &r, &s, wantR, wantS)
	}
}

// TestNewRefuses checks the keys and chains New refuses, each with an
// error that says why.
func TestNewRefuses(t *testing.T) {
	good := testutil.MakeSigningPKI(t, "p256")
	other := testutil.MakeSigningPKI(t, "p256")
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// A certificate whose key usage allows only certificate signing.
	caOnly := &x509.Certificate{
		SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "cert signing only"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, caOnly, caOnly, good.Key.Public(), good.Key)
	if err != nil {
		t.Fatal(err)
	}
	caOnlyCert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		key   crypto.Signer
		chain []*x509.Certificate
		isKey bool
		want  string
	}{
		{"no key", nil, good.Chain, true, "no key"},
		{"no certificate", good.Key, nil, false, "no certificate"},
		{"RSA 1024", rsa1024, good.Chain, true, "1024 bits"},
		{"P-384", p384, good.Chain, true, "P-384"},
		{"Ed25519", edKey, good.Chain, true, "ed25519"},
		{"another key", other.Key, good.Chain, true, "not the certificate's"},
		{"chain out of order", good.Key, []*x509.Certificate{good.Chain[0], other.CA}, false, "is not issued by certificate 1"},
		{"key usage", good.Key, []*x509.Certificate{caOnlyCert}, false, "key usage"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := New(c.key, c.chain, "r", "l")
			if err == nil {
				t.Fatalf("New accepted it (%v)", s)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			if errors.Is(err, ErrKey) != c.isKey {
				t.Errorf("errors.Is(%v, ErrKey) = %v", err, !c.isKey)
			}
		})
	}
	// The chain may end below the root, or be the signing certificate
	// alone.
	if _, err := New(good.Key, good.Chain[:1], "", ""); err != nil {
		t.Errorf("signing certificate alone: %v", err)
	}
}

// TestName checks that the signer's name is the certificate's common name.
func TestName(t *testing.T) {
	pki := testutil.MakeSigningPKI(t, "p256")
	s, err := New(pki.Key, pki.Chain, "Befundfreigabe", "Hamburg")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "Institut für Pathologie, Klinikum Nord" || s.Reason() != "Befundfreigabe" || s.Location() != "Hamburg" {
		t.Errorf("Name, Reason, Location = %q, %q, %q", s.Name(), s.Reason(), s.Location())
	}
	if s.Certificate() != pki.Chain[0] {
		t.Error("Certificate is not the signing certificate")
	}
	// Printing a Signer, or a struct holding one, never prints the key.
	d := pki.Key.(*ecdsa.PrivateKey).D
	holder := struct{ S *Signer }{s}
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s), fmt.Sprintf("%+v", holder), fmt.Sprintf("%v", holder)} {
		if strings.Contains(out, d.String()) || strings.Contains(out, d.Text(16)) || !strings.Contains(out, "Klinikum Nord") {
			t.Errorf("printed %q", out)
		}
	}
}

// BenchmarkSign measures one signature value over 30 KB of content (a
// two-page report's size): hashing, signed attributes, the signature and
// the SignedData. cpu-ns/op is the process's CPU time per signature
// (getrusage), the figure that holds on a shared machine.
func BenchmarkSign(b *testing.B) {
	content := bytes.Repeat([]byte("folio "), 5000)
	for _, kind := range []string{"rsa2048", "p256"} {
		b.Run(kind, func(b *testing.B) {
			pki := testutil.MakeSigningPKI(b, kind)
			s, err := New(pki.Key, pki.Chain, "Befundfreigabe", "Hamburg")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var ru0, ru1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			for b.Loop() { // the timer starts here, after the key is made
				if _, err := s.Sign(content); err != nil {
					b.Fatal(err)
				}
			}
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			cpu := ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano()
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// TestSignConcurrently shares one Signer between goroutines (as workers
// do): every signature is the same.
func TestSignConcurrently(t *testing.T) {
	for _, kind := range []string{"rsa2048", "p256"} {
		pki := testutil.MakeSigningPKI(t, kind)
		s, err := New(pki.Key, pki.Chain, "", "")
		if err != nil {
			t.Fatal(err)
		}
		want, err := s.Sign([]byte("content"))
		if err != nil {
			t.Fatal(err)
		}
		got := make([][]byte, 8)
		var wg sync.WaitGroup
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i], _ = s.Sign([]byte("content"))
			}()
		}
		wg.Wait()
		for i, g := range got {
			if !bytes.Equal(g, want) {
				t.Errorf("%s: goroutine %d signed differently", kind, i)
			}
		}
	}
}
