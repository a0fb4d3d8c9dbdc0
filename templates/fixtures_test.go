package templates

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/foliohealth/folio/report"
)

// loadFixture reads and decodes a good fixture from ../fixtures.
func loadFixture(t testing.TB, name string) *report.Report {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "fixtures", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, name, data)
}

func decode(t testing.TB, name string, data []byte) *report.Report {
	t.Helper()
	r, err := report.Decode(data, report.DefaultLimits())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

// fixtureNames lists every good fixture.
func fixtureNames(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "fixtures", "*.json"))
	if err != nil || len(paths) < 12 {
		t.Fatalf("found %d fixtures (%v)", len(paths), err)
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)[:len(filepath.Base(p))-len(".json")]
	}
	return names
}
