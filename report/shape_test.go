package report

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// TestShapes: idShape, dateShape and timeShape say exactly what the
// regular expressions in their documentation say, for hand-picked strings
// and for random strings over the characters that matter.
func TestShapes(t *testing.T) {
	idRE := regexp.MustCompile(`^[A-Za-z0-9.-]{1,48}$`)
	fhirRE := regexp.MustCompile(`^[A-Za-z0-9.-]{1,64}$`)
	timeRE := regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$`)
	dateRE := regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	check := func(s string) {
		t.Helper()
		if idShape(s, 48) != idRE.MatchString(s) || idShape(s, 64) != fhirRE.MatchString(s) ||
			timeShape(s) != timeRE.MatchString(s) || dateShape(s) != dateRE.MatchString(s) {
			t.Fatalf("%q: id %v/%v fhir %v/%v time %v/%v date %v/%v", s,
				idShape(s, 48), idRE.MatchString(s), idShape(s, 64), fhirRE.MatchString(s),
				timeShape(s), timeRE.MatchString(s), dateShape(s), dateRE.MatchString(s))
		}
	}
	for _, s := range []string{"", "a", "S26-004512", "a b", "é", "a\n", "2026-11-20", "2026-11-20\n", "2026-1-20",
		"2026-11-20T14:03:00Z", "2026-11-20t14:03:00z", "2026-11-20T14:03:00.123-05:00", "2026-11-20T14:03:00.-05:00",
		"2026-11-20T14:03:00", "2026-11-20T14:03:00+0500", "2026-11-20T14:03:00Z\n", "2026-11-20 14:03:00Z",
		"2026-11-20T14:03:00.5", "2026-11-20T14:03:00.5Zz", "2026-11-20T14:03:00+05:00:00"} {
		check(s)
	}
	for n := 1; n <= 70; n++ {
		check(string(make([]byte, n)))
		b := make([]byte, n)
		for i := range b {
			b[i] = 'a'
		}
		check(string(b))
	}
	const alphabet = "0123456789-:.TtZz+ aé\n"
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		tmpl := []string{"9999-99-99T99:99:99Z", "9999-99-99T99:99:99.999+99:99", "9999-99-99", "aa.bb-cc"}[rng.IntN(4)]
		b := []byte(tmpl)
		for range rng.IntN(3) + 1 {
			i := rng.IntN(len(b) + 1)
			switch rng.IntN(3) {
			case 0: // replace
				if i < len(b) {
					b[i] = alphabet[rng.IntN(len(alphabet))]
				}
			case 1: // insert
				b = append(b[:i], append([]byte{alphabet[rng.IntN(len(alphabet))]}, b[i:]...)...)
			case 2: // delete
				if i < len(b) {
					b = append(b[:i], b[i+1:]...)
				}
			}
		}
		for i, c := range b {
			if c == '9' {
				b[i] = byte('0' + rng.IntN(10))
			}
		}
		check(string(b))
	}
}
