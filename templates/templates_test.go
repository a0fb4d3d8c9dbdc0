package templates

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/document"
	"github.com/foliohealth/folio/report"
)

// texts returns every string the document holds, in document order: header,
// info and every block (recursively).
func texts(d *document.Document) []string {
	out := []string{d.Info.Title, d.Info.Author, d.Info.Subject, d.Info.Creator,
		d.Header.Facility, d.Header.Title, d.Header.Status, d.Header.Footer.Plain()}
	for _, f := range d.Header.Identity {
		out = append(out, f.Label, f.Value.Plain())
	}
	return blockTexts(out, d.Body)
}

func blockTexts(out []string, blocks []document.Block) []string {
	for _, b := range blocks {
		switch b := b.(type) {
		case document.Heading:
			out = append(out, b.Text.Plain())
		case document.Paragraph:
			out = append(out, b.Text.Plain())
		case document.List:
			for _, it := range b.Items {
				out = blockTexts(out, it)
			}
		case document.Quote:
			out = blockTexts(out, b.Blocks)
		case document.Preformatted:
			out = append(out, b.Text)
		case document.Table:
			for _, h := range b.Header {
				out = append(out, h.Plain())
			}
			for _, row := range b.Rows {
				for _, c := range row {
					out = append(out, c.Plain())
				}
			}
		case document.Fields:
			for _, f := range b.Items {
				out = append(out, f.Label, f.Value.Plain())
			}
		case document.Image:
			out = append(out, b.Caption)
		case document.Notice:
			out = append(out, b.Text.Plain())
		case document.Signature:
			out = append(out, b.Text.Plain())
		case document.Rule:
		default:
			panic(fmt.Sprintf("unknown block %T", b))
		}
	}
	return out
}

func build(t *testing.T, r *report.Report) (*document.Document, []string) {
	t.Helper()
	d, warns, err := Build(r)
	if err != nil {
		t.Fatal(err)
	}
	return d, warns
}

// headings returns the body's headings as "level:text".
func headings(d *document.Document) []string {
	var hs []string
	for _, b := range d.Body {
		if h, ok := b.(document.Heading); ok {
			hs = append(hs, fmt.Sprintf("%d:%s", h.Level, h.Text.Plain()))
		}
	}
	return hs
}

// kinds returns the body's block types, e.g. "Notice Fields Heading ...".
func kinds(blocks []document.Block) string {
	var ks []string
	for _, b := range blocks {
		ks = append(ks, strings.TrimPrefix(fmt.Sprintf("%T", b), "document."))
	}
	return strings.Join(ks, " ")
}

func identity(d *document.Document) string {
	var s []string
	for _, f := range d.Header.Identity {
		s = append(s, f.Label+"="+f.Value.Plain())
	}
	return strings.Join(s, "; ")
}

// sectionHeadings lists the headings the sections should produce, in
// reading order, with their depth.
func sectionHeadings(ss []report.Section, depth int, out []string) []string {
	for _, s := range ss {
		out = append(out, fmt.Sprintf("%d:%s", depth, s.Title))
		out = sectionHeadings(s.Sections, depth+1, out)
	}
	return out
}

