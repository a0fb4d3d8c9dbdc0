package folio

import "bytes"

// BOM is the UTF-8 encoding of U+FEFF, the byte order mark some Windows
// tools and .NET FHIR servers write at the start of a file.
var BOM = []byte{0xEF, 0xBB, 0xBF}

// TrimBOM returns data without one leading byte order mark (EF BB BF).
// Every way in (HL7 v2 files and MLLP frames, FHIR JSON, report v1 JSON)
// ignores it: it says nothing about the content.
func TrimBOM(data []byte) []byte {
	return bytes.TrimPrefix(data, BOM)
}
