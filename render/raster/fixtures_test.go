package raster_test

import (
	"flag"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliohealth/folio/render/layout"
	"github.com/foliohealth/folio/render/raster"
	"github.com/foliohealth/folio/render/raster/rastertest"
	"github.com/foliohealth/folio/report"
	"github.com/foliohealth/folio/templates"
)

var update = flag.Bool("update", false, "rewrite the golden thumbnails under fixtures/golden/thumbs")

const (
	fixturesDir = "../../fixtures"
	goldenDir   = "../../fixtures/golden/thumbs"
	// goldenTol is the per-channel difference a golden pixel may show:
	// enough for floating-point differences between CPUs (fused
	// multiply-add on arm64) at glyph edges, far below any visible change.
	goldenTol = 12
)

// fixtureNames lists the good fixtures (fixtures/*.json).
func fixtureNames(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(fixturesDir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures (%v)", err)
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = strings.TrimSuffix(filepath.Base(p), ".json")
	}
	return names
}

// layoutFixture decodes, builds and lays out one fixture.
func layoutFixture(t testing.TB, name string) []layout.Page {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixturesDir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return layoutReport(t, name, data)
}

func layoutReport(t testing.TB, name string, data []byte) []layout.Page {
	t.Helper()
	r, err := report.Decode(data, report.DefaultLimits())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	d, _, err := templates.Build(r)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	res, err := layout.Layout(d, layout.Letter)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res.Pages
}

// TestGoldenThumbnails compares the 256 px page-1 thumbnail of every
// fixture, and the de-identified one of two, with the PNGs under
// fixtures/golden/thumbs; -update rewrites them. A layout change shows up
// here too: review the images (NAME.got.png is written beside a mismatch)
// and the layout dump goldens together.
func TestGoldenThumbnails(t *testing.T) {
	deid := map[string]bool{"spec-example": true, "amended-prostate": true}
	for _, name := range fixtureNames(t) {
		t.Run(name, func(t *testing.T) {
			page := layoutFixture(t, name)[0]
			variants := []bool{false}
			if deid[name] {
				variants = append(variants, true)
			}
			for _, d := range variants {
				img, err := raster.Thumbnail(page, raster.Options{Size: raster.DefaultSize, Deidentify: d})
				if err != nil {
					t.Fatal(err)
				}
				file := name + ".png"
				if d {
					file = name + ".deid.png"
				}
				rastertest.Golden(t, filepath.Join(goldenDir, file), img, goldenTol, *update)
			}
		})
	}
}

// TestDeidentifiedFixture checks on a real report that de-identification
// removes exactly the header's identity fields: the pixels that change are
// all within the boxes of the PHI text ops.
func TestDeidentifiedFixture(t *testing.T) {
	page := layoutFixture(t, "spec-example")[0]
	var phi []*layout.Text
	for _, op := range page.Ops {
		if tx, ok := op.(*layout.Text); ok && tx.PHI {
			phi = append(phi, tx)
		}
	}
	if len(phi) == 0 {
		t.Fatal("layout marked no text of spec-example as PHI")
	}
	const scale = 2
	full := paint(t, page, scale, false)
	deid := paint(t, page, scale, true)
	changed := 0
	for y := 0; y < full.Rect.Dy(); y++ {
		for x := 0; x < full.Rect.Dx(); x++ {
			i := full.PixOffset(x, y)
			if full.Pix[i] == deid.Pix[i] && full.Pix[i+1] == deid.Pix[i+1] && full.Pix[i+2] == deid.Pix[i+2] {
				continue
			}
			changed++
			inside := false
			for _, tx := range phi {
				if image.Pt(x, y).In(textBox(tx, scale).Inset(-1)) {
					inside = true
					break
				}
			}
			if !inside {
				t.Fatalf("pixel (%d,%d) outside every PHI text changed", x, y)
			}
		}
	}
	if changed < 50*len(phi) {
		t.Errorf("only %d pixels changed for %d PHI texts", changed, len(phi))
	}
}