// TestEveryFixture checks what every document must hold, for every good
// fixture: header and info from the report, section headings in reading
// order at their depth, and signatures.
func TestEveryFixture(t *testing.T) {
	for _, name := range fixtureNames(t) {
		t.Run(name, func(t *testing.T) {
			r := loadFixture(t, name)
			d, _ := build(t, r)
			if d.Header.Title != r.Title || d.Info.Title != r.Title+" — "+r.Patient.Name {
				t.Errorf("title: header %q info %q, want %q", d.Header.Title, d.Info.Title, r.Title)
			}
			if len(d.Header.Identity) == 0 || d.Header.Identity[0].Label != "Patient" || d.Header.Identity[0].Value.Plain() != r.Patient.Name {
				t.Errorf("identity %s does not start with the patient name %q", identity(d), r.Patient.Name)
			}
			if d.Info.Creator != "folio "+folio.Version || !d.Info.Created.Equal(r.Issued) {
				t.Errorf("info creator %q created %v", d.Info.Creator, d.Info.Created)
			}
			// Only the title identifies the patient.
			for _, id := range []string{r.Patient.Name, r.Patient.MRN, r.Accession, r.Patient.BirthDate} {
				if id == "" {
					continue
				}
				for _, field := range []string{d.Info.Author, d.Info.Subject, d.Info.Creator} {
					if strings.Contains(field, id) {
						t.Errorf("document information %q holds patient identity %q", field, id)
					}
				}
			}
			if want := fmt.Sprintf("Report %s · version %d · issued %s", r.ID, max(r.Version, 1), r.Issued.Format(TimeLayout)); d.Header.Footer.Plain() != want {
				t.Errorf("footer %q, want %q", d.Header.Footer.Plain(), want)
			}
			// Section headings appear in reading order, level = depth.
			want := sectionHeadings(r.Sections, 1, nil)
			got := headings(d)
			i := 0
			for _, h := range got {
				if i < len(want) && h == want[i] {
					i++
				}
			}
			if i != len(want) {
				t.Errorf("section headings out of order or missing at %d (%v)\n got %q", i, want[i:], got)
			}
			var sigs int
			for _, p := range r.Performers {
				if p.SignedAt != nil {
					sigs++
				}
			}
			var gotSigs int
			for _, b := range d.Body {
				if _, ok := b.(document.Signature); ok {
					gotSigs++
				}
			}
			if gotSigs != sigs {
				t.Errorf("%d signature lines, want %d", gotSigs, sigs)
			}
		})
	}
}

func TestStructure(t *testing.T) {
	tests := []struct {
		name     string
		status   string // header status word
		identity string
		prefix   string // first block kinds
		warnings []string
	}{
		{
			name: "spec-example", identity: "Patient=Ramírez, Ana; MRN=000123456; DOB=1961-04-09; Accession=S26-004512",
			prefix:   "Fields Heading Fields Heading",
			warnings: []string{`sections[2]: url section "Digital Slides" not included in PDF`},
		},
		{
			name: "surgical-breast", identity: "Patient=Whitfield, Margaret A.; MRN=000482913; DOB=1958-02-17; Accession=S26-004871",
			prefix: "Fields Heading Fields Heading",
		},
		{
			name: "mr-brain-preliminary", status: "PRELIMINARY",
			identity: "Patient=Okonkwo, Chidinma; MRN=RX-8821907; DOB=1987-03-08; Exam=MR · MRI brain without and with IV contrast · 2026-11-27",
			prefix:   "Notice Fields Heading Fields Heading",
		},
		{
			name: "amended-prostate", status: "AMENDED",
			identity: "Patient=Abernathy, Thomas J.; MRN=000356120; DOB=1954-11-02; Accession=S26-003318",
			prefix:   "Notice Paragraph Fields Heading Fields Heading",
		},
		{
			name: "dx-chest-corrected", status: "CORRECTED",
			identity: "Patient=Mbeki, Thandiwe; MRN=RX-9017733; DOB=1946-06-25; Exam=DX · Chest radiograph, PA and lateral · 2026-11-22",
			prefix:   "Notice Paragraph Fields Heading Fields Heading",
		},
		{
			name: "addenda-colon", status: "ADDENDUM ADDED",
			identity: "Patient=Delacroix, Simone; MRN=000190337; DOB=1969-05-21; Accession=S26-002954",
			prefix:   "Notice Fields Heading Fields Heading",
		},
		{
			name: "url-sections", identity: "Patient=Harrington, Louise E.; MRN=000590218; DOB=1963-01-29; Accession=S26-004990",
			prefix: "Fields Heading Fields Heading",
			warnings: []string{
				`sections[1]: url section "Digital Slides" not included in PDF`,
				`sections[3]: url section "Endoscopy Photographs" not included in PDF`,
				`sections[4]: url section "Tumor Board Recording" not included in PDF`,
				`sections[5].sections[0]: url section "Prior Biopsy Report" not included in PDF`,
				`sections[5].sections[1]: url section "Urea Breath Test" not included in PDF`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, warns := build(t, loadFixture(t, tt.name))
			if d.Header.Status != tt.status {
				t.Errorf("status %q, want %q", d.Header.Status, tt.status)
			}
			if got := identity(d); got != tt.identity {
				t.Errorf("identity\n got %s\nwant %s", got, tt.identity)
			}
			if got := kinds(d.Body); !strings.HasPrefix(got, tt.prefix) {
				t.Errorf("blocks start %q, want prefix %q", got, tt.prefix)
			}
			if !reflect.DeepEqual(warns, tt.warnings) {
				t.Errorf("warnings\n got %q\nwant %q", warns, tt.warnings)
			}
			if tt.status != "" {
				n, ok := d.Body[0].(document.Notice)
				if !ok || !strings.HasPrefix(n.Text.Plain(), tt.status) {
					t.Errorf("first block %#v is not the %s notice", d.Body[0], tt.status)
				}
			}
		})
	}
}

