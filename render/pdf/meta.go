package pdf

import (
	_ "embed"
	"strings"
	"time"
	"unicode/utf16"

	"codeberg.org/go-pdf/fpdf"

	"github.com/foliohealth/folio/document"
)

// srgb is the sRGB ICC profile (ICC v2, from the International Color
// Consortium, shipped with fpdf; see LICENSE.sRGB2014.txt): the output
// intent that tells a PDF/A reader what DeviceRGB and DeviceGray mean.
//
//go:embed sRGB2014.icc
var srgb []byte

var outputIntent = fpdf.OutputIntentType{
	SubtypeIdent:              fpdf.OutputIntent_GTS_PDFA1,
	OutputConditionIdentifier: "sRGB IEC61966-2.1",
	Info:                      "sRGB IEC61966-2.1",
	ICCProfile:                srgb,
}

// producer is the document information's and the XMP packet's Producer.
const producer = "folio with codeberg.org/go-pdf/fpdf v0.12.0"

// xmpPacket returns the XMP metadata packet of a PDF/A-1b document: the
// same title, author, subject, creator, producer and dates as the document
// information dictionary (PDF/A requires them to agree), and the PDF/A
// identification (part 1, conformance B).
func xmpPacket(info document.Info, created time.Time) []byte {
	date := created.Format("2006-01-02T15:04:05Z07:00")
	var b strings.Builder
	b.Grow(1500)
	b.WriteString("<?xpacket begin=\"\uFEFF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n" +
		`<x:xmpmeta xmlns:x="adobe:ns:meta/">` + "\n" +
		`<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">` + "\n" +
		`<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">` + "\n" +
		"<dc:format>application/pdf</dc:format>\n")
	if info.Title != "" {
		b.WriteString(`<dc:title><rdf:Alt><rdf:li xml:lang="x-default">`)
		xmlEscape(&b, info.Title)
		b.WriteString("</rdf:li></rdf:Alt></dc:title>\n")
	}
	if info.Author != "" {
		b.WriteString("<dc:creator><rdf:Seq><rdf:li>")
		xmlEscape(&b, info.Author)
		b.WriteString("</rdf:li></rdf:Seq></dc:creator>\n")
	}
	if info.Subject != "" {
		b.WriteString(`<dc:description><rdf:Alt><rdf:li xml:lang="x-default">`)
		xmlEscape(&b, info.Subject)
		b.WriteString("</rdf:li></rdf:Alt></dc:description>\n")
	}
	b.WriteString("</rdf:Description>\n" +
		`<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">` + "\n")
	if info.Creator != "" {
		b.WriteString("<xmp:CreatorTool>")
		xmlEscape(&b, info.Creator)
		b.WriteString("</xmp:CreatorTool>\n")
	}
	b.WriteString("<xmp:CreateDate>" + date + "</xmp:CreateDate>\n" +
		"<xmp:ModifyDate>" + date + "</xmp:ModifyDate>\n" +
		"</rdf:Description>\n" +
		`<rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">` + "\n" +
		"<pdf:Producer>" + producer + "</pdf:Producer>\n" +
		"</rdf:Description>\n" +
		`<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">` + "\n" +
		"<pdfaid:part>1</pdfaid:part>\n<pdfaid:conformance>B</pdfaid:conformance>\n" +
		"</rdf:Description>\n</rdf:RDF>\n</x:xmpmeta>\n" +
		`<?xpacket end="r"?>`)
	return []byte(b.String())
}

func xmlEscape(b *strings.Builder, s string) {
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		default:
			b.WriteRune(r)
		}
	}
}

// textString returns s as the bytes of a PDF text string, for fpdf calls
// that write their argument as is: printable ASCII as it is (PDFDocEncoding
// agrees with ASCII there, and it is half the size), anything else in
// UTF-16BE with a byte order mark.
func textString(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2, 2+2*len(u))
	b[0], b[1] = 0xFE, 0xFF
	for _, c := range u {
		b = append(b, byte(c>>8), byte(c))
	}
	return string(b)
}
