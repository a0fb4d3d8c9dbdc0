package profile_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foliohealth/folio/profile"
)

const dir = "../fixtures/profiles"

func TestFixturesLoad(t *testing.T) {
	set, err := profile.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range set.Profiles() {
		ids = append(ids, p.ID)
	}
	want := "gulf-specialty-pathology hopital-nord-anapath klinikum-nord-pathologie lakeside-us"
	if got := strings.Join(ids, " "); got != want {
		t.Fatalf("ids in file-name order: %s, want %s", got, want)
	}
	de := set.Get("klinikum-nord-pathologie")
	if de.Paper != "a4" || de.Language != "de" || de.Zone.String() != "Europe/Berlin" || de.Letterhead.Logo == nil || len(de.Letterhead.Lines) != 3 {
		t.Fatalf("klinikum-nord: %+v", de)
	}
	// The logo is flattened onto white: no pixel is transparent.
	b := de.Letterhead.Logo.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if _, _, _, a := de.Letterhead.Logo.At(x, y).RGBA(); a != 0xFFFF {
				t.Fatalf("logo pixel (%d,%d) has alpha %d", x, y, a)
			}
		}
	}
	if *de.Accent != (profile.RGB{0x1F, 0x4E, 0x79}) {
		t.Errorf("accent %v", de.Accent)
	}
	// The digest is documented: SHA-256 over the canonical JSON and then
	// the logo's bytes.
	logo, err := os.ReadFile(filepath.Join(dir, "klinikum-nord.png"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append(de.Canonical(), logo...))
	if want := "sha256:" + hex.EncodeToString(sum[:]); de.Digest != want {
		t.Errorf("digest %s, want %s", de.Digest, want)
	}
	if !bytes.HasPrefix(de.Canonical(), []byte(`{"schema":"folio.profile/v1","id":"klinikum-nord-pathologie","match":`)) {
		t.Errorf("canonical JSON: %s", de.Canonical())
	}
	if us := set.Get("lakeside-us"); !us.Default || us.Laboratory.IDs[0].Value != "23D0987654" || us.Letterhead.LogoType != "image/jpeg" {
		t.Errorf("lakeside-us: %+v", us)
	}
}

// The digest follows the profile's content, not its layout in the file.
func TestDigest(t *testing.T) {
	a, err := profile.Parse([]byte(`{"schema":"folio.profile/v1","id":"a","language":"de"}`), ".")
	if err != nil {
		t.Fatal(err)
	}
	b, err := profile.Parse([]byte("{\n  \"language\": \"de\",\n  \"id\": \"a\",\n  \"schema\": \"folio.profile/v1\"\n}\n"), ".")
	if err != nil {
		t.Fatal(err)
	}
	c, err := profile.Parse([]byte(`{"schema":"folio.profile/v1","id":"a","language":"fr"}`), ".")
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != b.Digest || a.Digest == c.Digest || !strings.HasPrefix(a.Digest, "sha256:") || len(a.Digest) != 7+64 {
		t.Errorf("digests %s %s %s", a.Digest, b.Digest, c.Digest)
	}
}

func TestSelect(t *testing.T) {
	set, err := profile.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sub  profile.Subject
		want string
	}{
		{profile.Subject{Facility: "Klinikum Nord, Institut für Pathologie"}, "klinikum-nord-pathologie"},
		{profile.Subject{Facility: "HOPNORD", SendingFacility: "HOPNORD"}, "hopital-nord-anapath"},
		{profile.Subject{Organizations: []string{"urn:oid:1.2.3|9"}}, "lakeside-us"},
		{profile.Subject{}, "lakeside-us"},
	} {
		if got := set.Select(c.sub); got == nil || got.ID != c.want {
			t.Errorf("Select(%+v) = %v, want %s", c.sub, got, c.want)
		}
	}
	if p, err := set.Pick("hopital-nord-anapath", profile.Subject{}); err != nil || p.ID != "hopital-nord-anapath" {
		t.Errorf("Pick by id: %v %v", p, err)
	}
	if _, err := set.Pick("nowhere", profile.Subject{}); err == nil || !strings.Contains(err.Error(), `"nowhere"`) {
		t.Errorf("Pick of an unknown id: %v", err)
	}
	// Without a default nothing is chosen: the built-in look.
	org, err := profile.Parse([]byte(`{"schema":"folio.profile/v1","id":"o","match":{"organizations":["urn:oid:1.2.276.0.76.4.8|260100001","Klinik Süd"]}}`), ".")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := profile.NewSet(org)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Select(profile.Subject{}) != nil || s2.Select(profile.Subject{Organizations: []string{"Klinik Süd"}}) != org {
		t.Error("organization match or no default")
	}
}

