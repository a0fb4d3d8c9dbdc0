// Package profile loads and checks site profiles (docs/site-profile-v1.md):
// one JSON file per site saying how its reports look (paper, language, time
// zone, letterhead, performing laboratory, accent colour, closing note,
// watermark, signing key). A profile changes how a report looks, never what
// it says; it is checked whole when loaded, so it never makes a report fail.
//
// It does not lay out or paint anything (templates and render/layout do)
// and it does not sign (render/pdf does, with the Signature it exposes).
// A loaded Profile and Set are immutable and safe for concurrent use.
package profile

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"image"
	"time"

	"github.com/foliohealth/folio/render/pdf/pades"
	"github.com/foliohealth/folio/report"
)

// Schema is the only schema value a v1 profile may carry.
const Schema = "folio.profile/v1"

// Limits of a profile, from the contract.
const (
	MaxLogoBytes   = 2 << 20   // 2 MiB
	MaxLogoPixels  = 4_000_000 // 4 MP
	MaxClosingNote = 500       // characters
	MaxLines       = 4         // letterhead lines
	maxText        = 200       // any other string, in characters
	// LogoMaxPixelsW and LogoMaxPixelsH bound the logo as it is kept:
	// 300 dpi at the 150 x 34 pt the letterhead draws it at most.
	LogoMaxPixelsW = 625
	LogoMaxPixelsH = 142
	maxList        = 100       // entries of any list
	maxFileBytes   = 256 << 10 // the profile JSON itself
	minContrast    = 4.5       // WCAG 2.1 AA, accent on white
)

// Languages are the languages of folio's own words, in the contract's order.
var Languages = []string{"en", "de", "fr", "es", "ar"}

// Profile is one checked site profile.
type Profile struct {
	ID      string
	Default bool
	Match   Match
	// Paper is "letter" or "a4".
	Paper string
	// Language is one of Languages.
	Language string
	// Zone is the IANA time zone times are printed in; nil prints times
	// as sent.
	Zone *time.Location
	// ISODates: dates print as 2026-11-27 whatever the language.
	ISODates   bool
	Letterhead *Letterhead
	Laboratory *Laboratory
	// Accent is the colour of rules and headings; nil keeps folio's.
	Accent               *RGB
	ClosingNote          string
	PreliminaryWatermark bool
	// Signature is the signing key and certificate chain; nil when the
	// profile has none.
	Signature *Signature
	// Digest is "sha256:" and the hex SHA-256 of the canonical profile
	// JSON followed by the logo's bytes and the DER of each certificate of
	// the signing chain (see Canonical); never the private key's bytes.
	Digest string
	// File is the path the profile was loaded from ("" for Parse).
	File string

	canonical []byte
	raw       []byte            // the file as written
	files     map[string][]byte // the files it names (logo, key, chain), as read
}

// Match lists what a report must carry, exactly, for the profile to be
// chosen for it.
type Match struct {
	Facilities           []string `json:"facilities,omitempty"`
	HL7SendingFacilities []string `json:"hl7SendingFacilities,omitempty"`
	Organizations        []string `json:"organizations,omitempty"`
}

// Letterhead is drawn at the top of every page.
type Letterhead struct {
	// Logo is the decoded logo flattened onto white (opaque), nil when the
	// profile has none; LogoType is "image/png" or "image/jpeg" and
	// LogoBytes the file as read.
	Logo      image.Image
	LogoType  string
	LogoBytes []byte
	// LogoPNG is Logo encoded once, at load, as a PDF/A-1 painter embeds
	// it: an opaque 8-bit PNG of at most LogoMaxPixelsW x LogoMaxPixelsH
	// (300 dpi at the largest size the letterhead draws it).
	LogoPNG []byte
	Lines   []string
	// Right: logo and lines at the right edge.
	Right bool
}

// Laboratory is the performing laboratory printed in every page's footer.
type Laboratory struct {
	Name     string
	Address  []string
	Phone    string
	Director string
	IDs      []LabID
}

// LabID is one of the laboratory's registration numbers (CLIA, DAkkS...).
type LabID struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// RGB is an opaque colour.
type RGB struct{ R, G, B uint8 }

// Signature is what a PAdES signer needs: the private key, the certificate
// chain (leaf first, its public key the key's) and the signature's reason
// and location. Its String and GoString never print the key.
type Signature struct {
	Signer       crypto.Signer
	Certificates []*x509.Certificate
	Reason       string
	Location     string

	pades *pades.Signer
}

// PAdES returns the signer that signs the site's PDFs with this key and
// chain (made and checked when the profile was loaded).
func (s *Signature) PAdES() *pades.Signer {
	if s == nil {
		return nil
	}
	return s.pades
}

// String describes the signature without its key.
func (s *Signature) String() string {
	if s == nil {
		return "<no signature>"
	}
	subj := ""
	if len(s.Certificates) > 0 {
		subj = s.Certificates[0].Subject.String()
	}
	return fmt.Sprintf("signature(certificate %q, %d in chain)", subj, len(s.Certificates))
}

// GoString is String: %#v must not print the key either.
func (s *Signature) GoString() string { return s.String() }

// String names the profile and its digest; it never prints the files the
// profile holds (a signing key among them).
// (Value receivers: a Profile printed by value is covered too.)
func (p Profile) String() string { return "profile " + p.ID + " (" + p.Digest + ")" }

// GoString is String: %#v must not print the key either.
func (p Profile) GoString() string { return p.String() }

// Canonical returns the canonical JSON of the profile the digest is taken
// over: the file's fields re-encoded in the contract's order, without
// insignificant white space.
func (p *Profile) Canonical() []byte { return append([]byte(nil), p.canonical...) }

// digest is SHA-256 over the canonical JSON, the logo's bytes and the DER
// of each certificate of the signing chain: the certificate carries the
// key's public part, so a new key changes the digest, while the private
// key's bytes never enter it (the digest is shown in statuses).
func digest(canonical, logo []byte, chain [][]byte) string {
	h := sha256.New()
	h.Write(canonical)
	h.Write(logo)
	for _, der := range chain {
		h.Write(der)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Subject is what a report offers for choosing its profile.
type Subject struct {
	// Facility is the report's facility.name.
	Facility string
	// SendingFacility is HL7 v2 MSH-4's namespace id.
	SendingFacility string
	// Organizations are the FHIR performer or issuing Organizations'
	// identifiers ("system|value") and names.
	Organizations []string
}

// Matches reports whether the profile's match fits s.
func (p *Profile) Matches(s Subject) bool {
	for _, f := range p.Match.Facilities {
		if s.Facility != "" && f == s.Facility {
			return true
		}
	}
	for _, f := range p.Match.HL7SendingFacilities {
		if s.SendingFacility != "" && f == s.SendingFacility {
			return true
		}
	}
	for _, o := range p.Match.Organizations {
		for _, so := range s.Organizations {
			if so != "" && o == so {
				return true
			}
		}
	}
	return false
}

// Errors is report.Errors: every problem of a refused profile, each with its
// field path ("letterhead.logo") and a sentence.
type Errors = report.Errors
