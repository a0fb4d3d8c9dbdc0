package templates

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/foliohealth/folio/document"
	"github.com/foliohealth/folio/profile"
)

// usedIDs collects the message ids the code asks for: literal ids in
// t("...") and f("...") calls, and the ids built from the status, sex and
// modality tables.
func usedIDs(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	call := regexp.MustCompile(`\.(?:t|f)\("([a-zA-Z.]*[a-zA-Z])"`)
	ids := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range call.FindAllSubmatch(src, -1) {
			ids[string(m[1])] = true
		}
	}
	for st := range knownStatuses {
		if st == "final" {
			ids["status.final.label"] = true
			continue
		}
		for _, k := range []string{"word", "banner", "label", "notice"} {
			ids["status."+st+"."+k] = true
		}
	}
	for s := range sexCodes {
		ids["sex."+s] = true
	}
	for m := range modalityCodes {
		ids["modality."+m] = true
	}
	if len(ids) < 60 {
		t.Fatalf("found only %d message ids in the code", len(ids))
	}
	return ids
}

// TestCatalogComplete fails when a language lacks an id the code uses,
// holds one the code does not, or a message's verbs differ from English.
func TestCatalogComplete(t *testing.T) {
	ids := usedIDs(t)
	verbs := regexp.MustCompile(`%[sd]`)
	for _, lang := range profile.Languages {
		cat, ok := catalogs[lang]
		if !ok {
			t.Errorf("no catalog for %s", lang)
			continue
		}
		for id := range ids {
			msg, ok := cat[id]
			if !ok || msg == "" {
				t.Errorf("%s: message %q missing", lang, id)
				continue
			}
			if a, b := verbs.FindAllString(msg, -1), verbs.FindAllString(en[id], -1); strings.Join(a, "") != strings.Join(b, "") {
				t.Errorf("%s: %q has verbs %v, English %v", lang, id, a, b)
			}
		}
		for id := range cat {
			if !ids[id] {
				t.Errorf("%s: message %q is not used by the code", lang, id)
			}
		}
	}
}

// The spec's anchor words and dates, from the catalogs.
func TestAnchors(t *testing.T) {
	day := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	for _, c := range []struct {
		lang, page, birth, patient, prelim, date string
	}{
		{"en", "Page 1 of 2", "Birth date", "Patient", "PRELIMINARY", "2026-11-27"},
		{"de", "Seite 1 von 2", "Geburtsdatum", "Patient", "VORLÄUFIG", "27.11.2026"},
		{"fr", "Page 1 sur 2", "Date de naissance", "Patient", "PROVISOIRE", "27/11/2026"},
		{"es", "Página 1 de 2", "Fecha de nacimiento", "Paciente", "PRELIMINAR", "27/11/2026"},
		{"ar", "صفحة 1 من 2", "تاريخ الميلاد", "المريض", "أولي", "2026-11-27"},
	} {
		lc := newLocale(&profile.Profile{Language: c.lang})
		if got := lc.f("page.of", 1, 2); got != c.page {
			t.Errorf("%s: %q, want %q", c.lang, got, c.page)
		}
		if lc.t("label.birthDate") != c.birth || lc.t("label.patient") != c.patient || lc.t("status.preliminary.word") != c.prelim {
			t.Errorf("%s: anchors %q %q %q", c.lang, lc.t("label.birthDate"), lc.t("label.patient"), lc.t("status.preliminary.word"))
		}
		if got := lc.day(day); got != c.date {
			t.Errorf("%s: date %q, want %q", c.lang, got, c.date)
		}
		if got := lc.date("2026-11-27"); got != c.date {
			t.Errorf("%s: birth date %q, want %q", c.lang, got, c.date)
		}
		iso := newLocale(&profile.Profile{Language: c.lang, ISODates: true})
		if got := iso.day(day); got != "2026-11-27" {
			t.Errorf("%s iso: %q", c.lang, got)
		}
	}
}

// Times print in the profile's zone with its offset; only the year is not
// PHI, whatever the date order.
func TestWhenZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 20, 14, 3, 0, 0, time.FixedZone("", -5*3600))
	for _, c := range []struct {
		p    *profile.Profile
		want string
	}{
		{&profile.Profile{Language: "en"}, "2026-11-20 14:03 -05:00"},
		{&profile.Profile{Language: "de", Zone: berlin}, "20.11.2026 20:03 +01:00"},
		{&profile.Profile{Language: "fr", Zone: berlin, ISODates: true}, "2026-11-20 20:03 +01:00"},
	} {
		txt := newLocale(c.p).when(at, 0)
		if txt.Plain() != c.want {
			t.Errorf("%+v: %q, want %q", c.p, txt.Plain(), c.want)
		}
		var public []string
		for _, sp := range txt {
			if !sp.PHI {
				public = append(public, sp.Text)
			}
		}
		if strings.Join(public, "") != "2026" {
			t.Errorf("%q: not PHI: %q", txt.Plain(), public)
		}
	}
	// Without a profile: as sent.
	if got := defaultLocale.when(at, document.Bold).Plain(); got != at.Format(TimeLayout) {
		t.Errorf("default %q", got)
	}
}