// TestBad loads every profile under bad/ and checks the error it gets
// against the .err file beside it.
func TestBad(t *testing.T) {
	errs, err := filepath.Glob(filepath.Join(dir, "bad", "*.err"))
	if err != nil || len(errs) < 10 {
		t.Fatalf("%d .err files: %v", len(errs), err)
	}
	for _, ef := range errs {
		name := strings.TrimSuffix(ef, ".err")
		t.Run(filepath.Base(name), func(t *testing.T) {
			want, err := os.ReadFile(ef)
			if err != nil {
				t.Fatal(err)
			}
			if st, serr := os.Stat(name); serr == nil && st.IsDir() {
				_, err = profile.LoadDir(name)
			} else {
				_, err = profile.Load(name + ".json")
			}
			if err == nil {
				t.Fatal("loaded")
			}
			if w := strings.TrimSpace(string(want)); !strings.Contains(err.Error(), w) {
				t.Errorf("error\n%v\nwant it to contain\n%s", err, w)
			}
		})
	}
}

func TestLogoBytesLimit(t *testing.T) {
	d := t.TempDir()
	logo, err := os.ReadFile(filepath.Join(dir, "klinikum-nord.png"))
	if err != nil {
		t.Fatal(err)
	}
	// A valid PNG padded past 2 MiB (data after IEND).
	logo = append(logo, make([]byte, profile.MaxLogoBytes)...)
	write(t, filepath.Join(d, "big.png"), logo, 0o644)
	write(t, filepath.Join(d, "p.json"), []byte(`{"schema":"folio.profile/v1","id":"p","letterhead":{"logo":"big.png"}}`), 0o644)
	_, err = profile.Load(filepath.Join(d, "p.json"))
	if err == nil || !strings.Contains(err.Error(), "letterhead.logo: big.png: 2097719 bytes: at most 2097152") {
		t.Fatalf("got %v", err)
	}
}

func write(t *testing.T, path string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// keyPair writes key.pem (mode) and chain.pem, a self-signed certificate
// for cert's key (the key itself when cert is nil), into d.
func keyPair(t *testing.T, d string, key any, certKey any, mode os.FileMode) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(d, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), mode)
	if certKey == nil {
		certKey = key
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "Klinikum Nord Befundfreigabe"},
		NotBefore:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	var pub any
	switch k := certKey.(type) {
	case *ecdsa.PrivateKey:
		pub = k.Public()
	case *rsa.PrivateKey:
		pub = k.Public()
	}
	cder, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, certKey)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(d, "chain.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cder}), 0o644)
	write(t, filepath.Join(d, "p.json"), []byte(`{"schema":"folio.profile/v1","id":"p","signature":{"key":"key.pem","certificates":"chain.pem","reason":"Befundfreigabe","location":"Hamburg"}}`), 0o644)
}

