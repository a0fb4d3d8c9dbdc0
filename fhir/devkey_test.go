package fhir

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDevKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, _, err := LoadDevKey(dir, false); err == nil || !strings.Contains(err.Error(), "no development signing key") {
		t.Fatalf("load without key: %v", err)
	}
	k, created, err := LoadDevKey(dir, true)
	if err != nil || !created {
		t.Fatalf("create: %v created=%v", err, created)
	}
	fi, err := os.Stat(filepath.Join(dir, DevKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", fi.Mode().Perm(), err)
	}
	k2, created, err := LoadDevKey(dir, true)
	if err != nil || created {
		t.Fatalf("second start: %v created=%v", err, created)
	}
	tok, err := k.Mint(TokenRequest{Scope: "user/Binary.read  user/DocumentReference.read", TTL: time.Minute, Patient: "pt-1"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := k2.Verifier().Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("token from the same key file refused: %v", err)
	}
	if c.Scope != "user/Binary.read user/DocumentReference.read" || c.Patient != "pt-1" || c.Subject != "folio-dev" {
		t.Errorf("claims %+v", c)
	}
	if _, err := k.Mint(TokenRequest{Scope: "user/Binary.read", Patient: "../x"}); err == nil {
		t.Error("bad patient id minted")
	}
	// A key made elsewhere does not verify.
	other, _, err := LoadDevKey(t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Verifier().Verify(context.Background(), tok); err == nil {
		t.Error("token verified by another key")
	}
	os.Chmod(filepath.Join(dir, DevKeyFile), 0o644)
	if _, _, err := LoadDevKey(dir, false); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key accepted: %v", err)
	}
}
