// Package render turns a validated report into laid-out pages and paints
// them as a PDF or as a page thumbnail; both outputs come from the same
// layout, so a thumbnail shows exactly what the PDF shows.
//
// A Laid is immutable once built and may be painted any number of times,
// concurrently; everything per job (fpdf documents, raster canvases) is
// created by the painters for each call.
package render

import (
	"fmt"

	"github.com/foliohealth/folio/document"
	"github.com/foliohealth/folio/render/layout"
	"github.com/foliohealth/folio/render/pdf"
	"github.com/foliohealth/folio/render/raster"
	"github.com/foliohealth/folio/report"
	"github.com/foliohealth/folio/templates"
)

// Laid is a report laid out into pages, ready for painting.
type Laid struct {
	Pages    []layout.Page
	Info     document.Info
	Warnings []string // characters replaced, url sections left out, ...
}

// ThumbOptions selects a thumbnail.
type ThumbOptions struct {
	Size       int    // longest side in pixels, 32..2048 (default 256)
	Format     string // "png" (default) or "jpeg"
	Quality    int    // JPEG quality 1..100 (default 85)
	Page       int    // 1-based page number (default 1)
	Deidentify bool   // leave out the patient-identifying header fields
}

// Image is an encoded thumbnail.
type Image struct {
	Bytes         []byte
	ContentType   string // "image/png" or "image/jpeg"
	Width, Height int
}

// Errors about thumbnail options wrap raster.ErrOption (an option out of
// range) or raster.ErrPage (a page the document does not have).
// Layout lays out a validated report on US Letter pages.
func Layout(r *report.Report) (*Laid, error) {
	d, warnings, err := templates.Build(r)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	res, err := layout.Layout(d, layout.Letter)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	return &Laid{Pages: res.Pages, Info: d.Info, Warnings: append(warnings, replacementWarnings(r, res)...)}, nil
}

// PDF paints the laid-out pages as a PDF; options such as pdf.Sign change
// how (none: today's unsigned PDF).
func (l *Laid) PDF(opts ...pdf.Option) ([]byte, error) {
	return pdf.Paint(l.Pages, l.Info, opts...)
}

// Thumbnail paints one page as an image, from the same laid-out page the
// PDF shows. Zero options mean size 256, PNG, quality 85, page 1.
func (l *Laid) Thumbnail(o ThumbOptions) (*Image, error) {
	ro := raster.Options{Size: o.Size, Format: o.Format, Quality: o.Quality, Deidentify: o.Deidentify}
	if ro.Size == 0 {
		ro.Size = raster.DefaultSize
	}
	page, err := raster.SelectPage(l.Pages, o.Page)
	if err != nil {
		return nil, err
	}
	img, err := raster.Thumbnail(page, ro)
	if err != nil {
		return nil, err
	}
	b, err := raster.Encode(img, ro)
	if err != nil {
		return nil, err
	}
	bnds := img.Bounds()
	return &Image{Bytes: b, ContentType: ro.ContentType(), Width: bnds.Dx(), Height: bnds.Dy()}, nil
}
