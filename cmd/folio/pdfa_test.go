package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/foliohealth/folio/internal/testutil"
)

// folioProducer is the Producer of every PDF folio paints (render/pdf).
const folioProducer = "folio with codeberg.org/go-pdf/fpdf"

// fixtureInputs walks the fixtures directory and returns every input
// folio renders (report JSON, FHIR JSON, HL7 v2), grouped by directory and
// extension so that output names never collide, leaving out the golden
// files, the fixture generator, and bad inputs (which must be refused, not
// rendered): every "bad" directory and every input with a sibling .err file.
func fixtureInputs(t *testing.T, root string) [][]string {
	t.Helper()
	groups := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (name == "golden" || name == "gen" || name == "bad" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(path)
		switch ext {
		case ".json", ".hl7":
		default:
			return nil
		}
		if _, err := os.Stat(strings.TrimSuffix(path, ext) + ".err"); err == nil {
			return nil
		}
		key := filepath.Dir(path) + " " + ext
		groups[key] = append(groups[key], path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, groups[k])
	}
	return out
}

// TestFixturesArePDFA renders every fixture input in every directory under
// fixtures/ (report JSON, FHIR, HL7: whatever folio render takes; a new
// fixture directory is picked up without changing this test) with the
// folio command, checks each PDF with qpdf --check, and validates every PDF
// folio painted as PDF/A-1b with Apache PDFBox preflight, all in one Java
// process. A sender's own PDF (FHIR presentedForm, HL7 ED), which folio
// stores as sent and never rewrites, is not folio's to make PDF/A: it is
// recognised by the render warning saying so and by not carrying folio's
// Producer, and only checked with qpdf.
func TestFixturesArePDFA(t *testing.T) {
	if _, err := exec.LookPath("qpdf"); err != nil {
		t.Fatalf("qpdf not installed: %v", err)
	}
	groups := fixtureInputs(t, filepath.Join("..", "..", "fixtures"))
	out := t.TempDir()
	var pdfs, painted []string
	asSent := map[string]bool{} // outputs whose render warnings say the PDF is the sender's, as sent
	inputs := 0
	for i, files := range groups {
		dir := filepath.Join(out, fmt.Sprint(i))
		inputs += len(files)
		o := dir
		if len(files) == 1 {
			// With one input, -o names the output file, not a directory:
			// without this a one-file directory's PDF was never checked.
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			o = filepath.Join(dir, strings.TrimSuffix(filepath.Base(files[0]), filepath.Ext(files[0]))+".pdf")
		}
		res := runFolio(t, append([]string{"render", "--json", "-o", o}, files...)...)
		for _, line := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
			var l struct {
				Input, Output, Error string
				Warnings             []string
			}
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatalf("folio render --json printed %q: %v\nstderr:\n%s", line, err, res.stderr)
			}
			if l.Error != "" {
				t.Errorf("%s: not rendered: %s", l.Input, l.Error)
			}
			for _, w := range l.Warnings {
				if strings.Contains(w, "as sent") {
					asSent[l.Output] = true
				}
			}
		}
		if res.code != 0 {
			t.Errorf("folio render %s: exit %d\n%s", strings.Join(files, " "), res.code, res.stderr)
		}
		found, _ := filepath.Glob(filepath.Join(dir, "*.pdf"))
		pdfs = append(pdfs, found...)
	}
	if len(pdfs) < inputs || len(pdfs) < 15 {
		t.Fatalf("%d PDFs from %d fixture inputs", len(pdfs), inputs)
	}
	for _, p := range pdfs {
		if out, err := exec.Command("qpdf", "--check", p).CombinedOutput(); err != nil {
			if asSent[p] {
				// The sender's own PDF, stored byte for byte as the
				// contract says (US Core's bone density example has
				// xref offsets qpdf repairs): its faults are the sender's.
				t.Logf("qpdf --check %s (the sender's PDF, as sent): %v", filepath.Base(p), err)
			} else {
				t.Errorf("qpdf --check %s: %v\n%s", p, err, out)
			}
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if asSent[p] && !bytes.Contains(data, []byte(folioProducer)) {
			t.Logf("%s: the sender's PDF, stored as sent: not validated as PDF/A", filepath.Base(p))
			continue
		}
		painted = append(painted, p)
	}
	if len(painted) < 15 {
		t.Fatalf("only %d PDFs painted by folio", len(painted))
	}
	start := time.Now()
	testutil.CheckPDFA(t, painted)
	t.Logf("%d PDFs folio painted (of %d from %d inputs in %d directories) pass PDFBox preflight PDF/A-1b (one Java process, %v)",
		len(painted), len(pdfs), inputs, len(groups), time.Since(start).Round(time.Millisecond))
}