func TestAmendmentReasonOnPageOne(t *testing.T) {
	for name, want := range map[string]string{
		"amended-prostate":   "Amended 2026-10-14 09:28 -04:00. Reason: Gleason score for part C",
		"dx-chest-corrected": "Corrected 2026-11-22 09:50 -07:00. Reason: Laterality corrected",
	} {
		d, _ := build(t, loadFixture(t, name))
		p, ok := d.Body[1].(document.Paragraph)
		if !ok || !strings.HasPrefix(p.Text.Plain(), want) {
			t.Errorf("%s: second block %#v, want paragraph starting %q", name, d.Body[1], want)
		}
	}
}

// TestURLNeverInDocument: no string anywhere in the document holds the
// target of a url section, and each url section leaves a notice naming it.
func TestURLNeverInDocument(t *testing.T) {
	var urlSections int
	for _, name := range fixtureNames(t) {
		r := loadFixture(t, name)
		d, warns := build(t, r)
		all := texts(d)
		var walk func(ss []report.Section)
		walk = func(ss []report.Section) {
			for _, s := range ss {
				walk(s.Sections)
				if s.Kind != report.SectionURL {
					continue
				}
				urlSections++
				for _, str := range all {
					if strings.Contains(str, s.URL) || strings.Contains(str, "://") {
						t.Errorf("%s: url of %q printed in %q", name, s.Title, str)
					}
				}
				notice := false
				for _, b := range d.Body {
					if n, ok := b.(document.Notice); ok && strings.Contains(n.Text.Plain(), `"`+s.Title+`"`) && strings.Contains(n.Text.Plain(), "not included in this PDF") && strings.Contains(n.Text.Plain(), s.LinkText) {
						notice = true
					}
				}
				if !notice {
					t.Errorf("%s: no notice for url section %q", name, s.Title)
				}
				named := false
				for _, w := range warns {
					named = named || strings.Contains(w, `"`+s.Title+`"`)
				}
				if !named {
					t.Errorf("%s: no warning names url section %q: %q", name, s.Title, warns)
				}
			}
		}
		walk(r.Sections)
	}
	if urlSections < 6 {
		t.Fatalf("only %d url sections in the fixtures", urlSections)
	}
}

func TestSignatures(t *testing.T) {
	d, _ := build(t, loadFixture(t, "surgical-breast"))
	tail := d.Body[len(d.Body)-3:]
	if kinds(tail) != "Rule Signature Paragraph" {
		t.Fatalf("document ends with %s", kinds(tail))
	}
	if got, want := tail[1].(document.Signature).Text.Plain(), "Electronically signed by Julian Okafor, MD, Pathologist on 2026-11-24 16:40 -05:00"; got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
	if got, want := tail[2].(document.Paragraph).Text.Plain(), "Priya Raman, MD, Pathology Resident (not signed)"; got != want {
		t.Errorf("unsigned performer %q, want %q", got, want)
	}
	if d.Info.Author != "Julian Okafor, MD" {
		t.Errorf("author %q", d.Info.Author)
	}
	d, _ = build(t, loadFixture(t, "multiscript"))
	if want := "Παπαδοπούλου, Ελένη, MD; Кузнецов, Дмитрий Алексеевич, MD"; d.Info.Author != want {
		t.Errorf("author %q, want %q", d.Info.Author, want)
	}
	// Times keep the offset they were given in.
	if got := d.Body[len(d.Body)-3].(document.Signature).Text.Plain(); !strings.HasSuffix(got, "on 2026-12-01 17:22 +07:00") {
		t.Errorf("signature %q does not keep +07:00", got)
	}
}

