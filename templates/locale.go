package templates

import (
	"fmt"
	"strings"
	"time"

	"github.com/foliohealth/folio/document"
	"github.com/foliohealth/folio/profile"
	"github.com/foliohealth/folio/report"
)

// TimeLayout is how every time prints without a site profile: minutes and
// the offset the time was given in, e.g. "2026-11-20 14:03 -05:00".
const TimeLayout = "2006-01-02 15:04 -07:00"

// locale is how folio's own words, dates and times print: the language's
// catalog, the time zone (nil: as sent) and the date order.
type locale struct {
	msgs map[string]string
	zone *time.Location
	// dayFirst is the date's layout when the day comes first ("02.01.2006",
	// "02/01/2006"); "" for year first (ISO 8601).
	dayFirst string
}

// defaultLocale is folio's built-in look: English, times as sent, ISO dates.
var defaultLocale = &locale{msgs: en}

// dayFirstLayouts are the languages whose usual numeric date puts the day
// first (docs/site-profile-v1.md); the others print ISO 8601.
var dayFirstLayouts = map[string]string{"de": "02.01.2006", "fr": "02/01/2006", "es": "02/01/2006"}

func newLocale(p *profile.Profile) *locale {
	lc := &locale{msgs: catalogs[p.Language], zone: p.Zone}
	if lc.msgs == nil {
		lc.msgs = en
	}
	if !p.ISODates {
		lc.dayFirst = dayFirstLayouts[p.Language]
	}
	return lc
}

// t returns the message with the given id (catalog_test.go guarantees
// every language has every id the code uses; a missing one prints in
// English rather than not at all).
func (lc *locale) t(id string) string {
	if s, ok := lc.msgs[id]; ok {
		return s
	}
	return en[id]
}

// f formats the message with the given id.
func (lc *locale) f(id string, args ...any) string { return fmt.Sprintf(lc.t(id), args...) }

// in returns t in the locale's zone.
func (lc *locale) in(t time.Time) time.Time {
	if lc.zone != nil {
		return t.In(lc.zone)
	}
	return t
}

// when prints a time with minutes and its offset, in the locale's zone and
// date order, every element but the year marked PHI: HIPAA Safe Harbor
// (and DICOM PS3.15's Basic Application Level Confidentiality Profile)
// keep the year of a date and remove the rest, so a de-identified
// thumbnail shows "2026" where the PDF shows the full time.
func (lc *locale) when(t time.Time, style document.Style) document.Text {
	t = lc.in(t)
	clock := t.Format(" 15:04 -07:00")
	if lc.dayFirst == "" {
		s := t.Format("2006-01-02") + clock
		return document.Text{{Text: s[:4], Style: style}, {Text: s[4:], Style: style, PHI: true}}
	}
	d := t.Format(lc.dayFirst) // dd.mm.yyyy
	return document.Text{{Text: d[:6], Style: style, PHI: true}, {Text: d[6:], Style: style}, {Text: clock, Style: style, PHI: true}}
}

// day prints the date of a time in the locale's zone and date order.
func (lc *locale) day(t time.Time) string {
	t = lc.in(t)
	if lc.dayFirst == "" {
		return t.Format("2006-01-02")
	}
	return t.Format(lc.dayFirst)
}

// date reorders a full calendar date (YYYY-MM-DD, a birth date) for the
// locale; a partial date (YYYY, YYYY-MM) prints as sent.
func (lc *locale) date(s string) string {
	if lc.dayFirst == "" {
		return s
	}
	d, err := time.Parse("2006-01-02", s)
	if err != nil {
		return s
	}
	return d.Format(lc.dayFirst)
}

// BuildProfile is Build shaped by a site profile: folio's words in the
// profile's language, times in its zone, its letterhead, laboratory block,
// watermark, accent and closing note. A nil profile is Build: folio's
// built-in look, byte for byte.
func BuildProfile(r *report.Report, p *profile.Profile) (*document.Document, []string, error) {
	if p == nil {
		return Build(r)
	}
	lc := newLocale(p)
	d, warnings, err := buildLocale(r, lc)
	if err != nil {
		return nil, nil, err
	}
	site := &document.Site{RTL: p.Language == "ar", PageOf: lc.t("page.of")}
	if lh := p.Letterhead; lh != nil {
		if lh.Logo != nil {
			site.Logo = &document.Image{Img: lh.Logo, ContentType: "image/png", Src: lh.LogoPNG, Ready: true}
		}
		site.Letterhead = lh.Lines
		site.LetterheadRight = lh.Right
	}
	if lab := p.Laboratory; lab != nil {
		site.Laboratory = append(site.Laboratory, lab.Name)
		if len(lab.Address) > 0 {
			site.Laboratory = append(site.Laboratory, strings.Join(lab.Address, " · "))
		}
		var more []string
		if lab.Phone != "" {
			more = append(more, lc.t("lab.phone")+lab.Phone)
		}
		if lab.Director != "" {
			more = append(more, lc.t("lab.director")+lab.Director)
		}
		for _, id := range lab.IDs {
			more = append(more, id.Label+" "+id.Value)
		}
		if len(more) > 0 {
			site.Laboratory = append(site.Laboratory, strings.Join(more, " · "))
		}
	}
	if p.Accent != nil {
		site.Accent = &document.RGB{R: p.Accent.R, G: p.Accent.G, B: p.Accent.B}
	}
	if p.PreliminaryWatermark && r.Status == report.StatusPreliminary {
		site.Watermark = lc.t("status.preliminary.word")
	}
	if p.ClosingNote != "" {
		d.Body = append(d.Body, document.Paragraph{Text: document.T(p.ClosingNote)})
	}
	d.Site = site
	d.Info.Profile, d.Info.ProfileDigest = p.ID, p.Digest
	return d, warnings, nil
}
