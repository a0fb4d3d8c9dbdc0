package profile

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"

	"github.com/foliohealth/folio/render/pdf/pades"
)

// maxKeyBytes bounds the key and certificate files.
const maxKeyBytes = 256 << 10

// signature reads the signing key and chain. Errors name the field and
// never quote the key file's content.
func (c *checker) signature(s *fileSignature) *Signature {
	c.text("signature.reason", s.Reason, maxText)
	c.text("signature.location", s.Location, maxText)
	if s.Key == "" {
		c.fail("signature.key", "required: the PEM private key file")
	}
	if s.Certificates == "" {
		c.fail("signature.certificates", "required: the PEM certificate chain file")
	}
	if s.Key == "" || s.Certificates == "" {
		return nil
	}
	signer := c.key(s.Key)
	chain := c.chain(s.Certificates)
	if signer == nil || chain == nil {
		return nil
	}
	if !samePublic(signer.Public(), chain[0].PublicKey) {
		c.fail("signature.certificates", "%s: the first certificate is not for the key in %s", s.Certificates, s.Key)
		return nil
	}
	// The PAdES signer is made once, here: what it refuses (a chain out
	// of order, a certificate whose key usage forbids signing) fails the
	// profile at load rather than every report at render.
	ps, err := pades.New(signer, chain, s.Reason, s.Location)
	if err != nil {
		field, file := "signature.certificates", s.Certificates
		if errors.Is(err, pades.ErrKey) {
			field, file = "signature.key", s.Key
		}
		c.fail(field, "%s: %v", file, err)
		return nil
	}
	return &Signature{Signer: signer, Certificates: chain, Reason: s.Reason, Location: s.Location, pades: ps}
}

func (c *checker) key(name string) crypto.Signer {
	const path = "signature.key"
	full, ok := c.rel(path, name)
	if !ok {
		return nil
	}
	st, err := fs.Stat(c.fsys, full)
	if err != nil {
		c.fail(path, "%s: no such file", name)
		return nil
	}
	if st.Mode().Perm()&0o077 != 0 {
		c.fail(path, "%s: mode %04o lets others read the private key: chmod 600 it", name, st.Mode().Perm())
		return nil
	}
	data, err := c.read(full, maxKeyBytes)
	if err != nil {
		c.fail(path, "%s: %v", name, err)
		return nil
	}
	var blk *pem.Block
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "PRIVATE KEY" || b.Type == "RSA PRIVATE KEY" || b.Type == "EC PRIVATE KEY" {
			blk = b
			break
		}
	}
	if blk == nil {
		c.fail(path, "%s: no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) in the file", name)
		return nil
	}
	if len(blk.Headers) > 0 {
		c.fail(path, "%s: an encrypted PEM key is not taken: store it unencrypted with mode 0600", name)
		return nil
	}
	var k any
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	default:
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	}
	if err != nil {
		// err from crypto/x509 describes the structure, not the key.
		c.fail(path, "%s: the private key does not parse", name)
		return nil
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			c.fail(path, "%s: RSA key of %d bits: at least 2048", name, k.N.BitLen())
			return nil
		}
		return k
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			c.fail(path, "%s: ECDSA key on %s: only P-256 is taken", name, k.Curve.Params().Name)
			return nil
		}
		return k
	default:
		c.fail(path, "%s: a %T key: only RSA (2048 bits or more) and ECDSA P-256 are taken", name, k)
		return nil
	}
}

func (c *checker) chain(name string) []*x509.Certificate {
	const path = "signature.certificates"
	full, ok := c.rel(path, name)
	if !ok {
		return nil
	}
	data, err := c.read(full, maxKeyBytes)
	if err != nil {
		c.fail(path, "%s: %v", name, err)
		return nil
	}
	var out []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			c.fail(path, "%s: certificate %d does not parse: %v", name, len(out)+1, err)
			return nil
		}
		out = append(out, cert)
	}
	if len(out) == 0 {
		c.fail(path, "%s: no PEM CERTIFICATE in the file", name)
		return nil
	}
	return out
}

func samePublic(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}
