package hl7

import (
	"strings"
	"testing"
)

// FuzzParse: Parse and every decoding of every value never panic, and a
// message Parse accepts has an MSH first and only valid text in its fields.
func FuzzParse(f *testing.F) {
	f.Add([]byte(oru))
	f.Add([]byte(strings.ReplaceAll(oru, "\r", "\n")))
	f.Add([]byte("MSH#$*!%#LIS#L#F#L#2026##ORU$R01#42#P#2.4\nOBX#1#FT#1##!H!a!N!!.sp3!!X41!\n"))
	f.Add([]byte("MSH|^~\\&#|A|B|C|D|2026||ORU^R01|1|P|2.7|||||UNICODE UTF-8\rPID|1||1^^^^MR||Y\\P\\\r"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, part := range Split(data) {
			m, err := Parse(part)
			if err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("error of type %T", err)
				}
				continue
			}
			if m.Segments[0].Name != "MSH" {
				t.Fatal("first segment is not MSH")
			}
			m.Type()
			for _, s := range m.Segments {
				for n := range s.NumFields() {
					fl := s.Field(n)
					for r := 1; r <= fl.Reps() && r <= 5; r++ {
						rep := fl.Rep(r)
						m.Text(rep.Raw())
						m.Formatted(rep.Raw())
						for c := 1; c <= 3; c++ {
							m.Text(rep.Comp(c).Sub(2).Raw())
						}
					}
				}
			}
		}
	})
}
