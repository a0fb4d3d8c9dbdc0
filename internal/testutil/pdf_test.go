package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	errs  []string
	fatal bool
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(f string, a ...any) {
	r.errs = append(r.errs, fmt.Sprintf(f, a...))
}
func (r *recorder) Fatalf(f string, a ...any) {
	r.errs = append(r.errs, fmt.Sprintf(f, a...))
	r.fatal = true
	runtime.Goexit()
}
func (r *recorder) Fatal(a ...any) { r.Fatalf("%s", fmt.Sprint(a...)) }

// golden runs Golden against a recorder in its own goroutine, as a fatal
// failure ends the goroutine.
func golden(t *testing.T, path string, got []byte, update bool) *recorder {
	r := &recorder{TB: t}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		Golden(r, path, got, update)
	}()
	wg.Wait()
	return r
}

func TestGolden(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "a.txt")
	if r := golden(t, path, []byte("one\ntwo\n"), false); !r.fatal {
		t.Errorf("a missing golden file did not stop the test: %v", r.errs)
	}
	if r := golden(t, path, []byte("one\ntwo\n"), true); len(r.errs) > 0 {
		t.Fatalf("update failed: %v", r.errs)
	}
	if b, _ := os.ReadFile(path); string(b) != "one\ntwo\n" {
		t.Fatalf("update wrote %q", b)
	}
	if r := golden(t, path, []byte("one\ntwo\n"), false); len(r.errs) > 0 {
		t.Errorf("equal bytes reported: %v", r.errs)
	}
	r := golden(t, path, []byte("one\nthree\n"), false)
	if r.fatal || len(r.errs) != 1 || !strings.Contains(r.errs[0], "line 2:\n- two\n+ three") {
		t.Errorf("a different text file: fatal %v, errors %q", r.fatal, r.errs)
	}
	pdf := filepath.Join(dir, "a.pdf")
	os.WriteFile(pdf, []byte("%PDF-1.7 a"), 0o644)
	r = golden(t, pdf, []byte("%PDF-1.7 b"), false)
	if r.fatal || len(r.errs) != 1 || strings.Contains(r.errs[0], "line 1") {
		t.Errorf("a different PDF: fatal %v, errors %q", r.fatal, r.errs)
	}
}

func TestQPDFCheck(t *testing.T) {
	NeedTools(t, "qpdf")
	if err := QPDFCheck(t, []byte("not a PDF")); err == nil {
		t.Error("qpdf --check passed bytes that are not a PDF")
	}
}
