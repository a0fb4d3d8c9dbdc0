package fhirinput

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/report"
)

var update = flag.Bool("update", false, "rewrite the goldens of fixtures/fhir (mapped JSON, bad/*.err)")

// goodFixtures are every FHIR fixture that must map.
func goodFixtures(t testing.TB) []string {
	a, _ := filepath.Glob("../../fixtures/fhir/*.json")
	b, _ := filepath.Glob("../../fixtures/fhir/hl7/*.json")
	all := append(a, b...)
	if len(all) < 10 {
		t.Fatalf("want at least 10 FHIR fixtures, have %d", len(all))
	}
	return all
}

// golden is what a fixture's golden file holds for each mapped report.
type golden struct {
	Source       string         `json:"source"`
	VersionGiven bool           `json:"versionGiven"`
	Withdrawn    bool           `json:"withdrawn,omitempty"`
	PDFBytes     int            `json:"senderPdfBytes,omitempty"`
	Missing      int            `json:"missing,omitempty"`
	Warnings     []string       `json:"warnings,omitempty"`
	Report       *report.Report `json:"report"`
}

func goldenPath(fixture string) string {
	name := strings.TrimSuffix(filepath.Base(fixture), ".json")
	if filepath.Base(filepath.Dir(fixture)) == "hl7" {
		name = "hl7-" + name
	}
	return filepath.Join("../../fixtures/golden/fhir", name+".mapped.json")
}

func mapFile(t testing.TB, path string) ([]Mapped, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Map(data, Options{})
}

// TestFixtures maps every FHIR fixture and compares the mapped reports,
// warnings and flags with the golden JSON (-update rewrites it).
func TestFixtures(t *testing.T) {
	for _, f := range goodFixtures(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			ms, err := mapFile(t, f)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			var gs []golden
			for _, m := range ms {
				gs = append(gs, golden{m.Source, m.VersionGiven, m.Withdrawn, len(m.PDF), m.Missing, m.Warnings, m.Report})
			}
			got, _ := json.MarshalIndent(gs, "", "  ")
			got = append(got, '\n')
			testutil.Golden(t, goldenPath(f), got, *update)
		})
	}
}

// TestBadFixtures: each bad input is refused with a FHIR path and a
// sentence, as its .err golden says.
func TestBadFixtures(t *testing.T) {
	files, _ := filepath.Glob("../../fixtures/fhir/bad/*.json")
	if len(files) < 20 {
		t.Fatalf("want at least 20 bad FHIR fixtures, have %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := mapFile(t, f)
			var fe report.Errors
			if !errors.As(err, &fe) || len(fe) == 0 {
				t.Fatalf("want report.Errors, got %v", err)
			}
			for _, e := range fe {
				if e.Path == "" || e.Rule == "" {
					t.Errorf("error without path or rule: %+v", e)
				}
			}
			got := err.Error() + "\n"
			testutil.Golden(t, strings.TrimSuffix(f, ".json")+".err", []byte(got), *update)
		})
	}
}