// TestAddendaNewestLast: the fixture lists its addenda newest first; the
// document numbers and prints them oldest first, after the sections and
// before the signatures.
func TestAddendaNewestLast(t *testing.T) {
	d, _ := build(t, loadFixture(t, "addenda-colon"))
	var got []string
	var after []string
	for i, b := range d.Body {
		if h, ok := b.(document.Heading); ok && strings.HasPrefix(h.Text.Plain(), "Addendum") {
			got = append(got, h.Text.Plain())
			after = append(after, strings.Join(blockTexts(nil, d.Body[i+1:i+2]), " "))
		}
	}
	want := []string{
		"Addendum 1 — issued 2026-09-19 13:40 -05:00 by Nadia Haddad, MD",
		"Addendum 2 — issued 2026-09-29 10:15 -05:00 by Nadia Haddad, MD",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("addenda headings\n got %q\nwant %q", got, want)
	}
	if !strings.Contains(after[0], "Mismatch repair") || !strings.Contains(after[1], "Molecular results") {
		t.Errorf("addendum bodies out of order: %q", after)
	}
	if k := kinds(d.Body[len(d.Body)-2:]); k != "Rule Signature" {
		t.Errorf("document ends with %s, want the signature after the addenda", k)
	}
}

func TestSectionKinds(t *testing.T) {
	// text sections go through markdown: raw HTML stays literal text, GFM
	// tables become tables, lists become lists.
	d, _ := build(t, loadFixture(t, "hostile-markdown"))
	all := strings.Join(texts(d), "\n")
	for _, want := range []string{`<script>alert("x");`, "<b>structures</b>", "Breslow"} {
		if !strings.Contains(all, want) {
			t.Errorf("hostile markdown: %q missing from the document", want)
		}
	}
	if k := kinds(d.Body); !strings.Contains(k, "Table") || !strings.Contains(k, "List") || !strings.Contains(k, "Quote") {
		t.Errorf("hostile markdown blocks %s lack a table, list or quote", k)
	}

	d, _ = build(t, loadFixture(t, "lis-legacy-plain"))
	r := loadFixture(t, "lis-legacy-plain")
	var pre []string
	for _, b := range d.Body {
		if p, ok := b.(document.Preformatted); ok {
			pre = append(pre, p.Text)
		}
	}
	if len(pre) != 2 || pre[0] != r.Sections[1].Body || pre[1] != r.Sections[2].Body {
		t.Errorf("plain sections not kept verbatim as Preformatted: %d blocks", len(pre))
	}

	d, _ = build(t, loadFixture(t, "surgical-breast"))
	var tbl *document.Table
	for _, b := range d.Body {
		if tb, ok := b.(document.Table); ok {
			tbl = &tb
		}
	}
	if tbl == nil || len(tbl.Header) != 5 || len(tbl.Rows) != 5 || tbl.Rows[0][1].Plain() != "SP1" || tbl.Header[0][0].Style != document.Bold {
		t.Errorf("IHC table not carried over: %#v", tbl)
	}

	d, _ = build(t, loadFixture(t, "autopsy"))
	hs := strings.Join(headings(d), "|")
	for _, want := range []string{"1:Internal Examination|2:Body Cavities", "2:Cardiovascular System|3:Heart|3:Coronary Arteries and Grafts"} {
		if !strings.Contains(hs, want) {
			t.Errorf("autopsy headings lack %q", want)
		}
	}
	for _, b := range d.Body {
		if tb, ok := b.(document.Table); ok && tb.Header[0].Plain() == "Block" && len(tb.Rows) < 150 {
			t.Errorf("histology table has %d rows", len(tb.Rows))
		}
	}
}

