package report

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

var (
	fhirIDRe     = regexp.MustCompile(`^[A-Za-z0-9\-\.]{1,64}$`)
	keyRe        = regexp.MustCompile(`^[A-Za-z0-9.-]{1,48}$`)
	derivedKeyRe = regexp.MustCompile(`^[A-Za-z0-9-]{1,20}\.[a-z2-7]{26}$`)
)

// TestKey is the table of report.Key: ids valid before identifiers were
// opened keep their key; every other identifier gets a derived key of the
// documented form, different for look-alikes.
func TestKey(t *testing.T) {
	long199 := "RAD/" + strings.Repeat("x", 195)
	tests := []struct {
		id, want string // want "" means derived: checked against derivedKeyRe and its slug
		slug     string
	}{
		{id: "S26-004871", want: "S26-004871"},
		{id: "pt.1-a", want: "pt.1-a"},
		{id: "A", want: "A"},
		{id: strings.Repeat("S", 48), want: strings.Repeat("S", 48)},
		{id: "fhir-0123456789abcdef", want: "fhir-0123456789abcdef"},
		{id: strings.Repeat("S", 49), slug: strings.Repeat("S", 20)},
		{id: "S26/1234", slug: "S26-1234"},
		{id: "RAD 2026 1118", slug: "RAD-2026-1118"},
		{id: "FON_0d70c6c8", slug: "FON-0d70c6c8"},
		{id: "ACC#77", slug: "ACC-77"},
		{id: "Müller-77", slug: "M-ller-77"},
		{id: "放射線 2026", slug: "2026"},
		{id: "###", slug: "id"},
		{id: " S26-1", slug: "S26-1"},
		{id: "S26-1 ", slug: "S26-1"},
		{id: long199, slug: "RAD-xxxxxxxxxxxxxxxx"},
		{id: long199 + "y", slug: "RAD-xxxxxxxxxxxxxxxx"}, // 200: refused by CheckIdentifier, still keyed safely
		// A valid-looking id of the derived form is derived too, so no kept
		// key ever equals a derived one.
		{id: "abc.abcdefghijklmnopqrstuvwxyz", slug: "abc-abcdefghijklmnop"},
	}
	for _, tc := range tests {
		got := Key(tc.id)
		if got != Key(tc.id) {
			t.Errorf("Key(%q) is not deterministic", tc.id)
		}
		if !keyRe.MatchString(got) || !fhirIDRe.MatchString("thumb-"+got+"-999999999") {
			t.Errorf("Key(%q) = %q: outside [A-Za-z0-9.-]{1,48} or too long for thumb-<key>-<version>", tc.id, got)
		}
		if strings.HasPrefix(got, ".") || strings.HasSuffix(got, ".") || strings.Contains(got, "..") {
			t.Errorf("Key(%q) = %q: an empty NATS subject token", tc.id, got)
		}
		if tc.want != "" {
			if got != tc.want {
				t.Errorf("Key(%q) = %q, want it kept", tc.id, got)
			}
			if derivedKeyRe.MatchString(got) {
				t.Errorf("kept key %q has the derived form", got)
			}
			continue
		}
		if !derivedKeyRe.MatchString(got) {
			t.Errorf("Key(%q) = %q: not of the derived form", tc.id, got)
		}
		if s, _, _ := strings.Cut(got, "."); s != tc.slug {
			t.Errorf("Key(%q) = %q: slug %q, want %q", tc.id, got, s, tc.slug)
		}
	}
}

// TestKeyLookAlikes checks that identifiers differing only in what the slug
// drops (separators, case of nothing, spaces, non-ASCII) get different keys,
// and that a derived key never equals another identifier's kept key.
func TestKeyLookAlikes(t *testing.T) {
	groups := [][]string{
		{"RAD/2026-77", "RAD-2026-77", "RAD 2026-77", "RAD_2026-77", "RAD#2026-77", "RAD//2026-77", "RAD/2026-77 ", " RAD/2026-77", "RAD–2026-77"},
		{"S26/1234", "S26-1234", "S26 1234", "s26/1234", "S26/1234\u00a0"},
		{"Müller", "Muller", "Mûller", "M-ller", "M ller"},
	}
	for _, g := range groups {
		seen := map[string]string{}
		for _, id := range g {
			k := Key(id)
			if other, ok := seen[k]; ok {
				t.Errorf("%q and %q share the key %q", other, id, k)
			}
			seen[k] = id
			// The key, taken as an identifier, keeps itself only when it
			// is the identifier itself.
			if Key(k) == k && k != id && !derivedKeyRe.MatchString(k) {
				t.Errorf("%q got the kept-form key %q of another identifier", id, k)
			}
		}
	}
	// Many identifiers of one shape: no two share a key.
	seen := map[string]string{}
	for i := range 200000 {
		id := fmt.Sprintf("RAD/%d", i)
		if i%2 == 1 {
			id = fmt.Sprintf("RAD-%d", i-1) // kept, the look-alike of the one before
		}
		k := Key(id)
		if other, ok := seen[k]; ok {
			t.Fatalf("%q and %q share the key %q", other, id, k)
		}
		seen[k] = id
	}
}

// TestCheckIdentifier checks which identifiers are taken: printable, 1-199
// characters, spaces kept as sent.
func TestCheckIdentifier(t *testing.T) {
	for _, id := range []string{"S26-1", "S26/1234", "RAD 2026 1118", "FON_0d70c6c8", "ACC#77", "Müller 77", " padded ", strings.Repeat("é", 199), "放射線"} {
		if err := CheckIdentifier(id); err != nil {
			t.Errorf("CheckIdentifier(%q): %v, want it taken", id, err)
		}
	}
	for id, want := range map[string]string{
		"":                       "must not be empty",
		"   ":                    "only spaces",
		strings.Repeat("é", 200): "200 characters long, at most 199",
		"S26\t1":                 "U+0009",
		"S26\x001":               "U+0000",
		"S26\u00851":             "U+0085",
		"S26\u20281":             "U+2028",
		"S26\xff":                "not valid UTF-8",
	} {
		err := CheckIdentifier(id)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckIdentifier(%q) = %v, want an error with %q", id, err, want)
		}
	}
}

// FuzzKey checks Key's properties on any string: deterministic, inside the
// key alphabet and length with no empty NATS token, kept only for plain ids
// not of the derived form, derived otherwise; and two different strings
// never share a key unless both are derived (a hash collision).
func FuzzKey(f *testing.F) {
	for _, s := range []string{"S26-004871", "S26/1234", "RAD/2026-77", "RAD-2026-77", "", " ", "a..b", ".a", "abc.abcdefghijklmnopqrstuvwxyz", "放射線", strings.Repeat("x", 199)} {
		f.Add(s, s+"/")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ka, kb := Key(a), Key(b)
		if ka != Key(a) {
			t.Fatalf("Key(%q) not deterministic", a)
		}
		if !keyRe.MatchString(ka) {
			t.Fatalf("Key(%q) = %q: outside [A-Za-z0-9.-]{1,48}", a, ka)
		}
		plain := idShape(a, MaxKey) && !derivedShape(a)
		if plain != (ka == a) || plain == derivedKeyRe.MatchString(ka) {
			t.Fatalf("Key(%q) = %q: plain %v", a, ka, plain)
		}
		if !plain && (strings.HasPrefix(ka, ".") || strings.HasSuffix(ka, ".") || strings.Contains(ka, "..")) {
			t.Fatalf("derived Key(%q) = %q has an empty NATS token", a, ka)
		}
		if a != b && ka == kb {
			t.Fatalf("%q and %q share the key %q", a, b, ka)
		}
	})
}
