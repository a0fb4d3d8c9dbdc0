package console

import (
	"cmp"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/report"
)

// maxQuery bounds a search term, in characters: the longest report
// identifier (an accession may be one); patient ids and MRNs are shorter.
const maxQuery = report.MaxIdentifier

// maxCards bounds the reports shown for one search.
const maxCards = 200

// statusView is how a report status is shown: a label that cannot be
// missed and a style class.
type statusView struct{ Label, Class, Note string }

// reportStatus shows a record's status. Anything but a current final
// version is marked loudly.
func reportStatus(rec *folio.Record) statusView {
	var s statusView
	switch rec.Status {
	case "final":
		s = statusView{"FINAL", "final", ""}
	case "preliminary":
		s = statusView{"PRELIMINARY", "prelim", "Preliminary: not the final report."}
	case "amended":
		s = statusView{"AMENDED", "amended", "Amended after it was final."}
	case "corrected":
		s = statusView{"CORRECTED", "amended", "Corrected after it was final."}
	case "appended":
		s = statusView{"ADDENDUM ADDED", "amended", "An addendum was added after it was final."}
	default:
		s = statusView{strings.ToUpper(rec.Status), "prelim", ""}
	}
	if rec.SupersededBy != "" {
		s.Label += " · SUPERSEDED"
		s.Class = "superseded"
		s.Note = "A newer version (" + rec.SupersededBy + ") replaces this one."
	}
	if rec.EnteredInError != "" {
		s = statusView{"ENTERED IN ERROR", "eie", "Entered in error: " + rec.EnteredInError + ". Do not use this version."}
	}
	return s
}

// versionView is one version of a report on a card.
type versionView struct {
	Rec    *folio.Record
	Status statusView
	PDF    string // Binary id of its PDF, "" if none
}

// cardView is one report: its current version with thumbnail, and every
// version found.
type cardView struct {
	Current  versionView
	Thumb    *folio.Binary
	Versions []versionView
}

// documents searches records by patient id, MRN or accession number. The
// search is a POST so that the identifier is never in a URL (history,
// proxy and access logs).
func (c *Console) documents(w http.ResponseWriter, r *http.Request) {
	data := struct {
		Query    string
		Searched bool
		Cards    []cardView
		Found    int
		Cut      bool
		Search   bool // MRN and accession search available
	}{Search: c.cfg.Search != nil}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		if err := r.ParseForm(); err != nil {
			c.fail(w, http.StatusBadRequest, "documents", "The search form could not be read.")
			return
		}
		q := strings.TrimSpace(r.PostForm.Get("q"))
		if utf8.RuneCountInString(q) > maxQuery {
			c.fail(w, http.StatusBadRequest, "documents", "The search term is longer than "+strconv.Itoa(maxQuery)+" characters.")
			return
		}
		data.Query, data.Searched = q, q != ""
		if q != "" {
			recs, err := c.find(r.Context(), q)
			if err != nil {
				c.fail(w, http.StatusServiceUnavailable, "documents", "The documents cannot be searched now: "+err.Error())
				return
			}
			data.Found = len(recs)
			data.Cards = c.cards(r.Context(), recs)
			if len(data.Cards) > maxCards {
				data.Cards, data.Cut = data.Cards[:maxCards], true
			}
		}
	}
	c.render(w, http.StatusOK, "documents", "Documents", data)
}

// find returns the records whose patient id, MRN or accession number is q.
func (c *Console) find(ctx context.Context, q string) ([]*folio.Record, error) {
	seen := map[string]bool{}
	var out []*folio.Record
	add := func(recs []*folio.Record, err error) error {
		if err != nil {
			return err
		}
		for _, r := range recs {
			if !seen[r.ID] {
				seen[r.ID] = true
				out = append(out, r)
			}
		}
		return nil
	}
	if err := add(c.cfg.Store.RecordsByPatient(ctx, q)); err != nil {
		return nil, err
	}
	if c.cfg.Search != nil {
		if err := add(c.cfg.Search.RecordsByMRN(ctx, q)); err != nil {
			return nil, err
		}
		if err := add(c.cfg.Search.RecordsByAccession(ctx, q)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// cards groups records by report, newest version first, most recently
// issued report first.
func (c *Console) cards(ctx context.Context, recs []*folio.Record) []cardView {
	byReport := map[string][]*folio.Record{}
	var order []string
	for _, r := range recs {
		if _, ok := byReport[r.ReportID]; !ok {
			order = append(order, r.ReportID)
		}
		byReport[r.ReportID] = append(byReport[r.ReportID], r)
	}
	var cards []cardView
	for _, id := range order {
		vs := byReport[id]
		slices.SortFunc(vs, func(a, b *folio.Record) int { return cmp.Compare(b.Version, a.Version) })
		card := cardView{}
		for _, v := range vs {
			card.Versions = append(card.Versions, versionView{Rec: v, Status: reportStatus(v), PDF: binaryOf(v, folio.OutputPDF)})
		}
		// The current version: the newest neither superseded nor entered
		// in error; if none is, the newest (shown entered in error).
		card.Current = card.Versions[0]
		for _, v := range card.Versions {
			if v.Rec.SupersededBy == "" && v.Rec.EnteredInError == "" {
				card.Current = v
				break
			}
		}
		if id := binaryOf(card.Current.Rec, folio.OutputThumbnail); id != "" {
			for i := range card.Current.Rec.Binaries {
				if b := &card.Current.Rec.Binaries[i]; b.ID == id {
					card.Thumb = b
				}
			}
		}
		cards = append(cards, card)
	}
	slices.SortStableFunc(cards, func(a, b cardView) int {
		return b.Current.Rec.Issued.Compare(a.Current.Rec.Issued)
	})
	return cards
}

// binaryOf returns the id of a record's Binary of one output, "" if none.
func binaryOf(rec *folio.Record, output string) string {
	for _, b := range rec.Binaries {
		if b.Output == output {
			return b.ID
		}
	}
	return ""
}

// binary serves a stored Binary's bytes for the browser to show: a PDF
// opens in its viewer (inline), a thumbnail is an image.
func (c *Console) binary(w http.ResponseWriter, r *http.Request) {
	b, rc, err := c.cfg.Store.OpenBinary(r.Context(), r.PathValue("id"))
	if errors.Is(err, folio.ErrNotFound) {
		c.fail(w, http.StatusNotFound, "documents", "No such document.")
		return
	}
	if err != nil {
		c.fail(w, http.StatusServiceUnavailable, "documents", "The document cannot be read now: "+err.Error())
		return
	}
	defer rc.Close()
	h := w.Header()
	ext := ".pdf"
	if b.ContentType != "application/pdf" {
		ext = ".png"
		if b.ContentType == "image/jpeg" {
			ext = ".jpg"
		}
	}
	h.Set("Content-Type", b.ContentType)
	h.Set("Content-Length", strconv.FormatInt(b.Size, 10))
	h.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": b.ID + ext}))
	h.Set("Last-Modified", b.Created.UTC().Format(http.TimeFormat))
	// The browser's PDF viewer is a plugin-like frame that a page CSP of
	// default-src 'none' would block; the bytes are a stored rendition,
	// never HTML (nosniff stays).
	if b.ContentType == "application/pdf" {
		h.Del("Content-Security-Policy")
		h.Del("X-Frame-Options")
	}
	if _, err := io.Copy(w, rc); err != nil && r.Context().Err() == nil {
		c.log.Warn("console: sending a Binary failed", "err", err)
	}
}
