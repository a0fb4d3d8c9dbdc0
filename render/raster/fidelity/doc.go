// Package fidelity holds the test that proves a thumbnail shows the PDF: it
// paints every fixture with the PDF painter, rasterises the PDF with poppler's
// pdftoppm and compares that with folio's own thumbnail of the same page. It
// has no code of its own; it is a separate package so that its dependency on
// the PDF painter never stops the raster package's own tests from building.
package fidelity
