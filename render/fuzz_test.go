package render_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliohealth/folio/render"
	"github.com/foliohealth/folio/report"
)

// FuzzRender drives decode, markdown, templates, layout and both painters
// with arbitrary report JSON: nothing may panic or hang, an accepted report
// always lays out into at least one page, and the PDF always paints.
// Seeded from every good and bad fixture.
func FuzzRender(f *testing.F) {
	for _, glob := range []string{"*.json", "bad/*.json"} {
		paths, _ := filepath.Glob(filepath.Join(fixtures, glob))
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			if len(b) < 64<<10 {
				f.Add(b)
			}
		}
	}
	lim := report.DefaultLimits()
	lim.MaxBytes = 256 << 10 // keep each execution small
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := report.Decode(data, lim)
		if err != nil {
			return
		}
		laid, err := render.Layout(r)
		if err != nil {
			// The decoder checks an image's header, not its pixels: an image
			// whose body cannot be decoded is refused at layout, as a
			// report.Errors naming the image's data field (a job ends
			// invalid, not retried). Anything else is a defect.
			var fe report.Errors
			if errors.As(err, &fe) && len(fe) > 0 && strings.HasSuffix(fe[0].Path, ".data") && strings.Contains(fe[0].Rule, "cannot decode") {
				return
			}
			t.Fatalf("layout of an accepted report failed: %v", err)
		}
		if len(laid.Pages) == 0 {
			t.Fatal("no pages")
		}
		if _, err := laid.PDF(); err != nil {
			t.Fatalf("pdf: %v", err)
		}
		if _, err := laid.Thumbnail(render.ThumbOptions{Size: 64}); err != nil {
			t.Fatalf("thumbnail: %v", err)
		}
	})
}
