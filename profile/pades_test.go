package profile_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/profile"
)

// TestSignaturePAdES checks that loading a profile makes its PAdES signer
// (named after the certificate, with the profile's reason and location)
// and refuses at load what the signer cannot sign with: a chain whose
// second certificate did not issue the first.
func TestSignaturePAdES(t *testing.T) {
	pki := testutil.MakeSigningPKI(t, "rsa2048")
	other := testutil.MakeSigningPKI(t, "rsa2048")
	prof := `{"schema":"folio.profile/v1","id":"p","signature":{"key":"signing-key.pem","certificates":"signing-chain.pem","reason":"Befundfreigabe","location":"Hamburg"}}`
	d := t.TempDir()
	pki.WriteFiles(t, d)
	write(t, filepath.Join(d, "p.json"), []byte(prof), 0o644)
	p, err := profile.Load(filepath.Join(d, "p.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := p.Signature.PAdES()
	if s == nil || s.Name() != pki.Chain[0].Subject.CommonName || s.Reason() != "Befundfreigabe" || s.Location() != "Hamburg" {
		t.Fatalf("PAdES signer %v", s)
	}
	if (*profile.Signature)(nil).PAdES() != nil {
		t.Error("a profile without signature has a signer")
	}

	// The laboratory's certificate followed by another CA's.
	bad := t.TempDir()
	pki.WriteFiles(t, bad)
	chain := append(append([]byte{}, pki.ChainPEM[:len(pki.ChainPEM)-len(pki.CAPEM)]...), other.CAPEM...)
	if err := os.WriteFile(filepath.Join(bad, "signing-chain.pem"), chain, 0o644); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(bad, "p.json"), []byte(prof), 0o644)
	_, err = profile.Load(filepath.Join(bad, "p.json"))
	if err == nil || !strings.Contains(err.Error(), "signature.certificates: signing-chain.pem: pades: certificate 0") ||
		!strings.Contains(err.Error(), "is not issued by certificate 1") {
		t.Errorf("chain out of order: %v", err)
	}
}
