package render_test

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/foliohealth/folio/input"
	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/profile"
	"github.com/foliohealth/folio/render"
	"github.com/foliohealth/folio/render/raster/rastertest"
	"github.com/foliohealth/folio/report"
)

const profileDir = "../fixtures/profiles"

// profiled is one fixture report of fixtures/profiles/reports, what its
// site profile must make of it, and the anchors (docs/site-profile-v1.md)
// the PDF text must show.
type profiled struct {
	file     string
	profile  string
	paper    string // pdfinfo's page size name
	logo     bool
	anchors  []string
	pageOf   string // with two %d
	dates    []string
	notDates []string
}

var profiledCases = []profiled{
	{file: "klinikum-nord-preliminary.json", profile: "klinikum-nord-pathologie", paper: "(A4)", logo: true,
		anchors: []string{"Geburtsdatum", "Patient", "VORLÄUFIG", "Institut für Pathologie, Klinikum Nord", "DAkkS D-ML-13100-01-00", "Dieser Befund wurde elektronisch freigegeben."},
		pageOf:  "Seite %d von %d", dates: []string{"17.02.1958", "27.11.2026 09:14 +01:00"}, notDates: []string{"1958-02-17"}},
	{file: "gulf-rtl-pathology.json", profile: "gulf-specialty-pathology", paper: "(A4)",
		anchors: []string{"تاريخ الميلاد", "المريض", "مختبر علم الأمراض، مستشفى الخليج التخصصي"},
		pageOf:  "صفحة %d من %d", dates: []string{"+04:00"}},
	{file: "lakeside-default-ct.json", profile: "lakeside-us", paper: "(letter)", logo: true,
		anchors: []string{"Birth date", "Patient", "CLIA 23D0987654", "Lakeside General Hospital Clinical Laboratory", "Performed at the laboratory named at the foot of each page."},
		pageOf:  "Page %d of %d"},
	{file: "hopital-nord.hl7", profile: "hopital-nord-anapath", paper: "(A4)",
		anchors: []string{"Date de naissance", "Patient", "Laboratoire d'anatomie pathologique, Hôpital Nord", "FINESS 750000000", "Compte rendu validé électroniquement."},
		pageOf:  "Page %d sur %d", dates: []string{"09/04/1961", "20/11/2026 20:01 +01:00"}},
}

func TestProfiles(t *testing.T) {
	testutil.NeedTools(t, "pdftotext", "pdfinfo", "pdfimages", "qpdf")
	set, err := profile.LoadDir(profileDir)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	dir := t.TempDir()
	for _, c := range profiledCases {
		t.Run(c.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(profileDir, "reports", c.file))
			if err != nil {
				t.Fatal(err)
			}
			kind := input.Detect(raw)
			docs, err := input.Map(kind, raw, input.Options{Limits: report.DefaultLimits()})
			if err != nil || len(docs) != 1 {
				t.Fatalf("%d docs, %v", len(docs), err)
			}
			d := docs[0]
			sub := profile.Subject{SendingFacility: d.SendingFacility, Organizations: d.Organizations}
			if d.Report.Facility != nil {
				sub.Facility = d.Report.Facility.Name
			}
			p := set.Select(sub)
			if p == nil || p.ID != c.profile {
				t.Fatalf("chose %v, want %s", p, c.profile)
			}
			r := d.Report
			laid, err := render.LayoutProfile(r, p)
			if err != nil {
				t.Fatal(err)
			}
			pdf, err := laid.PDF()
			if err != nil {
				t.Fatal(err)
			}
			laid2, err := render.LayoutProfile(r, p)
			if err != nil {
				t.Fatal(err)
			}
			if pdf2, err := laid2.PDF(); err != nil || !bytes.Equal(pdf, pdf2) {
				t.Fatalf("a second render gave other bytes (%v)", err)
			}
			path := filepath.Join(dir, strings.TrimSuffix(c.file, filepath.Ext(c.file))+".pdf")
			if err := os.WriteFile(path, pdf, 0o644); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, path)
			if err := testutil.QPDFCheck(t, pdf); err != nil {
				t.Fatal(err)
			}
			n := len(laid.Pages)
			if n < 2 {
				t.Fatalf("%d pages: the fixtures are long enough for two", n)
			}
			info, err := exec.Command("pdfinfo", path).Output()
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(`Page size:.*` + regexp.QuoteMeta(c.paper)).Match(info) {
				t.Errorf("pdfinfo: want %s\n%s", c.paper, info)
			}
			if c.logo {
				logoOnEveryPage(t, path, n)
			}
			// The XMP record names the profile and its digest.
			for _, w := range []string{"<folioprofile:id>" + p.ID + "</folioprofile:id>", "<folioprofile:digest>" + p.Digest + "</folioprofile:digest>"} {
				if !bytes.Contains(pdf, []byte(w)) {
					t.Errorf("XMP lacks %s", w)
				}
			}
			all := flat(testutil.PDFToText(t, pdf))
			for _, a := range append(append([]string{}, c.anchors...), c.dates...) {
				if !strings.Contains(all, flat(a)) {
					t.Errorf("PDF text lacks %q", a)
				}
			}
			for _, a := range c.notDates {
				if strings.Contains(all, flat(a)) {
					t.Errorf("PDF text has %q, printed in the sender's form", a)
				}
			}
			if !hasRTL(c.pageOf) {
				testutil.IdentityOnEveryPageOf(t, pdf, n, r.Patient.Name, r.Patient.MRN, c.pageOf, c.file)
			}
			for i := 1; i <= n; i++ {
				page := flat(testutil.PDFToText(t, pdf, "-f", fmt.Sprint(i), "-l", fmt.Sprint(i)))
				wants := append(wordsOf(r.Patient.Name), r.Patient.MRN, fmt.Sprintf(c.pageOf, i, n))
				if hasRTL(c.pageOf) {
					// pdftotext orders the numbers of an Arabic line its
					// own way: the words and both numbers.
					wants = append(wants[:len(wants)-1], append(wordsOf(c.pageOf), fmt.Sprint(i), fmt.Sprint(n))...)
					wants = slicesWithout(wants, "d")
				}
				for _, w := range wants {
					if !strings.Contains(page, flat(w)) {
						t.Errorf("page %d lacks %q", i, w)
					}
				}
			}
			for _, w := range sectionWords(r) {
				if !strings.Contains(all, flat(w)) {
					t.Errorf("word %q of the report is missing", w)
				}
			}
			name := strings.TrimSuffix(c.file, filepath.Ext(c.file))
			gdir := filepath.Join(fixtures, "golden", "profiles")
			testutil.Golden(t, filepath.Join(gdir, name+".txt"), []byte(testutil.PDFToText(t, pdf, "-layout")), *update)
			// Page 1 as an image, from the same layout (the thumbnail
			// painter), within the raster goldens' tolerance.
			img, err := laid.Thumbnail(render.ThumbOptions{Size: 600})
			if err != nil {
				t.Fatal(err)
			}
			dec, err := png.Decode(bytes.NewReader(img.Bytes))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := aspect(dec), laid.Pages[0].Width/laid.Pages[0].Height; got < want-0.01 || got > want+0.01 {
				t.Errorf("thumbnail aspect %.3f, page %.3f", got, want)
			}
			rastertest.Golden(t, filepath.Join(gdir, name+".png"), dec, 12, *update)
		})
	}
	if len(paths) == len(profiledCases) {
		testutil.CheckPDFA(t, paths)
	}
}

