// Package pades makes the signature value of a PAdES baseline B-B
// signature (ETSI EN 319 142-1): a detached CMS SignedData over a PDF's
// signed byte ranges, with SHA-256 and the ESS signing-certificate-v2
// attribute, made deterministically with a laboratory's RSA or ECDSA P-256
// key.
//
// It knows nothing of PDF syntax: render/pdf writes the signature
// dictionary, reserves Size bytes for the value and hands the byte ranges
// to Sign. It does not time-stamp (B-T and above), check revocation or
// talk to hardware keys (PKCS#11). A Signer may be shared by any number of
// goroutines.
package pades

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Object identifiers (RFC 5652, RFC 5754, RFC 5035, RFC 8017, RFC 5758).
var (
	oidData                 = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01}             // 1.2.840.113549.1.7.1
	oidSignedData           = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02}             // 1.2.840.113549.1.7.2
	oidContentType          = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03}             // 1.2.840.113549.1.9.3
	oidMessageDigest        = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04}             // 1.2.840.113549.1.9.4
	oidSigningCertificateV2 = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x02, 0x2f} // 1.2.840.113549.1.9.16.2.47
	oidSHA256               = []byte{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01}             // 2.16.840.1.101.3.4.2.1
	oidRSAEncryption        = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01}             // 1.2.840.113549.1.1.1
	oidECDSAWithSHA256      = []byte{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}                   // 1.2.840.10045.4.3.2
)

// Filter and SubFilter are the signature dictionary's /Filter and
// /SubFilter for the values Sign makes.
const (
	Filter    = "Adobe.PPKLite"
	SubFilter = "ETSI.CAdES.detached"
)

// ErrKey is wrapped by the errors New returns for a key it cannot sign
// with deterministically, or one that does not match the certificate.
var ErrKey = errors.New("pades: unusable key")

// Signer makes signature values with one key and its certificate chain.
type Signer struct {
	key    crypto.Signer
	chain  []*x509.Certificate
	name   string
	reason string
	loc    string
	rsa    bool
	// DER pieces that are the same for every signature.
	sid     []byte // IssuerAndSerialNumber of the signing certificate
	essAttr []byte // the signing-certificate-v2 Attribute
	sigSize int    // largest signature the key makes
	size    int    // largest value Sign returns
}

// New returns a Signer for key, whose certificate is chain[0]; the rest of
// chain are the certificates that issued it, each issued by the next (the
// root may be left out). reason and location are the signature
// dictionary's /Reason and /Location (either may be empty). The signer's
// name (/Name) is the certificate's subject common name, or its whole
// subject when it has none.
//
// The key must be an *rsa.PrivateKey of at least 2048 bits (signatures are
// RSA PKCS #1 v1.5 with SHA-256, deterministic by construction) or an
// *ecdsa.PrivateKey on P-256 (signatures are ECDSA with SHA-256 and the
// nonce of RFC 6979, so deterministic too): the same document signed twice
// gives the same bytes. Other crypto.Signers (hardware keys) are refused.
func New(key crypto.Signer, chain []*x509.Certificate, reason, location string) (*Signer, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: no key", ErrKey)
	}
	if len(chain) == 0 {
		return nil, errors.New("pades: no certificate")
	}
	for i, c := range chain {
		if c == nil || len(c.Raw) == 0 {
			return nil, fmt.Errorf("pades: certificate %d: empty", i)
		}
	}
	cert := chain[0]
	s := &Signer{key: key, chain: chain, reason: reason, loc: location}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < 2048 {
			return nil, fmt.Errorf("%w: RSA key of %d bits, at least 2048 needed", ErrKey, bits)
		}
		s.rsa = true
		s.sigSize = k.Size()
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: ECDSA key on %s, P-256 needed", ErrKey, k.Curve.Params().Name)
		}
		s.sigSize = 72 // SEQUENCE { INTEGER r, INTEGER s } of 33 bytes each at most
	default:
		return nil, fmt.Errorf("%w: %T: an RSA (2048 bits or more) or ECDSA P-256 private key needed", ErrKey, key)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := key.Public().(equaler); !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%w: the key is not the certificate's (subject %q)", ErrKey, cert.Subject.String())
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return nil, fmt.Errorf("pades: certificate %q: key usage allows neither digitalSignature nor nonRepudiation", cert.Subject.String())
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return nil, fmt.Errorf("pades: certificate %d (%q) is not issued by certificate %d (%q): %w",
				i, chain[i].Subject.String(), i+1, chain[i+1].Subject.String(), err)
		}
	}
	s.name = cert.Subject.CommonName
	if s.name == "" {
		s.name = cert.Subject.String()
	}

	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(cert.RawIssuer)
		b.AddASN1BigInt(cert.SerialNumber)
	})
	sid, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("pades: certificate %q: issuer and serial number: %w", cert.Subject.String(), err)
	}
	s.sid = sid

	// ESS signing-certificate-v2 (RFC 5035): the SHA-256 digest of the
	// signing certificate; hashAlgorithm is left out (SHA-256 is its
	// DEFAULT) and so is issuerSerial (ETSI EN 319 122-1, 6.3 g: should
	// not be included).
	certHash := sha256.Sum256(cert.Raw)
	b = cryptobyte.Builder{}
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // Attribute
		b.AddASN1(asn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidSigningCertificateV2) })
		b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // SigningCertificateV2
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // certs
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // ESSCertIDv2
						b.AddASN1OctetString(certHash[:])
					})
				})
			})
		})
	})
	if s.essAttr, err = b.Bytes(); err != nil {
		return nil, fmt.Errorf("pades: signing-certificate-v2: %w", err)
	}

	// The largest value: a signature of the largest size the key makes
	// (DER lengths only grow with their contents).
	var zero [sha256.Size]byte
	v, err := s.signedData(zero[:], make([]byte, s.sigSize))
	if err != nil {
		return nil, err
	}
	s.size = len(v)
	if s.size > 32767 {
		return nil, fmt.Errorf("pades: the certificate chain makes a %d-byte signature, more than the 32767 a PDF/A string can hold: leave the root out", s.size)
	}
	return s, nil
}

