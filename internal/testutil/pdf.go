package testutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// Golden compares got with the golden file at path or, when update is true
// (each package's own -update flag), rewrites that file, creating its
// directory. A missing golden file stops the test; a different one is an
// error naming the file, both sizes and, for a text file (not .pdf), the
// first line that differs.
func Golden(t testing.TB, path string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file missing (run this package's tests with -update and review the diff): %v", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	detail := ""
	if !strings.HasSuffix(path, ".pdf") {
		detail = "\n" + FirstDiff(string(want), string(got))
	}
	t.Errorf("%s differs from its golden file (%d bytes, want %d); if intended, run this package's tests with -update and review the diff%s", path, len(got), len(want), detail)
}

// FirstDiff names the first line where want and got differ, as
// "line N:\n- want\n+ got", or returns "" when they are equal.
func FirstDiff(want, got string) string {
	al, bl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, x, y)
		}
	}
	return ""
}

// NeedTools stops the test if any of the named commands is not installed
// (.ci/run installs every tool a test needs).
func NeedTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (.ci/run installs it: qpdf, poppler-utils, libharfbuzz-bin): %v", tool, err)
		}
	}
}

// PDFToText returns the UTF-8 text poppler's pdftotext extracts from pdf,
// with args (e.g. "-layout", "-f", "2", "-l", "2") before the input; a
// failure of pdftotext stops the test.
func PDFToText(t testing.TB, pdf []byte, args ...string) string {
	t.Helper()
	cmd := exec.Command("pdftotext", append(append([]string{"-q", "-enc", "UTF-8"}, args...), "-", "-")...)
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext %v: %v", args, err)
	}
	return string(out)
}

// QPDFCheck writes pdf to a temporary file and runs qpdf --check on it. It
// returns nil if qpdf finds the file sound, else an error carrying qpdf's
// output; the caller decides whether that stops its test.
func QPDFCheck(t testing.TB, pdf []byte) error {
	t.Helper()
	f := filepath.Join(t.TempDir(), "check.pdf")
	if err := os.WriteFile(f, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("qpdf", "--check", f).CombinedOutput(); err != nil {
		return fmt.Errorf("qpdf --check: %v\n%s", err, out)
	}
	return nil
}

// Flat is s without any white space, for finding words in extracted text
// whatever line breaks and spacing the layout gave them.
func Flat(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

// IdentityOnEveryPage checks that each of the pages of pdf carries the
// patient's name, the MRN and "Page i of N" (compared with white space
// removed), reporting each one missing as an error that starts with label.
func IdentityOnEveryPage(t testing.TB, pdf []byte, pages int, name, mrn, label string) {
	t.Helper()
	IdentityOnEveryPageOf(t, pdf, pages, name, mrn, "Page %d of %d", label)
}

// IdentityOnEveryPageOf is IdentityOnEveryPage with the page count in a
// site profile's language: pageOf has two %d verbs ("Seite %d von %d").
func IdentityOnEveryPageOf(t testing.TB, pdf []byte, pages int, name, mrn, pageOf, label string) {
	t.Helper()
	for p := 1; p <= pages; p++ {
		page := Flat(PDFToText(t, pdf, "-f", fmt.Sprint(p), "-l", fmt.Sprint(p)))
		for _, w := range []string{name, mrn, fmt.Sprintf(pageOf, p, pages)} {
			if !strings.Contains(page, Flat(w)) {
				t.Errorf("%s page %d lacks %q", label, p, w)
			}
		}
	}
}