func aspect(img image.Image) float64 {
	b := img.Bounds()
	return float64(b.Dx()) / float64(b.Dy())
}

func slicesWithout(l []string, drop string) []string {
	out := l[:0]
	for _, s := range l {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}

// logoOnEveryPage checks with pdfimages that every page draws an image
// (the letterhead's logo; these fixtures have no images of their own).
func logoOnEveryPage(t *testing.T, path string, pages int) {
	t.Helper()
	out, err := exec.Command("pdfimages", "-list", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	on := map[string]bool{}
	for _, ln := range strings.Split(string(out), "\n")[2:] {
		if f := strings.Fields(ln); len(f) > 4 && f[2] == "image" {
			on[f[0]] = true
		}
	}
	for i := 1; i <= pages; i++ {
		if !on[fmt.Sprint(i)] {
			t.Errorf("page %d has no logo:\n%s", i, out)
		}
	}
}

// TestNoProfileUnchanged: LayoutProfile with no profile is Layout, byte for
// byte (the goldens of TestFixtures pin Layout itself).
func TestNoProfileUnchanged(t *testing.T) {
	for _, fx := range goodFixtures(t)[:3] {
		a, err := render.Layout(fx.r)
		if err != nil {
			t.Fatal(err)
		}
		b, err := render.LayoutProfile(fx.r, nil)
		if err != nil {
			t.Fatal(err)
		}
		pa, _ := a.PDF()
		pb, _ := b.PDF()
		if !bytes.Equal(pa, pb) {
			t.Errorf("%s: differs", fx.name)
		}
	}
}

// BenchmarkProfileBatch renders every good fixture as one batch, in folio's
// built-in look and with a site profile that has a logo (klinikum-nord: A4,
// German, letterhead with logo, laboratory block, accent, closing note).
// Run with -cpu 1 and compare the two ns/op (README, "Speed").
func BenchmarkProfileBatch(b *testing.B) {
	fxs := goodFixtures(b)
	p, err := profile.Load(filepath.Join(profileDir, "klinikum-nord.json"))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		p    *profile.Profile
	}{{"builtin", nil}, {"profile-with-logo", p}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			// The machine may be shared: the process's CPU time per batch
			// says what rendering costs better than the wall clock.
			var ru0, ru1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			defer func() {
				syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
				cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			}()
			for i := 0; i < b.N; i++ {
				for _, fx := range fxs {
					laid, err := render.LayoutProfile(fx.r, c.p)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := laid.PDF(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
