package fhir

import (
	"testing"
	"time"
)

// TestDatePrefixes checks each FHIR R4 date prefix at its boundaries, for
// an instant and for a period target, against the range of a partial date.
func TestDatePrefixes(t *testing.T) {
	now := day("2026-12-01")
	for _, c := range []struct {
		param  string
		lo, hi time.Time // target range (an instant when equal)
		want   bool
	}{
		{"2025", day("2025-01-01"), day("2025-01-01"), true},
		{"2025", day("2024-12-31T23:59:59Z"), day("2024-12-31T23:59:59Z"), false},
		{"eq2025", day("2025-12-31T23:59:59Z"), day("2025-12-31T23:59:59Z"), true},
		{"eq2025-03", day("2025-02-28"), day("2025-03-02"), false}, // period not within
		{"ne2025", day("2026-01-01"), day("2026-01-01"), true},
		{"ne2025", day("2025-06-01"), day("2025-06-01"), false},
		{"gt2025", day("2026-01-01"), day("2026-01-01"), true},
		{"gt2025", day("2025-12-31"), day("2025-12-31"), false},
		{"gt2025", day("2025-06-01"), day("2026-02-01"), true}, // a period reaching past
		{"lt2025", day("2024-12-31"), day("2024-12-31"), true},
		{"lt2025", day("2025-01-01"), day("2025-01-01"), false},
		{"ge2025", day("2025-01-01"), day("2025-01-01"), true},
		{"ge2025", day("2024-12-31T23:59:59Z"), day("2024-12-31T23:59:59Z"), false},
		{"le2025", day("2025-12-31T23:59:59Z"), day("2025-12-31T23:59:59Z"), true},
		{"le2025", day("2026-01-01"), day("2026-01-01"), false},
		{"sa2025", day("2026-01-01"), day("2026-03-01"), true},
		{"sa2025", day("2025-12-31"), day("2026-03-01"), false}, // starts inside
		{"eb2025", day("2024-01-01"), day("2024-12-31"), true},
		{"eb2025", day("2024-06-01"), day("2025-01-01"), false},       // ends inside
		{"ap2025-08-01", day("2025-09-15"), day("2025-09-15"), true},  // ~49 days later: within 10% of 16 months
		{"ap2025-08-01", day("2025-11-01"), day("2025-11-01"), false}, // 3 months later
		{"2025-03-04T10:00:00Z", day("2025-03-04T10:00:00Z"), day("2025-03-04T10:00:00Z"), true},
		{"2025-03-04T10:00:00Z", day("2025-03-04T10:00:01Z"), day("2025-03-04T10:00:01Z"), false},
		{"2025-03-04T10:00", day("2025-03-04T10:00:59Z"), day("2025-03-04T10:00:59Z"), true},
		{"2025-03-04T11:00+01:00", day("2025-03-04T10:00:30Z"), day("2025-03-04T10:00:30Z"), true},
	} {
		d, err := parseDateParam(c.param)
		if err != nil {
			t.Errorf("%s: %v", c.param, err)
			continue
		}
		if got := d.matches(c.lo, c.hi, now); got != c.want {
			t.Errorf("%s against %s..%s: %v, want %v", c.param, c.lo.Format(time.RFC3339), c.hi.Format(time.RFC3339), got, c.want)
		}
	}
	for _, bad := range []string{"", "20", "2025-1", "2025-13", "2025-02-30", "xx2025", "2025-03-04T25:00", "2025/03/04", "eq"} {
		if _, err := parseDateParam(bad); err == nil {
			t.Errorf("%q parsed as a date", bad)
		}
	}
}

// TestTokensAndValues: token forms and escaped commas.
func TestTokensAndValues(t *testing.T) {
	for _, c := range []struct {
		raw          string
		system, code string
		match        [2]string // a coding it matches
		miss         [2]string // a coding it does not
	}{
		{"11526-1", "", "11526-1", [2]string{"http://loinc.org", "11526-1"}, [2]string{"http://loinc.org", "18748-4"}},
		{"http://loinc.org|11526-1", "http://loinc.org", "11526-1", [2]string{"http://loinc.org", "11526-1"}, [2]string{"urn:x", "11526-1"}},
		{"|11526-1", "", "11526-1", [2]string{"", "11526-1"}, [2]string{"http://loinc.org", "11526-1"}},
		{"http://loinc.org|", "http://loinc.org", "", [2]string{"http://loinc.org", "anything"}, [2]string{"urn:x", "anything"}},
	} {
		tok, err := parseToken(c.raw)
		if err != nil {
			t.Errorf("%s: %v", c.raw, err)
			continue
		}
		if !tok.matches(c.match[0], c.match[1]) || tok.matches(c.miss[0], c.miss[1]) {
			t.Errorf("%s: matches %v %v, misses %v %v", c.raw, c.match, tok.matches(c.match[0], c.match[1]), c.miss, tok.matches(c.miss[0], c.miss[1]))
		}
	}
	if _, err := parseToken("|"); err == nil {
		t.Error(`"|" parsed as a token`)
	}
	if got := splitValues(`a\,b,c\\,d`); len(got) != 3 || got[0] != "a,b" || got[1] != `c\` || got[2] != "d" {
		t.Errorf("splitValues: %q", got)
	}
}