func TestRadiologyExamGrid(t *testing.T) {
	d, _ := build(t, loadFixture(t, "ct-chest"))
	if hs := headings(d); hs[0] != "1:Exam" {
		t.Fatalf("first heading %q, want the exam", hs[0])
	}
	for _, b := range d.Body {
		if h, ok := b.(document.Heading); ok && h.Text.Plain() == "Specimens" {
			t.Error("radiology report has a Specimens heading")
		}
	}
	var grid document.Fields
	for i, b := range d.Body {
		if h, ok := b.(document.Heading); ok && h.Text.Plain() == "Exam" {
			grid = d.Body[i+1].(document.Fields)
		}
	}
	var got []string
	for _, f := range grid.Items {
		got = append(got, f.Label+"="+f.Value.Plain())
	}
	want := []string{"Modality=CT (Computed tomography)", "Description=CT chest with IV contrast", "Performed=2026-11-18 08:12 -07:00", "Body site=Chest", "Study UID=1.2.840.113619.2.55.3.604688119.971.1731939120.2041"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("exam grid\n got %q\nwant %q", got, want)
	}
}

func TestSpecimensGrid(t *testing.T) {
	d, _ := build(t, loadFixture(t, "surgical-breast"))
	var grid document.Fields
	for i, b := range d.Body {
		if h, ok := b.(document.Heading); ok && h.Text.Plain() == "Specimens" {
			grid = d.Body[i+1].(document.Fields)
			break
		}
	}
	if len(grid.Items) != 3 || grid.Items[2].Label != "C" {
		t.Fatalf("specimens grid %#v", grid)
	}
	if got, want := grid.Items[0].Value.Plain(), "Breast, right, wire-localized lumpectomy (stitch short superior, long lateral)\ncollected 2026-11-21 08:55 -05:00; received 2026-11-21 09:40 -05:00"; got != want {
		t.Errorf("specimen A\n got %q\nwant %q", got, want)
	}
}

func TestDeterministic(t *testing.T) {
	for _, name := range []string{"key-images", "autopsy", "url-sections"} {
		d1, w1 := build(t, loadFixture(t, name))
		d2, w2 := build(t, loadFixture(t, name))
		if !reflect.DeepEqual(d1, d2) || !reflect.DeepEqual(w1, w2) {
			t.Errorf("%s: two builds differ", name)
		}
	}
}

func TestRefusesWhatDecodeWouldRefuse(t *testing.T) {
	base := func() *report.Report {
		return &report.Report{Schema: report.Schema, ID: "x", Version: 1, Kind: report.KindAP, Title: "T", Status: report.StatusFinal,
			Patient: report.Patient{ID: "p", Name: "N"}, Sections: []report.Section{{Kind: report.SectionText, Title: "A", Body: "b"}}}
	}
	tests := []struct {
		name   string
		change func(r *report.Report)
		want   string
	}{
		{"status", func(r *report.Report) { r.Status = "draft" }, `status: unknown status "draft"`},
		{"kind", func(r *report.Report) { r.Kind = "lab" }, `kind: unknown report kind "lab"`},
		{"section kind", func(r *report.Report) {
			r.Sections[0].Sections = []report.Section{{Kind: "video", Title: "V"}}
		}, `sections[0].sections[0].kind: unknown section kind "video"`},
		{"image", func(r *report.Report) {
			r.Sections = append(r.Sections, report.Section{Kind: report.SectionImage, Title: "I", ContentType: "image/png", Data: []byte("not a png")})
		}, "sections[1].data: cannot decode image/png image"},
	}
	for _, tt := range tests {
		r := base()
		tt.change(r)
		_, _, err := Build(r)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to contain %q", tt.name, err, tt.want)
		}
		if tt.name == "image" && !errors.As(err, new(report.Errors)) {
			t.Errorf("undecodable image: %T is not a report.Errors, so a job would not end as invalid input", err)
		}
	}
	if _, _, err := Build(nil); err == nil {
		t.Error("Build(nil) did not fail")
	}
	if _, _, err := Build(base()); err != nil {
		t.Errorf("minimal report: %v", err)
	}
}

