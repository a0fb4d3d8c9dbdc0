package testutil

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// PreflightClasspath is the class path of Apache PDFBox preflight 2.0 as
// Debian installs it (packages libpdfbox2-java, default-jre-headless,
// libactivation-java, libjaxb-api-java; .ci/run installs them).
const PreflightClasspath = "/usr/share/java/preflight.jar:/usr/share/java/pdfbox2.jar:" +
	"/usr/share/java/xmpbox.jar:/usr/share/java/fontbox2.jar:/usr/share/java/commons-logging.jar:" +
	"/usr/share/java/javax.activation.jar:/usr/share/java/jaxb-api.jar"

// Preflight validates PDF files as PDF/A-1b with Apache PDFBox preflight, an
// independent validator, in one Java process for all of them, and returns
// the errors it reports for each file that does not pass (path -> error
// lines). A file missing from the validator's answer is reported as an
// error too. It fails the test when Java or PDFBox is not installed.
func Preflight(t testing.TB, paths []string) map[string][]string {
	t.Helper()
	if len(paths) == 0 {
		t.Fatal("preflight: no files")
	}
	java, err := exec.LookPath("java")
	if err != nil {
		t.Fatalf("java not installed (default-jre-headless): %v", err)
	}
	for _, jar := range strings.Split(PreflightClasspath, ":") {
		if _, err := os.Stat(jar); err != nil {
			t.Fatalf("PDFBox preflight not installed (libpdfbox2-java libactivation-java libjaxb-api-java): %v", err)
		}
	}
	// The validator names files by base name: give each a unique one.
	dir := t.TempDir()
	names := make(map[string]string, len(paths))
	var list strings.Builder
	for i, p := range paths {
		name := fmt.Sprintf("f%05d.pdf", i)
		dst := filepath.Join(dir, name)
		if err := os.Link(p, dst); err != nil {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		names[name] = p
		list.WriteString(dst + "\n")
	}
	listFile := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(listFile, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, java, "-cp", PreflightClasspath,
		"org.apache.pdfbox.preflight.Validator_A1b", "batch", listFile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run() // exits non-zero when a file is not valid
	if ctx.Err() != nil {
		t.Fatalf("preflight timed out: %v", ctx.Err())
	}

	errs := map[string][]string{}
	seen := map[string]bool{}
	var cur string
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "The file "); ok {
			name, verdict, _ := strings.Cut(rest, " ")
			cur = names[name]
			if cur == "" {
				t.Fatalf("preflight names a file it was not given: %q", line)
			}
			seen[name] = true
			if !strings.HasPrefix(verdict, "is a valid PDF/A-1b file") {
				errs[cur] = append(errs[cur], verdict)
			}
			continue
		}
		if cur == "" {
			t.Fatalf("preflight: unexpected output before any file: %q\n%s", line, stderr.String())
		}
		errs[cur] = append(errs[cur], line)
	}
	for name, p := range names {
		if !seen[name] {
			errs[p] = append(errs[p], "not in the validator's output")
		}
	}
	if runErr != nil && len(errs) == 0 {
		t.Fatalf("preflight: %v with every file valid\n%s", runErr, stderr.String())
	}
	return errs
}

// CheckPDFA fails the test for every file that PDFBox preflight does not
// accept as PDF/A-1b, listing the validator's errors.
func CheckPDFA(t testing.TB, paths []string) {
	t.Helper()
	errs := Preflight(t, paths)
	for _, p := range paths {
		if e := errs[p]; len(e) > 0 {
			if len(e) > 20 {
				e = append(e[:20], fmt.Sprintf("... and %d more", len(e)-20))
			}
			t.Errorf("%s is not PDF/A-1b (PDFBox preflight):\n  %s", p, strings.Join(e, "\n  "))
		}
	}
}
