// Package render turns a validated report into laid-out pages and paints
// them as a PDF or as a page thumbnail; both outputs come from the same
// layout.
package render

import (
	"errors"

	"github.com/foliohealth/folio/doc"
	"github.com/foliohealth/folio/render/layout"
	"github.com/foliohealth/folio/report"
)

// Laid is a report laid out into pages, ready for painting. It is immutable
// and may be painted any number of times, concurrently.
type Laid struct {
	Pages    []layout.Page
	Info     doc.Info
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

var errNotBuilt = errors.New("render: not built yet")

// Layout lays out a validated report.
func Layout(r *report.Report) (*Laid, error) { return nil, errNotBuilt }

// PDF paints the laid-out pages as a PDF.
func (l *Laid) PDF() ([]byte, error) { return nil, errNotBuilt }

// Thumbnail paints one page as an image.
func (l *Laid) Thumbnail(o ThumbOptions) (*Image, error) { return nil, errNotBuilt }