// jpegWithOrientation encodes a 40x20 JPEG, red on the left half and blue on
// the right, with an APP1 Exif segment holding the given Orientation tag.
func jpegWithOrientation(t *testing.T, orientation uint16) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 40, 20))
	for y := 0; y < 20; y++ {
		for x := 0; x < 40; x++ {
			c := color.RGBA{220, 20, 20, 255}
			if x >= 20 {
				c = color.RGBA{20, 20, 220, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	jpg := buf.Bytes()
	app1 := []byte{
		0xFF, 0xE1, 0x00, 0x22, // APP1, 34 bytes
		'E', 'x', 'i', 'f', 0, 0,
		'M', 'M', 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08, // TIFF header, IFD0 at offset 8
		0x00, 0x01, // one entry: Orientation, SHORT, count 1
		0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, byte(orientation >> 8), byte(orientation), 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, // no next IFD
	}
	return append(append(append([]byte{}, jpg[:2]...), app1...), jpg[2:]...)
}

func isRed(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return r > 0xA000 && g < 0x5000 && b < 0x5000
}

func isBlue(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return b > 0xA000 && r < 0x5000 && g < 0x5000
}

func imageReport(contentType string, data []byte) *report.Report {
	return &report.Report{Schema: report.Schema, ID: "img", Version: 1, Kind: report.KindAP, Title: "T", Status: report.StatusFinal,
		Issued:   time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC),
		Patient:  report.Patient{ID: "p", Name: "N"},
		Sections: []report.Section{{Kind: report.SectionImage, Title: "Key image", ContentType: contentType, Data: data, Caption: "cap"}}}
}

func firstImage(t *testing.T, d *document.Document) document.Image {
	t.Helper()
	for _, b := range d.Body {
		if im, ok := b.(document.Image); ok {
			return im
		}
	}
	t.Fatal("no image block")
	return document.Image{}
}

// TestImageOrientation: Orientation 6 means "rotate 90° clockwise to
// display", so the stored left half (red) must come out on top.
func TestImageOrientation(t *testing.T) {
	tests := []struct {
		orientation   uint16
		w, h          int
		redAt, blueAt image.Point
	}{
		{1, 40, 20, image.Pt(5, 10), image.Pt(35, 10)},
		{6, 20, 40, image.Pt(10, 5), image.Pt(10, 35)},
		{8, 20, 40, image.Pt(10, 35), image.Pt(10, 5)},
		{3, 40, 20, image.Pt(35, 10), image.Pt(5, 10)},
	}
	for _, tt := range tests {
		d, _ := build(t, imageReport("image/jpeg", jpegWithOrientation(t, tt.orientation)))
		im := firstImage(t, d)
		b := im.Img.Bounds()
		if b.Dx() != tt.w || b.Dy() != tt.h {
			t.Errorf("orientation %d: %dx%d, want %dx%d", tt.orientation, b.Dx(), b.Dy(), tt.w, tt.h)
			continue
		}
		if c := im.Img.At(b.Min.X+tt.redAt.X, b.Min.Y+tt.redAt.Y); !isRed(c) {
			t.Errorf("orientation %d: %v is %v, want red", tt.orientation, tt.redAt, c)
		}
		if c := im.Img.At(b.Min.X+tt.blueAt.X, b.Min.Y+tt.blueAt.Y); !isBlue(c) {
			t.Errorf("orientation %d: %v is %v, want blue", tt.orientation, tt.blueAt, c)
		}
		if im.ContentType != "image/jpeg" || im.Caption != "cap" {
			t.Errorf("image block %q %q", im.ContentType, im.Caption)
		}
	}

	// PNG carries no EXIF: decoded as stored.
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 30, 10))); err != nil {
		t.Fatal(err)
	}
	d, _ := build(t, imageReport("image/png", buf.Bytes()))
	if b := firstImage(t, d).Img.Bounds(); b.Dx() != 30 || b.Dy() != 10 {
		t.Errorf("png %v", b)
	}

	// The fixture's gross photograph is stored 200x300 with Orientation 6
	// and must come out landscape with the ruler (near white) at the bottom.
	d, _ = build(t, loadFixture(t, "key-images"))
	photo := firstImage(t, d)
	if b := photo.Img.Bounds(); b.Dx() != 300 || b.Dy() != 200 {
		t.Fatalf("gross photo %v, want 300x200", b)
	}
	r, g, bl, _ := photo.Img.At(150, 186).RGBA()
	if r < 0xC000 || g < 0xC000 || bl < 0xC000 {
		t.Errorf("gross photo (150,186) = %x %x %x, want the white ruler", r, g, bl)
	}
}

