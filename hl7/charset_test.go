package hl7

import (
	"strings"
	"testing"
)

// withCharset is oru with MSH-18 set to cs and the patient's family name
// replaced by name (bytes of that character set).
func withCharset(cs, name string) string {
	return strings.Replace(strings.Replace(oru, "|P|2.5.1", "|P|2.5.1||||||"+cs, 1), "Ramírez", name, 1)
}

// TestCharsetTable: every MSH-18 value folio takes, as senders write it,
// decodes a byte of its own to the letter the character set defines.
func TestCharsetTable(t *testing.T) {
	for _, c := range []struct {
		msh18, name, want string
	}{
		{"", "H\xe9l\xe8ne", "Hélène"},
		{"8859/1", "H\xe9l\xe8ne", "Hélène"},
		{"ASCII", "Helene", "Helene"},
		{"UNICODE UTF-8", "Hélène 山田", "Hélène 山田"},
		{"UTF-8", "Hélène", "Hélène"}, // the usual misspelling
		{"unicode utf-8", "Hélène", "Hélène"},
		{" 8859/1 ", "H\xe9l\xe8ne", "Hélène"},
		{"8859/2", "\xa9koda \xb3\xf3d\xbc", "Škoda łódź"},
		{"8859/3", "\xa6", "Ĥ"},
		{"8859/4", "\xa2", "ĸ"},
		{"8859/5", "\xbc\xde\xe1\xda\xd2\xd0", "Москва"},
		{"8859/6", "\xc7", "ا"},
		{"8859/7", "\xc1\xe8\xde\xed\xe1", "Αθήνα"},
		{"8859/8", "\xf9\xec\xe5\xed", "שלום"},
		{"8859/9", "\xdd\xfe", "İş"},
		{"8859/10", "\xa1", "Ą"},
		{"8859/11", "\xa1\xdf", "ก฿"},
		{"8859/13", "\xd0", "Š"},
		{"8859/14", "\xa1", "Ḃ"},
		{"8859/15", "\xa4 \xbc", "€ Œ"},
	} {
		m, err := Parse([]byte(withCharset(c.msh18, c.name)))
		if err != nil {
			t.Errorf("MSH-18 %q: %v", c.msh18, err)
			continue
		}
		if got := m.All("PID")[0].Text(5, 1); got != c.want {
			t.Errorf("MSH-18 %q: name %q, want %q", c.msh18, got, c.want)
		}
	}
}

// TestWindows1252: 8859/1 and an empty MSH-18 read 0x80-0x9F as
// windows-1252 (the WHATWG reading of ISO-8859-1), in raw bytes and in
// \X..\ escapes; the five bytes windows-1252 leaves undefined are refused
// with their location; other ISO 8859 parts still refuse C1 bytes.
func TestWindows1252(t *testing.T) {
	for _, cs := range []string{"", "8859/1"} {
		m, err := Parse([]byte(withCharset(cs, "\x93Dubois\x94 \x96 80 \x80 \x85 \x8a\x9f")))
		if err != nil {
			t.Fatalf("MSH-18 %q: %v", cs, err)
		}
		if got, want := m.All("PID")[0].Text(5, 1), "“Dubois” – 80 € … ŠŸ"; got != want {
			t.Errorf("MSH-18 %q: %q, want %q", cs, got, want)
		}
		if got, err := m.Text([]byte(`\X93\quoted\X94\`)); err != nil || got != "“quoted”" {
			t.Errorf("MSH-18 %q: escape %q, %v", cs, got, err)
		}
		for _, b := range []string{"\x81", "\x8d", "\x8f", "\x90", "\x9d"} {
			_, err := Parse([]byte(withCharset(cs, "Ram"+b+"rez")))
			e, ok := err.(*Error)
			if !ok || e.Loc.String() != "PID^1^5" || !strings.Contains(e.Text, "windows-1252") {
				t.Errorf("MSH-18 %q, byte %X: %v, want a refusal at PID^1^5 naming windows-1252", cs, b, err)
			}
		}
	}
	for _, cs := range []string{"8859/2", "8859/15", "ASCII"} {
		_, err := Parse([]byte(withCharset(cs, "\x93Dubois\x94")))
		if e, ok := err.(*Error); !ok || e.Loc.String() != "PID^1^5" {
			t.Errorf("MSH-18 %q: 0x93 gave %v, want a refusal at PID^1^5", cs, err)
		}
	}
}

// TestCharsetRefused: invalid UTF-8 is refused where it is; MSH-18 values
// folio does not read are refused at MSH^1^18 with the rule.
func TestCharsetRefused(t *testing.T) {
	_, err := Parse([]byte(withCharset("UNICODE UTF-8", "H\xe9l\xe8ne")))
	if e, ok := err.(*Error); !ok || e.Loc.String() != "PID^1^5" || !strings.Contains(e.Text, "not valid UTF-8") {
		t.Errorf("latin-1 bytes in UTF-8: %v", err)
	}
	for _, c := range []struct{ msh18, rule string }{
		{"8859/12", "not a character set of table 0211"},
		{"LATIN1", "not a character set of table 0211"},
		{"windows-1252", "not a character set of table 0211"},
		{"ISO IR87", "of table 0211 is not supported"},
		{"UNICODE UTF-16", "of table 0211 is not supported"},
		{"BIG-5", "of table 0211 is not supported"},
	} {
		_, err := Parse([]byte(withCharset(c.msh18, "Ramirez")))
		e, ok := err.(*Error)
		if !ok || e.Loc.String() != "MSH^1^18" || !strings.Contains(e.Text, c.rule) || !strings.Contains(e.Text, "8859/15") {
			t.Errorf("MSH-18 %q: %v, want an error at MSH^1^18 saying %q and listing what folio reads", c.msh18, err, c.rule)
		}
	}
}

// TestBOM: a byte order mark before the first MSH (a file, an MLLP frame)
// is ignored by Parse and Split.
func TestBOM(t *testing.T) {
	bom := "\xef\xbb\xbf"
	m, err := Parse([]byte(bom + oru))
	if err != nil || m.ControlID() != "MSG0001" {
		t.Fatalf("Parse with a BOM: %v", err)
	}
	for name, in := range map[string]string{
		"file":  bom + oru + "\r\n" + strings.Replace(oru, "MSG0001", "MSG0002", 1),
		"mllp":  "\x0b" + bom + oru + "\x1c\r",
		"batch": bom + "FHS|^~\\&|LIS\rBHS|^~\\&|LIS\r" + oru + "BTS|1\rFTS|1\r",
	} {
		msgs := Split([]byte(in))
		if len(msgs) == 0 {
			t.Errorf("%s: no message", name)
			continue
		}
		for i, b := range msgs {
			if strings.HasPrefix(string(b), bom) {
				t.Errorf("%s: message %d keeps the BOM", name, i)
			}
			if _, err := Parse(b); err != nil {
				t.Errorf("%s: message %d: %v", name, i, err)
			}
		}
	}
}
