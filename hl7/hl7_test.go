package hl7

import (
	"reflect"
	"strings"
	"testing"
)

const oru = "MSH|^~\\&|LIS|LAKESIDE|FOLIO|LAKESIDE|20261120140300||ORU^R01^ORU_R01|MSG0001|P|2.5.1\r" +
	"PID|1||000123456^^^LAKESIDE^MR~999-88-7777^^^SSA^SS||Ramírez^Ana^M||19610409|F\r" +
	"OBR|1||S26-004512|88305^Surgical Pathology^CPT4\r" +
	"OBX|1|FT|22637-3^Final Diagnosis^LN||Invasive \\H\\ductal\\N\\ carcinoma\\.br\\Margins \\T\\ negative \\F\\ ok||||||F\r"

func mustParse(t *testing.T, s string) *Message {
	t.Helper()
	m, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

func TestParseStructure(t *testing.T) {
	m := mustParse(t, strings.Replace(oru, "Ramírez", "Ram\\XE9\\rez", 1))
	if got := len(m.Segments); got != 4 {
		t.Fatalf("%d segments, want 4", got)
	}
	msh := m.MSH()
	if got := string(msh.Raw(1)); got != "|" {
		t.Errorf("MSH-1 = %q", got)
	}
	if got := string(msh.Raw(2)); got != "^~\\&" {
		t.Errorf("MSH-2 = %q", got)
	}
	if c, e, s := m.Type(); c != "ORU" || e != "R01" || s != "ORU_R01" {
		t.Errorf("Type = %s %s %s", c, e, s)
	}
	if m.ControlID() != "MSG0001" || m.Version() != "2.5.1" {
		t.Errorf("control id %q version %q", m.ControlID(), m.Version())
	}
	pid := m.All("PID")[0]
	f := pid.Field(3)
	if f.Reps() != 2 {
		t.Fatalf("PID-3 has %d repetitions", f.Reps())
	}
	if got := string(f.Rep(2).Comp(1).Raw()); got != "999-88-7777" {
		t.Errorf("PID-3[2].1 = %q", got)
	}
	if got := string(f.Rep(1).Comp(5).Raw()); got != "MR" {
		t.Errorf("PID-3[1].5 = %q", got)
	}
	if got, _ := m.Text(pid.Field(5).Rep(1).Comp(1).Raw()); got != "Ramérez" {
		t.Errorf("PID-5.1 = %q (\\XE9\\ in the default set is é)", got)
	}
	if got := string(pid.Field(3).Rep(3).Raw()); got != "" {
		t.Errorf("missing repetition = %q", got)
	}
	if got := string(pid.Field(40).Raw()); got != "" {
		t.Errorf("missing field = %q", got)
	}
	obx := m.All("OBX")[0]
	if obx.Seq != 1 || m.All("OBR")[0].Seq != 1 {
		t.Errorf("seq")
	}
	txt, err := m.Text(obx.Raw(5))
	if err != nil || txt != "Invasive ductal carcinoma\nMargins & negative | ok" {
		t.Errorf("OBX-5 text = %q, %v", txt, err)
	}
}

func TestSubcomponents(t *testing.T) {
	m := mustParse(t, "MSH|^~\\&|A|B|C|D|20260101||ORU^R01|1|P|2.5\rOBR|1"+strings.Repeat("|", 31)+"1234&Okafor&Jane&&&Dr\r")
	v := m.All("OBR")[0].Field(32).Rep(1).Comp(1)
	var got []string
	for i := 1; i <= 6; i++ {
		got = append(got, string(v.Sub(i).Raw()))
	}
	if want := []string{"1234", "Okafor", "Jane", "", "", "Dr"}; !reflect.DeepEqual(got, want) {
		t.Errorf("OBR-32 subcomponents %q, want %q", got, want)
	}
}

func TestCustomDelimiters(t *testing.T) {
	// # fields, $ components, * repetitions, ! escape, % subcomponents.
	msg := "MSH#$*!%#LIS#LAKESIDE#FOLIO#LAKESIDE#20261120##ORU$R01#42#P#2.4\n" +
		"PID#1##000123456$$$LAKESIDE$MR*X1$$$Y$Z##Doe$Jane\n" +
		"OBX#1#TX#1$A$L##pipe | caret ^ amp & tilde ~ backslash \\ hash !F! dollar !S! star !R! pct !T! bang !E!\n"
	m := mustParse(t, msg)
	if m.Delims != (Delimiters{Field: '#', Component: '$', Repetition: '*', Escape: '!', Subcomponent: '%'}) {
		t.Fatalf("delimiters %+v", m.Delims)
	}
	if string(m.MSH().Raw(1)) != "#" || string(m.MSH().Raw(2)) != "$*!%" {
		t.Errorf("MSH-1/2 %q %q", m.MSH().Raw(1), m.MSH().Raw(2))
	}
	if c, e, _ := m.Type(); c != "ORU" || e != "R01" {
		t.Errorf("type %s %s", c, e)
	}
	pid := m.All("PID")[0]
	if pid.Field(3).Reps() != 2 || string(pid.Field(3).Rep(1).Comp(5).Raw()) != "MR" {
		t.Errorf("PID-3 %q", pid.Raw(3))
	}
	txt, err := m.Text(m.All("OBX")[0].Raw(5))
	if err != nil {
		t.Fatal(err)
	}
	if want := "pipe | caret ^ amp & tilde ~ backslash \\ hash # dollar $ star * pct % bang !"; txt != want {
		t.Errorf("text %q\nwant %q", txt, want)
	}
}

func TestLineEndings(t *testing.T) {
	for name, sep := range map[string]string{"CR": "\r", "LF": "\n", "CRLF": "\r\n"} {
		m := mustParse(t, strings.ReplaceAll(oru, "\r", sep))
		if len(m.Segments) != 4 || m.All("OBX")[0].Text(3, 1) != "22637-3" {
			t.Errorf("%s: %d segments", name, len(m.Segments))
		}
	}
}

func TestVersions(t *testing.T) {
	for _, v := range Versions {
		mustParse(t, strings.Replace(oru, "|P|2.5.1", "|P|"+v, 1))
	}
	for _, v := range []string{"2.2", "2.9", "3.0", ""} {
		_, err := Parse([]byte(strings.Replace(oru, "|P|2.5.1", "|P|"+v, 1)))
		e, ok := err.(*Error)
		if !ok || e.Loc.String() != "MSH^1^12" {
			t.Errorf("version %q: %v", v, err)
		}
	}
}

func TestEscapes(t *testing.T) {
	// An ASCII message without MSH-18: \XE9\ is a byte of the default
	// character set (windows-1252).
	m := mustParse(t, strings.Replace(oru, "Ramírez", "Ramirez", 1))
	for _, c := range []struct{ in, want string }{
		{`a\F\b\S\c\T\d\R\e\E\f`, `a|b^c&d~e\f`},
		{`\H\bold\N\ normal`, "bold normal"},
		{`x\X41424344\y`, "xABCDy"},
		{`line1\X0D0A\line2\X0A\line3`, "line1\nline2\nline3"},
		{`one\.br\two\.sp2\three`, "one\ntwo\n\n\nthree"},
		{`\.in+4\\.ti-2\\.ce\centred\.fi\\.nf\`, "\ncentred"},
		{`C:\temp`, `C:\temp`},             // a lone escape character is kept
		{`\Zlocal\ text`, `\Zlocal\ text`}, // unknown escapes are kept as sent
		{`caf\XE9\`, "café"},
	} {
		got, err := m.Text([]byte(c.in))
		if err != nil || got != c.want {
			t.Errorf("Text(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{`\X4\`, `\XZZ\`, `\X07\`, `\C2842\`, `\.sp x\`} {
		if got, err := m.Text([]byte(in)); err == nil {
			t.Errorf("Text(%q) = %q, want an error", in, got)
		}
	}
}

func TestFormatted(t *testing.T) {
	m := mustParse(t, oru)
	toks, err := m.Formatted([]byte(`\.nf\A  B\.br\\H\C\N\\.sp\\.in+4\D\.ti-2\\.ce\E\.fi\`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Token{
		{Kind: TokFillOff}, {Kind: TokText, Text: "A  B"}, {Kind: TokBreak},
		{Kind: TokHighlightOn}, {Kind: TokText, Text: "C"}, {Kind: TokHighlightOff},
		{Kind: TokSkip, N: 1}, {Kind: TokIndent, N: 4, Sign: '+'}, {Kind: TokText, Text: "D"},
		{Kind: TokTempIndent, N: 2, Sign: '-'}, {Kind: TokCenter}, {Kind: TokText, Text: "E"}, {Kind: TokFillOn},
	}
	if !reflect.DeepEqual(toks, want) {
		t.Errorf("tokens\n%+v\nwant\n%+v", toks, want)
	}
	toks, _ = m.Formatted([]byte(`\.sp999999\`))
	if toks[0].N != maxSkip {
		t.Errorf("\\.sp999999\\ gives %d, want the bound %d", toks[0].N, maxSkip)
	}
}

func TestCharsets(t *testing.T) {
	with := func(cs, text string) string {
		return strings.Replace(strings.Replace(oru, "|P|2.5.1", "|P|2.5.1||||||"+cs, 1), "Ramírez", text, 1)
	}
	for _, c := range []struct {
		name, cs, text, want, errLoc string
	}{
		{"utf8", "UNICODE UTF-8", "Ramírez 山田", "Ramírez 山田", ""},
		{"latin1", "8859/1", "Ram\xedrez", "Ramírez", ""},
		{"default latin1", "", "Ram\xedrez", "Ramírez", ""},
		{"latin2", "8859/2", "\xa9koda", "Škoda", ""},
		{"latin1 in utf8", "UNICODE UTF-8", "Ram\xedrez", "", "PID^1^5"},
		{"utf8 in ascii", "ASCII", "Ramírez", "", "PID^1^5"},
		// No MSH-18 and valid UTF-8: read as UTF-8 (as windows-1252, 0x8D
		// would be refused and C3 AD would print as "Ã­").
		{"utf8 in default", "", "Ram\xc3\x8drez", "RamÍrez", ""},
		{"utf8 in default 2", "", "Ramírez 山田", "Ramírez 山田", ""},
		{"mixed in default", "", "Ram\xedrez \xc3\xa9", "Ramírez Ã©", ""}, // not valid UTF-8: windows-1252
		{"undefined 1252 in default", "", "Ram\x8drez", "", "PID^1^5"},
		{"control", "", "Ram\x07rez", "", "PID^1^5"},
		{"unknown set", "ISO IR87", "Ramirez", "", "MSH^1^18"},
		{"two sets", "ASCII~ISO IR87", "Ramirez", "", "MSH^1^18"},
	} {
		m, err := Parse([]byte(with(c.cs, c.text)))
		if c.errLoc != "" {
			e, ok := err.(*Error)
			if !ok || e.Loc.String() != c.errLoc {
				t.Errorf("%s: err %v, want one at %s", c.name, err, c.errLoc)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := m.All("PID")[0].Text(5, 1); got != c.want {
			t.Errorf("%s: name %q, want %q", c.name, got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ name, in, loc string }{
		{"empty", "", "MSH^1"},
		{"not hl7", `{"schema":"folio.report/v1"}`, "MSH^1"},
		{"short msh2", "MSH|^~|A\r", "MSH^1^2"},
		{"repeated delimiter", "MSH|^^\\&|A|B\r", "MSH^1^1"},
		{"letter delimiter", "MSH|^~\\A|A|B\r", "MSH^1^1"},
		{"no separator", "MSH|^~\\&", "MSH^1^2"},
		{"bad segment", oru + "this is not a segment\r", "OBX^1"},
		{"second msh", oru + oru, "MSH^2"},
	} {
		_, err := Parse([]byte(c.in))
		e, ok := err.(*Error)
		if !ok || e.Loc.String() != c.loc {
			t.Errorf("%s: %v, want an error at %s", c.name, err, c.loc)
		}
	}
}

func TestLocation(t *testing.T) {
	for _, c := range []struct {
		l    Location
		want string
	}{
		{Location{"PID", 1, 3, 0, 0, 0}, "PID^1^3"},
		{Location{"OBX", 4, 5, 0, 2, 0}, "OBX^4^5^1^2"},
		{Location{"OBR", 1, 32, 1, 1, 2}, "OBR^1^32^1^1^2"},
		{Location{"MSH", 1, 0, 0, 0, 0}, "MSH^1"},
	} {
		if got := c.l.String(); got != c.want {
			t.Errorf("%+v = %s, want %s", c.l, got, c.want)
		}
	}
}

func TestSplit(t *testing.T) {
	two := oru + "\r\n" + strings.Replace(oru, "MSG0001", "MSG0002", 1)
	for name, in := range map[string]string{
		"plain": two,
		"mllp":  "\x0b" + oru + "\x1c\r\x0b" + strings.Replace(oru, "MSG0001", "MSG0002", 1) + "\x1c\r",
		"batch": "FHS|^~\\&|LIS\rBHS|^~\\&|LIS\r" + two + "BTS|2\rFTS|1\r",
		"crlf":  strings.ReplaceAll(two, "\r", "\r\n"),
	} {
		msgs := Split([]byte(in))
		if len(msgs) != 2 {
			t.Errorf("%s: %d messages", name, len(msgs))
			continue
		}
		for i, b := range msgs {
			m, err := Parse(b)
			if err != nil {
				t.Errorf("%s: message %d: %v", name, i, err)
				continue
			}
			if len(m.Segments) != 4 || m.ControlID() != []string{"MSG0001", "MSG0002"}[i] {
				t.Errorf("%s: message %d: %d segments, id %s", name, i, len(m.Segments), m.ControlID())
			}
		}
	}
	if msgs := Split([]byte("garbage\r" + oru)); len(msgs) != 2 {
		t.Errorf("leading garbage: %d messages, want it kept as one of its own", len(msgs))
	}
}

// TestTruncationCharacter: v2.7's fifth encoding character is read, and
// \P\ is that character in text.
func TestTruncationCharacter(t *testing.T) {
	m := mustParse(t, "MSH|^~\\&#|A|B|C|D|2026||ORU^R01|1|P|2.7\rNTE|1||cut \\P\\ here\r")
	if m.Delims.Truncation != '#' {
		t.Fatalf("truncation %q", m.Delims.Truncation)
	}
	if got, err := m.Text(m.All("NTE")[0].Raw(3)); err != nil || got != "cut # here" {
		t.Errorf("text %q, %v", got, err)
	}
	if string(m.MSH().Raw(2)) != "^~\\&#" || m.MSH().Text(9, 1) != "ORU" {
		t.Errorf("MSH-2 %q MSH-9 %q", m.MSH().Raw(2), m.MSH().Raw(9))
	}
}

func TestCharsetDetected(t *testing.T) {
	for _, c := range []struct {
		msg  string
		want bool
	}{
		{oru, true}, // no MSH-18, UTF-8 "Ramírez"
		{strings.Replace(oru, "Ramírez", "Ramirez", 1), false},
		{strings.Replace(oru, "Ramírez", "Ram\xedrez", 1), false},
		{strings.Replace(oru, "|P|2.5.1", "|P|2.5.1||||||UNICODE UTF-8", 1), false},
	} {
		m := mustParse(t, c.msg)
		if m.CharsetDetected != c.want || c.want && m.Charset != CharsetUTF8 {
			t.Errorf("%.60q: detected %v (%q), want %v", c.msg[90:], m.CharsetDetected, m.Charset, c.want)
		}
	}
}