func TestSignature(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d := t.TempDir()
	keyPair(t, d, ec, nil, 0o600)
	p, err := profile.Load(filepath.Join(d, "p.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := p.Signature
	if s == nil || !ec.PublicKey.Equal(s.Signer.Public()) || len(s.Certificates) != 1 || s.Reason != "Befundfreigabe" || s.Location != "Hamburg" {
		t.Fatalf("signature %v", s)
	}
	// Printing the profile or the signature never prints the key.
	d0 := ec.D.String()
	keyPEM, err := os.ReadFile(filepath.Join(d, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	// The key's bytes as fmt would print a []byte.
	asBytes := strings.Trim(fmt.Sprint(keyPEM[:16]), "[]")
	for _, out := range []string{fmt.Sprint(s), fmt.Sprint(p), fmt.Sprintf("%v", p), fmt.Sprintf("%+v", p), fmt.Sprintf("%#v", p), fmt.Sprintf("%#v", s), fmt.Sprintf("%+v", s), fmt.Sprintf("%v", *p), fmt.Sprintf("%+v", []*profile.Profile{p})} {
		if strings.Contains(out, d0) || strings.Contains(out, "PRIVATE") || strings.Contains(out, asBytes) || strings.Contains(out, fmt.Sprintf("%x", keyPEM[:16])) {
			t.Errorf("printed the key: %.300s", out)
		}
	}

	cases := []struct {
		name string
		key  any
		cert any
		mode os.FileMode
		want string
	}{
		{"group-readable", ec, nil, 0o640, "signature.key: key.pem: mode 0640 lets others read the private key"},
		{"world-readable", ec, nil, 0o604, "signature.key: key.pem: mode 0604"},
		{"rsa-1024", rsaKey(t, 1024), nil, 0o600, "signature.key: key.pem: RSA key of 1024 bits: at least 2048"},
		{"p384", ecKey(t, elliptic.P384()), nil, 0o600, "signature.key: key.pem: ECDSA key on P-384: only P-256 is taken"},
		{"other-cert", ec, ecKey(t, elliptic.P256()), 0o600, "signature.certificates: chain.pem: the first certificate is not for the key in key.pem"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := t.TempDir()
			keyPair(t, d, c.key, c.cert, c.mode)
			_, err := profile.Load(filepath.Join(d, "p.json"))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %s", err, c.want)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY-----") {
				t.Errorf("error quotes the key: %v", err)
			}
		})
	}
	// The bundle NATS keeps carries the key and chain and loads to the
	// same signer and digest; printing it shows no key.
	b, err := p.Bundle()
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Files["key.pem"]) == 0 || len(b.Files["chain.pem"]) == 0 {
		t.Fatalf("bundle files: %v", b)
	}
	for _, out := range []string{fmt.Sprint(b), fmt.Sprintf("%v", b), fmt.Sprintf("%#v", b), fmt.Sprintf("%+v", b)} {
		if strings.Contains(out, "PRIVATE") || strings.Contains(out, d0) {
			t.Errorf("printed the bundle's key: %s", out)
		}
	}
	q, err := profile.LoadBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	if q.Digest != p.Digest || !ec.PublicKey.Equal(q.Signature.Signer.Public()) {
		t.Errorf("bundle: digest %s (want %s) or signer differs", q.Digest, p.Digest)
	}
	// The digest covers the certificate (the key's public part), not the
	// private key: it is the canonical JSON, no logo, then the chain's DER.
	sum := sha256.Sum256(append(p.Canonical(), p.Signature.Certificates[0].Raw...))
	if want := "sha256:" + hex.EncodeToString(sum[:]); p.Digest != want {
		t.Errorf("digest %s, want %s", p.Digest, want)
	}

	// An RSA 2048 key is taken.
	d2 := t.TempDir()
	rk := rsaKey(t, 2048)
	keyPair(t, d2, rk, nil, 0o600)
	if p, err := profile.Load(filepath.Join(d2, "p.json")); err != nil || !rk.PublicKey.Equal(p.Signature.Signer.Public()) {
		t.Fatalf("RSA 2048: %v", err)
	}
}

func rsaKey(t *testing.T, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestContrast(t *testing.T) {
	white := profile.RGB{255, 255, 255}
	for _, c := range []struct {
		c    profile.RGB
		want float64
	}{{profile.RGB{0, 0, 0}, 21}, {white, 1}, {profile.RGB{0x76, 0x76, 0x76}, 4.54}} {
		if got := profile.Contrast(c.c, white); got < c.want-0.01 || got > c.want+0.01 {
			t.Errorf("contrast %v = %.3f, want %.2f", c.c, got, c.want)
		}
	}
}

// A bundle (what NATS keeps) loads to the same profile and digest.
func TestBundle(t *testing.T) {
	set, err := profile.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range set.Profiles() {
		b, err := p.Bundle()
		if err != nil {
			t.Fatal(err)
		}
		q, err := profile.LoadBundle(b)
		if err != nil {
			t.Fatalf("%s: %v", p.ID, err)
		}
		if q.ID != p.ID || q.Digest != p.Digest || q.File != filepath.Base(p.File) {
			t.Errorf("%s: bundle gives %s %s %s", p.ID, q.ID, q.Digest, q.File)
		}
	}
	// A bundle without its logo is refused like a file without it.
	b, _ := set.Get("klinikum-nord-pathologie").Bundle()
	b.Files = nil
	if _, err := profile.LoadBundle(b); err == nil || !strings.Contains(err.Error(), "letterhead.logo: klinikum-nord.png: no such file") {
		t.Errorf("bundle without logo: %v", err)
	}
}
