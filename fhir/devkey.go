package fhir

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Development-mode token issuer and audience: what `folio token` mints and
// the endpoint accepts when no --jwks-url is given.
const (
	DevIssuer   = "urn:folio:dev"
	DevAudience = "urn:folio:fhir"
)

// DevKeyFile is the name of the development signing key in the data
// directory.
const DevKeyFile = "dev-signing-key.json"

// DevKey is the development-mode ES256 signing key, kept as a private JWK
// in the data directory (mode 0600).
type DevKey struct {
	priv jwk.Key
	pub  jwk.Set
	Path string // the key file
}

// LoadDevKey reads dir/DevKeyFile; with create it first makes one when none
// exists. created reports whether this call made it. A key file readable
// by group or others is refused.
func LoadDevKey(dir string, create bool) (k *DevKey, created bool, err error) {
	path := filepath.Join(dir, DevKeyFile)
	if create {
		if created, err = createDevKey(dir, path); err != nil {
			return nil, false, err
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, fmt.Errorf("fhir: no development signing key at %s: start `folio serve` or `folio api` with --data %s first", path, dir)
		}
		return nil, false, fmt.Errorf("fhir: dev key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, false, fmt.Errorf("fhir: dev key %s: mode %v lets others read it; chmod 600 it", path, fi.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, false, fmt.Errorf("fhir: dev key: %w", err)
	}
	priv, err := jwk.ParseKey(raw)
	if err != nil {
		return nil, false, fmt.Errorf("fhir: dev key %s: %w", path, err)
	}
	if priv.KeyType() != jwa.EC() {
		return nil, false, fmt.Errorf("fhir: dev key %s: want an EC P-256 key, got %s", path, priv.KeyType())
	}
	pub, err := priv.PublicKey()
	if err != nil {
		return nil, false, fmt.Errorf("fhir: dev key %s: %w", path, err)
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		return nil, false, err
	}
	return &DevKey{priv: priv, pub: set, Path: path}, created, nil
}

// createDevKey writes a new key unless one exists, without ever
// overwriting: the key goes to a temporary file that is then hard-linked
// into place, which fails if another process got there first.
func createDevKey(dir, path string) (bool, error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("fhir: dev key: %w", err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return false, err
	}
	key, err := jwk.Import(ec)
	if err != nil {
		return false, err
	}
	if err := jwk.AssignKeyID(key); err != nil {
		return false, err
	}
	key.Set(jwk.AlgorithmKey, jwa.ES256())
	key.Set(jwk.KeyUsageKey, "sig")
	raw, err := jsonMarshal(key)
	if err != nil {
		return false, err
	}
	tmp, err := os.CreateTemp(dir, ".dev-signing-key-*")
	if err != nil {
		return false, fmt.Errorf("fhir: dev key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return false, err
	}
	if _, err := tmp.Write(append(raw, '\n')); err != nil {
		tmp.Close()
		return false, fmt.Errorf("fhir: dev key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("fhir: dev key: %w", err)
	}
	return true, nil
}

// Keys returns the public key set that verifies the key's tokens.
func (k *DevKey) Keys() KeySource { return StaticKeys(k.pub) }

// Verifier returns a Verifier for development-mode tokens.
func (k *DevKey) Verifier() *Verifier { return NewVerifier(k.Keys(), DevIssuer, DevAudience) }

// TokenRequest describes a development token.
type TokenRequest struct {
	Scope   string        // space-separated SMART scopes
	Subject string        // sub (default "folio-dev")
	TTL     time.Duration // lifetime (default 1 h)
	Patient string        // "patient" claim, for patient/ scopes
}

// Mint returns a signed development token.
func (k *DevKey) Mint(req TokenRequest) (string, error) {
	if strings.TrimSpace(req.Scope) == "" {
		return "", errors.New("fhir: token: scope is empty")
	}
	if req.Subject == "" {
		req.Subject = "folio-dev"
	}
	if req.TTL <= 0 {
		req.TTL = time.Hour
	}
	if req.Patient != "" {
		if err := checkID(req.Patient); err != nil {
			return "", fmt.Errorf("fhir: token: patient: %v", err)
		}
	}
	var jti [12]byte
	rand.Read(jti[:])
	now := time.Now()
	b := jwt.NewBuilder().
		Issuer(DevIssuer).
		Audience([]string{DevAudience}).
		Subject(req.Subject).
		IssuedAt(now).
		NotBefore(now).
		Expiration(now.Add(req.TTL)).
		JwtID(hex.EncodeToString(jti[:])).
		Claim("scope", strings.Join(strings.Fields(req.Scope), " "))
	if req.Patient != "" {
		b = b.Claim("patient", req.Patient)
	}
	tok, err := b.Build()
	if err != nil {
		return "", err
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256(), k.priv))
	if err != nil {
		return "", fmt.Errorf("fhir: token: %w", err)
	}
	return string(signed), nil
}
