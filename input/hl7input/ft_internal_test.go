package hl7input

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// escapeMDByByte is escapeMD as first written, one byte at a time: the
// reference the faster escapeMD must equal.
func escapeMDByByte(b *strings.Builder, s string, nofill, lead bool) {
	digits := lead
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' && (lead || nofill && (i+1 < len(s) && s[i+1] == ' ' || i > 0 && s[i-1] == ' ')) {
			b.WriteString(nbsp)
			continue
		}
		if c == '\t' {
			b.WriteString(nbsp + nbsp + nbsp + nbsp)
			continue
		}
		switch {
		case strings.IndexByte("\\`*_[]<>|~&", c) >= 0:
			b.WriteByte('\\')
		case lead && strings.IndexByte("#-+=", c) >= 0:
			b.WriteByte('\\')
		case digits && (c == '.' || c == ')') && i > 0:
			b.WriteByte('\\')
		}
		if !(c >= '0' && c <= '9') {
			digits = false
		}
		lead = false
		b.WriteByte(c)
	}
}

func TestEscapeMDAsByByte(t *testing.T) {
	const alphabet = "ab 1.)#-+=\\`*_[]<>|~&\t\u00e9x"
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		n := rng.IntN(24)
		in := make([]byte, n)
		for i := range in {
			in[i] = alphabet[rng.IntN(len(alphabet))]
		}
		s := string(in)
		for _, nofill := range []bool{false, true} {
			for _, lead := range []bool{false, true} {
				var want strings.Builder
				escapeMDByByte(&want, s, nofill, lead)
				if got := string(escapeMD(nil, s, nofill, lead)); got != want.String() {
					t.Fatalf("escapeMD(%q, nofill %v, lead %v) = %q, want %q", s, nofill, lead, got, want.String())
				}
			}
		}
	}
}
