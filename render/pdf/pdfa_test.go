package pdf

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foliohealth/folio/document"
	"github.com/foliohealth/folio/fonts"
	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/render/layout"
)

// qpdfObjects returns the objects of a PDF as qpdf's JSON (version 2) shows
// them: "trailer" and "obj:N 0 R" -> {"value": ...} or {"stream": ...}.
func qpdfObjects(t *testing.T, path string) map[string]map[string]any {
	t.Helper()
	out := tool(t, "qpdf", "--json", "--json-key=qpdf", path)
	var doc struct {
		Qpdf []json.RawMessage `json:"qpdf"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Qpdf) != 2 {
		t.Fatalf("qpdf --json: %v", err)
	}
	var objs map[string]map[string]any
	if err := json.Unmarshal(doc.Qpdf[1], &objs); err != nil {
		t.Fatal(err)
	}
	return objs
}

// dict returns the dictionary of an object, following a reference.
func dict(t *testing.T, objs map[string]map[string]any, v any) map[string]any {
	t.Helper()
	if ref, ok := v.(string); ok {
		o := objs["obj:"+ref]
		if o == nil {
			t.Fatalf("no object %s", ref)
		}
		if s, ok := o["stream"].(map[string]any); ok {
			return s["dict"].(map[string]any)
		}
		v = o["value"]
	}
	d, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%v is not a dictionary", v)
	}
	return d
}

// pdfText decodes a qpdf JSON string ("u:..." text or "b:..." hex bytes).
func pdfText(v any) string {
	s, _ := v.(string)
	s, _ = strings.CutPrefix(s, "u:")
	return s
}

// xmpPacketOf is the XMP of one document as the tests read it back.
type xmpPacketOf struct {
	Descriptions []struct {
		Title struct {
			Li []string `xml:"Alt>li"`
		} `xml:"http://purl.org/dc/elements/1.1/ title"`
		Creator struct {
			Li []string `xml:"Seq>li"`
		} `xml:"http://purl.org/dc/elements/1.1/ creator"`
		Description struct {
			Li []string `xml:"Alt>li"`
		} `xml:"http://purl.org/dc/elements/1.1/ description"`
		Format      string `xml:"http://purl.org/dc/elements/1.1/ format"`
		CreatorTool string `xml:"http://ns.adobe.com/xap/1.0/ CreatorTool"`
		CreateDate  string `xml:"http://ns.adobe.com/xap/1.0/ CreateDate"`
		ModifyDate  string `xml:"http://ns.adobe.com/xap/1.0/ ModifyDate"`
		Producer    string `xml:"http://ns.adobe.com/pdf/1.3/ Producer"`
		Part        string `xml:"http://www.aiim.org/pdfa/ns/id/ part"`
		Conformance string `xml:"http://www.aiim.org/pdfa/ns/id/ conformance"`
	} `xml:"RDF>Description"`
}

// TestPaintPDFA paints pages with every kind of content (every face and
// script, more runes than one encoding holds, rules, boxes, transparent
// PNG, gray, color and CMYK JPEG, an outline) and has PDFBox preflight
// validate each file as PDF/A-1b.
func TestPaintPDFA(t *testing.T) {
	jpg := func(img image.Image) ([]byte, image.Image) {
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, nil); err != nil {
			t.Fatal(err)
		}
		dec, err := jpeg.Decode(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		return b.Bytes(), dec
	}
	rgba := image.NewNRGBA(image.Rect(0, 0, 90, 60))
	for i := range rgba.Pix {
		rgba.Pix[i] = uint8(i * 7)
	}
	// A CMYK JPEG (Go cannot write one: the source stands in for it) is
	// converted to RGB.
	cmyk := image.NewCMYK(image.Rect(0, 0, 40, 40))
	draw.Draw(cmyk, cmyk.Bounds(), &image.Uniform{color.CMYK{C: 200, M: 10, Y: 40, K: 5}}, image.Point{}, draw.Src)
	cmykSrc, _ := jpg(cmyk)
	cmykImg := cmyk
	graySrc, grayImg := jpg(image.NewGray(image.Rect(0, 0, 50, 30)))
	colorSrc, colorImg := jpg(rgba)
	pics := []layout.Op{
		&layout.Text{X: 40, Y: 40, Face: fonts.SansBold, Size: 12, S: "Images", Outline: "Images — Ωμέγα", OutlineLevel: 1},
		&layout.Picture{X: 40, Y: 60, W: 90, H: 60, Img: rgba, ContentType: "image/png", Key: 1},
		&layout.Picture{X: 40, Y: 140, W: 40, H: 40, Img: cmykImg, ContentType: "image/jpeg", Key: 2, Src: cmykSrc},
		&layout.Picture{X: 40, Y: 200, W: 50, H: 30, Img: grayImg, ContentType: "image/jpeg", Key: 3, Src: graySrc},
		&layout.Picture{X: 40, Y: 240, W: 90, H: 60, Img: colorImg, ContentType: "image/jpeg", Key: 4, Src: colorSrc},
		&layout.Picture{X: 40, Y: 320, W: 9, H: 6, Img: colorImg, ContentType: "image/jpeg", Key: 5, Src: colorSrc}, // resampled
	}
	docs := map[string][]layout.Page{
		"report":   append(reportPages(2), scriptPage()),
		"pictures": {{Width: letterW, Height: letterH, Ops: pics}},
		"runes": {{Width: letterW, Height: letterH, Ops: []layout.Op{
			&layout.Text{X: 20, Y: 30, Face: fonts.Sans, Size: 5, S: manyRunes(fonts.Sans, '!', 600)},
			&layout.Text{X: 20, Y: 60, Face: fonts.CJK, Size: 5, S: manyRunes(fonts.CJK, 0x4E00, 300)},
		}}},
	}
	var paths []string
	dir := t.TempDir()
	for name, pages := range docs {
		data, err := Paint(pages, testInfo)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p := filepath.Join(dir, name+".pdf")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		tool(t, "qpdf", "--check", p)
		paths = append(paths, p)
	}
	testutil.CheckPDFA(t, paths)

	// The JPEG that needs no change is embedded byte for byte; the CMYK one
	// is converted and the one drawn small is resampled.
	data, _ := os.ReadFile(filepath.Join(dir, "pictures.pdf"))
	for _, c := range []struct {
		name string
		src  []byte
		kept bool
	}{{"gray JPEG", graySrc, true}, {"color JPEG", colorSrc, true}, {"CMYK image", cmykSrc, false}} {
		if bytes.Contains(data, c.src) != c.kept {
			t.Errorf("%s: source bytes embedded as they are: %v, want %v", c.name, !c.kept, c.kept)
		}
	}
	if bytes.Contains(data, []byte("/DeviceCMYK")) || bytes.Contains(data, []byte("/SMask")) {
		t.Error("PDF has a CMYK image or a soft mask")
	}
}

// TestMetadataAgrees checks that the XMP packet parses and says what the
// document information dictionary says, with the PDF/A identification,
// and that the catalog asks viewers to show the title.
func TestMetadataAgrees(t *testing.T) {
	info := document.Info{
		Title:   `Surgical Pathology Report — Nguyễn Thị Ánh <&> "x"`,
		Author:  "Dr. Zoë Łukasiewicz, MD; J. Okafor, MD",
		Subject: "Anatomic pathology report",
		Creator: "folio test",
		Created: time.Date(2024, 3, 5, 9, 30, 0, 0, time.FixedZone("", -5*3600)),
	}
	data, err := Paint(reportPages(1), info)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "meta.pdf")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	objs := qpdfObjects(t, path)
	trailer := dict(t, objs, objs["trailer"]["value"])
	id, _ := trailer["/ID"].([]any)
	if len(id) != 2 || len(pdfText(id[0])) < 10 {
		t.Errorf("trailer /ID %v", trailer["/ID"])
	}
	infoDict := dict(t, objs, trailer["/Info"])
	catalog := dict(t, objs, trailer["/Root"])
	if _, ok := catalog["/Names"]; ok {
		t.Error("catalog has a /Names dictionary")
	}
	if vp := dict(t, objs, catalog["/ViewerPreferences"]); vp["/DisplayDocTitle"] != true {
		t.Errorf("viewer preferences %v, want DisplayDocTitle true", vp)
	}
	metaRef, _ := catalog["/Metadata"].(string)
	xmpData := tool(t, "qpdf", "--show-object="+strings.TrimSuffix(metaRef, " 0 R"), "--filtered-stream-data", path)
	var x xmpPacketOf
	if err := xml.Unmarshal([]byte(xmpData), &x); err != nil {
		t.Fatalf("XMP does not parse: %v\n%s", err, xmpData)
	}
	got := map[string]string{}
	for _, d := range x.Descriptions {
		if len(d.Title.Li) > 0 {
			got["title"] = strings.Join(d.Title.Li, "|")
		}
		if len(d.Creator.Li) > 0 {
			got["author"] = strings.Join(d.Creator.Li, "|")
		}
		if len(d.Description.Li) > 0 {
			got["subject"] = strings.Join(d.Description.Li, "|")
		}
		for k, v := range map[string]string{"format": d.Format, "creator": d.CreatorTool, "created": d.CreateDate,
			"modified": d.ModifyDate, "producer": d.Producer, "part": d.Part, "conformance": d.Conformance} {
			if v != "" {
				got[k] = v
			}
		}
	}
	want := map[string]string{
		"title": info.Title, "author": info.Author, "subject": info.Subject, "creator": info.Creator,
		"producer": pdfText(infoDict["/Producer"]), "format": "application/pdf",
		"created": "2024-03-05T14:30:00Z", "modified": "2024-03-05T14:30:00Z", "part": "1", "conformance": "B",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("XMP %s = %q, want %q", k, got[k], w)
		}
	}
	for k, w := range map[string]string{"/Title": info.Title, "/Author": info.Author, "/Subject": info.Subject,
		"/Creator": info.Creator, "/CreationDate": "D:20240305143000Z", "/ModDate": "D:20240305143000Z"} {
		if g := pdfText(infoDict[k]); g != w {
			t.Errorf("info %s = %q, want %q", k, g, w)
		}
	}
}

// TestOutline checks the outline entries the layout marks: titles (ASCII
// and not), nesting and target pages, read back by qpdf.
func TestOutline(t *testing.T) {
	mark := func(y float64, title string, level int) layout.Op {
		return &layout.Text{X: 40, Y: y, Face: fonts.SansBold, Size: 11, S: "x", Outline: title, OutlineLevel: level}
	}
	pages := []layout.Page{
		{Width: letterW, Height: letterH, Ops: []layout.Op{mark(100, "Diagnosis", 1), mark(300, "Gross Description", 1), mark(400, "Block A", 2)}},
		{Width: letterW, Height: letterH, Ops: []layout.Op{mark(100, "Microscopic — Ωμέγα 中文", 3), mark(500, "Addendum 1 — issued 2024-03-06 10:00", 1)}},
	}
	path, _ := writePDF(t, pages)
	var out struct {
		Outlines []outlineEntry `json:"outlines"`
	}
	if err := json.Unmarshal([]byte(tool(t, "qpdf", "--json", "--json-key=outlines", path)), &out); err != nil {
		t.Fatal(err)
	}
	var got []string
	var walk func([]outlineEntry, string)
	walk = func(es []outlineEntry, indent string) {
		for _, e := range es {
			got = append(got, indent+e.Title+" p"+string(rune('0'+e.Page)))
			walk(e.Kids, indent+"  ")
		}
	}
	walk(out.Outlines, "")
	want := []string{
		"Diagnosis p1",
		"Gross Description p1",
		"  Block A p1",
		"    Microscopic — Ωμέγα 中文 p2", // level 3 under level 2
		"Addendum 1 — issued 2024-03-06 10:00 p2",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("outline:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

type outlineEntry struct {
	Title string         `json:"title"`
	Page  int            `json:"destpageposfrom1"`
	Kids  []outlineEntry `json:"kids"`
}