// String describes the signer by its name; it never prints the key.
func (s *Signer) String() string {
	if s == nil {
		return "pades.Signer(nil)"
	}
	return fmt.Sprintf("pades.Signer(%q)", s.name)
}

// GoString is String: %#v must not print the key either.
func (s *Signer) GoString() string { return s.String() }

// Name returns the signer's name, from the signing certificate.
func (s *Signer) Name() string { return s.name }

// Reason returns the reason for signing given to New.
func (s *Signer) Reason() string { return s.reason }

// Location returns the location given to New.
func (s *Signer) Location() string { return s.loc }

// Certificate returns the signing certificate.
func (s *Signer) Certificate() *x509.Certificate { return s.chain[0] }

// Size returns the largest number of bytes Sign returns: the space to
// reserve for the signature value.
func (s *Signer) Size() int { return s.size }

// Sign returns the DER CMS ContentInfo (SignedData, RFC 5652) of a detached
// signature over the concatenation of content: SHA-256, signed attributes
// content-type (id-data), message-digest and ESS signing-certificate-v2, no
// signing-time (PAdES puts the claimed time of signing in the signature
// dictionary's /M, and EN 319 142-1 forbids the attribute), and the
// certificate chain. The same content and key give the same bytes.
func (s *Signer) Sign(content ...[]byte) ([]byte, error) {
	h := sha256.New()
	for _, c := range content {
		h.Write(c)
	}
	return s.signedData(h.Sum(nil), nil)
}

// signedData builds the ContentInfo for a content digest; sig, when not
// nil, stands in for the signature (to measure the largest value).
func (s *Signer) signedData(digest, sig []byte) ([]byte, error) {
	// Signed attributes, DER: a SET OF sorted by encoding (X.690 11.6).
	attrs := make([][]byte, 0, 3)
	for _, a := range []struct {
		oid   []byte
		value func(*cryptobyte.Builder)
	}{
		{oidContentType, func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidData) })
		}},
		{oidMessageDigest, func(b *cryptobyte.Builder) { b.AddASN1OctetString(digest) }},
	} {
		var b cryptobyte.Builder
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(a.oid) })
			b.AddASN1(asn1.SET, a.value)
		})
		attr, err := b.Bytes()
		if err != nil {
			return nil, fmt.Errorf("pades: signed attributes: %w", err)
		}
		attrs = append(attrs, attr)
	}
	attrs = append(attrs, s.essAttr)
	slices.SortFunc(attrs, bytes.Compare)
	var body []byte
	for _, a := range attrs {
		body = append(body, a...)
	}

	if sig == nil {
		// What is signed is the DER of the attributes with the SET tag
		// (RFC 5652, 5.4), not the [0] IMPLICIT tag they are written with.
		var b cryptobyte.Builder
		b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(body) })
		set, err := b.Bytes()
		if err != nil {
			return nil, fmt.Errorf("pades: signed attributes: %w", err)
		}
		d := sha256.Sum256(set)
		// A nil random source: RSA PKCS #1 v1.5 ignores it; ECDSA then
		// takes its nonce from RFC 6979 (crypto/ecdsa, Go 1.24 and later).
		sig, err = s.key.Sign(nil, d[:], crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("pades: signing with the key of %q: %w", s.name, err)
		}
		if len(sig) > s.sigSize {
			return nil, fmt.Errorf("pades: signature of %d bytes, at most %d expected", len(sig), s.sigSize)
		}
	}

	sha256Alg := func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			// Parameters absent (RFC 5754, 2).
			b.AddASN1(asn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidSHA256) })
		})
	}
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // ContentInfo
		b.AddASN1(asn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidSignedData) })
		b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignedData
				b.AddASN1Int64(1)
				b.AddASN1(asn1.SET, sha256Alg)
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // EncapsulatedContentInfo, detached
					b.AddASN1(asn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidData) })
				})
				// certificates [0] IMPLICIT: the signing certificate first,
				// then its issuers.
				b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
					for _, c := range s.chain {
						b.AddBytes(c.Raw)
					}
				})
				b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignerInfo
						b.AddASN1Int64(1)
						b.AddBytes(s.sid)
						sha256Alg(b)
						b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
							b.AddBytes(body)
						})
						b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
							if s.rsa {
								b.AddASN1(asn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidRSAEncryption) })
								b.AddASN1NULL()
							} else {
								b.AddASN1(asn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidECDSAWithSHA256) })
							}
						})
						b.AddASN1OctetString(sig)
					})
				})
			})
		})
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("pades: SignedData: %w", err)
	}
	return out, nil
}