// words splits s into runs of letters and digits.
func words(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// entity matches HTML entities (markdown prints the character) and fence
// info strings (a code block's language is not content).
var entity = regexp.MustCompile("&[A-Za-z]+;|&#[0-9]+;|(?m)^```[a-z]+$")

// TestNothingLost: every word of every non-url section, every specimen and
// every addendum reaches some string of the document (markdown syntax aside).
func TestNothingLost(t *testing.T) {
	for _, name := range fixtureNames(t) {
		r := loadFixture(t, name)
		d, _ := build(t, r)
		have := map[string]bool{}
		for _, s := range texts(d) {
			for _, w := range words(s) {
				have[w] = true
			}
		}
		check := func(path, s string) {
			s = entity.ReplaceAllString(s, " ")
			for _, w := range words(s) {
				if !have[w] {
					t.Errorf("%s: %s: word %q missing from the document", name, path, w)
				}
			}
		}
		var walk func(path string, ss []report.Section)
		walk = func(path string, ss []report.Section) {
			for i, s := range ss {
				p := fmt.Sprintf("%s[%d]", path, i)
				walk(p+".sections", s.Sections)
				if s.Kind == report.SectionURL {
					continue
				}
				check(p+".title", s.Title)
				check(p+".body", s.Body)
				check(p+".caption", s.Caption)
				for _, it := range s.Items {
					check(p+".items", it.Label+" "+it.Value)
				}
				check(p+".columns", strings.Join(s.Columns, " "))
				for _, row := range s.Rows {
					check(p+".rows", strings.Join(row, " "))
				}
			}
		}
		walk("sections", r.Sections)
		for i, sp := range r.Specimens {
			check(fmt.Sprintf("specimens[%d]", i), sp.Label+" "+sp.Description)
		}
		for i, a := range r.Addenda {
			check(fmt.Sprintf("addenda[%d]", i), a.Author+" "+a.Body)
		}
		if r.Amendment != nil {
			check("amendment.reason", r.Amendment.Reason)
		}
		if r.Exam != nil {
			check("exam", r.Exam.Description+" "+r.Exam.BodySite+" "+r.Exam.StudyUID)
		}
	}
}

// BenchmarkBuild measures Build per fixture (decoding excluded).
func BenchmarkBuild(b *testing.B) {
	for _, name := range []string{"surgical-breast", "autopsy", "key-images"} {
		b.Run(name, func(b *testing.B) {
			r := loadFixture(b, name)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Build(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDetailsMarkPatientIdentifiers checks that the page-1 details grid
// marks exactly the patient-identifying values PHI, so that a de-identified
// thumbnail leaves them out.
func TestDetailsMarkPatientIdentifiers(t *testing.T) {
	d, _ := build(t, loadFixture(t, "surgical-breast"))
	want := map[string]bool{"Patient": true, "MRN": true, "Birth date": true, "Patient ID": true, "Encounter": true, "Accession": true, "Sex": false, "Issued": false, "Status": false}
	seen := 0
	for _, b := range d.Body {
		fs, ok := b.(document.Fields)
		if !ok {
			continue
		}
		for _, f := range fs.Items {
			if phi, ok := want[f.Label]; ok {
				seen++
				if f.PHI != phi {
					t.Errorf("details %q: PHI = %v, want %v", f.Label, f.PHI, phi)
				}
			}
		}
		break
	}
	if seen < 6 {
		t.Errorf("details grid has %d of the expected fields", seen)
	}
	for _, f := range d.Header.Identity {
		if f.Label == "Patient" && f.Value.Plain() == "" {
			t.Error("header identity lacks the patient name")
		}
	}
}
