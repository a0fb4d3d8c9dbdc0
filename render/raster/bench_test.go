package raster_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/foliohealth/folio/render/layout"
	"github.com/foliohealth/folio/render/raster"
	"github.com/foliohealth/folio/report"
	"github.com/foliohealth/folio/templates"
)

// BenchmarkThumbnail measures a 256 px page-1 PNG thumbnail of each fixture
// from its document model: layout, painting, encoding. Run it on one core:
//
//	go test -run - -bench Thumbnail -cpu 1 ./render/raster/
func BenchmarkThumbnail(b *testing.B) {
	o := raster.Options{Size: raster.DefaultSize}
	for _, name := range fixtureNames(b) {
		data, err := os.ReadFile(filepath.Join(fixturesDir, name+".json"))
		if err != nil {
			b.Fatal(err)
		}
		r, err := report.Decode(data, report.DefaultLimits())
		if err != nil {
			b.Fatal(err)
		}
		d, _, err := templates.Build(r)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := layout.Layout(d, layout.Letter)
				if err != nil {
					b.Fatal(err)
				}
				img, err := raster.Thumbnail(res.Pages[0], o)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := raster.Encode(img, o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPaint measures painting alone (no layout, no encoding) of page 1
// of one fixture at thumbnail sizes.
func BenchmarkPaint(b *testing.B) {
	page := layoutFixture(b, "surgical-breast")[0]
	for _, size := range []int{64, 256, 1024} {
		b.Run(sizeName(size), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := raster.Thumbnail(page, raster.Options{Size: size}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func sizeName(n int) string { return "size=" + strconv.Itoa(n) }

// BenchmarkEncode measures encoding a 256 px page-1 thumbnail.
func BenchmarkEncode(b *testing.B) {
	page := layoutFixture(b, "surgical-breast")[0]
	img, err := raster.Thumbnail(page, raster.Options{Size: raster.DefaultSize})
	if err != nil {
		b.Fatal(err)
	}
	for _, format := range []string{raster.PNG, raster.JPEG} {
		b.Run(format, func(b *testing.B) {
			o := raster.Options{Size: raster.DefaultSize, Format: format}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := raster.Encode(img, o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
