package pdf

import (
	"fmt"
	"strings"
	"time"

	"github.com/foliohealth/folio/document"
	"github.com/foliohealth/folio/fonts"
	"github.com/foliohealth/folio/render/layout"
)

// Hand-built pages standing in for laid-out reports.

const (
	letterW, letterH = 612.0, 792.0
)

var testInfo = document.Info{
	Title:   "Surgical pathology report – Nguyễn Thị Ánh",
	Author:  "Dr. Zoë Łukasiewicz, MD",
	Subject: "MRN 00123456 · S24-1234",
	Creator: "folio test",
	Created: time.Date(2024, 3, 5, 14, 30, 0, 0, time.UTC),
}

// reportLines are sample lines of an AP report, ~80 characters each.
var reportLines = []string{
	"FINAL DIAGNOSIS: Left breast, 2:00, ultrasound-guided core needle biopsy (3 cores):",
	"Invasive ductal carcinoma, Nottingham grade 2 (tubules 3, nuclei 2, mitoses 1).",
	"Tumor measures ≥ 12 mm in greatest linear extent; lymphovascular invasion absent.",
	"Ductal carcinoma in situ, solid and cribriform types, intermediate nuclear grade.",
	"Estrogen receptor: positive (95%, strong); progesterone receptor: positive (40%).",
	"HER2 (4B5) immunohistochemistry: equivocal (2+); FISH reflex testing requested.",
	"Ki-67 proliferation index: approximately 18% ± 3% in hot spots (≤ 20% = low).",
	"Specimen received in formalin at 10:42, cold ischemia time < 1 hour, fixed 8 h.",
	"Gross: three tan-white cores, 1.2 × 0.1 cm each, entirely submitted in cassette A1.",
	"Microscopic: infiltrating nests and cords of atypical cells with desmoplastic stroma.",
	"Comment: Results were discussed with Dr. Müller on 2024-03-05 at 14:20 by phone.",
}

var monoLines = []string{
	"TEST          RESULT    UNITS     REF RANGE     FLAG  COLLECTED",
	"WBC           11.2      10^3/µL   4.0-10.5      H     03/05/24 07:10",
	"HGB           12.9      g/dL      12.0-16.0           03/05/24 07:10",
	"PLT           245       10^3/µL   150-400             03/05/24 07:10",
}

// reportPages builds n pages of about 60 text ops each in regular, bold and
// mono faces, with rules and boxes, like a two-page AP report.
func reportPages(n int) []layout.Page {
	var pages []layout.Page
	for pg := 0; pg < n; pg++ {
		var ops []layout.Op
		ops = append(ops,
			&layout.Rect{X: 36, Y: 30, W: 540, H: 48, Fill: &layout.LightGray},
			&layout.Text{X: 44, Y: 50, Face: fonts.SansBold, Size: 14, S: "Surgical Pathology Report", Color: layout.Black, PHI: false},
			&layout.Text{X: 44, Y: 68, Face: fonts.Sans, Size: 9, S: "Nguyễn Thị Ánh · MRN 00123456 · DOB 1961-07-14 · Accession S24-1234", Color: layout.DarkGray, PHI: true},
			&layout.Text{X: 500, Y: 50, Face: fonts.Sans, Size: 9, S: fmt.Sprintf("Page %d of %d", pg+1, n), Color: layout.Black},
			&layout.Line{X1: 36, Y1: 84, X2: 576, Y2: 84, Width: 0.75, Color: layout.Gray},
		)
		y := 100.0
		for i := 0; i < 56; i++ {
			face := fonts.Sans
			s := reportLines[(i+pg)%len(reportLines)]
			switch {
			case i%12 == 0:
				face, s = fonts.SansBold, strings.ToUpper(s[:40])
			case i%12 == 7:
				face, s = fonts.Mono, monoLines[(i/12)%len(monoLines)]
			case i%12 == 9:
				face = fonts.SansItalic
			}
			ops = append(ops, &layout.Text{X: 44, Y: y, Face: face, Size: 8.5, S: s, Color: layout.Black})
			y += 11.5
			if i%12 == 11 {
				ops = append(ops, &layout.Line{X1: 44, Y1: y - 6, X2: 568, Y2: y - 6, Width: 0.5, Color: layout.LightGray})
			}
		}
		ops = append(ops,
			&layout.Rect{X: 40, Y: y, W: 532, H: 20, Stroke: &layout.Red, StrokeWidth: 1},
			&layout.Text{X: 48, Y: y + 14, Face: fonts.SansBold, Size: 10, S: "AMENDED: HER2 result added", Color: layout.Red},
			&layout.Line{X1: 36, Y1: 760, X2: 576, Y2: 760, Width: 0.5, Color: layout.Gray},
			&layout.Text{X: 44, Y: 774, Face: fonts.Sans, Size: 7.5, S: "Electronically signed by Dr. Zoë Łukasiewicz, MD on 2024-03-05 14:30", Color: layout.Gray},
		)
		pages = append(pages, layout.Page{Width: letterW, Height: letterH, Ops: ops})
	}
	return pages
}

// scriptLines covers every script and symbol the contract promises, each in
// the face layout would choose for it.
var scriptLines = []struct {
	face fonts.ID
	s    string
}{
	{fonts.Sans, "Vietnamese: Nguyễn Thị Ánh, Trần Văn Hữu, Phạm Ngọc Ệ, Đặng Quốc Bảo"},
	{fonts.Sans, "Combining: e\u0301 a\u0300 o\u0302\u0323 n\u0303 Z\u030C"},
	{fonts.Sans, "Greek: αβγδε ΑΒΓΔΩ μικροσκοπία"},
	{fonts.Sans, "Cyrillic: Иванов Пётр Сергеевич, щитовидная железа"},
	{fonts.Sans, "Symbols: µ ± ≥ ≤ ° × ÷ → ½ ‰ · – — “quoted” ‘x’ … €"},
	{fonts.SansBold, "Bold: Ệ ữ Ж Ω ≥ ½ ‰"},
	{fonts.SansItalic, "Italic: Ąć ş ğ ø å"},
	{fonts.SansBoldItalic, "BoldItalic: ẞ ß ĳ ŀ"},
	{fonts.Mono, "Mono: µL ± ° → 10^3/µL"},
	{fonts.MonoBold, "MonoBold: WBC 11.2 H"},
	{fonts.CJK, "中文病理报告 李小龙 山田太郎 やまだ"},
}

func scriptPage() layout.Page {
	var ops []layout.Op
	y := 40.0
	for _, l := range scriptLines {
		ops = append(ops, &layout.Text{X: 40, Y: y, Face: l.face, Size: 11, S: l.s, Color: layout.Black})
		y += 18
	}
	return layout.Page{Width: letterW, Height: letterH, Ops: ops}
}
