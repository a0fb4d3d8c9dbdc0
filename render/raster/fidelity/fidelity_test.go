package fidelity_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliohealth/folio/document"
	"github.com/foliohealth/folio/render/layout"
	"github.com/foliohealth/folio/render/pdf"
	"github.com/foliohealth/folio/render/raster"
	"github.com/foliohealth/folio/render/raster/rastertest"
	"github.com/foliohealth/folio/report"
	"github.com/foliohealth/folio/templates"
)

const fixturesDir = "../../../fixtures"

type fixture struct {
	name  string
	pages []layout.Page
	info  document.Info
}

// fixtures lays out every good fixture.
func fixtures(t testing.TB) []fixture {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(fixturesDir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures (%v)", err)
	}
	var out []fixture
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
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
		out = append(out, fixture{name, res.Pages, d.Info})
	}
	return out
}

func needPdftoppm(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("pdftoppm"); err != nil {
		t.Fatal("pdftoppm (poppler-utils) is needed: the fidelity test compares with it")
	}
}

// TestThumbnailShowsThePDF is issue 3's fidelity test: for every fixture,
// page 1 of the PDF as rasterised by pdftoppm -scale-to N and folio's N px
// thumbnail differ by less than 4% of full scale per channel on average,
// and their row profiles of ink (where the text lines fall) correlate above
// 0.95. The smallest and a large size, and the last page of multi-page
// reports at 256 px, are checked too.
func TestThumbnailShowsThePDF(t *testing.T) {
	needPdftoppm(t)
	for _, f := range fixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			data, err := pdf.Paint(f.pages, f.info)
			if err != nil {
				t.Fatal(err)
			}
			checks := []struct{ page, size int }{{1, 256}, {1, 32}, {1, 1024}}
			if n := len(f.pages); n > 1 {
				checks = append(checks, struct{ page, size int }{n, 256})
			}
			for _, c := range checks {
				ref, err := rastertest.Pdftoppm(data, c.page, c.size)
				if err != nil {
					t.Fatal(err)
				}
				o := raster.Options{Size: c.size}
				img, err := raster.Thumbnail(f.pages[c.page-1], o)
				if err != nil {
					t.Fatal(err)
				}
				if img.Bounds().Size() != ref.Bounds().Size() {
					t.Fatalf("page %d at %d px: thumbnail %v, pdftoppm %v", c.page, c.size, img.Bounds().Size(), ref.Bounds().Size())
				}
				mad, corr := rastertest.Compare(img, ref)
				t.Logf("page %d at %d px: mean abs difference %.2f%%, row correlation %.4f", c.page, c.size, 100*mad, corr)
				if mad >= rastertest.MaxMeanAbsDiff || corr <= rastertest.MinRowCorr {
					t.Errorf("page %d at %d px: mean abs difference %.2f%% (limit %.0f%%), row correlation %.4f (limit %.2f)",
						c.page, c.size, 100*mad, 100*rastertest.MaxMeanAbsDiff, corr, rastertest.MinRowCorr)
					dir := t.TempDir()
					_ = rastertest.WritePNG(filepath.Join(dir, "folio.png"), img)
					_ = rastertest.WritePNG(filepath.Join(dir, "pdftoppm.png"), ref)
					t.Logf("images in %s", dir)
				}
			}
		})
	}
}

// BenchmarkPdftoppm measures what issue 3 compares folio's thumbnails
// with: pdftoppm rasterising page 1 of the PDF at 256 px (wall time of the
// process, including its start-up).
func BenchmarkPdftoppm(b *testing.B) {
	needPdftoppm(b)
	for _, f := range fixtures(b) {
		data, err := pdf.Paint(f.pages, f.info)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := rastertest.Pdftoppm(data, 1, raster.DefaultSize); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
