package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2EHL7ConvertAndRender drives the folio binary over the HL7 v2
// fixtures: convert prints exactly the mapped reports of the goldens (one
// line per report), render writes one PDF per report (the sender's own PDF
// as sent for the ED PDF message), and every bad message is refused with
// its HL7 location.
func TestE2EHL7ConvertAndRender(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary: not in -short mode")
	}
	dir := filepath.Join("..", "..", "fixtures", "hl7") + string(filepath.Separator)
	files, _ := filepath.Glob(dir + "*.hl7")
	if len(files) < 8 {
		t.Fatalf("want at least 8 HL7 fixtures, have %d", len(files))
	}
	reports := 0
	t.Run("convert", func(t *testing.T) {
		for _, f := range files {
			res := runFolio(t, "convert", f)
			if res.code != 0 {
				t.Fatalf("folio convert %s: exit %d\n%s", f, res.code, res.stderr)
			}
			want, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "golden", "hl7", strings.TrimSuffix(filepath.Base(f), ".hl7")+".json"))
			if err != nil {
				t.Fatal(err)
			}
			if res.stdout != string(want) {
				t.Errorf("%s: convert output differs from its golden\n%s", f, res.stdout)
			}
			reports += strings.Count(res.stdout, "\n")
		}
	})

	t.Run("render", func(t *testing.T) {
		n := renderDir(t, dir, func(rl renderLine, b []byte) {
			if filepath.Base(rl.Input) == "ed-pdf.hl7" {
				src, _ := os.ReadFile(rl.Input)
				i := bytes.Index(src, []byte("^AP^PDF^Base64^"))
				enc := src[i+len("^AP^PDF^Base64^"):]
				enc = enc[:bytes.IndexByte(enc, '|')]
				sent, _ := base64.StdEncoding.DecodeString(string(enc))
				if !bytes.Equal(sent, b) {
					t.Error("ed-pdf: the output is not the PDF the message carried")
				}
				if len(rl.Warnings) == 0 {
					t.Error("ed-pdf: no warning that folio did not render it")
				}
			}
		})
		if n != reports || n < 10 {
			t.Errorf("%d PDFs for %d reports", n, reports)
		}
	})

	t.Run("site table", func(t *testing.T) {
		site := filepath.Join(t.TempDir(), "site.json")
		os.WriteFile(site, []byte(`{"senderKinds": {"LIS|ELSEWHERE": "anatomic-pathology"}, "timeZone": "America/Detroit",
			"facilities": {"ELSEWHERE": {"name": "Elsewhere Clinic Laboratory", "phone": "+1 555 0100"}}}`), 0o600)
		f := dir + "bad/kind-unknown.hl7"
		if res := runFolio(t, "convert", f); res.code != 1 {
			t.Errorf("without the site table: exit %d", res.code)
		}
		res := runFolio(t, "convert", "--hl7-site", site, f)
		if res.code != 0 || !strings.Contains(res.stdout, `"kind":"anatomic-pathology"`) || !strings.Contains(res.stdout, `"issued":"2026-11-20T14:01:00-05:00"`) || !strings.Contains(res.stdout, "Elsewhere Clinic Laboratory") {
			t.Errorf("with the site table: exit %d\n%s%s", res.code, res.stdout, res.stderr)
		}
		os.WriteFile(site, []byte(`{"senderKinds": {"LIS": "pathology"}}`), 0o600)
		if res := runFolio(t, "convert", "--hl7-site", site, f); res.code != 2 || !strings.Contains(res.stderr, "not a report kind") {
			t.Errorf("a bad site table: exit %d\n%s", res.code, res.stderr)
		}
	})

	t.Run("bad", func(t *testing.T) {
		bad, _ := filepath.Glob(dir + "bad/*.hl7")
		res := runFolio(t, "render", "-o", t.TempDir(), dir+"bad")
		if res.code != 1 {
			t.Fatalf("exit %d, want 1\n%s", res.code, res.stderr)
		}
		for _, f := range bad {
			want, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "golden", "hl7", "bad", strings.TrimSuffix(filepath.Base(f), ".hl7")+".err"))
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(want)), "\n") {
				// golden lines are "ACK CODE LOCATION: text"
				parts := strings.SplitN(line, " ", 3)
				if !strings.Contains(res.stderr, f+": "+parts[2]+"\n") {
					t.Errorf("stderr lacks %q", f+": "+parts[2])
				}
			}
		}
	})
}
