package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foliohealth/folio/fhirinput"
)

// TestE2EFHIRConvertAndRender drives the folio binary over the FHIR
// fixtures: convert prints exactly the mapped reports of the goldens, render
// writes one PDF per report (the sender's own PDF as sent where there is
// one), and every bad input is refused with its FHIR path.
func TestE2EFHIRConvertAndRender(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary: not in -short mode")
	}
	dir := filepath.Join("..", "..", "fixtures", "fhir") + string(filepath.Separator)
	files, _ := filepath.Glob(dir + "*.json")
	if len(files) < 10 {
		t.Fatalf("want at least 10 FHIR fixtures, have %d", len(files))
	}

	t.Run("convert", func(t *testing.T) {
		for _, f := range files {
			res := runFolio(t, "convert", f)
			if res.code != 0 {
				t.Fatalf("folio convert %s: exit %d\n%s", f, res.code, res.stderr)
			}
			var golden []struct {
				Report    json.RawMessage `json:"report"`
				Withdrawn bool            `json:"withdrawn"`
			}
			g, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "golden", "fhir", strings.TrimSuffix(filepath.Base(f), ".json")+".mapped.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(g, &golden); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
			if len(lines) != len(golden) {
				t.Fatalf("%s: %d lines, want %d", f, len(lines), len(golden))
			}
			for i, l := range lines {
				var a, b any
				json.Unmarshal([]byte(l), &a)
				json.Unmarshal(golden[i].Report, &b)
				ja, _ := json.Marshal(a)
				jb, _ := json.Marshal(b)
				if !bytes.Equal(ja, jb) {
					t.Errorf("%s: report %d differs from the golden", f, i)
				}
			}
		}
	})

	t.Run("render", func(t *testing.T) {
		out := t.TempDir()
		res := runFolio(t, "render", "--json", "-o", out, dir)
		if res.code != 0 {
			t.Fatalf("folio render: exit %d\n%s", res.code, res.stderr)
		}
		n := 0
		for _, l := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
			var rl renderLine
			if err := json.Unmarshal([]byte(l), &rl); err != nil || rl.Output == "" {
				t.Fatalf("line %q: %v", l, err)
			}
			n++
			b, err := os.ReadFile(rl.Output)
			if err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) {
				t.Fatalf("%s: not a PDF (%v)", rl.Output, err)
			}
			qpdfCheck(t, rl.Output, b)
			if filepath.Base(rl.Input) == "pdf-presentedform.json" {
				// The sender's PDF, byte for byte: the Binary in the Bundle.
				var bundle struct {
					Entry []struct {
						Resource struct {
							ResourceType string `json:"resourceType"`
							Data         []byte `json:"data"`
						} `json:"resource"`
					} `json:"entry"`
				}
				src, _ := os.ReadFile(rl.Input)
				json.Unmarshal(src, &bundle)
				if got := bundle.Entry[3].Resource; got.ResourceType != "Binary" || !bytes.Equal(got.Data, b) {
					t.Errorf("pdf-presentedform: output is not the sender's PDF")
				}
				if !strings.Contains(strings.Join(rl.Warnings, "\n"), "the sender's PDF is stored") {
					t.Errorf("pdf-presentedform: no warning about the sender's PDF: %v", rl.Warnings)
				}
			}
			if filepath.Base(rl.Input) == "partial-missing-results.json" && len(rl.Warnings) != 4 {
				t.Errorf("partial-missing-results: %d warnings, want 4 (one per missing reference): %v", len(rl.Warnings), rl.Warnings)
			}
		}
		if n != len(files) {
			t.Errorf("%d PDFs for %d fixtures", n, len(files))
		}
	})

	t.Run("bad", func(t *testing.T) {
		bad, _ := filepath.Glob(dir + "bad/*.json")
		res := runFolio(t, "render", "-o", t.TempDir(), dir+"bad")
		if res.code != 1 {
			t.Fatalf("exit %d, want 1\n%s", res.code, res.stderr)
		}
		for _, f := range bad {
			if src, _ := os.ReadFile(f); fhirinput.Sniff(src) == "" {
				continue // not recognisable as FHIR: read (and refused) as report v1
			}
			want, err := os.ReadFile(strings.TrimSuffix(f, ".json") + ".err")
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(want)), "\n") {
				if !strings.Contains(res.stderr, f+": "+line+"\n") {
					t.Errorf("stderr lacks %q", f+": "+line)
				}
			}
		}
	})
}
