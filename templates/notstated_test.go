package templates

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliohealth/folio/profile"
	"github.com/foliohealth/folio/report"
)

// What issue 18 prints in place of a missing value ("not stated", "when and
// why not stated", a title for the report's kind) is folio's own word: with
// a site profile it prints in the profile's language, once wherever the
// built-in look prints it in English.
func TestNotStatedTranslated(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "fixtures", "notstated", "*.json"))
	if err != nil || len(paths) < 8 {
		t.Fatalf("found %d fixtures in fixtures/notstated (%v)", len(paths), err)
	}
	printed := 0
	for _, path := range paths {
		name := filepath.Base(path)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		r := decode(t, name, data)
		en, enWarn, err := Build(r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		enText := strings.Join(texts(en), "\n")
		want := strings.Count(enText, NotStated)
		printed += want
		for _, lang := range []string{"de", "fr", "es", "ar"} {
			p := &profile.Profile{Language: lang}
			d, warnings, err := BuildProfile(r, p)
			if err != nil {
				t.Fatalf("%s %s: %v", name, lang, err)
			}
			lc := newLocale(p)
			text := strings.Join(texts(d), "\n")
			if got := strings.Count(text, lc.t("notStated")); got != want {
				t.Errorf("%s %s: %q printed %d times, English %q %d times", name, lang, lc.t("notStated"), got, NotStated, want)
			}
			if strings.Contains(text, NotStated) {
				t.Errorf("%s %s: English %q on the page", name, lang, NotStated)
			}
			if r.Title == "" {
				title := lc.t("title.pathology")
				if r.Kind == report.KindRadiology {
					title = lc.t("title.radiology")
				}
				if d.Header.Title != title || en.Header.Title == title {
					t.Errorf("%s %s: title %q (English %q), want %q", name, lang, d.Header.Title, en.Header.Title, title)
				}
			}
			// Warnings are not printed on the page: the same (English)
			// lines, naming the same paths, whatever the language.
			if len(warnings) != len(enWarn) {
				t.Errorf("%s %s: %d warnings, English %d", name, lang, len(warnings), len(enWarn))
			}
		}
	}
	if printed < 5 {
		t.Errorf("the fixtures print %q only %d times", NotStated, printed)
	}
}
