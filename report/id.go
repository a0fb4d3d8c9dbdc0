package report

import (
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxIdentifier is the longest report identifier taken, in characters.
const MaxIdentifier = 199

// MaxKey is the longest key Key returns. folio adds at most 16 characters
// around a key in a FHIR id ("thumb-" before, "-" and a version of up to 9
// digits after), so every id it builds stays within FHIR's 64.
const MaxKey = 48

// CheckIdentifier says why s cannot be a report identifier, or returns nil.
// An identifier is what its sender wrote, kept verbatim (leading and trailing
// spaces included): 1 to MaxIdentifier characters of valid UTF-8, no control
// characters, not only spaces.
func CheckIdentifier(s string) error {
	if _, err := checkIdentifier(s); err != nil {
		return err
	}
	return nil
}

// checkIdentifier is CheckIdentifier; it also returns the control character
// it refused, if that was the problem.
func checkIdentifier(s string) (rune, error) {
	n := utf8.RuneCountInString(s)
	switch {
	case n == 0:
		return 0, errors.New("must not be empty")
	case n > MaxIdentifier:
		return 0, fmt.Errorf("is %d characters long, at most %d allowed", n, MaxIdentifier)
	case !utf8.ValidString(s):
		return 0, errors.New("is not valid UTF-8")
	}
	for _, c := range s {
		if unicode.IsControl(c) || c == '\u2028' || c == '\u2029' {
			return c, fmt.Errorf("control character U+%04X not allowed", c)
		}
	}
	if strings.TrimSpace(s) == "" {
		return 0, errors.New("must not be only spaces")
	}
	return 0, nil
}

// Key returns the key of a report identifier: the part of every FHIR
// resource id, Binary id, NATS key and job id folio derives from a report
// (docs/report-v1.md, "Identifiers and keys"). It is the one place where an
// identifier becomes a key.
//
// An identifier of 1 to 48 characters of A-Z a-z 0-9 - . that does not have
// the derived form below is its own key (every id folio took before
// identifiers were opened keeps its key). Any other identifier gets the
// derived key
//
//	<slug>.<hash>
//
// where slug is the identifier's first ASCII letters and digits (each run of
// other characters a single "-", at most 20 characters, no leading or
// trailing "-"; "id" when none) and hash is the first 26 characters of the
// unpadded lowercase base32 of SHA-256 of the identifier's UTF-8 bytes (130
// bits). Derived keys match ^[A-Za-z0-9-]{1,20}\.[a-z2-7]{26}$ and kept keys
// never do, so a derived key never equals a kept key; two identifiers share a
// derived key only if their SHA-256 agree on the first 130 bits. Key is
// deterministic and its result matches ^[A-Za-z0-9.-]{1,48}$.
func Key(id string) string {
	if idShape(id, MaxKey) && !derivedShape(id) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return slug(id) + "." + strings.ToLower(b32.EncodeToString(sum[:]))[:26]
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// slug is the readable part of a derived key.
func slug(id string) string {
	var b strings.Builder
	dash := false
	for i := 0; i < len(id) && b.Len() < 20; i++ {
		c := id[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
				if b.Len() == 20 {
					break
				}
			}
			dash = false
			b.WriteByte(c)
		} else {
			dash = true
		}
	}
	s := strings.TrimRight(b.String(), "-")
	if s == "" {
		return "id"
	}
	return s
}

// derivedShape reports whether s matches ^[A-Za-z0-9-]{1,20}\.[a-z2-7]{26}$,
// the form of derived keys.
func derivedShape(s string) bool {
	dot := strings.IndexByte(s, '.')
	if dot < 1 || dot > 20 || len(s)-dot-1 != 26 {
		return false
	}
	for i := 0; i < dot; i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	for i := dot + 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}
