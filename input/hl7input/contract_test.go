package hl7input_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/foliohealth/folio/hl7"
	"github.com/foliohealth/folio/input/hl7input"
)

// TestContractBreaches: what the mapping lets through but report v1
// refuses is refused with the contract's field path and rule, located at
// the HL7 field the report field came from (the OBR when the mapping does
// not know it), as code 102.
func TestContractBreaches(t *testing.T) {
	const head = "MSH|^~\\&|RIS|LAKESIDE|FOLIO|LAKESIDE|20261120140300-0500||ORU^R01^ORU_R01|C1|P|2.5.1\r" +
		"PID|1||123^^^L^MR||Doe^Jane||19610409|F\r" +
		"OBR|1||RAD-1^RIS|71250^CT Chest^CPT4|||20261118093000-0500|||||||||||||||20261120140100-0500||CT|F\r"
	gif := base64.StdEncoding.EncodeToString([]byte("GIF89a\x01\x00\x01\x00"))
	var many strings.Builder
	for i := 1; i <= 1001; i++ {
		fmt.Fprintf(&many, "OBX|%d|NM|%d-1^Result %d^L||%d||||||F\r", i, i, i, i)
	}
	long := strings.Repeat("x", 1<<20+1)
	for _, c := range []struct{ name, body, want string }{
		{"image neither PNG nor JPEG", "OBX|1|TX|18782-3^Findings^LN||No acute findings.||||||F\rOBX|2|ED|55113-5^Key images^LN||^image^png^Base64^" + gif + "||||||F\r",
			"OBX^2^5: the report this OBR maps to breaks the report contract at sections[1].data: bytes are neither a PNG nor a JPEG image"},
		{"too many items", many.String(),
			"OBR^1: the report this OBR maps to breaks the report contract at sections[0].items: holds 1001 items, more than the limit of 1000"},
		{"text too long", "OBX|1|TX|18782-3^Findings^LN||" + long + "||||||F\r",
			"OBX^1^5: the report this OBR maps to breaks the report contract at sections[0].body: string is 1048577 bytes, more than the limit of 1048576"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, mapped, err := hl7input.Parse([]byte(head+c.body), hl7input.Site{})
			var es hl7input.Errors
			if !errors.As(err, &es) {
				t.Fatalf("mapped to %d reports, error %v; want a refusal", len(mapped), err)
			}
			if err.Error() != c.want {
				t.Fatalf("refusal\n%v\nwant\n%s", err, c.want)
			}
			for _, e := range es {
				if e.Code != hl7.CodeDataType {
					t.Errorf("%v: code %d, want %d", e, e.Code, hl7.CodeDataType)
				}
			}
			if hl7input.IsRejection(err) {
				t.Error("a contract breach is acknowledged AE, not AR")
			}
		})
	}
}
